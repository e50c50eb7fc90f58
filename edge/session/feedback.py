"""Feedback rules: thresholds from `FeedbackConfig` turn session statistics into a few findings.

Each rule compares one share (a metric's share of frames, or an emotion's share of classified
faces) with a threshold: a `max` rule fires above it, a `min` rule below it. A rule stays silent when
its metric has too little data (`min_frames` measured frames, `min_emotion_frames` classified faces).

Findings are ranked by how far past the threshold the value is, measured as a log odds ratio,
|logit(value) - logit(threshold)|: it treats "5% -> 10% back to the audience" and "60% -> 43%
facing the audience" as equally far, which a plain difference would not. The severity follows from
the same number (< 0.5 info, < 1.2 warning, else critical: about 1.6x and 3.3x the odds), and only
the first `max_findings` are kept: coaching studies found that too much feedback overwhelms.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edge.config import FeedbackConfig

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
WARNING_AT = 0.5  # log odds ratio past the threshold
CRITICAL_AT = 1.2
_EPS = 1e-3  # shares are clamped to [eps, 1 - eps] before taking log odds


@dataclass(frozen=True)
class Rule:
    """One threshold rule. `source` is a metric name, or `emotion.<class3>` for an emotion share."""

    code: str
    source: str
    direction: Literal["max", "min"]
    threshold_key: str  # attribute of FeedbackConfig
    message: str  # English; {value} and {threshold} are filled in as percentages


RULES: tuple[Rule, ...] = (
    Rule("facing_audience_low", "facing_audience", "min", "facing_audience_min",
         "You faced the audience {value} of the time; aim for at least {threshold}."),
    Rule("turned_to_screen", "turned_to_screen", "max", "facing_screen_max",
         "You were turned toward the screen {value} of the time; glance at a slide, then speak to the "
         "room (at most {threshold})."),
    Rule("back_to_audience", "back_to_audience", "max", "back_to_audience_max",
         "Your back was to the audience {value} of the time; keep it under {threshold}."),
    Rule("looking_down", "looking_down", "max", "looking_down_max",
         "You looked down {value} of the time; keep your eyes up on the audience (under {threshold})."),
    Rule("gesture_low", "gesturing", "min", "gesture_low",
         "You gestured only {value} of the time; using your hands more (at least {threshold}) makes "
         "you more engaging."),
    Rule("gesture_high", "gesturing", "max", "gesture_high",
         "Your hands were moving {value} of the time; pause between gestures (at most {threshold}) "
         "so that they keep their meaning."),
    Rule("hands_in_pockets", "hands_in_pockets", "max", "hands_in_pockets_max",
         "Your hands were in your pockets {value} of the time; keep them free to gesture "
         "(under {threshold})."),
    Rule("hands_behind_back", "hands_behind_back", "max", "hands_behind_back_max",
         "Your hands were behind your back {value} of the time; bring them forward (under {threshold})."),
    Rule("arms_crossed", "arms_crossed", "max", "arms_crossed_max",
         "Your arms were crossed {value} of the time, which can look closed off; keep it under "
         "{threshold}."),
    Rule("slouching", "slouching", "max", "slouch_max",
         "You slouched {value} of the time compared with your own upright posture; aim for under "
         "{threshold}."),
    Rule("swaying", "swaying", "max", "sway_max",
         "You swayed from side to side {value} of the time; plant your feet (under {threshold})."),
    Rule("negative_emotion", "emotion.negative", "max", "negative_emotion_max",
         "Your expression read as negative in {value} of the classified frames; aim for under "
         "{threshold}."),
    Rule("positive_emotion_low", "emotion.positive", "min", "positive_emotion_min",
         "Your expression read as positive in only {value} of the classified frames; a smile now and "
         "then helps (at least {threshold})."),
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One piece of feedback, ready for the summary's `feedback` list."""

    code: str
    severity: Severity
    metric: str
    value: float
    threshold: float
    message: str
    excess: float  # log odds ratio past the threshold: the ranking key

    def to_dict(self) -> dict[str, Any]:
        """The schema-v1 form (without the ranking key)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "metric": self.metric,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "message": self.message,
        }


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def excess_past(value: float, threshold: float, direction: str) -> float:
    """How far `value` is past `threshold` in log odds; <= 0 when the rule does not fire."""
    d = _logit(value) - _logit(threshold)
    return d if direction == "max" else -d


def severity_of(excess: float) -> Severity:
    if excess >= CRITICAL_AT:
        return "critical"
    if excess >= WARNING_AT:
        return "warning"
    return "info"


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _value_of(rule: Rule, metrics: Mapping[str, Any], emotion: Mapping[str, Any] | None,
              cfg: FeedbackConfig) -> float | None:  # fmt: skip
    """The rule's measured share, or None when there is too little data to judge."""
    if rule.source.startswith("emotion."):
        if not emotion or int(emotion.get("frames", 0)) < cfg.min_emotion_frames:
            return None
        value = (emotion.get("classes3") or {}).get(rule.source.split(".", 1)[1])
        return None if value is None else float(value)
    m = metrics.get(rule.source)
    if not m or m.get("kind") != "share" or int(m.get("n", 0)) < cfg.min_frames:
        return None
    return float(m["share"])


def evaluate(
    metrics: Mapping[str, Any], emotion: Mapping[str, Any] | None, cfg: FeedbackConfig | None = None
) -> list[Finding]:
    """Findings from a summary's `metrics` and `emotion` sections, most important first.

    Taking the summary form (not live statistics) lets the collector re-run the rules on stored
    summaries with other thresholds.
    """
    cfg = cfg or FeedbackConfig()
    if cfg.language != "en":
        logger.warning("feedback language %r not available; using English", cfg.language)
    found: list[Finding] = []
    for rule in RULES:
        value = _value_of(rule, metrics, emotion, cfg)
        if value is None:
            continue
        threshold = float(getattr(cfg, rule.threshold_key))
        fires = value > threshold if rule.direction == "max" else value < threshold
        if not fires:
            continue
        excess = excess_past(value, threshold, rule.direction)
        message = rule.message.format(value=_pct(value), threshold=_pct(threshold))
        found.append(Finding(rule.code, severity_of(excess), rule.source, value, threshold, message, excess))
    found.sort(key=lambda f: -f.excess)  # stable: ties keep the rule order
    return found[: cfg.max_findings]


def evaluate_stats(stats: Any, cfg: FeedbackConfig | None = None) -> list[Finding]:
    """`evaluate` on a running `SessionStats` (e.g. for the live topic or the final summary)."""
    return evaluate(stats.metric_summaries(), stats.emotion_shares(), cfg)
