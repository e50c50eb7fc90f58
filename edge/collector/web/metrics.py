"""What the dashboard says about each metric: its name for people, its unit spelled out, its group,
and its target (the feedback rule's threshold).

Why here and not in `edge.analysis.features`: these are page texts in two languages (marked with N_
for the catalogue), and a metric the dashboard does not know yet (a newer device) still shows, under
its own name, rather than being dropped.

Targets come from `edge.session.feedback.RULES` with the default thresholds (`FeedbackConfig`); a
finding in the summary carries the device's own threshold, which then wins for that metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.collector.web.i18n import N_
from edge.config import FeedbackConfig
from edge.session.feedback import RULES

GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("attention", N_("Attention"), ("facing_audience", "turned_to_screen", "back_to_audience", "looking_down")),
    ("gestures", N_("Gestures"), ("gesturing", "hands_in_gesture_zone")),
    ("posture", N_("Posture"),
     ("slouching", "arms_crossed", "hands_in_pockets", "hands_behind_back", "swaying")),
)  # fmt: skip

LABELS: dict[str, str] = {
    "facing_audience": N_("Facing the audience"),
    "turned_to_screen": N_("Turned to the screen"),
    "back_to_audience": N_("Back to the audience"),
    "looking_down": N_("Looking down"),
    "slouching": N_("Slouching"),
    "gesturing": N_("Gesturing"),
    "hands_in_gesture_zone": N_("Hands in the gesture zone"),
    "hands_in_pockets": N_("Hands in pockets"),
    "hands_behind_back": N_("Hands behind the back"),
    "arms_crossed": N_("Arms crossed"),
    "swaying": N_("Swaying"),
    "head_yaw": N_("Head turn (+ = own left)"),
    "head_pitch": N_("Head tilt (+ = down)"),
    "torso_lean": N_("Torso lean (+ = own left)"),
    "slouch": N_("Slouch against own upright posture"),
    "wrist_speed": N_("Wrist speed"),
    "elbow_speed": N_("Elbow speed"),
    "sway_amplitude": N_("Hip sway amplitude"),
    "sway_frequency": N_("Hip sway frequency"),
    "eyes_pitch": N_("Eyes tilt, head and gaze (+ = down)"),
    "head_pitch_kp": N_("Head tilt from the body keypoints (+ = down)"),
    "seated": N_("Seated (of the known posture)"),
    "hips_in_view": N_("Hips in view"),
    "hands_in_view": N_("A hand in view"),
    "torso_frontal": N_("Torso facing the camera"),
    "head_from_face": N_("Head read from the face"),
    "large_enough": N_("Large enough to measure"),
    "head_large_enough": N_("Head large enough to read"),
    "upright": N_("Upright in the picture"),
    "emotion": N_("Facial expression"),
    "emotion_positive": N_("Positive expression"),
    "emotion_negative": N_("Negative expression"),
    "present": N_("Presenter in view"),
    "duration_min": N_("Session length"),
}

UNITS: dict[str, str] = {
    "share": N_("% of the time in view"),
    "deg": N_("degrees"),
    "sw": N_("shoulder widths"),
    "sw/s": N_("shoulder widths per second"),
    "Hz": N_("swings per second (Hz)"),
    "fraction": N_("fraction shorter than upright (0 = upright)"),
    "%": N_("percent"),
    "min": N_("minutes"),
}

CONTINUOUS_ORDER = (
    "wrist_speed", "elbow_speed", "head_yaw", "head_pitch", "torso_lean", "slouch", "sway_amplitude",
    "sway_frequency",
)  # fmt: skip
EMOTION_SERIES = ("emotion_positive", "emotion_negative")
TREND_CONTINUOUS = ("wrist_speed", "sway_amplitude")


def label(name: str, gettext: Any) -> str:
    text = LABELS.get(name)
    return gettext(text) if text else name.replace("_", " ")


def unit(code: str | None, gettext: Any) -> str:
    if not code:
        return ""
    text = UNITS.get(code)
    return gettext(text) if text else code


@dataclass(frozen=True)
class Target:
    """Where a share should stay: at least `lo` and/or at most `hi` (fractions 0..1)."""

    lo: float | None = None
    hi: float | None = None

    def misses(self, value: float) -> bool:
        return (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi)

    def as_dict(self) -> dict[str, float | None]:
        return {"lo": self.lo, "hi": self.hi}


def rule_metric(source: str) -> str:
    """A rule's source as a timeline series name: `emotion.negative` -> `emotion_negative`."""
    return source.replace(".", "_")


def targets(feedback: Sequence[Mapping[str, Any]] = (), cfg: FeedbackConfig | None = None) -> dict[str, Target]:
    """Target per metric (shares and emotion series) from the rules; a finding's threshold (the
    device's own setting) replaces the default of its rule."""
    cfg = cfg or FeedbackConfig()
    device_thresholds: dict[str, float] = {}
    for f in feedback:
        if isinstance(f, Mapping) and isinstance(f.get("threshold"), (int, float)):
            device_thresholds[str(f.get("code"))] = float(f["threshold"])
    out: dict[str, Target] = {}
    for rule in RULES:
        threshold = device_thresholds.get(rule.code, getattr(cfg, rule.threshold_key, None))
        if not isinstance(threshold, (int, float)):
            continue
        name = rule_metric(rule.source)
        old = out.get(name, Target())
        if rule.direction == "min":
            out[name] = Target(lo=float(threshold), hi=old.hi)
        else:
            out[name] = Target(lo=old.lo, hi=float(threshold))
    return out


def describe_target(target: Target | None, gettext: Any) -> str:
    """`at least 60%`, `at most 25%`, `between 15% and 85%`; empty without a target."""
    if target is None:
        return ""
    lo = None if target.lo is None else f"{target.lo * 100:.0f}%"
    hi = None if target.hi is None else f"{target.hi * 100:.0f}%"
    if lo and hi:
        return gettext("target: between %(lo)s and %(hi)s") % {"lo": lo, "hi": hi}
    if lo:
        return gettext("target: at least %(lo)s") % {"lo": lo}
    if hi:
        return gettext("target: at most %(hi)s") % {"hi": hi}
    return ""
