"""Brand themes: the company's logo, colours, font, footer and classification on every document.

A theme is a YAML file (`--theme acme.yaml`)::

    logo: acme-logo.svg            # PNG or SVG, relative to the theme file
    primary_color: "#7a1f5c"       # headings, rules, table headers, the workbook's header row
    segment_colors: ["#7a1f5c", "#2a9d8f", "#e9c46a", "#264653"]
    font: fonts/AcmeSans.ttf       # a font file (relative to the theme), or an installed family
    footer: "Acme Insurance — internal"
    classification: Internal       # printed on every page
    cover_page: true

`load_theme` validates it whole before any work (one line naming the key for anything wrong)
and reads the logo and a font file once: both are embedded as data: URIs, so the renderer never
fetches a file for a theme. A theme is untrusted like the data: colours must be hex colours and
a family name plain words (they are written into CSS); footer and classification reach CSS only
through `css_string`, which leaves nothing but letters, digits and escapes.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reportgen.errors import ConfigError

KEYS = (
    "logo",
    "primary_color",
    "segment_colors",
    "font",
    "footer",
    "classification",
    "cover_page",
)
HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
FAMILY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$")
FONT_TYPES = {".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2"}
FONT_MAGIC = (b"\x00\x01\x00\x00", b"OTTO", b"true", b"wOFF", b"wOF2", b"ttcf")
MAX_LOGO_BYTES = 2_000_000
MAX_FONT_BYTES = 20_000_000
MAX_TEXT = 200
THEME_FAMILY = "Reportgen Theme"  # the @font-face name of a theme's font file


@dataclass(frozen=True)
class Theme:
    """A validated theme: what every document needs, already read (no path is opened later
    except `font_path`, handed to matplotlib for the charts)."""

    source: Path | None = None
    logo_uri: str | None = None  # data: URI (PNG or SVG)
    logo_png: bytes | None = field(default=None, repr=False)  # PNG logos, for the workbook
    primary_color: str | None = None
    segment_colors: tuple[str, ...] = ()
    font_family: str | None = None  # the CSS family name (THEME_FAMILY for a font file)
    font_uri: str | None = field(default=None, repr=False)  # data: URI of a font file
    font_path: Path | None = None
    footer: str = ""
    classification: str = ""
    cover_page: bool = False

    @property
    def is_default(self) -> bool:
        return self == Theme()

    @property
    def heading_color(self) -> str:
        """The primary colour where it is dark enough for text on white (WCAG 4.5:1), else the
        body text's near-black: a light brand colour still draws rules, never faint text."""
        from reportgen.report.palette import contrast_ratio

        if self.primary_color and contrast_ratio(self.primary_color, "#ffffff") >= 4.5:
            return self.primary_color
        return "#1d1d1f"

    @property
    def logo_alt(self) -> str:
        return f"Logo of {self.footer}" if self.footer else "Company logo"


DEFAULT = Theme()


def _fail(theme: Path, key: str | None, problem: str) -> ConfigError:
    where = f"theme {theme.name}" + (f": {key}" if key else "")
    return ConfigError(f"{where} {problem}" if key else f"{where}: {problem}")


def load_theme(path: Path | str | None) -> Theme:
    """The theme in `path` (None: the default look), validated; ConfigError names the key."""
    if path is None:
        return DEFAULT
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, None, f"cannot be read ({type(exc).__name__})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise _fail(path, None, f"is not valid YAML{line}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(path, None, "must be a mapping of keys (logo, primary_color, ...)")
    unknown = sorted(str(k) for k in raw if k not in KEYS)
    if unknown:
        raise _fail(path, str(unknown[0]), f"is not a theme key (known: {', '.join(KEYS)})")
    return _theme(path, raw)


def _theme(path: Path, raw: dict[str, Any]) -> Theme:
    logo_uri, logo_png = _logo(path, raw.get("logo"))
    family, font_uri, font_path = _font(path, raw.get("font"))
    return Theme(
        source=path,
        logo_uri=logo_uri,
        logo_png=logo_png,
        primary_color=_colour(path, "primary_color", raw.get("primary_color")),
        segment_colors=_colours(path, raw.get("segment_colors")),
        font_family=family,
        font_uri=font_uri,
        font_path=font_path,
        footer=_text(path, "footer", raw.get("footer")),
        classification=_text(path, "classification", raw.get("classification")),
        cover_page=_flag(path, raw.get("cover_page")),
    )


def _colour(path: Path, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not HEX_COLOUR.match(value.strip()):
        raise _fail(path, key, f'{value!r} is not a colour (write it as "#7a1f5c")')
    text = value.strip().lower()
    if len(text) == 4:
        text = "#" + "".join(c * 2 for c in text[1:])
    return text


def _colours(path: Path, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _fail(path, "segment_colors", "must be a list of colours")
    if len(value) > 50:
        raise _fail(path, "segment_colors", "lists more than 50 colours")
    colours = tuple(_colour(path, "segment_colors", v) or "" for v in value)
    if len(set(colours)) != len(colours):
        raise _fail(path, "segment_colors", "lists a colour twice")
    return colours


def _text(path: Path, key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _fail(path, key, "must be a line of text")
    text = " ".join(str(value).split())
    if len(text) > MAX_TEXT:
        raise _fail(path, key, f"is longer than {MAX_TEXT} characters")
    return text


def _flag(path: Path, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(path, "cover_page", f"must be true or false (got {value!r})")
    return value


def _relative(path: Path, value: str) -> Path:
    target = Path(value).expanduser()
    return target if target.is_absolute() else (path.parent / target)


def _logo(path: Path, value: Any) -> tuple[str | None, bytes | None]:
    """The logo as a data: URI (and its bytes if PNG); read here, once."""
    if value is None:
        return None, None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "logo", "must be the path of a PNG or SVG file")
    file = _relative(path, value.strip())
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(path, "logo", f"{value} cannot be read ({type(exc).__name__})") from exc
    if len(data) > MAX_LOGO_BYTES:
        raise _fail(path, "logo", f"{value} is larger than {MAX_LOGO_BYTES // 1_000_000} MB")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), data
    if _is_svg(data):
        return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii"), None
    raise _fail(path, "logo", f"{value} is neither a PNG nor an SVG image")


def _is_svg(data: bytes) -> bool:
    from xml.etree import ElementTree

    try:
        # defusedxml is not a dependency: refuse DTDs outright (no entity expansion).
        if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
            return False
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return False
    return root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")


def _font(path: Path, value: Any) -> tuple[str | None, str | None, Path | None]:
    """A font file (embedded) or an installed family (checked with fontconfig)."""
    if value is None:
        return None, None, None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "font", "must be a font file or the name of an installed font family")
    value = value.strip()
    if Path(value).suffix.lower() in FONT_TYPES:
        file = _relative(path, value)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise _fail(path, "font", f"{value} cannot be read ({type(exc).__name__})") from exc
        if len(data) > MAX_FONT_BYTES or not data.startswith(FONT_MAGIC):
            raise _fail(path, "font", f"{value} is not a font file (TTF, OTF, WOFF or WOFF2)")
        mime = FONT_TYPES[file.suffix.lower()]
        uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
        return THEME_FAMILY, uri, file.resolve()
    if not FAMILY_NAME.match(value):
        raise _fail(path, "font", f"{value!r} is neither a font file nor a font family name")
    if not _installed(value):
        raise _fail(path, "font", f"no installed font family is called {value!r}")
    return value, None, None


def installed_families() -> set[str]:
    """Font families fontconfig knows (what WeasyPrint draws with), lower-cased."""
    try:
        listed = subprocess.run(
            ["fc-list", ":", "family"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name.strip().lower() for line in listed.splitlines() for name in line.split(",")}


def _installed(family: str) -> bool:
    families = installed_families()
    if families:
        return family.lower() in families
    from matplotlib import font_manager  # no fontconfig tools: matplotlib's list of fonts

    return family.lower() in {f.name.lower() for f in font_manager.fontManager.ttflist}


def css_string(text: str) -> str:
    """`text` as a quoted CSS string in which every character but ASCII letters and digits is a
    six-digit hex escape (spaces too: a space after an escape would be taken as its end):
    nothing in it can end the string, the declaration or the <style> element."""
    body = "".join(c if c.isascii() and c.isalnum() else f"\\{ord(c):06x}" for c in text)
    return f'"{body}"'


# --------------------------------------------------------------------------- emails


def mail_theme_json(theme: Theme) -> dict[str, str]:
    """What `reportgen email` needs of a run's theme (theme.json in the run folder): the email
    bodies take the brand's colour, footer and classification. Written by every run (empty
    values for the default look), so a run folder never keeps an earlier run's theme."""
    return {
        "primary_color": theme.primary_color or "",
        "footer": theme.footer,
        "classification": theme.classification,
    }


def read_mail_theme(folder: Path) -> Theme:
    """The theme a run folder's emails use: theme.json, checked again (a run folder is data
    like any other), or the default look when there is none or it does not hold up."""
    import json

    from reportgen.runs.folder import THEME_FILE

    try:
        raw = json.loads((folder / THEME_FILE).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            return DEFAULT
        primary = raw.get("primary_color") or None
        return Theme(
            primary_color=_colour(folder / THEME_FILE, "primary_color", primary),
            footer=_text(folder / THEME_FILE, "footer", raw.get("footer")),
            classification=_text(folder / THEME_FILE, "classification", raw.get("classification")),
        )
    except (OSError, ValueError, ConfigError):
        return DEFAULT


# --------------------------------------------------------------------------- colour vision

CVD_MIN_DELTA_E = 10.0  # the default palette keeps every pair at least this far apart


def colour_vision_note(colours: Sequence[str]) -> str:
    """A sentence for the appendix when two of a theme's segment colours (those the run uses)
    become hard to tell apart under simulated colour-vision deficiency; '' when none do."""
    from reportgen.report.palette import CVD_MATRICES, closest_pair

    if len(colours) < 2:
        return ""
    worst = min((closest_pair(colours, d), d) for d in CVD_MATRICES)
    (distance, a, b), deficiency = worst
    if distance >= CVD_MIN_DELTA_E:
        return ""
    return (
        f"The theme's segment colours {a} and {b} are hard to tell apart with {deficiency} "
        f"(CIELAB ΔE {distance:.0f} when simulated; the default palette keeps at least "
        f"{CVD_MIN_DELTA_E:.0f}): every chart and table also names or numbers the segments."
    )
