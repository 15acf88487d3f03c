"""Clustering (reportgen.analysis.cluster): segment ids by size, determinism, the silhouette,
and the final fit started from a sample giving the full fit's answer."""

from __future__ import annotations

import numpy as np
import pytest

from reportgen.analysis import cluster as cluster_mod
from reportgen.analysis.cluster import cluster
from reportgen.analysis.prepare import prepare
from reportgen.analysis.profile import profile
from reportgen.io.dictionary import resolve_dictionary
from tests.conftest import blobs


def test_cluster_ids_by_size_deterministic_and_in_units():
    df = blobs()
    p = prepare(df, resolve_dictionary(df))
    a = cluster(p.scaled, k=3, seed=7)
    b = cluster(p.scaled, k=3, seed=7)
    assert a.sizes == (40, 30, 20)
    assert np.array_equal(a.labels, b.labels)
    # Segment 1 is the blob centred at spend 2000, visits 20, in the data's own units.
    first = profile(p, a, resolve_dictionary(df)).segments[0]
    assert abs(first.features[0].segment_mean - 2000) < 50
    assert abs(first.features[1].segment_mean - 20) < 1
    assert np.all(a.distances >= 0)


def test_silhouette_from_distances_equals_scikit_learns():
    from sklearn.metrics import pairwise_distances, silhouette_score

    from reportgen.analysis.cluster import silhouette

    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 5))
    x[:4] = x[0]  # repeated rows
    for labels in (rng.integers(0, 2, 400), rng.integers(0, 9, 400), np.r_[np.zeros(399), 1]):
        assert silhouette(pairwise_distances(x), labels) == pytest.approx(
            silhouette_score(x, labels), abs=1e-12
        )


def _blobs(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-8, 8, size=(k, 4))
    return centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, 4))


def test_final_fit_from_a_sample_matches_a_full_fit(monkeypatch):
    x = _blobs(6000, 4, seed=3)
    full = cluster_mod.cluster(x, k=4, seed=1)
    monkeypatch.setattr(cluster_mod, "FINAL_FIT_SAMPLE", 800)
    warm = cluster_mod.cluster(x, k=4, seed=1)
    assert warm.start_sample == 800 and full.start_sample == 6000
    assert np.array_equal(warm.labels, full.labels)
    assert np.allclose(warm.centers_scaled, full.centers_scaled)
    assert warm.inertia <= full.inertia * (1 + 1e-9)
