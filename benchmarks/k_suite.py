"""How often does the shipped choice of k find the planted k? (issue 3)

    python benchmarks/k_suite.py                 # 140 fresh tables, seeds 1000..1139
    python benchmarks/k_suite.py --tables 70 --first-seed 2000

Each table comes from the test suite's generator (tests/synthetic.py: planted k = 2..8 in turn,
unequal sizes, mixed units, integer ratings, a skewed amount, a noise column, a category). It is
prepared and screened exactly as the brief does it, then `choose_k` runs as shipped. The script
prints how often the vote found the planted k, how often each index's own vote would have, and
the mean adjusted Rand index of the final segments against the truth.

The test suite uses seeds 100-109; alternatives to the vote were tried on seeds 200-239 and
300-399 (benchmarks/README.md). The default seeds here were used for none of that, so they
measure the shipped rule out of sample.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from reportgen.analysis.choose_k import choose_k  # noqa: E402
from reportgen.analysis.cluster import cluster  # noqa: E402
from reportgen.analysis.prepare import prepare  # noqa: E402
from reportgen.analysis.screen import screen_features  # noqa: E402
from reportgen.io.dictionary import dictionary_from_mapping, resolve_dictionary  # noqa: E402
from tests.synthetic import DICTIONARY, make_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=140)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()
    hits, per_index, aris, by_k, tables_k = 0, Counter(), [], Counter(), Counter()
    started = time.perf_counter()
    for i in range(args.tables):
        planted, seed = 2 + i % 7, args.first_seed + i
        frame, truth = make_table(planted, seed)
        dictionary = resolve_dictionary(frame, dictionary_from_mapping(DICTIONARY))
        prepared = prepare(frame, dictionary)
        noise = screen_features(prepared, seed=42).noise
        if noise:
            columns = tuple(
                replace(c, role="describe") if c.name in noise else c for c in dictionary.columns
            )
            prepared = prepare(frame, replace(dictionary, columns=columns))
        choice = choose_k(prepared.scaled, k=None, k_max=10, seed=42)
        labels = cluster(prepared.scaled, k=choice.k, seed=42).labels
        aris.append(adjusted_rand_score(truth, labels))
        hits += choice.k == planted
        by_k[planted] += choice.k == planted
        tables_k[planted] += 1
        for name, vote in choice.votes.items():
            per_index[name] += vote == planted
        print(
            f"table {i:>3} seed {seed} planted {planted} found {choice.k}  "
            f"ARI {aris[-1]:.2f}  votes {choice.votes}",
            flush=True,
        )
    n = args.tables
    print(
        f"\nplanted k found: {hits}/{n} ({hits / n:.0%}); mean ARI {np.mean(aris):.3f}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print("each index's own vote: " + ", ".join(f"{k} {v}/{n}" for k, v in per_index.items()))
    print(
        "by planted k: " + ", ".join(f"k={k}: {by_k[k]}/{m}" for k, m in sorted(tables_k.items()))
    )


if __name__ == "__main__":
    main()
