"""Charts (reportgen.report.charts): the profile heatmap and its labels."""

from __future__ import annotations

import numpy as np


def test_heatmap_runs_features_down_and_labels_stay_whole_or_say_so():
    """The heatmap follows the profile table (features down, segments across), so a dozen
    features stays readable; a label too long to wrap ends in '…' instead of losing words."""
    import io

    from PIL import Image

    from reportgen.report.charts import profile_heatmap, wrap_label

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 12))
    ann = [[f"{v:,.0f}" for v in row * 10_000] for row in z]
    labels = [f"Spend on product line {i}" for i in range(12)]
    names = ["Big spenders", "Bargain hunters"]

    def height(p: int) -> int:
        png = profile_heatmap(z[:, :p], [r[:p] for r in ann], names, labels[:p], (1, 2))
        return Image.open(io.BytesIO(png)).size[1]

    assert height(12) > 1.7 * height(3)  # each feature gets its own row, however many there are
    assert wrap_label("one two three", 20) == "one two three"
    assert wrap_label("alpha beta gamma delta", 6, max_lines=2) == "alpha\nbeta …"
