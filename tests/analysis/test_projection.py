"""The segment map's projection: PCA fitted on a bounded sample, only the drawn rows projected."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from reportgen.analysis.projection import fit_sample, project, segment_centres


def _table(n: int = 3000, p: int = 5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.array([1, 2, 5]), size=n)  # ids need not run 1..k
    x = rng.normal(size=(n, p)) + labels[:, None] * np.linspace(1.0, 0.2, p)
    return (x - x.mean(axis=0)) / x.std(axis=0), labels


@pytest.fixture
def calls(monkeypatch):
    """Rows seen by PCA.fit and PCA.transform."""
    seen: dict[str, list[int]] = {"fit": [], "transform": []}
    fit, transform = PCA.fit, PCA.transform

    def spy_fit(self, x, y=None):
        seen["fit"].append(len(x))
        return fit(self, x, y)

    def spy_transform(self, x):
        seen["transform"].append(len(x))
        return transform(self, x)

    monkeypatch.setattr(PCA, "fit", spy_fit)
    monkeypatch.setattr(PCA, "transform", spy_transform)
    return seen


def test_only_the_drawn_rows_are_projected(calls):
    x, labels = _table()
    rows = np.array([3, 10, 11, 2999])
    p = project(x, labels, (1, 2, 5), rows, seed=0)
    assert calls["transform"] == [len(rows)]
    assert p.points.shape == (4, 2)
    full = PCA(n_components=2, random_state=0).fit(x)
    np.testing.assert_allclose(p.points, full.transform(x[rows]), atol=1e-12)
    assert p.fit_rows == len(x)  # small table: the PCA of every row


def test_the_fit_uses_a_bounded_seeded_sample(calls):
    x, labels = _table(n=4000)
    p = project(x, labels, (1, 2, 5), np.arange(10), seed=7, max_fit_rows=1000)
    assert calls["fit"] == [1000] and p.fit_rows == 1000
    again = project(x, labels, (1, 2, 5), np.arange(10), seed=7, max_fit_rows=1000)
    np.testing.assert_array_equal(p.points, again.points)
    np.testing.assert_array_equal(fit_sample(4000, 1000, 7), fit_sample(4000, 1000, 7))
    assert not np.array_equal(fit_sample(4000, 1000, 7), fit_sample(4000, 1000, 8))


def test_centres_are_the_projected_segment_means():
    x, labels = _table()
    p = project(x, labels, (5, 1, 2), np.arange(100), seed=0)
    xy = PCA(n_components=2, random_state=0).fit(x).transform(x)
    expected = np.array([xy[labels == sid].mean(axis=0) for sid in (5, 1, 2)])
    np.testing.assert_allclose(p.centres, expected, atol=1e-12)


def test_projection_is_deterministic():
    x, labels = _table()
    rows = np.arange(0, 3000, 7)
    a = project(x, labels, (1, 2, 5), rows, seed=3)
    b = project(x, labels, (1, 2, 5), rows, seed=3)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.centres, b.centres)
    np.testing.assert_array_equal(a.components, b.components)
    assert a.explained == b.explained and a.explained[0] >= a.explained[1] > 0


def test_segment_centres_match_the_means_and_mark_an_empty_segment():
    x, labels = _table(n=500)
    centres = segment_centres(x, labels, (1, 2, 5, 7))
    for row, sid in enumerate((1, 2, 5)):
        np.testing.assert_allclose(centres[row], x[labels == sid].mean(axis=0), atol=1e-12)
    assert np.isnan(centres[3]).all()  # segment 7 has no rows
