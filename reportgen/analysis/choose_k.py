"""Stage 3 — choose k: five indices of evidence for each candidate k, and one stated vote.

Pure: takes the model matrix, returns `KChoice`. For k = 2..k-max we compute
- the within-segment sum of squares (WSS) and its elbow, found by the Kneedle method (`kneed`);
- the average silhouette (on a sample of at most 3,000 rows, so memory stays bounded);
- Calinski–Harabasz (higher is better) and Davies–Bouldin (lower is better);
- the gap statistic (Tibshirani, Walther & Hastie 2001), with 8 uniform reference sets drawn in
  the data's principal-component box (one k-means start each: their average is what counts), and
  its "smallest k with gap(k) ≥ gap(k+1) − s(k+1)" rule.

**The rule** (re-tuned for issue 15 on the harder seeded suite of benchmarks/k_suite.py, tuning
half only; out of sample on its held-out half, benchmarks/README.md):
1. *No clear structure.* When the gap statistic's rule stops at k = 1 (one group fits as well as
   any split, against uniform reference data in the data's principal-component box) and no
   admissible k reaches a good average silhouette (0.5), the data
   show no clear segments: the smallest k allowed is taken and the brief says so. On one
   Gaussian or uniform data the indices otherwise vote for 3 or more one time in three.
2. *The gap statistic's k, when the segments hold together.* The gap statistic's k wins when its
   average silhouette is within 0.03 of the best admissible k's: on surveys of 1-5 answers with
   4–5 segments only 3.5–5 spreads apart, silhouette, Calinski–Harabasz and Davies–Bouldin
   all prefer the coarse split (CH was right on 3 of 50 tuning tables, the gap on 26), while the
   silhouette check keeps the gap from the over-splitting it shows on skewed tables.
3. *Otherwise the vote.* Silhouette, Calinski–Harabasz, Davies–Bouldin and the gap statistic
   each vote for their best k among the *admissible* ks — those whose smallest segment holds at
   least the minimum share of customers (default 5 %). The k with most votes wins; a tie goes to
   the tied k with the higher Calinski–Harabasz, then to the smaller k.
The elbow is computed, drawn and reported but does not vote (its knee was right least often and
almost always too low, docs/choosing-k.md). On large data the candidate fits use a random sample
(the brief states its size); the final model uses every row.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from reportgen import fmt
from reportgen.errors import InputError

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

FIT_SAMPLE = 20_000
SILHOUETTE_SAMPLE = 3_000
GAP_SAMPLE = 2_000
GAP_REFERENCES = 8
EVIDENCE_N_INIT = 4  # restarts per candidate k (the final model uses the full n_init)
INDEX_NAMES = {
    "elbow": "Elbow (Kneedle)",
    "silhouette": "Silhouette",
    "calinski_harabasz": "Calinski–Harabasz",
    "davies_bouldin": "Davies–Bouldin",
    "gap": "Gap statistic",
}
VOTERS = ("silhouette", "calinski_harabasz", "davies_bouldin", "gap")
STRUCTURE_SILHOUETTE = 0.5  # below it at every k, a gap stop at k = 1 means no clear structure
GAP_SILHOUETTE_SLACK = 0.03  # the gap's k wins when its silhouette is this close to the best
VOTE_RULE = (
    "When the gap statistic finds no clear structure (k = 1 fits as well as any split) and no k "
    "reaches a good silhouette (0.5), the smallest k is taken. Otherwise the gap statistic's k "
    f"wins when its average silhouette is within {GAP_SILHOUETTE_SLACK} of the best; else "
    "silhouette, Calinski–Harabasz, Davies–Bouldin and the gap statistic each vote for their "
    "best k among the ks whose smallest segment holds at least the minimum share; most votes "
    "wins; a tie goes to the higher Calinski–Harabasz, then the smaller k. The elbow is shown "
    "but does not vote: on synthetic tables with known segments its knee was right least often "
    "and almost always too low."
)


@dataclass(frozen=True)
class KEvidence:
    k: int
    inertia: float  # within-segment sum of squares on the evidence sample, scaled units
    silhouette: float | None = None
    calinski_harabasz: float | None = None
    davies_bouldin: float | None = None
    gap: float | None = None
    gap_se: float | None = None
    min_share: float = 1.0  # smallest segment's share of the evidence sample
    admissible: bool = True
    shares: tuple[float, ...] = ()  # every segment's share of the evidence sample, largest first


@dataclass(frozen=True)
class KChoice:
    k: int
    method: str  # "vote" or "user"
    reason: str
    evidence: tuple[KEvidence, ...]  # k = 1..k_max
    knee: int | None  # what the elbow said
    votes: dict[str, int | None]  # index -> the k it voted for
    sample_size: int  # rows used for the evidence
    min_share: float
    runner_up: int | None = None  # the k with the next most votes
    close: bool = False  # the runner-up had one vote less than the winner, or as many
    k_min: int = 2
    # The gap statistic found no clear structure (k = 1): the smallest k was taken (issue 15).
    no_structure: bool = False

    def at(self, k: int) -> KEvidence:
        return next(e for e in self.evidence if e.k == k)


ROWS_PER_SEGMENT = 5  # on small tables, at most one segment per this many rows is considered


def max_k_for(n_rows: int, n_distinct: int, k_max: int) -> int:
    """The largest k the evidence considers: k-max, bounded by the distinct profiles and, on a
    small table, by one segment per ROWS_PER_SEGMENT rows: ten customers do not make nine
    segments (each index rewards k near n on tiny data, a segment of one is no segment)."""
    by_rows = max(n_rows // ROWS_PER_SEGMENT, 2)
    return max(1, min(k_max, n_rows - 1, n_distinct, by_rows))


Matrix = NDArray[np.float64]
T = TypeVar("T")
R = TypeVar("R")

# ------------------------------------------------------------ the fits of one model selection
#
# Model selection is ~150 small k-means fits (choose_k's candidates and gap references, the
# stability resamples, screening). Each fit through `engine.fit_kmeans` enters its own
# `threadpool_limits(1)`, which builds a new threadpoolctl controller: a scan of every loaded
# library, ~3 ms holding the GIL, per fit (issue 20). Here the limit is taken once for the
# whole selection from one cached controller (BLAS is process-wide; OpenMP's thread count is
# per thread, so each worker sets its own once, when it starts), the warnings filter is set
# once, and one pool of workers runs every batch. The fits are `fit_kmeans`'s small-sample fits
# exactly (same estimator, same arguments: tests/analysis/test_choose_k.py checks they agree).

_CONTROLLER: Any = None


def _controller() -> Any:
    """One threadpoolctl controller for the process (scanning the libraries costs ~3 ms)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        import sklearn.cluster  # noqa: F401  (loads the OpenMP runtime the scan must see)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _one_openmp_thread() -> None:
    _controller().limit(limits=1, user_api="openmp")  # this worker thread only, for its life


class SelectionFits:
    """Runs a selection's small fits: `map(fn, items)` on a worker per core (fits release the
    GIL), results in input order; every fit carries its own seed, so the order they run in
    does not matter. Use as `with selection_fits() as fits:`."""

    def __init__(self, pool: ThreadPoolExecutor | None) -> None:
        self._pool = pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if self._pool is None or len(items) < 2:
            return [fn(x) for x in items]
        return list(self._pool.map(fn, items))


@contextmanager
def selection_fits(fits: SelectionFits | None = None) -> Iterator[SelectionFits]:
    """The thread limit, the warnings filter and the workers for a whole selection (or the
    caller's `fits`, already set up, reused)."""
    if fits is not None:
        yield fits
        return
    from sklearn.exceptions import ConvergenceWarning

    limiter = _controller().limit(limits=1)
    workers = os.cpu_count() or 1
    pool = ThreadPoolExecutor(workers, initializer=_one_openmp_thread) if workers > 1 else None
    try:
        # A bootstrap resample with repeated rows can hold fewer distinct points than k: the
        # caller sees it in the labels, the user's terminal stays clean (as fit_kmeans).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            yield SelectionFits(pool)
    finally:
        if pool is not None:
            pool.shutdown()
        limiter.restore_original_limits()


def small_kmeans(x: Matrix, k: int, seed: int, n_init: int) -> KMeans:
    """`engine.fit_kmeans(x, k, seed, n_init)` for a sample (below its SINGLE_THREAD_BELOW
    rows), without the per-fit thread limit: call it inside `selection_fits`."""
    from sklearn.cluster import KMeans

    model = KMeans(k, n_init=n_init, random_state=seed, copy_x=True, max_iter=300, tol=1e-4)
    return model.fit(x)


def silhouettes(distances: Matrix, label_sets: Sequence[NDArray[np.intp]]) -> list[float]:
    """Average silhouette (Rousseeuw 1987, as `cluster.silhouette`) of several labelings of the
    same rows, from their precomputed distances: every labeling's per-segment distance sums in
    one matrix product, so the n² distances are read once, not once per candidate k."""
    inverses, widths = [], []
    for labels in label_sets:
        codes, inverse = np.unique(labels, return_inverse=True)
        inverses.append(inverse)
        widths.append(len(codes))
    onehot = np.zeros((distances.shape[0], sum(widths)))
    rows = np.arange(distances.shape[0])
    starts = np.cumsum([0, *widths])
    for inverse, start in zip(inverses, starts, strict=False):
        onehot[rows, start + inverse] = 1.0
    all_sums = distances @ onehot
    out = []
    for inverse, start, width in zip(inverses, starts, widths, strict=False):
        sums = all_sums[:, start : start + width]
        sizes = onehot[:, start : start + width].sum(axis=0)
        own = sizes[inverse]
        a = sums[rows, inverse] / np.maximum(own - 1, 1)
        mean_other = sums / sizes
        mean_other[rows, inverse] = np.inf
        b = mean_other.min(axis=1)
        sil = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
        out.append(float(np.mean(np.nan_to_num(sil))))
    return out


def _sample(x: Matrix, size: int, rng: np.random.Generator) -> Matrix:
    if len(x) <= size:
        return x
    return x[np.sort(rng.choice(len(x), size=size, replace=False))]


def _gap_references(x: Matrix, seed: int) -> list[Matrix]:
    """GAP_REFERENCES uniform data sets in the principal-component box of `x` (Tibshirani et al.'s
    reference distribution 'b'), rotated back into the data's axes."""
    rng = np.random.default_rng(seed)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    rotated = centred @ vt.T
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    return [rng.uniform(lo, hi, size=rotated.shape) @ vt for _ in range(GAP_REFERENCES)]


def _gap(
    ks: list[int], log_w: dict[int, float], ref_inertia: dict[tuple[int, int], float]
) -> dict[int, tuple[float, float]]:
    """gap(k) = mean over the references of log W_k(reference) − log W_k(data), and its
    standard error s(k) = sd · sqrt(1 + 1/B)."""
    out = {}
    for k in ks:
        logs = np.asarray(
            [float(np.log(max(ref_inertia[b, k], 1e-12))) for b in range(GAP_REFERENCES)]
        )
        out[k] = (
            float(logs.mean() - log_w[k]),
            float(logs.std() * np.sqrt(1 + 1 / GAP_REFERENCES)),
        )
    return out


@dataclass(frozen=True)
class _Samples:
    """The rows the evidence is computed on: the fit sample, its silhouette subsample (whose
    distances are computed once, for every k) and the gap statistic's sample."""

    fit: Matrix
    silhouette_idx: NDArray[np.intp]
    with_silhouette: bool  # some k >= 2 is considered
    gap: Matrix


def _evidence_samples(sample: Matrix, upper: int, rng: np.random.Generator) -> _Samples:
    sil_idx = (
        np.sort(rng.choice(len(sample), size=SILHOUETTE_SAMPLE, replace=False))
        if len(sample) > SILHOUETTE_SAMPLE
        else np.arange(len(sample))
    )
    gap_x = _sample(sample, GAP_SAMPLE, rng)
    return _Samples(sample, sil_idx, upper >= 2, gap_x)


def _indices(
    samples: _Samples, cand: int, seed: int, n_init: int
) -> tuple[dict[str, Any], float, NDArray[np.intp] | None]:
    """One candidate k's indices on the sample but the silhouette, log W_k for the gap
    statistic, and the silhouette subsample's labels (None when it cannot have a silhouette)."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    sample = samples.fit
    model = small_kmeans(sample, cand, seed, min(n_init, EVIDENCE_N_INIT))
    labels = model.labels_
    entry: dict[str, Any] = {"inertia": float(model.inertia_), "min_share": 1.0}
    sil_labels = None
    if cand >= 2 and len(np.unique(labels)) >= 2:
        counts = np.bincount(labels, minlength=cand)
        entry["min_share"] = float(counts.min() / len(labels))
        entry["shares"] = tuple(float(c) for c in np.sort(counts)[::-1] / len(labels))
        sl = labels[samples.silhouette_idx]
        if len(np.unique(sl)) >= 2 and samples.with_silhouette:
            sil_labels = sl
        entry["calinski_harabasz"] = float(calinski_harabasz_score(sample, labels))
        entry["davies_bouldin"] = float(davies_bouldin_score(sample, labels))
    gap_model = model if samples.gap is sample else small_kmeans(samples.gap, cand, seed, 2)
    return entry, float(np.log(max(gap_model.inertia_, 1e-12))), sil_labels


def _evidence(
    samples: _Samples,
    ks: list[int],
    seed: int,
    n_init: int,
    min_share: float,
    fits: SelectionFits,
) -> tuple[KEvidence, ...]:
    """The silhouette subsample's distances, every candidate's fit and the gap statistic's
    reference fits in one batch (the large jobs first, so the workers finish together), then
    every silhouette from one pass over the distances."""
    from sklearn.metrics import pairwise_distances

    refs = _gap_references(samples.gap, seed) if len(samples.gap) >= 3 else []
    jobs = [(0, -2)] + [(c, -1) for c in ks] + [(c, b) for b in range(len(refs)) for c in ks]

    def run(job: tuple[int, int]) -> Any:
        c, b = job
        if b == -2:
            rows = samples.fit[samples.silhouette_idx]
            return pairwise_distances(rows) if samples.with_silhouette else None
        if b == -1:
            return _indices(samples, c, seed, n_init)
        return float(small_kmeans(refs[b], c, seed + b, n_init=1).inertia_)

    done = dict(zip(jobs, fits.map(run, jobs), strict=True))
    raw = {c: done[c, -1][0] for c in ks}
    with_sil = [c for c in ks if done[c, -1][2] is not None]
    if with_sil and done[0, -2] is not None:
        values = silhouettes(done[0, -2], [done[c, -1][2] for c in with_sil])
        for c, value in zip(with_sil, values, strict=True):
            raw[c]["silhouette"] = value
    gaps = {}
    if refs:
        ref_inertia = {(b, c): done[c, b] for c in ks for b in range(len(refs))}
        gaps = _gap(ks, {c: done[c, -1][1] for c in ks}, ref_inertia)
    return tuple(
        KEvidence(
            k=c,
            inertia=raw[c]["inertia"],
            silhouette=raw[c].get("silhouette"),
            calinski_harabasz=raw[c].get("calinski_harabasz"),
            davies_bouldin=raw[c].get("davies_bouldin"),
            gap=gaps[c][0] if c in gaps else None,
            gap_se=gaps[c][1] if c in gaps else None,
            min_share=raw[c]["min_share"],
            admissible=c >= 2 and raw[c]["min_share"] >= min_share,
            shares=raw[c].get("shares", ()),
        )
        for c in ks
    )


def _check_k(k: int | None, n_rows: int, n_distinct: int, upper: int) -> None:
    if k is not None and k > n_rows:
        raise InputError(f"only {n_rows} usable rows: fewer than the {k} segments asked for")
    if k is not None and n_rows <= FIT_SAMPLE and k > n_distinct:
        raise InputError(
            f"only {n_distinct} distinct customer profiles in the data: cannot make {k} segments"
        )
    if k is None and upper < 2:
        raise InputError(
            f"only {n_rows} usable rows with {n_distinct} distinct profiles: too few to segment"
        )


def choose_k(
    scaled: Matrix,
    *,
    k: int | None,
    k_max: int,
    seed: int,
    n_init: int = 10,
    min_share: float = 0.05,
    k_min: int = 2,
    fits: SelectionFits | None = None,
) -> KChoice:
    """The number of segments: the analyst's `k`, or the vote of the indices among
    k = k_min..k_max (see VOTE_RULE), with the runner-up and whether the vote was close.
    `fits` shares one selection's thread limit and workers with other stages (optional)."""
    n_rows = scaled.shape[0]
    rng = np.random.default_rng(seed)
    sample = _sample(scaled, FIT_SAMPLE, rng)
    n_distinct = len(np.unique(sample, axis=0)) if len(sample) <= 200_000 else len(sample)
    upper = max_k_for(len(sample), n_distinct, k_max)
    _check_k(k, n_rows, n_distinct, upper)
    ks = list(range(1, upper + 1))
    samples = _evidence_samples(sample, upper, rng)
    with selection_fits(fits) as pool:
        evidence = _evidence(samples, ks, seed, n_init, min_share, pool)
    knee = _knee([e.k for e in evidence], [e.inertia for e in evidence])
    votes = _votes(evidence, knee, k_min)
    no_structure = _no_structure(evidence)
    chosen, why = _settle(evidence, votes, upper, min_share, k_min, no_structure)
    runner_up, close = _runner_up(votes, chosen)
    method = "vote" if k is None else "user"
    if k is not None:
        said = f"the evidence pointed to k = {chosen}" if chosen else "the evidence was unclear"
        why = f"k = {k} was chosen by the analyst; {said} ({_vote_text(votes)})."
    return KChoice(
        chosen if k is None else k,
        method,
        why,
        evidence,
        knee,
        votes,
        len(sample),
        min_share,
        runner_up,
        close,
        k_min=k_min,
        no_structure=no_structure,
    )


def _runner_up(votes: dict[str, int | None], chosen: int) -> tuple[int | None, bool]:
    """The k with the most votes after the winner, and whether it came within one vote."""
    counted = [v for name in VOTERS if (v := votes.get(name)) is not None]
    others = {c: counted.count(c) for c in set(counted) if c != chosen}
    if not others:
        return None, False
    second = max(others, key=lambda c: (others[c], -c))
    return second, others[second] >= counted.count(chosen) - 1


def _votes(
    evidence: tuple[KEvidence, ...], knee: int | None, k_min: int = 2
) -> dict[str, int | None]:
    ok = [e for e in evidence if e.admissible and e.k >= k_min]

    def best(key: str, sign: int) -> int | None:
        vals: list[tuple[float, int]] = [
            (getattr(e, key), e.k) for e in ok if getattr(e, key) is not None
        ]
        if not vals:
            return None
        return max(vals, key=lambda v: (sign * v[0], -v[1]))[1]

    votes: dict[str, int | None] = {
        "elbow": knee if knee is not None and any(e.k == knee for e in ok) else None,
        "silhouette": best("silhouette", 1),
        "calinski_harabasz": best("calinski_harabasz", 1),
        "davies_bouldin": best("davies_bouldin", -1),
    }
    # Tibshirani's rule from k = 2: a first stop at k = 1 with clear segments further on (three
    # groups in a triangle, badly cut in two) is not the answer; no structure at all is
    # `_no_structure`'s call.
    gap_k = _gap_k(evidence, start=max(2, k_min))
    by_k = {e.k: e for e in evidence}
    usable = gap_k is not None and gap_k >= max(2, k_min) and by_k[gap_k].admissible
    votes["gap"] = gap_k if usable else None
    return votes


def _gap_k(evidence: tuple[KEvidence, ...], start: int = 1) -> int | None:
    """Tibshirani's rule: the smallest k (from `start`) with gap(k) ≥ gap(k+1) − s(k+1)."""
    by_k = {e.k: e for e in evidence}
    for e in evidence:
        if e.k < start:
            continue
        nxt = by_k.get(e.k + 1)
        if e.gap is None or nxt is None or nxt.gap is None or nxt.gap_se is None:
            continue
        if e.gap >= nxt.gap - nxt.gap_se:
            return e.k
    return None


def _no_structure(evidence: tuple[KEvidence, ...]) -> bool:
    """The gap statistic stops at k = 1 and no admissible k reaches a good average silhouette
    (0.5, Kaufman & Rousseeuw): one group fits as well as any split. The silhouette guard keeps
    clear groups that a first split cuts badly (three groups in a triangle: gap(1) ≥ gap(2) −
    s(2), silhouette 0.84 at k = 3); one Gaussian or uniform data stay below 0.42 on the suite."""
    if _gap_k(evidence) != 1:
        return False
    sils = [e.silhouette for e in evidence if e.admissible and e.silhouette is not None]
    return not sils or max(sils) < STRUCTURE_SILHOUETTE


def _settle(
    evidence: tuple[KEvidence, ...],
    votes: dict[str, int | None],
    upper: int,
    min_share: float,
    k_min: int,
    no_structure: bool,
) -> tuple[int, str]:
    """The rule of the module docstring: no structure → the smallest k; the gap's k when its
    silhouette is near the best; else the vote."""
    ok = [e for e in evidence if e.admissible and e.k >= k_min]
    if no_structure and ok:
        smallest = min(e.k for e in ok)
        return smallest, (
            "No clear structure: the gap statistic finds that one group fits the data as well "
            f"as any split, so the smallest k, {smallest}, is shown; read the segments as bands "
            f"of one continuum, not distinct groups ({_vote_text(votes)})."
        )
    voted = _decide(evidence, votes, upper, min_share, k_min)
    gap = votes.get("gap")
    sils = [e.silhouette for e in ok if e.silhouette is not None]
    at_gap = next((e for e in ok if e.k == gap), None)
    gap_sil = at_gap.silhouette if at_gap is not None else None
    if at_gap is None or gap_sil is None or at_gap.k == voted[0]:
        return voted
    if gap_sil < max(sils) - GAP_SILHOUETTE_SLACK:
        return voted
    return at_gap.k, (
        f"k = {at_gap.k}, the gap statistic's choice (the vote alone gave k = {voted[0]}): its "
        f"average silhouette ({gap_sil:.2f}) is within {GAP_SILHOUETTE_SLACK} of the best "
        f"({max(sils):.2f}), so its segments hold together about as well "
        f"({_vote_text(votes)}). Only ks whose smallest segment holds at least "
        f"{fmt.percent(min_share)} of customers could win."
    )


def _decide(
    evidence: tuple[KEvidence, ...],
    votes: dict[str, int | None],
    upper: int,
    min_share: float,
    k_min: int = 2,
) -> tuple[int, str]:
    counted = [v for name in VOTERS if (v := votes.get(name)) is not None]
    ch = {e.k: (e.calinski_harabasz if e.calinski_harabasz is not None else -1.0) for e in evidence}
    if not counted:
        ok = [e for e in evidence if e.admissible and e.k >= k_min]
        chosen = max(ok, key=lambda e: (ch[e.k], -e.k)).k if ok else 2
        return chosen, (
            f"No index found a clear best k among k = 2–{upper} with every segment at least "
            f"{fmt.percent(min_share)} of customers; k = {chosen} has the best Calinski–Harabasz."
        )
    tally = {c: counted.count(c) for c in sorted(set(counted))}
    top = max(tally.values())
    tied = [c for c, n in tally.items() if n == top]
    chosen = max(tied, key=lambda c: (ch[c], -c))
    tie = (
        f" (tied with k = {', '.join(str(c) for c in tied if c != chosen)}; higher "
        "Calinski–Harabasz)"
        if len(tied) > 1
        else ""
    )
    return chosen, (
        f"k = {chosen} won {top} of {len(VOTERS)} votes{tie}: {_vote_text(votes)}. "
        f"Only ks whose smallest segment holds at least {fmt.percent(min_share)} of customers "
        "could win."
    )


def _vote_text(votes: dict[str, int | None]) -> str:
    return "; ".join(
        f"{INDEX_NAMES[name]} → {'no clear k' if v is None else f'k = {v}'}"
        + ("" if name in VOTERS else " (shown, not counted)")
        for name, v in votes.items()
    )


def _knee(ks: list[int], inertias: list[float]) -> int | None:
    if len(ks) < 3:
        return None
    from kneed import KneeLocator

    locator = KneeLocator(ks, inertias, curve="convex", direction="decreasing", S=1.0)
    if locator.knee is None:
        return None
    knee = int(locator.knee)
    return knee if knee >= 2 else None
