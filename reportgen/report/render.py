"""Stage 8 — render: the report structure through Jinja templates into HTML, then PDF.

The templates' variables are the fields of `context.BriefContext` (`doc`, `overview`, `segments`,
...), read with Jinja's dot syntax; `changes` is defined only when the run has a previous one to
compare with, and a segment's own brief also gets `seg`, that segment.

Templates are looked up in a user folder first (to override any file), then in the packaged
`reportgen.templates`. Autoescape is always on: column names, values and dictionary words are
untrusted. WeasyPrint gets a URL fetcher that serves only data: URIs and files inside the template
folders, so a brief never fetches from the network or reads other local files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import markupsafe

from reportgen.errors import RenderError
from reportgen.runs.folder import segment_brief_name

if TYPE_CHECKING:
    from reportgen.report.context import BriefContext, SegmentView

MAIN_TEMPLATE = "brief.html.j2"
SEGMENT_TEMPLATE = "segment_brief.html.j2"


def packaged_template_dir() -> Path:
    return Path(str(resources.files("reportgen.templates")))


def template_dirs(user_dir: Path | None = None) -> list[Path]:
    dirs = [packaged_template_dir()]
    if user_dir is not None:
        if not Path(user_dir).is_dir():
            raise RenderError(f"template folder not found: {user_dir}")
        dirs.insert(0, Path(user_dir).resolve())
    return dirs


def upper_first(text: str) -> str:
    """Capitalise the first letter only: Jinja's `capitalize` lowercases the rest, turning
    'region: East' into 'Region: east' and 'CLV' into 'Clv'."""
    text = str(text)
    return text[:1].upper() + text[1:]


def _css_string(text: str) -> markupsafe.Markup:
    """A theme's text as a CSS string (report/theme.py: only letters, digits and escapes)."""
    from reportgen.report.theme import css_string

    return markupsafe.Markup(css_string(str(text)))


def environment(user_dir: Path | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(user_dir)]),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["upper_first"] = upper_first
    env.filters["css_string"] = _css_string
    return env


def template_variables(context: BriefContext, seg: SegmentView | None = None) -> dict[str, Any]:
    """The context's fields as template variables (the values themselves, not copies as dicts).
    `changes` is left undefined without a previous run, as templates test `changes is defined`;
    `seg` is set for a segment's own brief."""
    variables = {f.name: getattr(context, f.name) for f in fields(context)}
    for optional in ("changes", "value"):  # templates test `... is defined`
        if variables[optional] is None:
            del variables[optional]
    if seg is not None:
        variables["seg"] = seg
    return variables


def render_html(
    variables: Mapping[str, Any], user_dir: Path | None = None, template: str = MAIN_TEMPLATE
) -> str:
    """`template` rendered with `variables` (for the brief: `template_variables(context)`)."""
    try:
        return environment(user_dir).get_template(template).render(**variables)
    except jinja2.TemplateError as exc:
        raise RenderError(
            f"template error in {getattr(exc, 'name', None) or template}: {exc}"
        ) from exc


def _safe_fetcher(allowed_dirs: list[Path]) -> Any:
    from weasyprint.urls import URLFetcher

    roots = [d.resolve() for d in allowed_dirs]

    class AssetsOnlyFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no types
        """Serve data: URIs and files under the template folders; refuse everything else."""

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith("file:"):
                from urllib.parse import unquote, urlsplit

                path = Path(unquote(urlsplit(url).path)).resolve()
                if any(path.is_relative_to(root) for root in roots) and path.is_file():
                    return super().fetch(url, headers)
            raise ValueError(f"reportgen does not fetch external resources: {url[:80]}")

    return AssetsOnlyFetcher(timeout=1, allow_redirects=False)


ARCHIVE_VARIANT = "pdf/a-3b"  # PDF/A-3: archival, and may carry the data files it reports on
MEDIA_TYPES = {".csv": "text/csv", ".json": "application/json"}


@dataclass(frozen=True)
class Attachment:
    """A file embedded in an archival PDF as an associated file (PDF/A-3 /AF, /AFRelationship
    /Data): the brief carries the very bytes of the files beside it."""

    name: str
    data: bytes = field(repr=False)
    description: str = ""


def _pdf_options(archive: bool) -> dict[str, Any]:
    """Every PDF is tagged (structure tree, reading order, /Lang and title from the HTML) for
    screen readers; an archival one is PDF/A-3b as well (XMP identification, sRGB output
    intent, every font embedded)."""
    options: dict[str, Any] = {"pdf_tags": True}
    if archive:
        options["pdf_variant"] = ARCHIVE_VARIANT
    return options


def html_to_pdf(
    html: str,
    user_dir: Path | None = None,
    *,
    archive: bool = False,
    attachments: Sequence[Attachment] = (),
    created: datetime | None = None,
) -> bytes:
    """The PDF of `html`: tagged; with `archive`, PDF/A-3b with `attachments` embedded (their
    dates `created`, the run's time, so the same run gives the same file)."""
    import weasyprint

    dirs = template_dirs(user_dir)
    # WeasyPrint logs every refused fetch and unsupported CSS property as a warning; the brief
    # does not depend on any of them, so keep the user's terminal clean.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    options = _pdf_options(archive)
    try:
        fetcher = _safe_fetcher(dirs)
        document = weasyprint.HTML(
            string=html, base_url=dirs[0].as_uri() + "/", url_fetcher=fetcher
        )
        files = [_weasy_attachment(a, fetcher, created) for a in attachments] if archive else []
        finisher = _one_af_entry_each if files else None
        pdf: bytes = document.write_pdf(attachments=files or None, finisher=finisher, **options)
        return pdf
    except Exception as exc:  # WeasyPrint raises many internal types
        raise RenderError(f"PDF rendering failed: {type(exc).__name__}: {exc}") from exc


def _one_af_entry_each(document: Any, pdf: Any) -> None:
    """WeasyPrint 70 lists each embedded file twice in the catalog's /AF (once from the
    EmbeddedFiles name tree, once as a file specification): keep one reference each."""
    import pydyf

    af = pdf.catalog.get("AF")
    if af is not None:
        pdf.catalog["AF"] = pydyf.Array(dict.fromkeys(af))  # references, in their order


def _weasy_attachment(a: Attachment, fetcher: Any, created: datetime | None) -> Any:
    """WeasyPrint's attachment, from memory (never fetched), related to the PDF as its data:
    WeasyPrint 70's PDF/A-3 step writes /AFRelationship from `relationship` and lists every
    embedded file in the catalog's /AF."""
    import io

    import weasyprint

    when = created or datetime.now(UTC)
    return weasyprint.Attachment(
        file_obj=io.BytesIO(a.data),
        url_fetcher=fetcher,
        name=a.name,
        description=a.description or a.name,
        created=when,
        modified=when,
        relationship="Data",
    )


def archive_pdf(
    html: str,
    attachments: Sequence[Attachment],
    user_dir: Path | None = None,
    created: datetime | None = None,
) -> bytes:
    """The brief as PDF/A-3b carrying `attachments`: one file is the month's complete record."""
    return html_to_pdf(html, user_dir, archive=True, attachments=attachments, created=created)


def preload() -> None:
    """Import WeasyPrint now (a slow import), so that the first PDF does not wait for it."""
    import weasyprint  # noqa: F401


def segment_briefs_html(context: BriefContext, user_dir: Path | None = None) -> dict[str, str]:
    """Each segment's short brief as HTML: {'segments/<slug>.pdf': html}. The same variables as
    the main brief with `seg` set to one segment."""
    return {
        segment_brief_name(seg.slug): render_html(
            template_variables(context, seg), user_dir, template=SEGMENT_TEMPLATE
        )
        for seg in context.segments
    }


def render_all(
    context: BriefContext,
    user_dir: Path | None = None,
    executor: Executor | None = None,
    *,
    main_pdf: bool = True,
) -> tuple[str, bytes, dict[str, bytes]]:
    """The main brief (HTML and PDF) and every segment's brief (PDF).

    With an `executor` the segment briefs are laid out there while this thread lays out the
    main brief. Without `main_pdf` the main brief's PDF is left to the caller (b""): an archival
    brief is laid out once its attachments exist (`archive_pdf`)."""
    html = render_html(template_variables(context), user_dir)
    pieces = segment_briefs_html(context, user_dir)
    folder = Path(user_dir).resolve() if user_dir is not None else None
    htmls = list(pieces.values())
    pending = [executor.submit(html_to_pdf, h, folder) for h in htmls] if executor else []
    pdf = html_to_pdf(html, user_dir) if main_pdf else b""
    done = [f.result() for f in pending] if executor else [html_to_pdf(h, folder) for h in htmls]
    return html, pdf, dict(zip(pieces, done, strict=True))
