"""Languages of the dashboard: English (the source text) and Korean, from gettext catalogues.

Why it is built this way:
- The Korean text lives in a standard gettext catalogue (`locale/ko/LC_MESSAGES/messages.po`), edited
  with any PO editor and kept complete by `python -m edge.collector.web.catalog` and its test.
- The `.po` file is compiled in memory with Babel at first use (`read_po` -> `write_mo` -> a
  `Translations` object), not by a build step: a wheel carries the `.po`, and a stale `.mo` beside a
  newer `.po` cannot happen.
- The language of a request: `--lang` if the server was started with one, else `?lang=` (remembered
  in a cookie), else the browser's Accept-Language, else English.
- Dates are shown in the server's local time zone (the laptop sits in the room), formatted by Babel
  for the language.
"""

from __future__ import annotations

import functools
import io
import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from babel.core import Locale
from babel.dates import format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

logger = logging.getLogger(__name__)

LOCALES = ("en", "ko")
DEFAULT_LOCALE = "en"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGE_NAMES = {"en": "English", "ko": "한국어"}


def N_(text: str) -> str:
    """Marks a string for the catalogue where it is defined; it is translated where it is shown."""
    return text


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of `locale` (English: the identity). Fuzzy entries are left out, so a
    translation that nobody checked after the English changed falls back to the English."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return NullTranslations()
    path = po_path(locale)
    try:
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale, domain=DOMAIN)
    except OSError as exc:
        logger.error("no %s catalogue at %s (%s): showing English", locale, path, exc)
        return NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def negotiate(accept_language: str | None) -> str | None:
    """The best of LOCALES for an Accept-Language header (`ko-KR,ko;q=0.9,en;q=0.8` -> "ko"), or None."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        fields = part.strip().split(";")
        tag = fields[0].strip().lower()
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and q > 0 and math.isfinite(q):
            ranked.append((-q, i, tag))
    for _q, _i, tag in sorted(ranked):
        base = tag.split("-")[0]
        if base in LOCALES:
            return base
    return None


def choose_locale(forced: str | None, query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (forced, query, cookie):
        if candidate in LOCALES:
            return str(candidate)
    return negotiate(accept) or DEFAULT_LOCALE


# -- formatting ------------------------------------------------------------------------------------
def parse_time(text: Any) -> datetime | None:
    """An aware datetime from a stored RFC 3339 string, or None for anything else."""
    if not isinstance(text, str) or len(text) < 10:
        return None
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


@functools.cache
def babel_locale(code: str) -> Locale:
    return Locale.parse(code)


def local(dt: datetime) -> datetime:
    return dt.astimezone()  # the server's zone: the laptop sits in the room


def format_when(text: Any, locale: str) -> str:
    """`Sun, Nov 29, 2026, 1:07 PM UTC` / `2026년 11월 29일 (일) 오후 1:07 UTC`; "?" if unreadable."""
    dt = parse_time(text)
    if dt is None:
        return "?"
    when = local(dt)
    loc = babel_locale(locale)
    day = format_skeleton("yMMMEd", when, locale=loc)
    return f"{day} {format_time(when, 'short', locale=loc)} {when.tzname() or ''}".strip()


def format_day(text: Any, locale: str) -> str:
    dt = parse_time(text)
    return "?" if dt is None else format_skeleton("MMMd", local(dt), locale=babel_locale(locale))


def format_clock(seconds: Any) -> str:
    """Seconds into the session as m:ss (or h:mm:ss)."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "?"
    s = int(round(max(0.0, float(seconds))))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def format_length(seconds: Any, t: NullTranslations) -> str:
    """A session length for people: `12 s`, `4 min 05 s`, `1 h 02 min`."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "?"
    s = int(round(max(0.0, float(seconds))))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return t.gettext("%(h)d h %(m)02d min") % {"h": h, "m": m}
    if m:
        return t.gettext("%(m)d min %(s)02d s") % {"m": m, "s": sec}
    return t.gettext("%(s)d s") % {"s": sec}


def pct(value: Any, digits: int = 0) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    return f"{value * 100:.{digits}f}%"
