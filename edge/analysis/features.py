"""Frame features: what one pose (and, when at hand, one head reading) says about a presenter.

The maths lives with what it measures: `body` (keypoint access, the body frame, scale),
`posture` (standing/seated, lean, slouch), `head` (head direction from the face or the keypoints),
`hands` (gesture zone, pockets, behind the back, arms crossed) and `motion` (smoothing, speeds,
sway). This module holds the metric list the statistics and the summary follow, the per-frame record
and the one stateful part, `FeatureExtractor`.

Every metric says for which posture it holds (`MetricSpec.postures`) and what it needs to be seen
(`MetricSpec.needs`, which the summary uses to say why a metric was not judged). Context metrics
(`MetricSpec.context`) are not behaviours but what the camera saw: posture, hips and hands in view,
a frontal torso, the head read from the face; they explain the others.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from edge.analysis import hands as H
from edge.analysis.body import (
    L_HIP,
    L_SH,
    L_WR,
    MAX_TILT_DEG,
    R_HIP,
    R_SH,
    R_WR,
    as_points,
    body_frame,
    body_tilt,
    seen_masks,
)
from edge.analysis.body import is_present as is_present  # re-exported: the pipeline asks here who is in view
from edge.analysis.head import fresh_reading, read_head
from edge.analysis.headpose import HeadReading
from edge.analysis.keypoints import Pose
from edge.analysis.motion import (
    SWAY_MIN_COVERAGE,
    SWAY_MIN_SAMPLES,
    JointSpeeds,
    KeypointSmoother,
    SwayWindow,
    sway_from_samples,
)
from edge.analysis.posture import (
    BASELINE_MIN_SCORE,
    POSTURES,
    SEATED,
    STANDING,
    UPRIGHT_LEAN_MAX_DEG,
    PostureTracker,
    UprightBaseline,
    cue_of,
    slouch_from,
    thigh_fold,
    torso_frontal,
    torso_height,
    torso_lean,
)
from edge.config import AnalysisConfig, FeaturesConfig

logger = logging.getLogger(__name__)

BOTH = POSTURES
STANDING_ONLY = (STANDING,)


@dataclass(frozen=True)
class MetricSpec:
    """One metric as it appears in the statistics and the summary.

    `lo`/`hi` is the histogram range of a continuous metric: percentiles are exact to one bin inside
    it and saturate at its ends (the mean is always exact). `postures`: the postures it is measured
    in (None elsewhere). `needs`: what must be seen for it, in the order that explains a "not
    judged" best (codes of `edge.session.feedback.NEEDS`). `context`: a metric about what the camera
    saw rather than about the presenter's behaviour.
    """

    name: str
    kind: Literal["share", "continuous"]
    unit: str
    label: str
    lo: float = 0.0
    hi: float = 1.0
    postures: tuple[str, ...] = BOTH
    needs: tuple[str, ...] = ()
    context: bool = False


def _share(name: str, label: str, needs: tuple[str, ...] = (), postures: tuple[str, ...] = BOTH) -> MetricSpec:
    return MetricSpec(name, "share", "share", label, postures=postures, needs=needs)


# Every behaviour is judged only on a frame where the presenter is large enough and upright in the
# picture: the two gates before anything else (FeatureExtractor.update).
GATES = ("size", "upright")
SHARE_METRICS: tuple[MetricSpec, ...] = (
    _share("facing_audience", "facing the audience", (*GATES, "head", "head_size")),
    _share("turned_to_screen", "turned to the screen", (*GATES, "head", "screen")),
    _share("back_to_audience", "back to the audience", GATES),
    _share("looking_down", "looking down", (*GATES, "face")),
    _share("slouching", "slouching", (*GATES, "hips", "posture", "frontal")),
    _share("gesturing", "gesturing", (*GATES, "hands")),
    _share("hands_in_gesture_zone", "hands in the gesture zone", (*GATES, "hands")),
    _share("hands_in_pockets", "hands in pockets", (*GATES, "hips", "posture", "standing", "hands"), STANDING_ONLY),
    _share("hands_behind_back", "hands behind the back", (*GATES, "hips", "posture", "standing"), STANDING_ONLY),
    _share("arms_crossed", "arms crossed", GATES),
    _share("swaying", "swaying", (*GATES, "hips", "posture", "standing"), STANDING_ONLY),
)
CONTEXT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("seated", "share", "share", "seated (of known posture)", context=True),
    MetricSpec("hips_in_view", "share", "share", "hips in view", context=True),
    MetricSpec("hands_in_view", "share", "share", "a hand in view", context=True),
    MetricSpec("torso_frontal", "share", "share", "torso facing the camera", context=True),
    MetricSpec("head_from_face", "share", "share", "head read from the face", context=True),
    MetricSpec("large_enough", "share", "share", "large enough to measure", context=True),
    MetricSpec("head_large_enough", "share", "share", "head large enough to read", context=True),
    MetricSpec("upright", "share", "share", "upright in the picture", context=True),
)
CONTINUOUS_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("head_yaw", "continuous", "deg", "head yaw (+ = own left)", -90.0, 90.0, needs=("head",)),
    MetricSpec("head_pitch", "continuous", "deg", "head pitch, face (+ down)", -60.0, 60.0, needs=("head",)),
    MetricSpec("eyes_pitch", "continuous", "deg", "eyes pitch, face (+ down)", -60.0, 90.0, needs=("head",)),
    MetricSpec("head_pitch_kp", "continuous", "sw", "head pitch, kp (+ down)", -1.0, 1.5),
    MetricSpec("torso_lean", "continuous", "deg", "torso lean (+ = own left)", -60.0, 60.0,
               needs=("hips", "frontal")),
    MetricSpec("slouch", "continuous", "fraction", "slouch vs upright", -0.5, 0.5,
               needs=("hips", "posture", "frontal")),
    MetricSpec("wrist_speed", "continuous", "sw/s", "wrist speed", 0.0, 8.0, needs=("hands",)),
    MetricSpec("elbow_speed", "continuous", "sw/s", "elbow speed", 0.0, 8.0),
    MetricSpec("sway_amplitude", "continuous", "sw", "hip sway amplitude", 0.0, 1.0,
               postures=STANDING_ONLY, needs=("hips", "posture", "standing")),
    MetricSpec("sway_frequency", "continuous", "Hz", "hip sway frequency", 0.0, 3.0,
               postures=STANDING_ONLY, needs=("hips", "posture", "standing")),
)  # fmt: skip
METRICS: tuple[MetricSpec, ...] = SHARE_METRICS + CONTINUOUS_METRICS + CONTEXT_METRICS
METRIC_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}
_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """Everything measured on one analysed frame; `None` where it could not be measured.

    When `present` is False every other field is None: a frame without a presenter says nothing
    about posture, and the statistics count shares over frames with the presenter in view.
    Units: degrees (deg), shoulder widths (sw), shoulder widths per second (sw/s).
    """

    present: bool = False
    face_visible: bool | None = None
    scale_px: float | None = None  # one shoulder width in frame pixels
    tilt_deg: float | None = None  # the body's up against the picture's up (body_tilt; None: not read)
    posture: str | None = None  # "standing", "seated" or None (unknown)
    head_direction: str | None = None  # "frontal", "image_left", "image_right", "down", "back" or None
    head_yaw: float | None = None  # deg, from the face when head_from_face, else the keypoint proxy
    head_pitch: float | None = None  # deg, from the face only
    eyes_pitch: float | None = None  # deg, head + eyes, from the face only
    head_pitch_kp: float | None = None  # sw, keypoint proxy
    facing_audience: bool | None = None
    turned_to_screen: bool | None = None
    back_to_audience: bool | None = None
    looking_down: bool | None = None
    torso_lean: float | None = None
    slouch: float | None = None
    slouching: bool | None = None
    wrist_speed: float | None = None
    elbow_speed: float | None = None
    gesturing: bool | None = None
    hands_in_gesture_zone: bool | None = None
    hands_in_pockets: bool | None = None
    hands_behind_back: bool | None = None
    arms_crossed: bool | None = None
    sway_amplitude: float | None = None
    sway_frequency: float | None = None
    swaying: bool | None = None
    seated: bool | None = None
    hips_in_view: bool | None = None
    hands_in_view: bool | None = None
    torso_frontal: bool | None = None
    head_from_face: bool | None = None
    large_enough: bool | None = None  # scale_px >= features.min_scale_px (None without both shoulders)
    head_large_enough: bool | None = None  # False: a keypoint head under features.min_head_spacing_px
    upright: bool | None = None  # body axis within MAX_TILT_DEG of image-up (None: too small, or no axis)

    def metric_values(self) -> dict[str, bool | float | None]:
        """The values of every metric in `METRICS`, keyed by metric name."""
        return {name: getattr(self, name) for name in _METRIC_NAMES}

    def as_dict(self) -> dict[str, bool | float | str | None]:
        return asdict(self)


_FIELD_NAMES = {f.name for f in fields(FrameFeatures)}
assert all(m.name in _FIELD_NAMES for m in METRICS), "every metric must be a FrameFeatures field"


def _any_of(values: list[float | None], threshold: float) -> bool | None:
    """At least one known value >= threshold; None when none is known (unseen hands are left out)."""
    known = [v for v in values if v is not None]
    return None if not known else max(known) >= threshold


def _max(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


class FeatureExtractor:
    """Turns a stream of poses (and head readings) into `FrameFeatures`, keeping only the state the
    features need, all fixed-size: the keypoint smoother and the previous joint positions (speeds),
    the posture tracker, one upright baseline per posture (slouch) and the sway ring buffer. A gap
    longer than `max_gap_s` (or a frame without a presenter) restarts speeds and the sway window, so
    that neither is computed across a gap.
    """

    def __init__(
        self, features: FeaturesConfig | None = None, analysis: AnalysisConfig | None = None
    ) -> None:
        self.cfg = features or FeaturesConfig()
        analysis = analysis or AnalysisConfig()
        self._analysis = analysis
        self.min_score = analysis.min_keypoint_score
        self.screen_side = analysis.screen_side
        capacity = int(min(2048, math.ceil(self.cfg.sway_window_s * analysis.fps * 1.5) + 8))
        self._sway = SwayWindow(self.cfg.sway_window_s, capacity)
        self._baselines = {p: UprightBaseline(self.cfg.baseline_warmup_s) for p in POSTURES}
        self._posture = PostureTracker(self.cfg.posture_hold_s)
        self._smoother = KeypointSmoother(self.cfg.smooth_min_cutoff_hz, self.cfg.smooth_beta, self.cfg.max_gap_s)
        self._speeds = JointSpeeds()
        self._head: HeadReading | None = None  # the latest face reading, used while fresh

    def reset(self) -> None:
        """Forget everything, e.g. when a new session (a new presenter) starts."""
        self.__init__(self.cfg, self._analysis)  # type: ignore[misc]

    @property
    def baseline(self) -> dict[str, float | None]:
        """The upright baseline of each posture (None until its warm-up is over)."""
        return {k: b.value for k, b in self._baselines.items()}

    @property
    def posture(self) -> str | None:
        return self._posture.state

    def update(self, pose: Pose | None, t: float, head: HeadReading | None = None) -> FrameFeatures:
        """Features of the frame at time `t` (seconds, any monotonic clock). `head` is a face reading
        (this frame's, or the latest one); the extractor keeps the latest it was given and uses it on
        the following frames while it is fresh (`features.head_max_age_s`), then the keypoints."""
        cfg = self.cfg
        if head is not None:
            self._head = head
        if pose is None:
            self._speeds.reset()
            return FrameFeatures(present=False)
        seen, weakm = seen_masks(pose, self.min_score)
        seen_l = seen.tolist()
        if sum(seen_l) < cfg.presence_min_keypoints:
            self._speeds.reset()
            return FrameFeatures(present=False)
        xy = pose.xy.tolist()
        pts = as_points(xy, seen_l)
        weak = as_points(xy, weakm.tolist())
        body = body_frame(pts)
        hips_in_view, hands_in_view = seen_l[L_HIP] and seen_l[R_HIP], seen_l[L_WR] or seen_l[R_WR]
        large = body is not None and body.scale >= cfg.min_scale_px
        tilt = body_tilt(pts, body) if large and body is not None else None
        if body is not None and (not large or (tilt is not None and tilt > MAX_TILT_DEG)):
            # The gates (docs/metrics.md): too few pixels for the keypoints to mean anything ("Presenter
            # size"), or upside down or on its side, a turned camera, while every feature reads image-up
            # as the presenter's up ("Upright in the picture"). In view, but nothing is judged, and no
            # speed spans the frame.
            self._speeds.reset()
            return FrameFeatures(present=True, scale_px=body.scale, tilt_deg=tilt, large_enough=large,
                                 upright=False if large else None, hips_in_view=hips_in_view,
                                 hands_in_view=hands_in_view)

        # Posture first: several measures hold for one posture only.
        fold = thigh_fold(pts, body)
        cue = cue_of(fold)
        posture = self._posture.update(t, cue)
        in_transition = fold is not None and cue != posture  # a squat, a bend: no posture to measure
        standing = posture == STANDING

        hv = read_head(
            pts, weak, body, fresh_reading(self._head, t, cfg.head_max_age_s, cfg.head_min_score),
            screen_side=self.screen_side, facing_yaw_max=cfg.facing_yaw_max_deg,
            turned_yaw_min=cfg.turned_yaw_min_deg, down_deg=cfg.looking_down_deg,
            min_head_spacing=cfg.min_head_spacing_px,
        )  # fmt: skip

        scale = None if body is None else body.scale
        self._smoother.update(pose.xy, pose.scores, seen & (pose.scores >= cfg.motion_min_score), t, scale)
        wrist_v, elbow_v = self._speeds.update(self._smoother, t, scale, cfg.max_gap_s)

        frontal = torso_frontal(body)
        lean = None if in_transition else torso_lean(body)
        slouch = None
        if (posture is not None and not in_transition and frontal and not hv.back
                and hv.yaw is not None and abs(hv.yaw) <= cfg.facing_yaw_max_deg):  # fmt: skip
            height = torso_height(body)
            if height is not None:
                base = self._baselines[posture]
                upright = lean is not None and abs(lean) <= UPRIGHT_LEAN_MAX_DEG
                if upright and float(np.min(pose.scores[[L_SH, R_SH, L_HIP, R_HIP]])) >= BASELINE_MIN_SCORE:
                    base.update(t, height)
                slouch = slouch_from(height, base.value)

        sway_amp = sway_freq = None
        swaying = None
        if standing and not in_transition and body is not None and body.hip_mid is not None:
            last = self._sway.last_t
            if last is not None and not 0 < t - last <= cfg.max_gap_s:
                self._sway.clear()
            self._sway.push(t, body.hip_mid[0], body.scale)
            ts, xs, ss = self._sway.samples(t)
            if len(ts) >= SWAY_MIN_SAMPLES and ts[-1] - ts[0] >= SWAY_MIN_COVERAGE * cfg.sway_window_s:
                res = sway_from_samples(ts, xs, float(np.median(ss)))
                if res is not None:
                    sway_amp = res[0]
                    if sway_amp >= cfg.sway_amplitude_min:
                        sway_freq = res[1]  # below the threshold the peak is keypoint jitter
                    swaying = (
                        sway_freq is not None and cfg.sway_freq_min_hz <= sway_freq <= cfg.sway_freq_max_hz
                    )
        if not standing or in_transition:
            self._sway.clear()  # sway is measured over quiet standing: a squat, a bend or a seat restarts it

        return FrameFeatures(
            present=True,
            face_visible=pts[0] is not None and pts[1] is not None and pts[2] is not None,
            scale_px=scale,
            tilt_deg=tilt,
            posture=posture,
            head_direction=hv.direction,
            head_yaw=hv.yaw,
            head_pitch=hv.pitch_deg,
            eyes_pitch=hv.eyes_pitch_deg,
            head_pitch_kp=hv.pitch_kp,
            facing_audience=hv.facing,
            turned_to_screen=hv.turned,
            back_to_audience=hv.back,
            looking_down=hv.looking_down,
            torso_lean=lean,
            slouch=slouch,
            slouching=None if slouch is None else slouch >= cfg.slouch_drop,
            wrist_speed=_max(wrist_v),
            elbow_speed=_max(elbow_v),
            gesturing=_any_of(wrist_v, cfg.gesture_speed_min),
            hands_in_gesture_zone=H.gesture_zone(pts, body, (float(pose.scores[L_WR]), float(pose.scores[R_WR]))),
            hands_in_pockets=H.pockets(pts, weak, body) if standing else None,
            hands_behind_back=H.behind_back(pts, body) if standing else None,
            arms_crossed=H.crossed(pts, weak, body),
            sway_amplitude=sway_amp,
            sway_frequency=sway_freq,
            swaying=swaying,
            seated=None if posture is None else posture == SEATED,
            hips_in_view=hips_in_view,
            hands_in_view=hands_in_view,
            torso_frontal=frontal,
            head_from_face=hv.from_face,
            head_large_enough=hv.large,
            large_enough=None if body is None else True,
            upright=None if tilt is None else True,
        )
