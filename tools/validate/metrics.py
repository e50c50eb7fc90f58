"""Labels against the analysis: per-metric counts, accuracy, precision, recall, coverage; posture and
head direction; the facial expression against the emotion model (`tools.validate.expression`); and
whether each warning/critical finding is supported by the labels.

Pure functions over plain data (label values and per-frame analysis values), so that the arithmetic
is tested on hand-made inputs. Conventions:

- a label is True (y), False (n) or None (?); an analysis value True, False or None (not judged);
- accuracy, precision and recall count only frames that are labelled y/n AND judged; coverage is
  judged / labelled y/n (how much of what a person could tell the analysis dared to judge);
- the analysis' `posture` and `head_direction` are read with getattr from FrameFeatures: until the
  analysis has those fields the table says "not measured".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edge.session.feedback import WARNING_AT, excess_past
from tools.validate.expression import ExpressionCounts
from tools.validate.labels import EXPRESSIONS, YES_NO, FrameLabel

NOT_MEASURED = "not measured"
MISSING = object()


@dataclass
class MetricCounts:
    """Confusion counts of one yes/no metric (label y/n/? against analysis True/False/None)."""

    labelled_y: int = 0
    labelled_n: int = 0
    labelled_unknown: int = 0
    judged: int = 0  # labelled y/n and judged
    unjudged: int = 0  # labelled y/n, analysis None
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    judged_on_unknown: int = 0  # analysis judged a frame labelled "?"

    def add(self, label: bool | None, value: bool | None) -> None:
        if label is None:
            self.labelled_unknown += 1
            if value is not None:
                self.judged_on_unknown += 1
            return
        if label:
            self.labelled_y += 1
        else:
            self.labelled_n += 1
        if value is None:
            self.unjudged += 1
            return
        self.judged += 1
        if label and value:
            self.tp += 1
        elif label:
            self.fn += 1
        elif value:
            self.fp += 1
        else:
            self.tn += 1

    def merge(self, other: MetricCounts) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)

    @property
    def labelled(self) -> int:
        return self.labelled_y + self.labelled_n

    @property
    def accuracy(self) -> float | None:
        return (self.tp + self.tn) / self.judged if self.judged else None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def coverage(self) -> float | None:
        return self.judged / self.labelled if self.labelled else None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = asdict(self)
        d.update(labelled=self.labelled, accuracy=self.accuracy, precision=self.precision,
                 recall=self.recall, coverage=self.coverage)
        return d


@dataclass
class CategoryCounts:
    """Agreement of a categorical label (posture, head direction) with the analysis' value."""

    measured: bool = True  # False while the analysis has no such field
    labelled: int = 0  # frames with a label other than "?"
    judged: int = 0  # ...where the analysis gave a value
    agree: int = 0
    confusion: dict[str, int] = field(default_factory=dict)  # "label->analysis": count (disagreements)

    def add(self, label: str | None, value: Any) -> None:
        if label is not None:
            self.labelled += 1
        if value is MISSING:
            self.measured = False
            return
        if label is None or value is None:
            return
        self.judged += 1
        if str(value) == label:
            self.agree += 1
        else:
            key = f"{label}->{value}"
            self.confusion[key] = self.confusion.get(key, 0) + 1

    def merge(self, other: CategoryCounts) -> None:
        self.measured = self.measured and other.measured
        self.labelled += other.labelled
        self.judged += other.judged
        self.agree += other.agree
        for k, v in other.confusion.items():
            self.confusion[k] = self.confusion.get(k, 0) + v

    @property
    def agreement(self) -> float | None:
        return self.agree / self.judged if self.measured and self.judged else None

    @property
    def coverage(self) -> float | None:
        return self.judged / self.labelled if self.measured and self.labelled else None

    def as_dict(self) -> dict[str, Any]:
        if not self.measured:
            return {"measured": False, "labelled": self.labelled, "status": NOT_MEASURED}
        d: dict[str, Any] = asdict(self)
        d.update(agreement=self.agreement, coverage=self.coverage)
        return d


@dataclass
class Aligned:
    """One labelled frame and what the analysis said at that time (None when no frame matched)."""

    label: FrameLabel
    values: dict[str, Any] | None  # metric -> True/False/None, plus "posture", "head_direction", "present",
    # and "emotion" (the model's 3-class fold, None where it did not run)
    t: float | None
    index: int | None


def align(labels: Sequence[FrameLabel], analysed: Sequence[tuple[float, int, dict[str, Any]]],
          tolerance_s: float) -> tuple[list[Aligned], int]:  # fmt: skip
    """Pair each label with the analysed frame nearest in time (within `tolerance_s`).

    `analysed` is (t, frame index, values) per analysed frame. Returns the pairs (a label without a
    matching frame gets `values=None`) and the number of analysed frames left without a label.
    """
    out: list[Aligned] = []
    used: set[int] = set()
    j = 0
    for lab in labels:
        while j + 1 < len(analysed) and abs(analysed[j + 1][0] - lab.time_s) <= abs(analysed[j][0] - lab.time_s):
            j += 1
        if analysed and abs(analysed[j][0] - lab.time_s) <= tolerance_s and j not in used:
            used.add(j)
            t, index, values = analysed[j]
            out.append(Aligned(lab, values, t, index))
        else:
            out.append(Aligned(lab, None, None, None))
    return out, len(analysed) - len(used)


def feature_values(features: Any) -> dict[str, Any]:
    """The values compared with labels, read from a FrameFeatures (or any object with those fields).

    `posture` and `head_direction` are MISSING while the analysis has no such field.
    """
    values: dict[str, Any] = {m: getattr(features, m, None) for m in YES_NO}
    values["posture"] = getattr(features, "posture", MISSING)
    values["head_direction"] = getattr(features, "head_direction", MISSING)
    values["head_from_face"] = bool(getattr(features, "head_from_face", False))
    values["present"] = bool(getattr(features, "present", False))
    return values


@dataclass
class Table:
    metrics: dict[str, MetricCounts]
    posture: CategoryCounts
    head: CategoryCounts
    head_face: CategoryCounts = field(default_factory=CategoryCounts)  # frames whose head was read from the face
    frames: int = 0  # labelled frames
    matched: int = 0  # ...with an analysed frame at the same time
    present: int = 0  # ...where the analysis found a presenter
    other_person: int = 0  # labelled frames left out: the analysis tracked someone else
    expression: ExpressionCounts = field(default_factory=ExpressionCounts)

    def merge(self, other: Table) -> None:
        for m, c in other.metrics.items():
            self.metrics[m].merge(c)
        self.posture.merge(other.posture)
        self.head.merge(other.head)
        self.head_face.merge(other.head_face)
        self.expression.merge(other.expression)
        self.frames += other.frames
        self.matched += other.matched
        self.present += other.present
        self.other_person += other.other_person

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "matched": self.matched,
            "present": self.present,
            "other_person": self.other_person,
            "metrics": {m: c.as_dict() for m, c in self.metrics.items()},
            "posture": self.posture.as_dict(),
            "head_direction": self.head.as_dict(),
            "head_direction_from_face": self.head_face.as_dict(),
            "expression": self.expression.as_dict(),
        }


def empty_table() -> Table:
    return Table({m: MetricCounts() for m in YES_NO}, CategoryCounts(), CategoryCounts())


def score(pairs: Iterable[Aligned]) -> Table:
    """The table of one set of aligned frames. An unmatched label counts as unjudged."""
    table = empty_table()
    for p in pairs:
        table.frames += 1
        values = p.values
        if values is not None:
            table.matched += 1
            table.present += 1 if values.get("present") else 0
        for m in YES_NO:
            v = None if values is None else values.get(m)
            table.metrics[m].add(p.label.metrics[m], None if v is None else bool(v))
        # An unmatched label is unjudged (None), as for the yes/no metrics; MISSING means the field is absent.
        table.posture.add(p.label.posture, None if values is None else values.get("posture", MISSING))
        head = None if values is None else values.get("head_direction", MISSING)
        table.head.add(p.label.head, head)
        if values is not None and values.get("head_from_face"):  # the bound: faces big enough to read
            table.head_face.add(p.label.head, head)
        table.expression.add(p.label.expression, None if values is None else values.get("emotion"))
    return table


# ----------------------------------------------------------------------------------------------
# Findings against the labels
# ----------------------------------------------------------------------------------------------

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
UNVERIFIABLE = "unverifiable"
CHECKED_SEVERITIES = ("warning", "critical")  # a contradicted finding of these fails `--strict`


def check_finding(finding: dict[str, Any], labels: Sequence[FrameLabel], min_labelled: int) -> dict[str, Any]:
    """Whether the labels support one finding of the session summary.

    The labelled share is y / (y + n) over the clip's labelled frames of the finding's metric. A
    finding above its threshold (a "max" rule: too much of something) is supported when the labelled
    share is above the threshold too, contradicted when it is at or below it; a "min" rule the other
    way round. With fewer than `min_labelled` y/n labels (or no label for that metric, e.g. emotion)
    it is unverifiable. `bounds` gives the share if every "?" were n / every "?" were y.
    """
    metric = str(finding.get("metric", ""))
    value = float(finding.get("value", 0.0))
    threshold = float(finding.get("threshold", 0.0))
    direction = "max" if value > threshold else "min"
    out: dict[str, Any] = {
        "code": finding.get("code"),
        "severity": finding.get("severity"),
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "direction": direction,
        "message": finding.get("message", ""),
    }
    if metric not in YES_NO:
        out.update(verdict=UNVERIFIABLE, reason=f"no labels for {metric!r}")
        return out
    ys = sum(1 for lab in labels if lab.metrics[metric] is True)
    ns = sum(1 for lab in labels if lab.metrics[metric] is False)
    qs = len(labels) - ys - ns
    out.update(labelled_y=ys, labelled_n=ns, labelled_unknown=qs)
    if ys + ns < min_labelled:
        out.update(verdict=UNVERIFIABLE, reason=f"only {ys + ns} frame(s) labelled y/n (need {min_labelled})")
        return out
    share = ys / (ys + ns)
    out.update(labelled_share=share, bounds=[ys / len(labels), (ys + qs) / len(labels)])
    past = share > threshold if direction == "max" else share < threshold
    out["verdict"] = SUPPORTED if past else CONTRADICTED
    return out


EMOTION_PREFIX = "emotion."  # an emotion rule's metric: "emotion.<class3>" (edge.session.feedback.Rule.source)
FAR = WARNING_AT  # log odds: how far on the other side of its threshold the labels must be to contradict


def check_emotion_finding(finding: dict[str, Any], labels: Sequence[FrameLabel],
                          min_labelled: int) -> dict[str, Any]:  # fmt: skip
    """Whether the expression labels support one emotion finding (metric `emotion.<class>`).

    The labelled share is (frames labelled <class>) / (frames labelled positive, neutral or negative)
    over the clip's labelled frames. Expression is a softer judgement than "hands in pockets", so a
    finding is contradicted only when the labels lie *far* on the other side of its threshold: by at
    least FAR log odds, the distance at which the rules themselves call a finding a warning
    (`edge.session.feedback.WARNING_AT`; for a 30% "max" threshold: a labelled share under 20.6%,
    for a 10% "min" threshold: over 15.5%). Past the threshold it is supported; in between, or with fewer
    than `min_labelled` labelled frames, unverifiable. `bounds` gives the share if every "?" were
    another class / every "?" were this class.
    """
    metric = str(finding.get("metric", ""))
    value = float(finding.get("value", 0.0))
    threshold = float(finding.get("threshold", 0.0))
    direction = "max" if value > threshold else "min"
    out: dict[str, Any] = {
        "code": finding.get("code"),
        "severity": finding.get("severity"),
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "direction": direction,
        "message": finding.get("message", ""),
        "kind": "expression",
    }
    cls = metric[len(EMOTION_PREFIX):] if metric.startswith(EMOTION_PREFIX) else ""
    if cls not in EXPRESSIONS:
        out.update(verdict=UNVERIFIABLE, reason=f"no expression label for {metric!r}")
        return out
    hits = sum(1 for lab in labels if lab.expression == cls)
    labelled = sum(1 for lab in labels if lab.expression is not None)
    unknown = len(labels) - labelled
    out.update(expression=cls, labelled_class=hits, labelled_other=labelled - hits, labelled_unknown=unknown)
    if labelled < min_labelled:
        out.update(verdict=UNVERIFIABLE, reason=f"only {labelled} frame(s) with an expression label "
                   f"(need {min_labelled})")
        return out
    share = hits / labelled
    out.update(labelled_share=share, bounds=[hits / len(labels), (hits + unknown) / len(labels)])
    past = excess_past(share, threshold, direction)  # > 0: the labels are past the threshold too
    if past > 0:
        out["verdict"] = SUPPORTED
    elif past <= -FAR:
        out["verdict"] = CONTRADICTED
    else:
        out.update(verdict=UNVERIFIABLE, reason=f"labelled share {share:.0%} is near the threshold "
                   f"{threshold:.0%} (within {FAR} log odds)")
    return out


def check_findings(findings: Sequence[dict[str, Any]], labels: Sequence[FrameLabel],
                   min_labelled: int) -> list[dict[str, Any]]:  # fmt: skip
    """`check_finding` (or `check_emotion_finding`) for every finding, info ones too: a hint the labels
    contradict is still false, though only a contradicted warning or critical fails `--strict`
    (`CHECKED_SEVERITIES`)."""
    out = []
    for f in findings:
        check = check_emotion_finding if str(f.get("metric", "")).startswith(EMOTION_PREFIX) else check_finding
        out.append(check(f, labels, min_labelled))
    return out
