"""Rows with blanks: nearest centre on the observed features vs median imputation, then nearest.

    python benchmarks/partial_assignment.py [--tables 40] [--blank 0.1 0.3 0.5]

Planted segments (k = 3..6 Gaussian groups, 4..10 features, unequal spreads), centres taken as
the planted ones' k-means fit on complete rows; then a share of each test row's features is
blanked at random and each rule assigns the row. Prints the share of rows assigned to their
planted segment by each rule (median over tables) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from sklearn.cluster import KMeans

from reportgen.analysis.assign import nearest_observed


def table(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k, d = int(rng.integers(3, 7)), int(rng.integers(4, 11))
    centres = rng.normal(0, 2.2, (k, d))
    sizes = rng.multinomial(3000, rng.dirichlet(np.full(k, 3.0)))
    x = np.vstack(
        [rng.normal(c, rng.uniform(0.6, 1.4), (n, d)) for c, n in zip(centres, sizes, strict=True)]
    )
    return x, np.repeat(np.arange(k), sizes)


def accuracy(truth: np.ndarray, got: np.ndarray, fitted_truth: np.ndarray) -> float:
    """Share of rows whose assigned segment is the one their complete row is assigned to."""
    return float((got == fitted_truth).mean())


def one(seed: int, blank: float) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    x, truth = table(rng)
    x = (x - x.mean(0)) / x.std(0)
    model = KMeans(len(np.unique(truth)), n_init=4, random_state=seed).fit(x)
    complete = model.predict(x)
    holes = rng.random(x.shape) < blank
    holes[holes.all(axis=1), 0] = False  # every row keeps one answer
    partial = np.where(holes, np.nan, x)
    observed, _ = nearest_observed(partial, model.cluster_centers_)
    imputed = np.where(holes, np.nanmedian(partial, axis=0), partial)
    return accuracy(truth, observed, complete), accuracy(truth, model.predict(imputed), complete)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--blank", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    args = parser.parse_args()
    print("blank share | nearest on observed | median imputation | ratio")
    for blank in args.blank:
        runs = [one(1000 + i, blank) for i in range(args.tables)]
        obs = statistics.median(r[0] for r in runs)
        imp = statistics.median(r[1] for r in runs)
        print(f"{blank:>11.0%} | {obs:>19.3f} | {imp:>17.3f} | {obs / imp:.3f}")


if __name__ == "__main__":
    main()
