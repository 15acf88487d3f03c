"""reportgen — turn a table of customers into a PDF segment brief a marketing manager can act on.

The package's names are imported when first used (PEP 562), so that a part of it (the PDF worker
process, the mail module) does not pay for pandas and scikit-learn it never touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reportgen.version import __version__

_LAZY = {
    "BriefConfig": "config",
    "ReportgenError": "errors",
    "BriefResult": "pipeline",
    "build_brief": "pipeline",
    "build_demo": "pipeline",
}

if TYPE_CHECKING:
    from reportgen.config import BriefConfig
    from reportgen.errors import ReportgenError
    from reportgen.pipeline import BriefResult, build_brief, build_demo

__all__ = [
    "BriefConfig",
    "BriefResult",
    "ReportgenError",
    "__version__",
    "build_brief",
    "build_demo",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
