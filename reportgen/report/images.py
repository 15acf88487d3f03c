"""Images in the brief are embedded, never fetched: PNG bytes as a data: URI."""

from __future__ import annotations

import base64


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
