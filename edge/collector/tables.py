"""What `ppt-collect` prints: aligned text tables, the one line per arriving session, the trend table,
and the sessions as CSV for a spreadsheet.

The metric values per session (`metric_value`, `metric_unit`, `main_metrics`) are shared with the
dashboard's overview (edge.collector.web.overview), so the terminal and the browser show the same
numbers. Every text that came from a device goes through `edge.untrusted.printable` here.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge.collector.store import SessionRow
from edge.untrusted import printable


def duration(seconds: float | None) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "-"
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    headers = [printable(h) for h in headers]
    rows = [[printable(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def session_line(summary: dict[str, Any]) -> str:
    """The one line printed for each arriving session (escaped: every field came from a device)."""
    label = f" [{summary['label']}]" if summary.get("label") else ""
    findings = ", ".join(str(f.get("code")) for f in summary.get("feedback", []) if isinstance(f, dict))
    return printable(
        f"session {summary.get('session_id')} from {summary.get('device')}{label}: {summary.get('started_at')}, "
        f"{duration(summary.get('duration_s'))}, {summary.get('status')}; {findings or 'no findings'}"
    )


def metric_value(summary: dict[str, Any], name: str) -> float | None:
    try:
        value = raw_metric_value(summary, name)
    except (TypeError, ValueError, AttributeError):  # an old row of another shape
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def not_judged(summary: dict[str, Any]) -> set[str]:
    """The metrics (and "emotion") the session's own summary says it could not judge."""
    items = summary.get("not_judged")
    return {str(i.get("metric")) for i in items if isinstance(i, dict)} if isinstance(items, list) else set()


def raw_metric_value(summary: dict[str, Any], name: str) -> Any:
    """A session's headline value, or None where it was not measured or not judged: a share of the 12
    frames that happened to show the hips would be a guess, in a trend as in the report."""
    if name == "duration_min":
        d = summary.get("duration_s")
        return None if d is None else d / 60.0
    if ("emotion" if name.startswith("emotion_") else name) in not_judged(summary):  # as `not_judged` names it
        return None
    if name.startswith("emotion_"):
        v = summary.get("emotion", {}).get("classes3", {}).get(name.removeprefix("emotion_"))
        return None if v is None or not summary.get("emotion", {}).get("frames") else 100.0 * v
    m = summary.get("metrics", {}).get(name)
    if not isinstance(m, dict):
        return None
    if m.get("kind") == "share":
        return None if not m.get("n") else 100.0 * m["share"]
    return m.get("mean")


def metric_unit(rows: Sequence[SessionRow], name: str) -> str:
    if name == "duration_min":
        return "min"
    if name.startswith("emotion_"):
        return "%"
    for r in rows:
        m = r.summary.get("metrics", {}).get(name)
        if isinstance(m, dict):
            return "%" if m.get("kind") == "share" else (m.get("unit") or "")
    return ""


def main_metrics(rows: Sequence[SessionRow]) -> list[str]:
    """Every share metric (the feedback is about shares) and the two movement magnitudes, in the
    pipeline's order; without edge.analysis.features, whatever the summaries carry."""
    try:
        from edge.analysis.features import SHARE_METRICS

        return [m.name for m in SHARE_METRICS] + ["wrist_speed", "sway_amplitude"]
    except ImportError:
        names: list[str] = []
        for r in rows:
            names += [k for k in r.summary.get("metrics", {}) if k not in names]
        return names


@dataclass(frozen=True)
class TrendSeries:
    """One headline metric across sessions (oldest first): what `trend` prints and the dashboard draws."""

    name: str
    unit: str
    digits: int  # decimals shown
    values: list[float | None]  # per session, None where not measured

    @property
    def known(self) -> list[float]:
        """The measured values, in order."""
        return [v for v in self.values if v is not None]


def trend_series(rows: Sequence[SessionRow]) -> list[TrendSeries]:
    """The headline metrics measured in at least one of `rows`."""
    out = []
    for name in main_metrics(rows) + ["emotion_positive", "emotion_negative", "duration_min"]:
        values = [metric_value(r.summary, name) for r in rows]
        if any(v is not None for v in values):
            unit = metric_unit(rows, name)
            digits = 0 if unit == "%" else 1 if name == "duration_min" else 2
            out.append(TrendSeries(name, unit, digits, values))
    return out


def trend_table(rows: Sequence[SessionRow]) -> str:
    """Metrics as rows, sessions (oldest to newest) as columns, then the change first -> last.

    Shares are in percent of analysed frames with the presenter in view; continuous metrics show
    their mean."""
    headers = ["metric", "unit", *(f"#{i + 1}" for i in range(len(rows))), "change"]
    table = []
    for tr in trend_series(rows):
        name, unit, digits, values, known = tr.name, tr.unit, tr.digits, tr.values, tr.known
        cells = ["-" if v is None else f"{v:.{digits}f}" for v in values]
        if len(known) >= 2:
            change = f"{known[-1] - known[0]:+.{digits}f}"  # ASCII only, like the report
        else:
            change = ""
        table.append([name, unit, *cells, change])
    legend = [
        printable(f"#{i + 1}  {r.started_at}  {r.session_id}  {r.device}" + (f"  [{r.label}]" if r.label else ""))
        for i, r in enumerate(rows)
    ]
    right = tuple(range(2, len(headers)))
    return text_table(headers, table, right=right) + "\n\n" + "\n".join(legend)


# A cell a spreadsheet would run as a formula (=, +, -, @, or a leading tab or carriage return): a
# device's label or id is untrusted, and "=HYPERLINK(...)" must stay text (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any) -> str:
    text = printable(str(value), limit=500)
    return "'" + text if text.startswith(_FORMULA_START) else text


def sessions_csv(rows: Sequence[SessionRow]) -> str:
    """One row per session (oldest first) for a spreadsheet: who, when, how long, the findings, and
    every headline measure as `ppt-collect trend` computes it, with the unit in the column name. A
    measure the session did not judge is an empty cell, not its number (as in the report and trends),
    and the `not_judged` column says which. Texts that came from a device are escaped and can never
    be read as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    series = [s for s in trend_series(rows) if s.name != "duration_min"]  # duration_s is a column already
    writer.writerow(["session", "device", "label", "started_at", "duration_s", "status", "findings", "not_judged",
                     *(f"{s.name} ({s.unit})" if s.unit else s.name for s in series)])  # fmt: skip
    for i, r in enumerate(rows):
        feedback = [f for f in r.summary.get("feedback", []) if isinstance(f, dict)]
        findings = [f"{f.get('code')}:{f.get('severity')}" for f in feedback]
        writer.writerow([
            _csv_text(r.session_id), _csv_text(r.device), _csv_text(r.label or ""), _csv_text(r.started_at),
            "" if r.duration_s is None else f"{r.duration_s:.1f}", _csv_text(r.status),
            _csv_text("; ".join(findings)), _csv_text("; ".join(sorted(not_judged(r.summary)))),
            *("" if s.values[i] is None else f"{s.values[i]:.{s.digits + 1}f}" for s in series),
        ])  # fmt: skip
    return out.getvalue()
