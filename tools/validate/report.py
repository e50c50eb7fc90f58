"""The validation result as a Markdown table (also what the terminal shows) and as JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tools.validate.expression import ExpressionCounts
from tools.validate.labels import EXPRESSIONS, YES_NO
from tools.validate.metrics import CONTRADICTED, NOT_MEASURED, UNVERIFIABLE, CategoryCounts, MetricCounts, Table
from tools.validate.suite import ClipResult, contradicted, pooled

FEW = 20  # fewer judged y/n frames than this (or no y, or no n): the numbers are too thin to judge


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def distribution_table(group_head: str, groups: Sequence[tuple[str, Sequence[float]]], percentiles: Sequence[int],
                       past_head: str, past: Callable[[np.ndarray], np.ndarray]) -> str:  # fmt: skip
    """One row per group of readings: how many, their percentiles (0 is the min, 100 the max), and how
    many are `past` a bound (`python -m tools.validate tilt` and `pitch`)."""
    head = " | ".join("min" if q == 0 else "max" if q == 100 else f"p{q}" for q in percentiles)
    lines = [f"| {group_head} | frames | {head} | {past_head} |", "| --- |" + " ---: |" * (len(percentiles) + 2)]
    for name, values in groups:
        arr = np.asarray(values, dtype=np.float64)
        if arr.size == 0:
            lines.append(f"| {name} | 0 |" + " – |" * (len(percentiles) + 1))
            continue
        cells = " | ".join(f"{v:.1f}" for v in np.percentile(arr, percentiles))
        n = int(np.sum(past(arr)))
        lines.append(f"| {name} | {arr.size} | {cells} | {n} ({n / arr.size:.0%}) |")
    return "\n".join(lines) + "\n"


def thin(c: MetricCounts) -> str:
    """Why a metric's numbers are too thin to judge it ('' when they are not)."""
    reasons = []
    if c.labelled_y == 0:
        reasons.append("no y label")
    if c.labelled_n == 0:
        reasons.append("no n label")
    if c.judged < FEW:
        reasons.append(f"{c.judged} judged")
    return ", ".join(reasons)


def metric_table(table: Table) -> list[str]:
    lines = [
        "| metric | labelled y / n / ? | judged / unjudged | accuracy | precision | recall | coverage "
        "| too thin to judge |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in YES_NO:
        c = table.metrics[name]
        lines.append(
            f"| {name} | {c.labelled_y} / {c.labelled_n} / {c.labelled_unknown} | {c.judged} / {c.unjudged} | "
            f"{_f(c.accuracy)} | {_f(c.precision)} | {_f(c.recall)} | {_f(c.coverage)} | {thin(c) or 'no'} |"
        )
    return lines


def category_line(name: str, c: CategoryCounts) -> str:
    if not c.measured:
        return f"- {name}: {NOT_MEASURED} (the analysis has no such field yet); {c.labelled} frames labelled"
    conf = ", ".join(f"{k}: {v}" for k, v in sorted(c.confusion.items())) or "none"
    return (f"- {name}: agreement {_f(c.agreement)} on {c.judged} judged of {c.labelled} labelled frames "
            f"(coverage {_f(c.coverage)}); disagreements {conf}")


def findings_lines(r: ClipResult) -> list[str]:
    if not r.findings:
        n = r.table.present
        return [f"- no finding (the analysis found the presenter in {n} labelled frame(s))"]
    out = []
    for f in r.findings:
        v = f.get("verdict")
        mark = "**CONTRADICTED BY THE LABELS**" if v == CONTRADICTED else str(v)
        extra = ""
        if "labelled_share" in f and f.get("kind") == "expression":
            cls, lo, hi = f["expression"], f["bounds"][0], f["bounds"][1]
            extra = (f"; labelled {f['labelled_class']} {cls} / {f['labelled_other']} other / "
                     f"{f['labelled_unknown']} ?: share {f['labelled_share']:.0%} vs threshold {f['threshold']:.0%} "
                     f"({lo:.0%} if every ? were another class, {hi:.0%} if every ? were {cls})")
        elif "labelled_share" in f:
            extra = (f"; labelled {f['labelled_y']} y / {f['labelled_n']} n / {f['labelled_unknown']} ?: "
                     f"share {f['labelled_share']:.0%} vs threshold {f['threshold']:.0%}")
        elif f.get("reason"):
            extra = f"; {f['reason']}"
        out.append(f"- [{f.get('severity')}] `{f.get('code')}` {float(f.get('value') or 0):.0%}: {mark}{extra}")
    return out


def markdown(results: Sequence[ClipResult], title: str = "Validation against the labelled set") -> str:
    total = pooled(results)
    lines = [f"# {title}", ""]
    lines.append(f"{len(results)} clip(s), {total.frames + total.other_person} labelled frames; "
                 f"{total.other_person} left out because the analysis tracked another person; of the rest "
                 f"{total.matched} lined up with an analysed frame, a presenter found in {total.present}.")
    bad = contradicted(results)
    if bad:
        lines += ["", f"**{len(bad)} finding(s) CONTRADICTED by the labels:**"]
        lines += [f"- {cid}: [{f['severity']}] `{f['code']}` ({f['message']})" for cid, f in bad]
    hints = contradicted(results, pressed=False)
    if hints:
        lines += ["", f"{len(hints)} info finding(s) contradicted by the labels (hints: `--strict` does not fail):"]
        lines += [f"- {cid}: [{f['severity']}] `{f['code']}` ({f['message']})" for cid, f in hints]
    unchecked = [(r.run.clip.id, f) for r in results for f in r.findings if f.get("verdict") == UNVERIFIABLE]
    if unchecked:
        lines += ["", f"{len(unchecked)} finding(s) the labels cannot check:"]
        lines += [f"- {cid}: [{f['severity']}] `{f['code']}` ({f.get('reason', '')})" for cid, f in unchecked]
    lines += ["", "## All clips pooled", ""]
    lines += metric_table(total)
    lines += ["", category_line("posture", total.posture), category_line("head direction", total.head),
              category_line("head direction, read from the face", total.head_face)]
    lines += ["", "## Expression: the emotion model against the labels", ""] + expression_lines(total, results)
    for r in results:
        c = r.run.clip
        lines += ["", f"## {c.id} ({c.kind}, screen side {c.screen_side})", ""]
        notes = [f"{len(r.run.frames)} frames analysed, {len(r.pairs)} labelled"]
        missing = sum(1 for p in r.pairs if p.values is None)
        if missing:
            notes.append(f"**{missing} label(s) without an analysed frame at their time**")
        if r.unlabelled:
            notes.append(f"{r.unlabelled} analysed frame(s) without a label")
        if r.off_presenter:
            notes.append(f"**{r.off_presenter} frame(s) analysed on another person** (pose outside the presenter "
                         "box; left out of the table)")
        if r.run.error:
            notes.append(r.run.error)
        lines.append("; ".join(notes) + ".")
        lines += ["", "Findings of the session summary:", ""]
        lines += findings_lines(r)
        if c.kind == "video":
            lines += [""] + metric_table(r.table)
            lines += ["", category_line("posture", r.table.posture), category_line("head direction", r.table.head)]
    if any(r.run.clip.kind == "photo" for r in results):
        lines += ["", "## Photos, frame by frame", ""] + photo_lines(results)
    return "\n".join(lines) + "\n"


def _shares(shares: dict[str, float | None]) -> str:
    return " / ".join(_pct(shares[c]) for c in EXPRESSIONS)


def confusion_table(e: ExpressionCounts) -> list[str]:
    """The 3x3 matrix: rows the label, columns the model's 3-class fold; recall per row."""
    lines = ["| label \\ model | " + " | ".join(EXPRESSIONS) + " | frames | recall |",
             "| --- |" + " --- |" * (len(EXPRESSIONS) + 2)]
    for c in EXPRESSIONS:
        row = e.confusion[c]
        lines.append(f"| {c} | " + " | ".join(str(row[m]) for m in EXPRESSIONS)
                     + f" | {sum(row.values())} | {_f(e.recall(c))} |")
    lines.append("| precision | " + " | ".join(_f(e.precision(m)) for m in EXPRESSIONS) + " | | |")
    return lines


def expression_lines(total: Table, results: Sequence[ClipResult]) -> list[str]:
    """Pooled agreement and confusion, then per clip the model's shares against the labelled ones."""
    e = total.expression
    lab = e.labelled
    out = [f"Labels: {lab['positive']} positive / {lab['neutral']} neutral / {lab['negative']} negative / "
           f"{e.unknown} ? on {e.frames} frames. The emotion model classified {e.classified} of them "
           f"({e.classified_on_unknown} labelled ?)."]
    if not e.classified:
        return out + ["", "Not measured: the emotion model classified no labelled frame (disabled, or no face "
                      "it accepted)."]
    out += ["", f"**3-class agreement {_f(e.agreement)}** on {e.judged} frames where the model ran and the label "
            "is not ? (the model's class: arg-max of the 7 FER classes folded to 3, as the summary counts).", ""]
    out += confusion_table(e)
    out += ["", "Per clip, shares positive / neutral / negative: the model's over the frames it classified, the "
            "labels' over the frames labelled (? left out):", "",
            "| clip | classified | model | labelled / ? | labels | agreement (frames) |",
            "| --- | --- | --- | --- | --- | --- |"]
    rows: list[tuple[str, ExpressionCounts]] = [(r.run.clip.id, r.table.expression) for r in results
                                                if r.run.clip.kind == "video"]
    photos = [r.table.expression for r in results if r.run.clip.kind == "photo"]
    if photos:
        merged = ExpressionCounts()
        for p in photos:
            merged.merge(p)
        rows.append((f"{len(photos)} photo(s)", merged))
    for name, c in rows:
        out.append(f"| {name} | {c.classified} | {_shares(c.model_shares)} | {c.labelled_total} / {c.unknown} | "
                   f"{_shares(c.labelled_shares)} | {_f(c.agreement)} ({c.judged}) |")
    return out


def _yn(v: Any) -> str:
    return "?" if v is None else ("y" if v else "n")


def photo_lines(results: Sequence[ClipResult]) -> list[str]:
    """One row per photo: label/analysis for every metric that disagrees."""
    out = ["| photo | disagreements (label/analysis) | unjudged where labelled |", "| --- | --- | --- |"]
    for r in results:
        if r.run.clip.kind != "photo" or not r.pairs:
            continue
        p = r.pairs[0]
        if r.off_presenter:
            out.append(f"| {r.run.clip.id} | not compared: the analysis tracked another person | – |")
            continue
        values = p.values or {}
        diff, unj = [], []
        for m in YES_NO:
            lab = p.label.metrics[m]
            v = values.get(m)
            if lab is None:
                continue
            if v is None:
                unj.append(m)
            elif bool(v) != lab:
                diff.append(f"{m} {_yn(lab)}/{_yn(v)}")
        out.append(f"| {r.run.clip.id} | {', '.join(diff) or 'none'} | {', '.join(unj) or 'none'} |")
    return out


def as_json(results: Sequence[ClipResult], bounds: dict[str, Any]) -> dict[str, Any]:
    return {
        "pooled": pooled(results).as_dict(),
        "clips": [r.as_dict() for r in results],
        "contradicted": [{"clip": cid, **f} for cid, f in contradicted(results)],
        "contradicted_info": [{"clip": cid, **f} for cid, f in contradicted(results, pressed=False)],
        "bounds": bounds,
    }
