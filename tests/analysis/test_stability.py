"""Quality and stability verdicts (reportgen.analysis.stability)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reportgen.analysis.cluster import cluster
from reportgen.analysis.prepare import prepare
from reportgen.analysis.stability import evaluate, quality_verdict, stability_verdict
from reportgen.io.dictionary import resolve_dictionary


def test_quality_and_stability_verdicts():
    rng = np.random.default_rng(2)
    blobs = np.vstack([rng.normal(c, 0.3, (150, 2)) for c in [(0, 0), (5, 0), (0, 5)]])
    noise = rng.uniform(0, 1, (450, 2))
    for x, expected in [(blobs, "good"), (noise, None)]:
        frame = pd.DataFrame(x, columns=["a", "b"])
        p = prepare(frame, resolve_dictionary(frame))
        seg = cluster(p.scaled, k=3, seed=0)
        ev = evaluate(p.scaled, seg, seed=0, resamples=10)
        if expected:
            assert ev.quality == "good"
            assert all(s.verdict == "stable" and s.jaccard > 0.9 for s in ev.stability)
        else:
            assert ev.quality in ("poor", "fair") and ev.silhouette < 0.5
    assert quality_verdict(0.2) == "poor" and quality_verdict(0.3) == "fair"
    assert stability_verdict(0.8) == "stable" and stability_verdict(0.65) == "doubtful"
    assert stability_verdict(0.4) == "unstable"


def test_stability_is_the_same_alone_and_inside_a_shared_selection():
    """The resamples are seeded one by one: the same verdicts and Jaccard values whether
    evaluate opens its own selection_fits or shares the caller's."""
    from reportgen.analysis.choose_k import selection_fits

    rng = np.random.default_rng(5)
    x = np.vstack([rng.normal(c, 1.0, (200, 2)) for c in [(0, 0), (4, 0), (0, 4)]])
    frame = pd.DataFrame(x, columns=["a", "b"])
    p = prepare(frame, resolve_dictionary(frame))
    seg = cluster(p.scaled, k=3, seed=0)
    alone = evaluate(p.scaled, seg, seed=3, resamples=8)
    with selection_fits() as fits:
        shared = evaluate(p.scaled, seg, seed=3, resamples=8, fits=fits)
    assert alone == shared
