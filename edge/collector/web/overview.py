"""The list pages as data: sessions (filtered, paginated), trends across sessions, devices.

Pure functions of Store rows and the page's language; `app` fetches, these shape. The trend numbers
are those of `ppt-collect trend` (`edge.collector.cli`), so the terminal and the page agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from babel.support import NullTranslations

from edge.collector.store import DeviceOverview, SessionRow
from edge.collector.tables import trend_series
from edge.collector.web import metrics as M
from edge.collector.web.i18n import format_day, format_length, format_when
from edge.collector.web.live import LiveEvent, status_text
from edge.collector.web.session_view import ENDED_BY, SEVERITY, finding_sentence

PAGE_SIZE = 50
MAX_TREND_SESSIONS = 100


# -- sessions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionFilter:
    room: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    page: int = 1

    def bounds(self) -> tuple[str | None, str | None]:
        """UTC bounds on started_at for the chosen local days (from's midnight, the day after to)."""

        def utc(d: date) -> str:
            return _rfc3339(datetime.combine(d, time()).astimezone())  # local midnight

        since = utc(self.day_from) if self.day_from else None
        until = utc(self.day_to + timedelta(days=1)) if self.day_to else None
        return since, until


def _rfc3339(dt: datetime) -> str:
    u = dt.astimezone(timezone.utc)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def parse_day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@dataclass
class SessionLine:
    session_id: str
    room: str
    label: str | None
    started: str
    length: str
    ended_by: str
    status: str
    findings: int
    top_severity: str | None
    top_severity_label: str
    top_finding: str | None


def session_line(row: SessionRow, locale: str, t: NullTranslations) -> SessionLine:
    s = row.summary
    feedback = [f for f in s.get("feedback") or [] if isinstance(f, Mapping)]
    top = feedback[0] if feedback else None
    ended = ENDED_BY.get(str(s.get("ended_by")))
    severity = str(top.get("severity")) if top else None
    if top and severity not in SEVERITY:
        severity = "info"
    return SessionLine(
        session_id=row.session_id,
        room=row.device,
        label=row.label,
        started=format_when(row.started_at, locale),
        length=format_length(row.duration_s, t),
        ended_by=t.gettext(ended) if ended else ("—" if row.status == "complete" else t.gettext("interrupted")),
        status=row.status,
        findings=len(feedback),
        top_severity=severity,
        top_severity_label=t.gettext(SEVERITY[severity]) if severity else "",
        top_finding=finding_sentence(top, locale, t) if top else None,
    )


@dataclass
class Pages:
    page: int
    pages: int
    total: int
    first: int  # 1-based index of the first row shown
    last: int

    @staticmethod
    def of(page: int, total: int, size: int = PAGE_SIZE) -> Pages:
        pages = max(1, math.ceil(total / size))
        page = min(max(1, page), pages)
        first = 0 if total == 0 else (page - 1) * size + 1
        return Pages(page, pages, total, first, min(total, page * size))

    def window(self, width: int = 2) -> list[int | None]:
        """Page numbers to link: 1 … p-2 p-1 p p+1 p+2 … last (None is a gap)."""
        keep = {1, self.pages, *range(self.page - width, self.page + width + 1)}
        out: list[int | None] = []
        for n in range(1, self.pages + 1):
            if n in keep:
                out.append(n)
            elif out and out[-1] is not None:
                out.append(None)
        return out


# -- trends --------------------------------------------------------------------------------------
def trend_data(rows: Sequence[SessionRow], locale: str, t: NullTranslations) -> dict[str, Any]:
    """Per headline metric, its value in each session (oldest first) and its target band, as
    `ppt-collect trend` computes them (shares and emotions in percent)."""
    targets = M.targets()
    labels = [format_day(r.started_at, locale) for r in rows]
    charts = []
    for tr in trend_series(rows):
        name, unit, digits, values, known = tr.name, tr.unit, tr.digits, tr.values, tr.known
        shown_unit = M.unit(unit, t.gettext)
        if unit == "%":
            faces = name.startswith("emotion_")
            shown_unit = t.gettext("% of classified faces") if faces else M.unit("share", t.gettext)
        target = targets.get(name)
        band = None
        if target is not None:
            band = {k: None if v is None else v * 100 for k, v in target.as_dict().items()}
        in_band = None
        if target is not None and unit == "%":
            in_band = sum(1 for v in known if not target.misses(v / 100.0))
        change = None
        if len(known) >= 2:
            change = round(known[-1] - known[0], digits) + 0.0  # + 0.0: no "-0"
        charts.append({
            "name": name,
            "label": M.label(name, t.gettext),
            "unit": shown_unit,
            "percent": unit == "%",
            "values": [None if v is None else round(v, digits) for v in values],
            "first": None if not known else round(known[0], digits),
            "last": None if not known else round(known[-1], digits),
            "change": change,
            "digits": digits,
            "band": band,
            "band_text": M.describe_target(target, t.gettext),
            "in_band": in_band,
            "measured": len(known),
        })  # fmt: skip
    sessions = [
        {"n": i + 1, "session_id": r.session_id, "label": r.label, "room": r.device,
         "started": format_when(r.started_at, locale)}
        for i, r in enumerate(rows)
    ]  # fmt: skip
    return {
        "labels": labels,
        "sessions": sessions,
        "charts": charts,
        "texts": {
            "target": t.gettext("target band"),
            "session": t.gettext("session"),
            "value": t.gettext("value"),
        },
    }


# -- devices -------------------------------------------------------------------------------------
@dataclass
class DeviceLine:
    device: str
    css: str
    state: str
    since: str
    version: str
    session: str | None  # the session running now, per the retained status
    sessions: int
    last_session_id: str | None
    last_label: str | None
    last_started: str
    notes: list[str] = field(default_factory=list)  # set-up the device's status says is missing


def device_line(d: DeviceOverview, live_status: LiveEvent | None, locale: str, t: NullTranslations) -> DeviceLine:
    """The retained status from the live feed when there is one (it is current), else the last state
    change the collector recorded."""
    status: Mapping[str, Any] = {}
    since = ""
    if live_status is not None:
        status = live_status.data
        since_raw = status.get("since") if status.get("state") == "online" else status.get("at")
        since = format_when(since_raw, locale) if since_raw else ""
    elif d.status is not None:
        status = d.status.status or {"state": d.status.state}
        since = format_when(d.status.received_at, locale)
    css, words = status_text(status.get("state"), status.get("reason"), t.gettext)
    running = status.get("session") if status.get("state") == "online" else None
    notes = []
    if status.get("state") == "online" and "screen_side" in status and status.get("screen_side") is None:
        notes.append(t.gettext("Screen side not set (analysis.screen_side): turning to the screen is not judged."))
    return DeviceLine(
        device=d.device,
        css=css,
        state=words,
        since=since,
        version=str(status.get("version") or ""),
        session=str(running) if isinstance(running, str) and running else None,
        sessions=d.sessions,
        last_session_id=d.last_session_id,
        last_label=d.last_label,
        last_started=format_when(d.last_started_at, locale) if d.last_started_at else "",
        notes=notes,
    )
