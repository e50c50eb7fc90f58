"""Feedback rules: thresholds from `FeedbackConfig` turn session statistics into a few findings.

Each rule compares one share (a metric's share of frames, or an emotion's share of classified
faces) with a threshold: a `max` rule fires above it, a `min` rule below it.

A rule speaks only about what was seen. Its metric must have been judged (measured as yes or no) on
at least `min_frames` frames AND on at least `min_judged_share` of the frames with the presenter in
view: "hands in pockets 80% of the time" said from the 10% of a session where the hips happened to
be in view would be about those 10%, not about the session. And the share must be past its threshold
with confidence: by at least `confidence_z` standard errors (Wilson score interval over the judged
frames; neighbouring frames are correlated, so this only guards against small samples, it is no
proof). Each finding carries its basis: `{"frames": judged frames, "share": judged / in view}`.
Metrics that could not be judged are listed with the reason (`not_judged`): the most likely cause
among what the metric needs (`MetricSpec.needs`: hips, posture, hands... in view), read from the
context metrics (hips_in_view, seated, hands_in_view, torso_frontal, head_from_face).

Findings are ranked by how far past the threshold the value is, measured as a log odds ratio,
|logit(value) - logit(threshold)|: it treats "5% -> 10% back to the audience" and "60% -> 43%
facing the audience" as equally far, which a plain difference would not. The severity follows from
the same number (< 0.5 info, < 1.2 warning, else critical: about 1.6x and 3.3x the odds), capped by
what the measure can claim (an expression reading is at most a warning; a measure no labelled
footage has judged yet, at most info; looking down in a session whose eyes never came up to the
camera's line, and facing or turned in one whose head never came round to it, at most info with its
`caveat` said), and only the first
`max_findings` are kept, most severe first: coaching studies found that too much feedback overwhelms.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edge.analysis.features import GATES, METRIC_BY_NAME, SHARE_METRICS
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
    max_severity: Severity = "critical"  # what the measure's own accuracy allows it to claim
    caveat: str | None = None  # a key of CAVEATS: when it holds for the session, the finding is info


# An expression is a classifier's reading of a 48-pixel face: 7-class accuracy near 70% on FER2013's
# own faces, and unmeasured or far lower on a presenter's (docs/emotion.md, docs/validation.md). A
# share past its threshold by any margin is worth saying, never as the most urgent thing to fix.
EMOTION_MAX_SEVERITY: Severity = "warning"
# A measure no labelled real footage has judged yet (slouching needs an upright baseline and sway a
# quiet 6 s of standing, which the labelled clips never give: docs/validation.md) has no measured
# accuracy: its finding is a hint, never pressed. `tests/test_validate.py` holds this against the
# labelled set both ways: a rule is capped here exactly while fewer than 20 labelled frames could
# show it firing falsely, so the cap goes once such footage is labelled.
UNVALIDATED_MAX_SEVERITY: Severity = "info"
_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
# The minimums (`min_frames`, `min_emotion_frames`) and the confidence interval were set and validated at
# the default `analysis.fps` of 10. Neighbouring frames are correlated: frames taken faster than that
# add little evidence (at 30 fps, 50 frames are 1.7 s of footage). So a session analysed faster counts
# its frames as if taken 10 a second, and needs the same seconds of footage whatever the rate; a slower
# rate is not credited.
EVIDENCE_FPS = 10.0
# Looking down is the eyes more than `features.looking_down_deg` below the line to the camera, so a camera
# mounted above the presenter's eyes reads every look as lower than it was (docs/device.md). The frames
# labelled "not looking down" read at most 12.5 degrees below that line (`python -m tools.validate pitch`,
# the camera near eye height). A session whose eyes never came up to it, nine readings in ten further
# below, cannot tell a presenter who read throughout from an attentive one under a high camera: its
# looking-down finding is kept as a hint (info) with the caveat said, never pressed as a warning.
LEVEL_GAZE_MAX_DEG = 12.5
# Facing the audience and turned to the screen are the head's yaw from the line to the camera, so a
# camera standing off to one side of the audience reads every look at the room as turned toward the
# other side (docs/device.md). Nine in ten frames labelled facing the audience read within 22.6 degrees
# of that line (`python -m tools.validate yaw`). A session whose readings sit further to one side nine
# times in ten looked at where the camera is in at most about one reading in ten: it cannot tell a
# presenter who kept turned away from an attentive one filmed from the side, so its facing and
# turned-to-the-screen findings are kept as hints with the caveat said.
TOWARD_CAMERA_MAX_DEG = 22.5
CAVEATS: dict[str, str] = {
    "eyes_never_level": "Your eyes never came up to the camera's line: if the camera sits above your eye "
                        "level, every look reads lower than it was.",
    "head_never_toward_camera": "Your head never came round to the camera's line: if the camera stands off "
                                "to one side of the audience, looking at the room reads as turned away.",
}


RULES: tuple[Rule, ...] = (
    Rule("facing_audience_low", "facing_audience", "min", "facing_audience_min",
         "You faced the audience {value} of the time; aim for at least {threshold}.",
         caveat="head_never_toward_camera"),
    Rule("turned_to_screen", "turned_to_screen", "max", "facing_screen_max",
         "You were turned toward the screen {value} of the time; glance at a slide, then speak to the "
         "room (at most {threshold}).", caveat="head_never_toward_camera"),
    Rule("back_to_audience", "back_to_audience", "max", "back_to_audience_max",
         "Your back was to the audience {value} of the time; keep it under {threshold}."),
    Rule("looking_down", "looking_down", "max", "looking_down_max",
         "You looked down {value} of the time; keep your eyes up on the audience (under {threshold}).",
         caveat="eyes_never_level"),
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
         "{threshold}.", UNVALIDATED_MAX_SEVERITY),
    Rule("swaying", "swaying", "max", "sway_max",
         "You swayed from side to side {value} of the time; plant your feet (under {threshold}).",
         UNVALIDATED_MAX_SEVERITY),
    Rule("negative_emotion", "emotion.negative", "max", "negative_emotion_max",
         "Your expression read as negative in {value} of the classified frames; aim for under "
         "{threshold}.", EMOTION_MAX_SEVERITY),
    Rule("positive_emotion_low", "emotion.positive", "min", "positive_emotion_min",
         "Your expression read as positive in only {value} of the classified frames; a smile now and "
         "then helps (at least {threshold}).", EMOTION_MAX_SEVERITY),
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
    basis: dict[str, Any] | None = None  # {"frames": judged, "share": judged / in view}
    caveat: str | None = None  # a key of CAVEATS: why the finding is held back (its sentence ends the message)

    def to_dict(self) -> dict[str, Any]:
        """The schema-v1 form (without the ranking key)."""
        d: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "metric": self.metric,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "message": self.message,
        }
        if self.basis is not None:
            d["basis"] = dict(self.basis)
        if self.caveat is not None:
            d["caveat"] = self.caveat
        return d


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def excess_past(value: float, threshold: float, direction: str) -> float:
    """How far `value` is past `threshold` in log odds; <= 0 when the rule does not fire."""
    d = _logit(value) - _logit(threshold)
    return d if direction == "max" else -d


def severity_of(excess: float, cap: Severity = "critical") -> Severity:
    """The severity `excess` log odds past a threshold earn, at most `cap`."""
    if excess >= CRITICAL_AT:
        level: Severity = "critical"
    elif excess >= WARNING_AT:
        level = "warning"
    else:
        level = "info"
    return level if _RANK[level] <= _RANK[cap] else cap


def wilson_bounds(share: float, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of a share observed on `n` frames, at `z` standard errors."""
    if n <= 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(max(0.0, share * (1 - share) / n + z2 / (4 * n * n))) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def evidence(n: int, rate_hz: float | None) -> int:
    """`n` judged frames (or faces) counted as if taken at most `EVIDENCE_FPS` a second: what the
    minimums and the confidence interval read (`n` when the rate is unknown or not faster)."""
    if rate_hz is None or rate_hz <= EVIDENCE_FPS:
        return n
    return round(n * EVIDENCE_FPS / rate_hz)


# Too little evidence: (what was counted, whether the rate scaled it) -> the reason's sentence.
_COUNTED = {"frames": "judged on only {n} frames", "frame": "judged on only {n} frame",
            "faces classified": "only {n} faces classified", "face classified": "only {n} face classified"}
TOO_FEW: dict[tuple[str, bool], str] = {
    (what, scaled): lead + (", which count as {counted} at the analysed rate" if scaled else "")
    + " (at least {minimum} needed)"
    for what, lead in _COUNTED.items() for scaled in (False, True)
}
NEVER_IN_VIEW = "the presenter was never in view"
# Judged on too small a share of the frames in view, with no need or fallback to name (singular, plural).
SHARE_TOO_SMALL = ("judged on only {n} frame ({c} of the time in view)",
                   "judged on only {n} frames ({c} of the time in view)")


def _too_few(n: int, counted: int, minimum: int, what: str) -> str:
    return TOO_FEW[(what, counted != n)].format(n=n, counted=counted, minimum=minimum)


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


# --- what a metric needs, and why it was not judged ------------------------------------------------


def _share_n(metrics: Mapping[str, Any], name: str) -> tuple[float, int] | None:
    m = metrics.get(name)
    if not m or m.get("kind") != "share":
        return None
    return float(m.get("share") or 0.0), int(m.get("n", 0))


# Needs that fail exactly on the frames where a context metric is false (it is null elsewhere).
_FAILS_WHEN_FALSE = {"frontal": "torso_frontal", "size": "large_enough", "upright": "upright",
                     "head_size": "head_large_enough"}


def _missing_share(metrics: Mapping[str, Any], need: str, present: int) -> float | None:
    """Share of the frames in view where `need` failed, from the context metrics (None: unknown)."""
    if need in _FAILS_WHEN_FALSE and (sn := _share_n(metrics, _FAILS_WHEN_FALSE[need])):
        return (1.0 - sn[0]) * sn[1] / present
    if need == "hips" and (sn := _share_n(metrics, "hips_in_view")):
        return 1.0 - sn[0] * sn[1] / present
    if need == "hands" and (sn := _share_n(metrics, "hands_in_view")):
        return 1.0 - sn[0] * sn[1] / present
    if need == "posture" and (sn := _share_n(metrics, "seated")):
        return 1.0 - sn[1] / present
    if need == "standing" and (sn := _share_n(metrics, "seated")):
        return sn[0] * sn[1] / present
    if need == "head" and (sn := _share_n(metrics, "head_from_face")):
        # a frame too small or not upright reads no head either: that one is the gate's (GATES)
        gated = sum(_missing_share(metrics, gate, present) or 0.0 for gate in GATES)
        return max(0.0, 1.0 - sn[1] / present - gated)
    if need == "face" and (sn := _share_n(metrics, "head_from_face")):
        return 1.0 - sn[0] * sn[1] / present
    if need == "screen" and (sn := _share_n(metrics, "turned_to_screen")):
        # the head's yaw was known (`head_yaw`) but no turn judged: only an unset screen side does that
        yaw = metrics.get("head_yaw")
        known = int(yaw.get("n") or 0) if isinstance(yaw, Mapping) else 0
        return 1.0 if known > 0 and sn[1] == 0 else 0.0
    return None


NEEDS: dict[str, str] = {
    "size": "presenter too small in the picture to measure in {p} of frames",
    "upright": "presenter not upright in the picture (a turned camera?) in {p} of frames",
    "hips": "hips out of view in {p} of frames",
    "posture": "posture unknown (hips or knees not seen) in {p} of frames",
    "standing": "a standing measure, and the presenter was seated in {p} of frames",
    "hands": "hands out of view in {p} of frames",
    "frontal": "torso turned away from the camera in {p} of frames",
    "head": "head not seen in {p} of frames",
    "face": "face too small or hidden to read the head's tilt in {p} of frames",
    "head_size": "head too small in the picture to read where it faces in {p} of frames",
    "screen": "the screen's side is not set (analysis.screen_side = \"left\" or \"right\")",
}
# When no need explains it: what else keeps the metric from being judged.
FALLBACK: dict[str, str] = {
    "gesturing": "hands not seen sharply enough to measure movement in {p} of frames",
    "slouching": "no upright reference posture (upright, frontal, well-seen frames) in {p} of frames",
    "swaying": "no quiet standing stretch long enough to measure sway in {p} of frames",
}


@dataclass(frozen=True)
class Judgement:
    """Whether a metric was measured on enough of the session to speak about it."""

    metric: str
    frames: int  # frames where it was judged yes or no
    share: float | None  # frames / frames with the presenter in view (None: unknown)
    judged: bool
    reason: str | None  # why not, when not judged

    def basis(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frames": self.frames}
        if self.share is not None:
            out["share"] = round(min(1.0, self.share), 4)
        return out


def judge(name: str, metrics: Mapping[str, Any], present: int | None, cfg: FeedbackConfig,
          rate_hz: float | None = None) -> Judgement:  # fmt: skip
    """The judgement of one share metric of a summary's `metrics` (see the module docstring);
    `rate_hz`: analysed frames per second (`evidence`)."""
    sn = _share_n(metrics, name)
    n = 0 if sn is None else sn[1]
    if present is not None and present <= 0:
        return Judgement(name, n, None, False, NEVER_IN_VIEW)
    share = None if present is None else n / present
    enough_share = share is None or share >= cfg.min_judged_share
    counted = evidence(n, rate_hz)
    if counted >= cfg.min_frames and enough_share:
        return Judgement(name, n, share, True, None)
    if enough_share:  # a short session: what was seen is fine, there is just too little of it
        reason = _too_few(n, counted, cfg.min_frames, "frame" if n == 1 else "frames")
        return Judgement(name, n, share, False, reason)
    assert present is not None and share is not None
    missing = 1.0 - share
    spec = METRIC_BY_NAME.get(name)
    fails = [(need, _missing_share(metrics, need, present)) for need in (spec.needs if spec else ())]
    known = [(need, f) for need, f in fails if f is not None]
    top = max((f for _, f in known), default=0.0)
    if known and top >= 0.5 * missing:
        need, f = next((need, f) for need, f in known if f >= 0.9 * top)
        return Judgement(name, n, share, False, NEEDS[need].format(p=_pct(f)))
    text = FALLBACK.get(name, SHARE_TOO_SMALL[n != 1])
    return Judgement(name, n, share, False, text.format(p=_pct(missing), n=n, c=_pct(share)))


def judgements(metrics: Mapping[str, Any], present: int | None, cfg: FeedbackConfig | None = None,
               rate_hz: float | None = None) -> dict[str, Judgement]:  # fmt: skip
    """The judgement of every behaviour share metric (context metrics are never judged)."""
    cfg = cfg or FeedbackConfig()
    return {m.name: judge(m.name, metrics, present, cfg, rate_hz) for m in SHARE_METRICS}


def not_judged(metrics: Mapping[str, Any], emotion: Mapping[str, Any] | None, present: int | None,
               cfg: FeedbackConfig | None = None, rate_hz: float | None = None) -> list[dict[str, str]]:  # fmt: skip
    """The summary's `not_judged` list: `{"metric", "reason"}` for every share metric (and the
    emotion) that could not be judged."""
    cfg = cfg or FeedbackConfig()
    out = [{"metric": j.metric, "reason": j.reason or ""}
           for j in judgements(metrics, present, cfg, rate_hz).values() if not j.judged]  # fmt: skip
    faces = int((emotion or {}).get("frames", 0))
    counted = evidence(faces, rate_hz)
    if counted < cfg.min_emotion_frames:
        out.append({"metric": "emotion", "reason": _too_few(faces, counted, cfg.min_emotion_frames,
                                                            "face classified" if faces == 1 else "faces classified")})
    return out


# Every sentence a `not_judged` reason is made of, its numbers as {fields}: the collector matches a
# stored reason against them to show it in the page's language (`edge.collector.web.session_view`).
REASON_TEMPLATES: tuple[str, ...] = (NEVER_IN_VIEW, *NEEDS.values(), *FALLBACK.values(), *SHARE_TOO_SMALL,
                                     *TOO_FEW.values())


# --- the rules ------------------------------------------------------------------------------------


def _eyes_never_level(metrics: Mapping[str, Any]) -> bool:
    """Nine eye-pitch readings in ten past `LEVEL_GAZE_MAX_DEG` below the camera's line."""
    eyes = metrics.get("eyes_pitch")
    p10 = eyes.get("p10") if isinstance(eyes, Mapping) else None
    return isinstance(p10, (int, float)) and p10 > LEVEL_GAZE_MAX_DEG


def _head_never_toward_camera(metrics: Mapping[str, Any]) -> bool:
    """Nine yaw readings in ten more than `TOWARD_CAMERA_MAX_DEG` to the same side of the camera's line."""
    yaw = metrics.get("head_yaw")
    if not isinstance(yaw, Mapping):
        return False
    p10, p90 = yaw.get("p10"), yaw.get("p90")
    return ((isinstance(p10, (int, float)) and p10 > TOWARD_CAMERA_MAX_DEG)
            or (isinstance(p90, (int, float)) and p90 < -TOWARD_CAMERA_MAX_DEG))  # fmt: skip


_CAVEAT_HOLDS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "eyes_never_level": _eyes_never_level,
    "head_never_toward_camera": _head_never_toward_camera,
}
assert set(_CAVEAT_HOLDS) == set(CAVEATS) >= {r.caveat for r in RULES if r.caveat}  # one sentence, one test each


def caveat_holds(caveat: str, metrics: Mapping[str, Any]) -> bool:
    """Whether the session's metrics show what `caveat` (a key of CAVEATS) warns about."""
    return _CAVEAT_HOLDS[caveat](metrics)


def caveat_of(rule: Rule, metrics: Mapping[str, Any]) -> str | None:
    """The rule's caveat when it holds for the session's metrics (its finding is then info), else None."""
    return rule.caveat if rule.caveat is not None and caveat_holds(rule.caveat, metrics) else None


def _value_of(rule: Rule, metrics: Mapping[str, Any], emotion: Mapping[str, Any] | None, present: int | None,
              cfg: FeedbackConfig, rate_hz: float | None) -> tuple[float, int, dict[str, Any]] | None:  # fmt: skip
    """(share, the evidence it rests on (`evidence`), basis) of the rule's metric, or None when it was
    not judged. The basis keeps the frames as counted."""
    if rule.source.startswith("emotion."):
        faces = int((emotion or {}).get("frames", 0))
        counted = evidence(faces, rate_hz)
        if counted < cfg.min_emotion_frames:
            return None
        value = ((emotion or {}).get("classes3") or {}).get(rule.source.split(".", 1)[1])
        if value is None:
            return None
        basis: dict[str, Any] = {"frames": faces}
        if present:
            basis["share"] = round(min(1.0, faces / present), 4)
        return float(value), counted, basis
    j = judge(rule.source, metrics, present, cfg, rate_hz)
    if not j.judged:
        return None
    sn = _share_n(metrics, rule.source)
    assert sn is not None
    return sn[0], evidence(j.frames, rate_hz), j.basis()


def evaluate(
    metrics: Mapping[str, Any],
    emotion: Mapping[str, Any] | None,
    cfg: FeedbackConfig | None = None,
    present: int | None = None,
    rate_hz: float | None = None,
) -> list[Finding]:
    """Findings from a summary's `metrics` and `emotion` sections, most important first.

    `present`: frames with the presenter in view (the summary's `frames.with_person`); without it
    (an old summary) the minimum judged share is not checked. `rate_hz`: analysed frames per second
    (the summary's `fps.analysed`; frames faster than `EVIDENCE_FPS` count as fewer). Taking the
    summary form (not live statistics) lets the collector re-run the rules on stored summaries with
    other thresholds.
    """
    cfg = cfg or FeedbackConfig()
    if cfg.language != "en":
        logger.warning("feedback language %r not available; using English", cfg.language)
    found: list[Finding] = []
    for rule in RULES:
        got = _value_of(rule, metrics, emotion, present, cfg, rate_hz)
        if got is None:
            continue
        value, n, basis = got
        threshold = float(getattr(cfg, rule.threshold_key))
        lo, hi = wilson_bounds(value, n, cfg.confidence_z)
        fires = lo > threshold if rule.direction == "max" else hi < threshold
        if not fires:
            continue
        excess = excess_past(value, threshold, rule.direction)
        message = rule.message.format(value=_pct(value), threshold=_pct(threshold))
        caveat = caveat_of(rule, metrics)
        cap = rule.max_severity
        if caveat is not None:
            message += " " + CAVEATS[caveat]
            cap = "info"
        found.append(Finding(rule.code, severity_of(excess, cap), rule.source, value, threshold,
                             message, excess, basis, caveat))
    found.sort(key=lambda f: (-_RANK[f.severity], -f.excess))  # stable: ties keep the rule order
    return found[: cfg.max_findings]


def evaluate_stats(stats: Any, cfg: FeedbackConfig | None = None) -> list[Finding]:
    """`evaluate` on a running `SessionStats` (e.g. for the live topic or the final summary)."""
    return evaluate(stats.metric_summaries(), stats.emotion_shares(), cfg, present=stats.with_person,
                    rate_hz=stats.analysed_fps())
