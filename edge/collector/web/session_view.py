"""The one-session page as data: findings in plain sentences, what could not be judged, and the series
the charts draw. Pure functions of a stored summary (no request, no database), shared by the served
page and the self-contained report.

Works on any schema-v1 summary, old or new: optional sections (`basis`, `not_judged`, `posture`,
`warnings`, `ended_by`) show when present; a metric or series the dashboard does not know is shown
under its own name; nothing here raises on an odd value (it shows "?" or leaves the item out).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from babel.support import NullTranslations

from edge.collector.web import metrics as M
from edge.collector.web.i18n import N_, format_clock, format_length, format_when, pct
from edge.config import FeedbackConfig
from edge.session.feedback import CAVEATS, REASON_TEMPLATES, RULES

SEVERITY = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Note")}
ENDED_BY = {
    "absence": N_("the presenter left"),
    "command": N_("a stop command"),
    "end_of_video": N_("the end of the recording"),
    "shutdown": N_("the device shutting down"),
    "crash": N_("a crash (resumed from the last checkpoint)"),
}
POSTURES = {"standing": N_("Standing"), "seated": N_("Seated"), "unknown": N_("Unknown")}
RULE_BY_CODE = {r.code: r for r in RULES}


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _dict(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _list(x: Any) -> Sequence[Any]:
    return x if isinstance(x, list) else []


@dataclass
class FindingView:
    code: str
    severity: str  # critical | warning | info (anything else shows as info)
    severity_label: str
    sentence: str
    metric: str
    basis: str = ""
    when: str = ""


@dataclass
class SessionView:
    session_id: str
    device: str
    label: str | None
    started: str
    length: str
    status: str
    ended_by: str
    facts: list[str]
    warnings: list[str]
    findings: list[FindingView]
    not_judged: list[tuple[str, str]]
    not_judged_derived: bool
    posture: list[tuple[str, str]]
    emotion_line: str
    charts: dict[str, Any]
    tables: list[dict[str, Any]] = field(default_factory=list)
    models: list[tuple[str, str, str]] = field(default_factory=list)


def stretches(values: Sequence[Any], target: M.Target, bin_s: float) -> list[tuple[float, float]]:
    """(start_s, end_s) of each run of bins outside the target, longest first."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, v in enumerate([*values, None]):
        x = _num(v)
        bad = x is not None and target.misses(x)
        if bad and start is None:
            start = i
        elif not bad and start is not None:
            runs.append((start, i))
            start = None
    runs.sort(key=lambda r: (-(r[1] - r[0]), r[0]))
    return [(a * bin_s, b * bin_s) for a, b in runs]


def _when_text(values: Sequence[Any], target: M.Target | None, bin_s: Any, t: NullTranslations) -> str:
    b = _num(bin_s)
    if target is None or not b or b <= 0:
        return ""
    measured = [v for v in values if _num(v) is not None]
    runs = stretches(values, target, b)
    if not runs or not measured:
        return ""
    if sum(e - s for s, e in runs) >= b * len(measured):
        return t.gettext("Throughout the session.")
    shown = sorted(runs[:2])
    spans = [f"{format_clock(s)}–{format_clock(e)}" for s, e in shown]
    if len(spans) == 1:
        return t.gettext("Mostly at %(span)s into the session.") % {"span": spans[0]}
    return t.gettext("Mostly at %(a)s and %(b)s into the session.") % {"a": spans[0], "b": spans[1]}


_REASON_FIELDS = {"p": r"\d+%", "c": r"\d+%", "n": r"\d+", "counted": r"\d+", "minimum": r"\d+"}


def _reason_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_REASON_FIELDS[part]})"
                              for i, part in enumerate(parts)))


_REASONS = [(_reason_pattern(template), template) for template in REASON_TEMPLATES]


def reason_sentence(reason: str, t: NullTranslations) -> str:
    """A `not_judged` reason in the page's language: matched against the sentences the device makes
    them of (`edge.session.feedback.REASON_TEMPLATES`), its numbers kept; as stored when none matches
    (a device newer than this collector)."""
    for pattern, template in _REASONS:
        m = pattern.fullmatch(reason)
        if m:
            return t.gettext(template).format(**m.groupdict())
    return reason


def finding_sentence(f: Mapping[str, Any], locale: str, t: NullTranslations) -> str:
    """The finding in the page's language: the device's own sentence in English; in another language,
    the rule's sentence from the catalogue with the finding's numbers (the device's sentence when the
    rule is unknown to this collector)."""
    message = str(f.get("message") or "")
    rule = RULE_BY_CODE.get(str(f.get("code")))
    value, threshold = _num(f.get("value")), _num(f.get("threshold"))
    if locale == "en" or rule is None or value is None or threshold is None:
        return message or str(f.get("code", "?"))
    sentence = t.gettext(rule.message).format(value=pct(value), threshold=pct(threshold))
    caveat = CAVEATS.get(str(f.get("caveat")))
    return sentence + " " + t.gettext(caveat) if caveat else sentence


def _finding(f: Mapping[str, Any], summary: Mapping[str, Any], targets: Mapping[str, M.Target],
             locale: str, t: NullTranslations) -> FindingView:  # fmt: skip
    severity = str(f.get("severity", "info"))
    if severity not in SEVERITY:
        severity = "info"
    rule = RULE_BY_CODE.get(str(f.get("code")))
    metric = M.rule_metric(rule.source) if rule else str(f.get("metric") or "")
    basis = _dict(f.get("basis"))
    basis_text = ""
    frames, share = basis.get("frames"), _num(basis.get("share"))
    if isinstance(frames, int) and not isinstance(frames, bool):
        basis_text = t.ngettext("Based on %(n)d frame", "Based on %(n)d frames", frames) % {"n": frames}
        if share is not None:
            basis_text += " " + t.gettext("(%(share)s of the analysed frames)") % {"share": pct(share)}
        basis_text += "."
    series = _list(_dict(_dict(summary.get("timeline")).get("series")).get(metric))
    when = _when_text(series, targets.get(metric), _dict(summary.get("timeline")).get("bin_s"), t)
    return FindingView(
        code=str(f.get("code", "?")),
        severity=severity,
        severity_label=t.gettext(SEVERITY[severity]),
        sentence=finding_sentence(f, locale, t),
        metric=metric,
        basis=basis_text,
        when=when,
    )


def _not_judged(summary: Mapping[str, Any], t: NullTranslations) -> tuple[list[tuple[str, str, str]], bool]:
    """(metric, its label, reason); the summary's own `not_judged` list when it has one, else what
    the default minimums of the rules say (marked as derived)."""
    listed = summary.get("not_judged")
    if isinstance(listed, list):
        out = []
        for item in listed:
            item = _dict(item)
            name = str(item.get("metric") or item.get("code") or "?")
            out.append((name, M.label(name, t.gettext), reason_sentence(str(item.get("reason") or ""), t)))
        return out, False
    cfg = FeedbackConfig()
    out = []
    seen: set[str] = set()
    metrics = _dict(summary.get("metrics"))
    for rule in RULES:
        if rule.source in seen:
            continue
        seen.add(rule.source)
        name = M.rule_metric(rule.source)
        if rule.source.startswith("emotion."):
            if "emotion_faces" in seen:
                continue
            seen.add("emotion_faces")
            n = _dict(summary.get("emotion")).get("frames")
            if isinstance(n, int) and n < cfg.min_emotion_frames:
                reason = t.gettext(
                    "Only %(n)d faces were classified; judging the expression needs at least %(min)d."
                ) % {"n": n, "min": cfg.min_emotion_frames}
                out.append(("emotion", t.gettext("Facial expression"), reason))
            continue
        m = _dict(metrics.get(rule.source))
        n = m.get("n")
        if not m:
            continue
        if n == 0:
            out.append((name, M.label(name, t.gettext), t.gettext("Not measured in any frame.")))
        elif isinstance(n, int) and n < cfg.min_frames:
            reason = t.gettext("Measured in only %(n)d frames; a finding needs at least %(min)d.") % {
                "n": n, "min": cfg.min_frames}  # fmt: skip
            out.append((name, M.label(name, t.gettext), reason))
    return out, True


def _percent_series(values: Any) -> list[float | None]:
    return [None if _num(v) is None else round(float(v) * 100.0, 1) for v in _list(values)]


def _plain_series(values: Any) -> list[float | None]:
    return [None if _num(v) is None else round(float(v), 4) for v in _list(values)]


def chart_data(summary: Mapping[str, Any], targets: Mapping[str, M.Target], t: NullTranslations,
               flagged: Mapping[str, str] | None = None, unjudged: Mapping[str, str] | None = None
               ) -> dict[str, Any]:  # fmt: skip
    """Everything `static/charts.js` draws, with page texts in the page's language. Shares are in
    percent (0..100, one decimal), continuous values as stored; `flagged` maps a metric to the severity
    of its finding, `unjudged` a metric the session did not judge to why (in the page's language).
    A measure not judged has no share (the summary's number, 0 when nothing was measured, would read
    as a result) and its line is drawn greyed, never marked off target."""
    flagged = flagged or {}
    unjudged = unjudged or {}
    metrics = _dict(summary.get("metrics"))
    timeline = _dict(summary.get("timeline"))
    series = _dict(timeline.get("series"))
    bin_s = _num(timeline.get("bin_s")) or 0.0
    n_bins = max((len(_list(v)) for v in series.values()), default=0)
    x = [round((i + 0.5) * bin_s, 2) for i in range(n_bins)]

    def share_line(name: str) -> dict[str, Any]:
        target = targets.get(name)
        return {
            "name": name,
            "label": M.label(name, t.gettext),
            "values": _percent_series(series.get(name)),
            "share": None if name in unjudged or _num(_dict(metrics.get(name)).get("share")) is None
            else round(float(metrics[name]["share"]) * 100, 1),
            "target": None if target is None else {
                "lo": None if target.lo is None else round(target.lo * 100, 1),
                "hi": None if target.hi is None else round(target.hi * 100, 1),
            },
            "target_text": M.describe_target(target, t.gettext),
            "flag": flagged.get(name),
            "judged": name not in unjudged,
            "reason": unjudged.get(name),
            "n": _dict(metrics.get(name)).get("n"),
        }  # fmt: skip

    groups = []
    grouped: set[str] = set()
    for gid, title, names in M.GROUPS:
        present = [n for n in names if n in series]
        grouped.update(names)
        if present:
            groups.append({"id": gid, "title": t.gettext(title), "series": [share_line(n) for n in present]})
    other = [
        n for n, m in metrics.items()
        if n not in grouped and _dict(m).get("kind") == "share" and n in series
    ]  # fmt: skip
    if other:
        groups.append({"id": "other", "title": t.gettext("Other"), "series": [share_line(n) for n in other]})

    continuous = []
    cont_names = [n for n in M.CONTINUOUS_ORDER if n in metrics]
    cont_names += [n for n, m in metrics.items() if n not in cont_names and _dict(m).get("kind") == "continuous"]
    for name in cont_names:
        m = _dict(metrics.get(name))
        if not m.get("n"):
            continue
        continuous.append({
            "name": name,
            "label": M.label(name, t.gettext),
            "unit": M.unit(m.get("unit"), t.gettext),
            "values": _plain_series(series.get(name)),
            "mean": _num(m.get("mean")),
            "p10": _num(m.get("p10")),
            "p50": _num(m.get("p50")),
            "p90": _num(m.get("p90")),
            "n": m.get("n"),
        })  # fmt: skip

    emotion = [share_line(n) for n in M.EMOTION_SERIES if n in series]
    if "emotion" in unjudged:  # too few faces: drawn greyed as "not judged", like any other such measure
        emotion = [{**line, "judged": False, "reason": unjudged["emotion"]} for line in emotion]
    in_view = share_line("present") if "present" in series else None
    return {
        "bin_s": bin_s,
        "x": x,
        "groups": groups,
        "emotion": emotion,
        "present": in_view,
        "continuous": continuous,
        "texts": {
            "time": t.gettext("time into the session (min:s)"),
            "share_axis": t.gettext("% of the time in view"),
            "faces_axis": t.gettext("% of classified faces"),
            "target": t.gettext("target"),
            "band": t.gettext("middle 80% of the session (p10–p90)"),
            "median": t.gettext("median of the session (p50)"),
            "per_bin": t.gettext("average per %(s)s s") % {"s": f"{bin_s:g}"},
            "off_target": t.gettext("off target"),
            "not_judged": t.gettext("not judged"),
            "on_target": t.gettext("on target"),
            "no_data": t.gettext("no data in this stretch"),
        },
    }


def _tables(charts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The charts' numbers as tables (for screen readers, copying, and checking the charts)."""
    x = charts["x"]
    out = []
    for group in [*charts["groups"], {"id": "emotion", "title": "", "series": charts["emotion"]}]:
        if not group["series"]:
            continue
        rows = [
            [format_clock(x[i])] + [("–" if s["values"][i] is None else f"{s['values'][i]:g}%")
                                    if i < len(s["values"]) else "–" for s in group["series"]]
            for i in range(len(x))
        ]  # fmt: skip
        out.append({"id": group["id"], "title": group["title"],
                    "headers": [s["label"] for s in group["series"]], "rows": rows})  # fmt: skip
    return out


def session_view(summary: Mapping[str, Any], locale: str, t: NullTranslations) -> SessionView:
    feedback = [f for f in _list(summary.get("feedback")) if isinstance(f, Mapping)]
    targets = M.targets(feedback)
    frames = _dict(summary.get("frames"))
    fps = _dict(summary.get("fps"))
    analysed: int = frames["analysed"] if isinstance(frames.get("analysed"), int) else 0
    facts = [t.ngettext("%(n)d frame analysed", "%(n)d frames analysed", analysed) % {"n": analysed}]
    if _num(fps.get("analysed")):
        facts[-1] += " " + t.gettext("at %(fps)s frames per second") % {"fps": f"{fps['analysed']:.1f}"}
    with_person = frames.get("with_person")
    if analysed and isinstance(with_person, int):
        facts.append(t.gettext("presenter in view %(share)s of the time") % {"share": pct(with_person / analysed)})

    status = str(summary.get("status", "?"))
    ended = ENDED_BY.get(str(summary.get("ended_by")))
    warnings: list[str] = []
    if status == "interrupted":
        warnings.append(t.gettext(
            "This session was interrupted: the numbers cover only what was analysed before it stopped."))
    if summary.get("ended_by") in ("crash", "shutdown"):
        warnings.append(t.gettext("It ended by %(how)s.") % {"how": t.gettext(ENDED_BY[summary["ended_by"]])})
    for w in _list(summary.get("warnings")):
        w = _dict(w)
        if w.get("message") or w.get("code"):
            warnings.append(str(w.get("message") or w.get("code")))

    posture = []
    p = _dict(summary.get("posture"))
    shares = _dict(p.get("shares")) or p
    for key, name in POSTURES.items():
        if _num(shares.get(key)) is not None:
            posture.append((t.gettext(name), pct(shares[key])))

    emotion = _dict(summary.get("emotion"))
    c3 = _dict(emotion.get("classes3"))
    faces = emotion.get("frames") if isinstance(emotion.get("frames"), int) else 0
    not_judged, derived = _not_judged(summary, t)
    if faces and any(name == "emotion" for name, _label, _reason in not_judged):
        emotion_line = t.ngettext(  # the shares of a handful of faces would be a guess: not shown
            "%(n)d face classified: too few to judge the expression.",
            "%(n)d faces classified: too few to judge the expression.",
            faces,
        ) % {"n": faces}
    elif faces:
        emotion_line = t.ngettext(
            "%(n)d face classified: positive %(pos)s, neutral %(neu)s, negative %(neg)s.",
            "%(n)d faces classified: positive %(pos)s, neutral %(neu)s, negative %(neg)s.",
            faces,
        ) % {"n": faces, "pos": pct(c3.get("positive")), "neu": pct(c3.get("neutral")), "neg": pct(c3.get("negative"))}
    else:
        emotion_line = t.gettext("No face was classified, so the expression is not judged.")

    findings = [_finding(f, summary, targets, locale, t) for f in feedback]
    flagged: dict[str, str] = {}
    for f in findings:
        flagged.setdefault(f.metric, f.severity)
    charts = chart_data(summary, targets, t, flagged, {name: reason for name, _label, reason in not_judged})
    models = [
        (str(role), str(_dict(m).get("name", "?")), str(_dict(m).get("sha256", ""))[:12])
        for role, m in _dict(summary.get("models")).items()
    ]
    label = summary.get("label")
    return SessionView(
        session_id=str(summary.get("session_id", "?")),
        device=str(summary.get("device", "?")),
        label=None if label is None else str(label),
        started=format_when(summary.get("started_at"), locale),
        length=format_length(summary.get("duration_s"), t),
        status=status,
        ended_by=t.gettext(ended) if ended else "",
        facts=facts,
        warnings=warnings,
        findings=findings,
        not_judged=[(label, reason) for _name, label, reason in not_judged],
        not_judged_derived=derived,
        posture=posture,
        emotion_line=emotion_line,
        charts=charts,
        tables=_tables(charts),
        models=models,
    )
