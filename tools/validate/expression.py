"""The facial-expression labels against the emotion model, in the model's 3-class fold.

The emotion model runs on some analysed frames only (every `analysis.emotion_every`-th frame with a
presenter, and only on a face the face stage accepts), so two populations are kept apart:

- the **model's shares** are over the frames it classified (as the session summary counts them),
  whatever their label;
- the **labelled shares** are over the frames labelled positive / neutral / negative ("?" left out),
  whether or not the model ran there;
- **agreement** and the 3x3 **confusion** matrix count only frames where both exist: the model ran
  and the label is not "?".

The model's class on a frame is what the summary counts: the arg-max of the 7 FER classes
(`FrameResult.emotion`), folded with `edge.analysis.emotion.EMOTION3_OF`. Pure arithmetic over plain
values, so that it is tested on hand-made inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.analysis.emotion import EMOTION3_OF, EMOTIONS7
from tools.validate.labels import EXPRESSIONS


def model_class3(emotion: int | None) -> str | None:
    """The 3-class fold of a FrameResult.emotion index (None when the model did not run)."""
    if emotion is None:
        return None
    return EMOTION3_OF[EMOTIONS7[int(emotion)]]


def _zeros() -> dict[str, int]:
    return dict.fromkeys(EXPRESSIONS, 0)


def _share(counts: dict[str, int]) -> dict[str, float | None]:
    total = sum(counts.values())
    return {c: (counts[c] / total if total else None) for c in EXPRESSIONS}


@dataclass
class ExpressionCounts:
    """Expression labels against the model's 3-class output over a set of aligned frames."""

    frames: int = 0  # frames seen (labelled, on the presenter)
    unknown: int = 0  # ...labelled "?"
    labelled: dict[str, int] = field(default_factory=_zeros)  # label counts (all frames, "?" left out)
    model: dict[str, int] = field(default_factory=_zeros)  # model counts (every classified frame)
    classified_on_unknown: int = 0  # the model ran on a frame labelled "?"
    # confusion[label][model]: frames with both a label (not "?") and a model class
    confusion: dict[str, dict[str, int]] = field(default_factory=lambda: {c: _zeros() for c in EXPRESSIONS})

    def add(self, label: str | None, model: str | None) -> None:
        if label is not None and label not in EXPRESSIONS:
            raise ValueError(f"expression label must be one of {EXPRESSIONS} or None, got {label!r}")
        if model is not None and model not in EXPRESSIONS:
            raise ValueError(f"model class must be one of {EXPRESSIONS} or None, got {model!r}")
        self.frames += 1
        if label is None:
            self.unknown += 1
        else:
            self.labelled[label] += 1
        if model is None:
            return
        self.model[model] += 1
        if label is None:
            self.classified_on_unknown += 1
        else:
            self.confusion[label][model] += 1

    def merge(self, other: ExpressionCounts) -> None:
        self.frames += other.frames
        self.unknown += other.unknown
        self.classified_on_unknown += other.classified_on_unknown
        for c in EXPRESSIONS:
            self.labelled[c] += other.labelled[c]
            self.model[c] += other.model[c]
            for m in EXPRESSIONS:
                self.confusion[c][m] += other.confusion[c][m]

    @property
    def classified(self) -> int:
        """Frames the model classified."""
        return sum(self.model.values())

    @property
    def labelled_total(self) -> int:
        """Frames labelled positive, neutral or negative."""
        return sum(self.labelled.values())

    @property
    def judged(self) -> int:
        """Frames with both a label (not "?") and a model class: what agreement counts."""
        return sum(sum(row.values()) for row in self.confusion.values())

    @property
    def agree(self) -> int:
        return sum(self.confusion[c][c] for c in EXPRESSIONS)

    @property
    def agreement(self) -> float | None:
        return self.agree / self.judged if self.judged else None

    def recall(self, label: str) -> float | None:
        """Of the judged frames labelled `label`, the share the model put in that class."""
        row = self.confusion[label]
        n = sum(row.values())
        return row[label] / n if n else None

    def precision(self, model: str) -> float | None:
        """Of the judged frames the model put in `model`, the share labelled so."""
        n = sum(self.confusion[c][model] for c in EXPRESSIONS)
        return self.confusion[model][model] / n if n else None

    @property
    def model_shares(self) -> dict[str, float | None]:
        return _share(self.model)

    @property
    def labelled_shares(self) -> dict[str, float | None]:
        return _share(self.labelled)

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "labelled": dict(self.labelled),
            "unknown": self.unknown,
            "classified": self.classified,
            "classified_on_unknown": self.classified_on_unknown,
            "judged": self.judged,
            "agree": self.agree,
            "agreement": self.agreement,
            "confusion": {c: dict(row) for c, row in self.confusion.items()},
            "recall": {c: self.recall(c) for c in EXPRESSIONS},
            "precision": {c: self.precision(c) for c in EXPRESSIONS},
            "model_counts": dict(self.model),
            "model_shares": self.model_shares,
            "labelled_shares": self.labelled_shares,
        }
