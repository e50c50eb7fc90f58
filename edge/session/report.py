"""Plain-text report of a session summary, for `ppt-edge analyze` and `ppt-collect show`.

Findings first (what to work on), then the main numbers, each share with an ASCII sparkline of its
timeline so that "when" is visible at a glance, and a key to the characters and units at the end (a
reader meets this report before any documentation). Pure ASCII so that it survives any terminal, log or
e-mail. Works on any schema-v1 summary, including ones stored by an older or newer device: unknown
metrics are listed at the end and missing sections are skipped.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from edge.analysis.emotion import NEUTRAL_READ_AS
from edge.analysis.features import METRIC_BY_NAME

logger = logging.getLogger(__name__)

RAMP = "_.:-=+*#%@"  # low -> high; a bin without data is a space
SPARK_WIDTH = 60
LABEL_WIDTH = 28

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Attention", ("facing_audience", "turned_to_screen", "back_to_audience", "looking_down")),
    ("Gestures", ("gesturing", "hands_in_gesture_zone")),
    ("Posture", ("slouching", "arms_crossed", "hands_in_pockets", "hands_behind_back", "swaying")),
)
CONTEXT_ORDER = ("hips_in_view", "hands_in_view", "torso_frontal", "head_from_face", "head_large_enough",
                 "large_enough", "upright")
CONTINUOUS_ORDER = (
    "wrist_speed", "elbow_speed", "head_yaw", "head_pitch", "eyes_pitch", "head_pitch_kp", "torso_lean", "slouch",
    "sway_amplitude", "sway_frequency",
)  # fmt: skip
SPARK_CONTINUOUS = ("wrist_speed", "sway_amplitude")


def sparkline(values: Sequence[float | None], lo: float | None = None, hi: float | None = None,
              width: int = SPARK_WIDTH) -> str:  # fmt: skip
    """An ASCII sparkline: one character per bin (bins averaged down to `width`), blank where empty.

    The scale is lo..hi (default: the series' own min..max); shares pass 0..1 so that two lines
    compare.
    """
    vals = list(values)
    if not vals:
        return ""
    if len(vals) > width:
        step = len(vals) / width
        grouped: list[float | None] = []
        for i in range(width):
            chunk = [v for v in vals[int(i * step) : int((i + 1) * step)] if v is not None]
            grouped.append(sum(chunk) / len(chunk) if chunk else None)
        vals = grouped
    present = [v for v in vals if v is not None]
    if not present:
        return " " * len(vals)
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = hi - lo
    out = []
    for v in vals:
        if v is None:
            out.append(" ")
            continue
        x = 0.0 if span <= 0 else (v - lo) / span
        out.append(RAMP[min(len(RAMP) - 1, max(0, int(x * len(RAMP))))])
    return "".join(out)


def _pct(x: Any) -> str:
    return "-" if not isinstance(x, (int, float)) else f"{x * 100:.0f}%"


def _num(x: Any) -> str:
    if not isinstance(x, (int, float)):
        return "-"
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.0f}"


def _duration(s: Any) -> str:
    if not isinstance(s, (int, float)):
        return "?"
    s = int(round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {sec:02d} s"
    return f"{sec} s"


def _when(text: Any) -> str:
    """2025-03-01T09:00:00.250Z -> 2025-03-01 09:00:00 UTC (seconds are enough to find a session)."""
    if not isinstance(text, str) or len(text) < 19:
        return "?"
    tail = " UTC" if text.endswith(("Z", "z", "+00:00")) else text[19:].lstrip(".0123456789")
    return text[:10] + " " + text[11:19] + tail


def _label(name: str) -> str:
    spec = METRIC_BY_NAME.get(name)
    return spec.label if spec is not None else name.replace("_", " ")


def _spark_row(label: str, values: Sequence[float | None]) -> str:
    """A share series' sparkline under the share column layout (no share figure)."""
    return f"  {label:<{LABEL_WIDTH}} {'':>5}  {sparkline(values, 0.0, 1.0)}"


def render_report(summary: Mapping[str, Any]) -> str:
    """The report as text (lines joined by newlines, no trailing newline)."""
    lines: list[str] = []
    frames = summary.get("frames") or {}
    fps = summary.get("fps") or {}
    metrics: Mapping[str, Any] = summary.get("metrics") or {}
    timeline = summary.get("timeline") or {}
    series: Mapping[str, Sequence[float | None]] = timeline.get("series") or {}
    bin_s = timeline.get("bin_s")

    title = f"PPT Edge session {summary.get('session_id', '?')}"
    if summary.get("label"):
        title += f'  "{summary["label"]}"'
    lines.append(title)
    start = _when(summary.get("started_at"))
    end_note = str(summary.get("status", "?"))
    if summary.get("ended_by"):
        end_note += f" (ended by {str(summary['ended_by']).replace('_', ' ')})"
    lines.append(f"  {start}, {_duration(summary.get('duration_s'))}, {end_note}")
    analysed = frames.get("analysed", 0) or 0
    in_view = (frames.get("with_person", 0) / analysed) if analysed and "with_person" in frames else None
    facts = [f"device {summary.get('device', '?')}", f"{analysed} frames analysed"]
    if isinstance(fps.get("analysed"), (int, float)):
        facts[-1] += f" at {fps['analysed']:.1f} fps"
    if in_view is not None:
        facts.append(f"presenter in view {_pct(in_view)}")
    lines.append("  " + ", ".join(facts))
    for w in summary.get("warnings") or []:
        text = f"warning: {w.get('message') or w.get('code', '?')}"
        lines.extend(textwrap.wrap(text, width=100, initial_indent="  ", subsequent_indent="    "))

    lines.append("")
    lines.append("Feedback")
    feedback = summary.get("feedback") or []
    if not feedback:
        lines.append("  Nothing stood out: no threshold was crossed (or too little was seen to judge).")
    for f in feedback:
        lines.append(f"  [{f.get('severity', '?'):<8}] {f.get('message', '')}")
        basis = f.get("basis")
        if isinstance(basis, Mapping) and isinstance(basis.get("frames"), int):
            seen = f"judged on {basis['frames']} frames"
            if isinstance(basis.get("share"), (int, float)):
                seen += f", {_pct(basis['share'])} of the time in view"
            lines.append(f"  {'':<10} ({seen})")
    not_judged: dict[str, str] = {}
    for item in summary.get("not_judged") or []:
        if isinstance(item, Mapping) and isinstance(item.get("metric"), str):
            not_judged[item["metric"]] = str(item.get("reason", ""))

    spark_head = f"timeline ({bin_s:g} s bins)" if isinstance(bin_s, (int, float)) else ""
    shown: set[str] = set()
    for title, names in GROUPS:
        rows = [n for n in names if n in metrics]
        if not rows:
            continue
        lines.append("")
        lines.append(f"{title:<{LABEL_WIDTH + 2}} share  {spark_head}")
        for name in rows:
            m = metrics[name]
            shown.add(name)
            if name in not_judged:
                lines.append(f"  {_label(name):<{LABEL_WIDTH}} not judged: {not_judged[name]}")
                continue
            share = _pct(m.get("share")) if m.get("n") else "-"
            spark = sparkline(series.get(name, []), 0.0, 1.0)
            lines.append(f"  {_label(name):<{LABEL_WIDTH}} {share:>5}  {spark}".rstrip())

    seen_rows = [n for n in CONTEXT_ORDER if n in metrics]
    posture = summary.get("posture")
    if seen_rows or isinstance(posture, Mapping):
        lines.append("")
        lines.append("What the camera saw (share of the time in view)")
        if isinstance(posture, Mapping):
            parts = ", ".join(f"{k} {_pct(posture.get(k))}" for k in ("standing", "seated", "unknown"))
            lines.append(f"  {'posture':<{LABEL_WIDTH}} {parts}")
        in_view = frames.get("with_person") if isinstance(frames.get("with_person"), int) else None
        for name in seen_rows:
            m = metrics[name]
            shown.add(name)
            n = m.get("n") or 0
            value = m.get("share") if not in_view else (m.get("share") or 0.0) * n / in_view
            lines.append(f"  {_label(name):<{LABEL_WIDTH}} {_pct(value) if n else '-':>5}")
    if "seated" in metrics:
        shown.add("seated")

    cont = [n for n in CONTINUOUS_ORDER if n in metrics]
    if cont:
        lines.append("")
        lines.append(f"{'Movement and pose':<{LABEL_WIDTH + 2}}  mean   p10   p50   p90")
        for name in cont:
            m = metrics[name]
            shown.add(name)
            unit = m.get("unit", "")
            if not m.get("n"):
                lines.append(f"  {_label(name):<{LABEL_WIDTH}} (not measured)")
                continue
            nums = " ".join(f"{_num(m.get(k)):>5}" for k in ("mean", "p10", "p50", "p90"))
            row = f"  {_label(name):<{LABEL_WIDTH}} {nums} {unit}"
            if name in SPARK_CONTINUOUS and name in series:
                row += f"  {sparkline(series[name])}"
            lines.append(row.rstrip())

    others = [n for n in metrics if n not in shown]
    if others:
        lines.append("")
        lines.append("Other metrics")
        for name in others:
            m = metrics[name]
            if m.get("kind") == "share":
                lines.append(f"  {_label(name):<{LABEL_WIDTH}} {_pct(m.get('share')):>5}")
            else:
                unit = m.get("unit", "")
                lines.append(f"  {_label(name):<{LABEL_WIDTH}} mean {_num(m.get('mean'))} {unit}")

    emotion = summary.get("emotion") or {}
    lines.append("")
    n_faces = emotion.get("frames", 0) or 0
    if n_faces and "emotion" in not_judged:  # a share of a handful of faces would be a guess: counts only
        c3 = emotion.get("classes3") or {}
        read = [f"{k} {round(c3[k] * n_faces)}" for k in ("positive", "neutral", "negative")
                if isinstance(c3.get(k), (int, float)) and round(c3[k] * n_faces) > 0]
        lines.append(f"Emotion: not judged: {not_judged['emotion']}" + (f"; read as {', '.join(read)}" if read else ""))
    elif n_faces:
        c3 = emotion.get("classes3") or {}
        parts = ", ".join(f"{k} {_pct(c3.get(k))}" for k in ("positive", "neutral", "negative"))
        lines.append(f"Emotion ({n_faces} faces classified): {parts}")
        lines.append(f"  (the model reads a neutral face as negative {_pct(NEUTRAL_READ_AS['negative'])} and as "
                     f"positive {_pct(NEUTRAL_READ_AS['positive'])} of the time: shares near those are a calm face)")
        for key in ("emotion_positive", "emotion_negative"):
            if key in series:
                lines.append(_spark_row(key.replace("_", " "), series[key]))
    else:
        lines.append("Emotion: no face was classified.")
    if "present" in series:
        lines.append("")
        lines.append(_spark_row("presenter in view", series["present"]))
    lines.append("")
    lines.extend(legend(bin_s))
    return "\n".join(line.rstrip() for line in lines)


def legend(bin_s: Any = None) -> list[str]:
    """The key printed under every report: what the sparkline characters, `sw` and `-` mean."""
    width = f"{bin_s:g} s" if isinstance(bin_s, (int, float)) else "one bin"
    ramp = " ".join(RAMP)
    return [
        "Key",
        f"  timeline  one character per {width} from the start, low to high: {ramp}; blank = no data;",
        "            shares on a fixed 0-100% scale, speeds and sway from their own lowest to highest value",
        "  share     % of the time the presenter was in view; p10/p50/p90: 10th, 50th (median), 90th percentile",
        "  sw        shoulder widths: distances relative to the presenter's own shoulders, whatever the",
        "            distance to the camera (sw/s: per second)",
        "  -         in a share or number column: not measured (the body parts it needs were not in view)",
        "  deg       head and torso angles, + = toward the presenter's own left",
    ]
