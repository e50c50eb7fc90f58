"""`ppt-collect report SESSION --html OUT.html`: the one-session page as one self-contained file.

The same template as the served page, with the style sheet, the chart library and the page's own
script inlined and the data embedded, so the file can be mailed and opened offline. Its
Content-Security-Policy allows exactly those inline blocks (by their sha256) and no network at all:
the report cannot load, or send, anything.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from edge.collector.web.app import STATIC_DIR, Renderer
from edge.collector.web.i18n import translations
from edge.collector.web.session_view import session_view

INLINE_SCRIPTS = ("vendor/chart.umd.min.js", "charts.js")
INLINE_STYLES = ("app.css",)


def _read(name: str) -> str:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():  # would end the inline block early
        raise ValueError(f"static/{name} cannot be inlined: it contains a closing tag")
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_report(summary: Mapping[str, Any], locale: str = "en", renderer: Renderer | None = None) -> str:
    renderer = renderer or Renderer()
    view = session_view(summary, locale, translations(locale))
    scripts = [_read(name) for name in INLINE_SCRIPTS]
    styles = [_read(name) for name in INLINE_STYLES]
    csp = (
        "default-src 'none'; img-src data:; "
        f"script-src {' '.join(_sha256(s) for s in scripts)}; style-src {' '.join(_sha256(s) for s in styles)}"
    )
    return renderer.render(
        "session.html", locale, standalone=True, page_name="session", v=view,
        inline_scripts=scripts, inline_styles=styles, csp=csp,
    )  # fmt: skip
