"""reportgen — turn a table of customers into a PDF segment brief a marketing manager can act on."""

__version__ = "0.1.0"

from .config import BriefConfig  # noqa: E402
from .errors import ReportgenError  # noqa: E402
from .pipeline import BriefResult, build_brief, build_demo  # noqa: E402

__all__ = [
    "BriefConfig",
    "BriefResult",
    "ReportgenError",
    "__version__",
    "build_brief",
    "build_demo",
]
