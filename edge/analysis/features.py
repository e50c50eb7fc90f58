"""Frame features: what one pose says about a presenter, as pure functions of the keypoints.

Conventions (every function below follows them):

- Keypoints follow COCO: "left" is the presenter's own left. In a camera image of a presenter facing
  the camera, their left shoulder appears on the image right (larger x).
- A keypoint counts as seen when its score is >= `min_score` (config `analysis.min_keypoint_score`)
  and it lies inside the frame, off its outermost 3% (MoveNet parks joints that are out of view,
  e.g. hips below a waist-up framing, on the border). A "weak" keypoint (score >= 0.1) is used only to
  locate a partner point (the second ear for the head yaw, a tucked-away wrist), never as evidence
  that a body part is seen.
  A measure whose keypoints are not seen is `None` (continuous) or `None`/`False` (yes/no: `None` when
  the body parts it needs are not seen, `False` when they are seen and the condition does not hold).
  Nothing here raises on missing or non-finite keypoints, and nothing returns NaN.
- Distances are in shoulder widths ("sw"): the distance between the two shoulder keypoints, floored
  at half the shoulder-to-hip length so that a presenter in profile (shoulders overlapping in the
  image) does not blow every ratio up. This makes each measure independent of the distance to the
  camera and of the frame size.
- Signed measures (head yaw, torso lean) are positive toward the presenter's own left. Mirroring a
  pose (`Pose.mirrored()`) flips their sign and swaps the screen side; every other measure is
  symmetric and unchanged.

`FeatureExtractor` is the only stateful part: the previous pose (for speeds), the presenter's upright
baseline (for slouch) and a fixed-size ring buffer of hip positions (for sway). Its memory does not
grow with the length of a session.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from edge.analysis.headpose import HeadReading
from edge.analysis.keypoints import BodyPart, Pose
from edge.config import AnalysisConfig, FeaturesConfig

logger = logging.getLogger(__name__)

Point = tuple[float, float]
Points = list["Point | None"]

# Geometry constants of the yes/no hand and arm features, in shoulder widths unless noted. They are
# deliberately not config keys: they describe body proportions, not coaching preferences.
WEAK_SCORE = 0.1  # a keypoint this sure is used to locate a partner point, never as evidence it is seen
EDGE_MARGIN = 0.03  # a keypoint this close to the frame border (fraction of its size) counts as unseen
TORSO_SCALE_FLOOR = 0.5  # scale >= this x shoulder-to-hip length (profile views)
REVERSED_SHOULDERS = 0.3  # left shoulder this far (x shoulder distance) on the image left: back view
ZONE_TOP = 0.25  # gesture zone starts this far above the shoulder line
ZONE_WAIST = 0.85  # ...and ends at this fraction of the way from the shoulders down to the hips
ZONE_NO_HIPS = 1.4  # torso length assumed (sw) when the hips are not in view
ZONE_HALF_WIDTH = 1.0  # half width of the gesture zone around the body centre line
POCKET_RADIUS = 0.45  # wrist within this of its hip: at the pocket
POCKET_BELOW_HIP = 0.25  # ...and not lower than this below the hip (a hanging hand is lower)
ELBOW_OUT = 0.2  # elbow this much further out than its shoulder (or wrist): bent outward
ELBOW_DOWN = 0.3  # elbow at least this far below its shoulder: arm hanging or bent down
CROSS_RADIUS = 0.5  # wrist within this of the opposite elbow: arms crossed
CROSS_ELBOW_TOP = 0.2  # crossed arms: elbows between this far below the shoulders...
CROSS_ELBOW_BOTTOM = 1.3  # ...and this far
FOLD_MEDIAL = 0.3  # folded arms, wrists tucked away: each wrist this much closer to the centre line...
FOLD_LEVEL = 0.5  # ...than its elbow and within this height of it (forearms across the body)
SWAY_GRID = 64  # samples of the resampled hip track analysed by FFT
SWAY_MIN_SAMPLES = 16
SWAY_MIN_COVERAGE = 0.8  # fraction of the sway window that must hold samples


@dataclass(frozen=True)
class MetricSpec:
    """One metric as it appears in the statistics and the summary.

    `lo`/`hi` is the histogram range of a continuous metric: percentiles are exact to one bin inside
    it and saturate at its ends (the mean is always exact).
    """

    name: str
    kind: Literal["share", "continuous"]
    unit: str
    label: str
    lo: float = 0.0
    hi: float = 1.0


SHARE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("facing_audience", "share", "share", "facing the audience"),
    MetricSpec("turned_to_screen", "share", "share", "turned to the screen"),
    MetricSpec("back_to_audience", "share", "share", "back to the audience"),
    MetricSpec("looking_down", "share", "share", "looking down"),
    MetricSpec("slouching", "share", "share", "slouching"),
    MetricSpec("gesturing", "share", "share", "gesturing"),
    MetricSpec("hands_in_gesture_zone", "share", "share", "hands in the gesture zone"),
    MetricSpec("hands_in_pockets", "share", "share", "hands in pockets"),
    MetricSpec("hands_behind_back", "share", "share", "hands behind the back"),
    MetricSpec("arms_crossed", "share", "share", "arms crossed"),
    MetricSpec("swaying", "share", "share", "swaying"),
)
CONTINUOUS_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("head_yaw", "continuous", "deg", "head yaw (+ = own left)", -90.0, 90.0),
    MetricSpec("head_pitch", "continuous", "sw", "head pitch (+ = down)", -1.0, 1.5),
    MetricSpec("torso_lean", "continuous", "deg", "torso lean (+ = own left)", -60.0, 60.0),
    MetricSpec("slouch", "continuous", "fraction", "slouch vs upright", -0.5, 0.5),
    MetricSpec("wrist_speed", "continuous", "sw/s", "wrist speed", 0.0, 8.0),
    MetricSpec("elbow_speed", "continuous", "sw/s", "elbow speed", 0.0, 8.0),
    MetricSpec("sway_amplitude", "continuous", "sw", "hip sway amplitude", 0.0, 1.0),
    MetricSpec("sway_frequency", "continuous", "Hz", "hip sway frequency", 0.0, 3.0),
)
METRICS: tuple[MetricSpec, ...] = SHARE_METRICS + CONTINUOUS_METRICS
METRIC_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """Everything measured on one analysed frame; `None` where it could not be measured.

    When `present` is False every other field is None: a frame without a presenter says nothing
    about posture, and the statistics count shares over frames with the presenter in view.
    """

    present: bool = False
    face_visible: bool | None = None
    scale_px: float | None = None  # one shoulder width in frame pixels
    head_yaw: float | None = None
    head_pitch: float | None = None
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

    def metric_values(self) -> dict[str, bool | float | None]:
        """The values of every metric in `METRICS`, keyed by metric name."""
        return {m.name: getattr(self, m.name) for m in METRICS}

    def as_dict(self) -> dict[str, bool | float | None]:
        return asdict(self)


_FIELD_NAMES = {f.name for f in fields(FrameFeatures)}
assert all(m.name in _FIELD_NAMES for m in METRICS), "every metric must be a FrameFeatures field"


# ----------------------------------------------------------------------------------------------
# Keypoint access and the body frame
# ----------------------------------------------------------------------------------------------

NOSE, L_EYE, R_EYE = BodyPart.NOSE, BodyPart.LEFT_EYE, BodyPart.RIGHT_EYE
L_EAR, R_EAR = BodyPart.LEFT_EAR, BodyPart.RIGHT_EAR
L_SH, R_SH = BodyPart.LEFT_SHOULDER, BodyPart.RIGHT_SHOULDER
L_EL, R_EL = BodyPart.LEFT_ELBOW, BodyPart.RIGHT_ELBOW
L_WR, R_WR = BodyPart.LEFT_WRIST, BodyPart.RIGHT_WRIST
L_HIP, R_HIP = BodyPart.LEFT_HIP, BodyPart.RIGHT_HIP
SIDES = ((L_SH, L_EL, L_WR, L_HIP), (R_SH, R_EL, R_WR, R_HIP))


def visible_points(pose: Pose, min_score: float) -> Points:
    """Each keypoint as (x, y) in pixels, or None when its score is below `min_score`, it is not
    finite, or it lies on the frame border (see the module docstring).

    Plain Python floats: for 17 points this is faster than small numpy operations on a Pi.
    """
    mx = EDGE_MARGIN * pose.frame_width
    my = EDGE_MARGIN * pose.frame_height
    x_hi = pose.frame_width - 1 - mx
    y_hi = pose.frame_height - 1 - my
    out: Points = []
    for (x, y), s in zip(pose.xy.tolist(), pose.scores.tolist(), strict=True):
        if s >= min_score and math.isfinite(x) and math.isfinite(y) and mx <= x <= x_hi and my <= y <= y_hi:
            out.append((x, y))
        else:
            out.append(None)
    return out


def weak_points(pose: Pose, min_score: float = WEAK_SCORE) -> Points:
    """`visible_points` at the weak threshold (0.1, or `min_score` if that is lower)."""
    return visible_points(pose, min(min_score, WEAK_SCORE))


def _mid(a: Point, b: Point) -> Point:
    return ((a[0] + b[0]) * 0.5, (a[1] + b[1]) * 0.5)


def _dist(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclass(frozen=True, slots=True)
class Body:
    """The torso frame every feature measures against (needs both shoulders).

    `left_sign` is +1 when the presenter's left is image +x (facing the camera), -1 when the shoulders
    appear in reversed order (back to the camera): it turns image directions into body directions.
    """

    sh_left: Point
    sh_right: Point
    sh_mid: Point
    sh_width: float  # pixels between the shoulders
    hip_mid: Point | None
    scale: float  # pixels per shoulder width (see module docstring)
    center_x: float  # body centre line: mean x of the shoulder and hip midpoints
    left_sign: float

    def lateral(self, p: Point) -> float:
        """Horizontal distance of a point from the body centre line, in shoulder widths."""
        return abs(p[0] - self.center_x) / self.scale


def body_frame(pts: Points) -> Body | None:
    """The torso frame of a pose, or None without both shoulders (nothing is normalisable then)."""
    ls, rs = pts[L_SH], pts[R_SH]
    if ls is None or rs is None:
        return None
    sh_mid = _mid(ls, rs)
    width = _dist(ls, rs)
    lh, rh = pts[L_HIP], pts[R_HIP]
    hip_mid = _mid(lh, rh) if lh is not None and rh is not None else None
    scale = width
    if hip_mid is not None:
        scale = max(width, TORSO_SCALE_FLOOR * _dist(sh_mid, hip_mid))
    if scale < 1e-6:
        return None
    center_x = sh_mid[0] if hip_mid is None else (sh_mid[0] + hip_mid[0]) * 0.5
    left_sign = 1.0 if ls[0] >= rs[0] else -1.0
    return Body(ls, rs, sh_mid, width, hip_mid, scale, center_x, left_sign)


def body_scale(pose: Pose, min_score: float) -> float | None:
    """Pixels per shoulder width: the unit of every distance feature (None without both shoulders)."""
    body = body_frame(visible_points(pose, min_score))
    return None if body is None else body.scale


# ----------------------------------------------------------------------------------------------
# Presence and head
# ----------------------------------------------------------------------------------------------


def is_present(pose: Pose | None, min_score: float, min_keypoints: int = 5) -> bool:
    """A presenter is in view when at least `min_keypoints` keypoints are seen.

    MoveNet SinglePose always returns 17 points, even on an empty room; their scores are what tell.
    """
    if pose is None:
        return False
    return sum(p is not None for p in visible_points(pose, min_score)) >= min_keypoints


def _face_visible(pts: Points) -> bool:
    return pts[NOSE] is not None and pts[L_EYE] is not None and pts[R_EYE] is not None


def face_visible(pose: Pose, min_score: float) -> bool:
    """Nose and both eyes seen: the face is turned (at least partly) toward the camera."""
    return _face_visible(visible_points(pose, min_score))


def _pair_yaw(nose: Point, pl: Point | None, pr: Point | None) -> float | None:
    if pl is None or pr is None:
        return None
    dx, dy = pl[0] - pr[0], pl[1] - pr[1]
    spacing = math.hypot(dx, dy)
    if spacing < 1e-6:
        return None
    mx, my = _mid(pl, pr)
    offset = ((nose[0] - mx) * dx + (nose[1] - my) * dy) / spacing  # along the right->left axis
    return math.degrees(math.atan2(offset, spacing * 0.5))


def _yaw(pts: Points, weak: Points) -> float | None:
    nose = pts[NOSE]
    if nose is None:
        return None
    for left, right in ((L_EAR, R_EAR), (L_EYE, R_EYE)):
        yaw = _pair_yaw(nose, pts[left], pts[right])
        if yaw is not None:
            return yaw
    # One partner below the threshold but still located: a frontal face with a shy ear is common.
    for left, right in ((L_EAR, R_EAR), (L_EYE, R_EYE)):
        if pts[left] is not None or pts[right] is not None:
            yaw = _pair_yaw(nose, weak[left], weak[right])
            if yaw is not None:
                return yaw
    ear_l, ear_r = pts[L_EAR], pts[R_EAR]
    if (ear_l is None) != (ear_r is None):
        # Profile: only the ear on the camera side is seen (the other not even weakly). Seeing the
        # right ear means the presenter turned to their own left.
        return 90.0 if ear_r is not None else -90.0
    return None


def head_yaw(pose: Pose, min_score: float) -> float | None:
    """Head yaw proxy in degrees, + when the presenter turned their head to their own left.

    Definition: the nose's offset from the midpoint of the ears (or of the eyes when an ear is not
    seen; when one of a pair is only weakly seen it still locates the midpoint), measured along the
    right-to-left ear axis, relative to half the ear spacing: yaw = atan(offset / (spacing / 2)).
    For a head whose nose sits about one ear half-spacing in front of the ear line (roughly true for
    adults) this is the turn angle; from the eyes it reads lower (about half at small turns). With
    only one ear and the nose seen (profile; the other ear not even weakly) it is +/-90. It is a
    proxy, not a calibrated angle: thresholds, not exact degrees, are what it is for.
    """
    return _yaw(visible_points(pose, min_score), weak_points(pose, min_score))


def _pitch(pts: Points, body: Body | None) -> float | None:
    nose = pts[NOSE]
    if nose is None or body is None:
        return None
    ear_l, ear_r = pts[L_EAR], pts[R_EAR]
    if ear_l is not None and ear_r is not None:
        ux, uy = ear_l[0] - ear_r[0], ear_l[1] - ear_r[1]
        n = math.hypot(ux, uy)
        if n < 1e-6:
            return None
        s = 1.0 if ux >= 0 else -1.0  # the normal must point down the image whichever way the head faces
        nx, ny = -uy * s / n, ux * s / n
        mx, my = _mid(ear_l, ear_r)
        return ((nose[0] - mx) * nx + (nose[1] - my) * ny) / body.scale
    ear = ear_l if ear_l is not None else ear_r
    if ear is None:
        return None
    return (nose[1] - ear[1]) / body.scale


def head_pitch(pose: Pose, min_score: float) -> float | None:
    """Head pitch proxy in shoulder widths, + when the nose is below the ear line (looking down).

    Definition: distance of the nose from the line through both ears (perpendicular to it, positive
    downward; with one ear, the vertical offset from it), divided by the shoulder width. A level head
    seen from level reads about 0.05..0.15; a camera mounted high reads higher for everyone.
    """
    pts = visible_points(pose, min_score)
    return _pitch(pts, body_frame(pts))


def _back(pts: Points, body: Body | None) -> bool | None:
    if body is None:
        return None
    nose, el, er = pts[NOSE], pts[L_EYE], pts[R_EYE]
    face_hidden = nose is None and el is None and er is None
    reversed_order = (body.sh_left[0] - body.sh_right[0]) < -REVERSED_SHOULDERS * body.sh_width
    return face_hidden or (reversed_order and not _face_visible(pts))


def back_to_audience(pose: Pose, min_score: float) -> bool | None:
    """Back turned to the camera (audience): both shoulders seen and either no face keypoint (nose,
    eyes) seen, or the shoulders in reversed left/right order without a full face. None without
    shoulders."""
    pts = visible_points(pose, min_score)
    return _back(pts, body_frame(pts))


def _facing(pts: Points, yaw: float | None, back: bool | None, yaw_max: float) -> bool:
    if back or yaw is None or pts[NOSE] is None or (pts[L_EYE] is None and pts[R_EYE] is None):
        return False
    return abs(yaw) <= yaw_max


def facing_audience(pose: Pose, min_score: float, yaw_max_deg: float = 30.0) -> bool:
    """Face toward the camera (audience): nose and an eye seen, not back-turned, |yaw| <= max."""
    pts = visible_points(pose, min_score)
    return _facing(pts, _yaw(pts, weak_points(pose, min_score)), _back(pts, body_frame(pts)), yaw_max_deg)


def _turned(yaw: float | None, screen_side: str, yaw_min: float) -> bool | None:
    if yaw is None:
        return None
    toward = 1.0 if screen_side == "left" else -1.0  # + yaw is a turn to the presenter's own left
    return toward * yaw >= yaw_min


def turned_to_screen(
    pose: Pose, min_score: float, screen_side: Literal["left", "right"], yaw_min_deg: float = 45.0
) -> bool | None:
    """Head turned toward the screen: yaw toward `screen_side` (as the presenter sees it) >= min.

    None when the yaw cannot be measured (e.g. back fully turned; that is `back_to_audience`).
    """
    yaw = _yaw(visible_points(pose, min_score), weak_points(pose, min_score))
    return _turned(yaw, screen_side, yaw_min_deg)


def _looking_down(pitch: float | None, back: bool | None, pitch_min: float) -> bool | None:
    if pitch is None:
        return None
    return bool(not back and pitch >= pitch_min)


def looking_down(pose: Pose, min_score: float, pitch_min: float = 0.25) -> bool | None:
    """Head pitch proxy >= `pitch_min` shoulder widths (and not back-turned); None without it."""
    pts = visible_points(pose, min_score)
    body = body_frame(pts)
    return _looking_down(_pitch(pts, body), _back(pts, body), pitch_min)


# ----------------------------------------------------------------------------------------------
# Torso
# ----------------------------------------------------------------------------------------------


def _lean(body: Body | None) -> float | None:
    if body is None or body.hip_mid is None:
        return None
    vx = body.sh_mid[0] - body.hip_mid[0]
    vy = body.sh_mid[1] - body.hip_mid[1]
    if abs(vx) < 1e-9 and abs(vy) < 1e-9:
        return None
    return math.degrees(math.atan2(body.left_sign * vx, -vy))


def torso_lean(pose: Pose, min_score: float) -> float | None:
    """Sideways torso lean in degrees, + toward the presenter's own left.

    Definition: the angle between the image vertical and the line from the hip midpoint to the
    shoulder midpoint. A lean toward or away from the camera does not show here (see slouch).
    """
    return _lean(body_frame(visible_points(pose, min_score)))


def _torso_height(pts: Points, body: Body | None) -> tuple[str, float] | None:
    if body is None or body.sh_width < 1e-6:
        return None
    if body.hip_mid is not None:
        return "torso", _dist(body.sh_mid, body.hip_mid) / body.sh_width
    nose = pts[NOSE]
    if nose is not None:
        return "neck", (body.sh_mid[1] - nose[1]) / body.sh_width
    return None


def torso_height(pose: Pose, min_score: float) -> tuple[str, float] | None:
    """The upright measure slouch compares with its baseline: ("torso", shoulder-mid to hip-mid
    length / shoulder distance), or, without hips, ("neck", vertical nose to shoulder-mid distance /
    shoulder distance). Slouching shortens both: the shoulders round forward and drop, the head
    sinks. Only meaningful on a frontal view (the extractor measures it only when facing)."""
    pts = visible_points(pose, min_score)
    return _torso_height(pts, body_frame(pts))


def slouch_from(height: float, baseline: float | None) -> float | None:
    """Slouch as the fraction the upright measure is below its baseline: 1 - height / baseline.

    0 = as upright as the presenter's own baseline, 0.1 = 10% shorter, negative = taller.
    """
    if baseline is None or baseline <= 1e-9:
        return None
    return 1.0 - height / baseline


# ----------------------------------------------------------------------------------------------
# Arms and hands
# ----------------------------------------------------------------------------------------------


def _speeds(
    prev_pts: Points, prev_body: Body | None, pts: Points, body: Body | None, dt: float
) -> tuple[float | None, float | None]:
    if prev_body is None or body is None or not dt > 0:
        return None, None
    out: list[float | None] = []
    for joints in ((L_WR, R_WR), (L_EL, R_EL)):
        best: float | None = None
        for j in joints:
            a, b = prev_pts[j], pts[j]
            if a is None or b is None:
                continue
            # Relative to the shoulder midpoint: walking across the room is not gesturing.
            dx = (b[0] - body.sh_mid[0]) - (a[0] - prev_body.sh_mid[0])
            dy = (b[1] - body.sh_mid[1]) - (a[1] - prev_body.sh_mid[1])
            v = math.hypot(dx, dy) / body.scale / dt
            best = v if best is None else max(best, v)
        out.append(best)
    return out[0], out[1]


def joint_speeds(prev: Pose, cur: Pose, dt: float, min_score: float) -> tuple[float | None, float | None]:
    """(wrist speed, elbow speed) in shoulder widths per second between two frames `dt` s apart.

    Definition: displacement of each wrist (elbow) relative to the shoulder midpoint, divided by the
    current shoulder width and dt; the faster of the two sides (the active hand). None when a joint
    is not seen in both frames or dt <= 0.
    """
    pp, pc = visible_points(prev, min_score), visible_points(cur, min_score)
    return _speeds(pp, body_frame(pp), pc, body_frame(pc), dt)


def _zone_bottom(body: Body) -> float:
    if body.hip_mid is not None:
        return body.sh_mid[1] + ZONE_WAIST * (body.hip_mid[1] - body.sh_mid[1])
    return body.sh_mid[1] + ZONE_WAIST * ZONE_NO_HIPS * body.scale


def _gesture_zone(pts: Points, body: Body | None) -> bool | None:
    if body is None:
        return None
    top = body.sh_mid[1] - ZONE_TOP * body.scale
    bottom = _zone_bottom(body)
    for w in (pts[L_WR], pts[R_WR]):
        if w is not None and top <= w[1] <= bottom and body.lateral(w) <= ZONE_HALF_WIDTH:
            return True
    return False


def hands_in_gesture_zone(pose: Pose, min_score: float) -> bool | None:
    """At least one wrist in the gesture zone: from a little above the shoulders down to the waist
    (85% of the way to the hips), within one shoulder width of the body centre line (in front of the
    torso, as far as a 2D image can tell). False when no wrist is seen; None without shoulders."""
    pts = visible_points(pose, min_score)
    return _gesture_zone(pts, body_frame(pts))


def _pockets(pts: Points, weak: Points, body: Body | None) -> bool | None:
    if body is None or body.hip_mid is None:
        return None
    for sh_i, el_i, wr_i, hip_i in SIDES:
        sh, el, wr, hip = pts[sh_i], pts[el_i], pts[wr_i], pts[hip_i]
        if el is None or sh is None or hip is None:
            continue
        if wr is not None:
            at_pocket = _dist(wr, hip) <= POCKET_RADIUS * body.scale
            not_hanging = wr[1] <= hip[1] + POCKET_BELOW_HIP * body.scale
            elbow_out = body.lateral(el) >= body.lateral(wr) + ELBOW_OUT and el[1] > sh[1]
            if at_pocket and not_hanging and elbow_out:
                return True
        else:
            low = sh[1] + 2 * ELBOW_DOWN * body.scale <= el[1] <= hip[1] + 0.2 * body.scale
            guess = weak[wr_i]  # a weakly located wrist well above the hip is tucked elsewhere
            near_hip = guess is None or guess[1] >= hip[1] - POCKET_RADIUS * body.scale
            if low and near_hip and body.lateral(el) > body.lateral(sh) + ELBOW_OUT:
                return True
    return False


def hands_in_pockets(pose: Pose, min_score: float) -> bool | None:
    """At least one hand in a (front) pocket.

    Per side: the wrist within 0.45 sw of its hip, not hanging lower than 0.25 sw below it, with the
    elbow bent outward (0.2 sw further from the centre line than the wrist); or the wrist not seen
    while the elbow is low (between 0.6 sw below the shoulder and the hip) and out to the side
    (0.2 sw further out than its shoulder), unless the wrist is weakly located well above the hip
    (folded arms push the elbows out too). None when the hips are not in view (a framing that cuts
    at the waist hides the hands without meaning anything).
    """
    pts = visible_points(pose, min_score)
    return _pockets(pts, weak_points(pose, min_score), body_frame(pts))


def _behind_back(pts: Points, body: Body | None) -> bool | None:
    if body is None or body.hip_mid is None:
        return None
    if pts[L_WR] is not None or pts[R_WR] is not None:
        return False
    for sh_i, el_i, _wr, _hip in SIDES:
        sh, el = pts[sh_i], pts[el_i]
        if sh is None or el is None:
            return None
        if el[1] < sh[1] + ELBOW_DOWN * body.scale or body.lateral(el) > body.lateral(sh) + ELBOW_OUT:
            return False
    return True


def hands_behind_back(pose: Pose, min_score: float) -> bool | None:
    """Hands hidden behind the back: neither wrist seen while both elbows are seen, below the
    shoulders (>= 0.3 sw) and close to the torso (not further out than their shoulder + 0.2 sw: arms
    pointing back and down, not out to pockets). None without both elbows or without the hips in
    view (then missing wrists may only be out of frame)."""
    pts = visible_points(pose, min_score)
    return _behind_back(pts, body_frame(pts))


def _crossed(pts: Points, weak: Points, body: Body | None) -> bool | None:
    if body is None:
        return None
    el_l, el_r = pts[L_EL], pts[R_EL]
    if el_l is None or el_r is None:
        return None
    top = body.sh_mid[1] + CROSS_ELBOW_TOP * body.scale
    bottom = body.sh_mid[1] + CROSS_ELBOW_BOTTOM * body.scale
    if not (top <= el_l[1] <= bottom and top <= el_r[1] <= bottom):
        return False
    wr_l, wr_r = pts[L_WR], pts[R_WR]
    if wr_l is None and wr_r is None:
        # Both hands tucked under the arms: the wrists are only weakly located, if at all. Folded
        # when each lies well inside its own elbow, at about the elbow's height.
        for wr, el in ((weak[L_WR], el_l), (weak[R_WR], el_r)):
            if wr is None:
                return False
            inside = body.lateral(el) - body.lateral(wr) >= FOLD_MEDIAL
            level = abs(wr[1] - el[1]) <= FOLD_LEVEL * body.scale
            if not (inside and level):
                return False
        return True
    for wr, other_elbow in ((wr_l, el_r), (wr_r, el_l)):
        if wr is not None and _dist(wr, other_elbow) > CROSS_RADIUS * body.scale:
            return False
    return True  # every seen wrist at the opposite elbow; the other may be tucked away


def arms_crossed(pose: Pose, min_score: float) -> bool | None:
    """Arms crossed in front of the chest: both elbows at chest height (0.2..1.3 sw below the
    shoulders), and either every seen wrist within 0.5 sw of the opposite elbow (the other may be
    tucked away), or, with neither wrist seen, both weakly located 0.3 sw or more inside their own
    elbow and within 0.5 sw of its height (forearms folded across the body, hands tucked under the
    arms). None without both elbows."""
    pts = visible_points(pose, min_score)
    return _crossed(pts, weak_points(pose, min_score), body_frame(pts))


# ----------------------------------------------------------------------------------------------
# Hip sway
# ----------------------------------------------------------------------------------------------


def sway_from_samples(
    t: np.ndarray, x: np.ndarray, scale: float, grid: int = SWAY_GRID
) -> tuple[float, float] | None:
    """(amplitude in shoulder widths, dominant frequency in Hz) of a lateral hip track.

    Definition: the track (hip-midpoint x in pixels at times t) is resampled to a uniform grid,
    divided by `scale` (pixels per shoulder width), and its straight-line trend (walking) removed.
    Amplitude = sqrt(2) x standard deviation of the rest (the amplitude of an equivalent sine);
    frequency = the peak of its Hann-windowed spectrum, refined by parabolic interpolation.
    None when there are fewer than 4 samples or no time span.
    """
    if len(t) < 4 or scale <= 0:
        return None
    span = float(t[-1] - t[0])
    if not span > 0:
        return None
    g = np.linspace(t[0], t[-1], grid)
    xs = np.interp(g, t, x) / scale
    gc = g - g.mean()
    slope = float(gc @ (xs - xs.mean())) / float(gc @ gc)
    res = xs - xs.mean() - slope * gc
    amp = math.sqrt(2.0) * float(res.std())
    spec = np.abs(np.fft.rfft(res * np.hanning(grid)))
    k = int(np.argmax(spec[1:])) + 1
    df = (grid - 1) / (grid * span)  # rfftfreq spacing for samples span/(grid-1) apart
    delta = 0.0
    if 1 <= k < len(spec) - 1:
        a, b, c = spec[k - 1], spec[k], spec[k + 1]
        den = a - 2 * b + c
        if abs(den) > 1e-12:
            delta = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return amp, (k + delta) * df


class SwayWindow:
    """A fixed-size ring buffer of (t, hip x, scale) over the last `window_s` seconds."""

    def __init__(self, window_s: float, capacity: int) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._t = np.zeros(capacity)
        self._x = np.zeros(capacity)
        self._s = np.zeros(capacity)
        self._head = 0  # next write position
        self._count = 0

    def clear(self) -> None:
        self._head = 0
        self._count = 0

    def push(self, t: float, x: float, scale: float) -> None:
        self._t[self._head] = t
        self._x[self._head] = x
        self._s[self._head] = scale
        self._head = (self._head + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    @property
    def last_t(self) -> float | None:
        return None if self._count == 0 else float(self._t[(self._head - 1) % self.capacity])

    def samples(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Time-ordered samples no older than `window_s` before `now`."""
        idx = (self._head - self._count + np.arange(self._count)) % self.capacity
        t = self._t[idx]
        keep = t >= now - self.window_s
        return t[keep], self._x[idx][keep], self._s[idx][keep]


# ----------------------------------------------------------------------------------------------
# Upright baseline
# ----------------------------------------------------------------------------------------------


class UprightBaseline:
    """The presenter's own upright measure: a high percentile over a warm-up, then a running update.

    During the first `warmup_s` seconds of measurable frames the values are kept in a fixed-size
    buffer; at the end of the warm-up the baseline is their 90th percentile (upright is the tallest a
    presenter stands; a high percentile rather than the max ignores a few keypoint glitches). After
    that it only moves up, slowly (a presenter who stands up straighter later raises it), never down
    (slouching must not become the new normal).
    """

    PERCENTILE = 90.0
    ALPHA = 0.02
    MIN_SAMPLES = 5

    def __init__(self, warmup_s: float, capacity: int = 512) -> None:
        self.warmup_s = warmup_s
        self._buf = np.zeros(capacity)
        self._n = 0
        self._t0: float | None = None
        self.value: float | None = None

    def update(self, t: float, v: float) -> None:
        if not math.isfinite(v):
            return
        if self.value is not None:
            if v > self.value:
                self.value += self.ALPHA * (v - self.value)
            return
        if self._t0 is None:
            self._t0 = t
        if self._n < len(self._buf):
            self._buf[self._n] = v
            self._n += 1
        if (t - self._t0 >= self.warmup_s or self._n == len(self._buf)) and self._n >= self.MIN_SAMPLES:
            self.value = float(np.percentile(self._buf[: self._n], self.PERCENTILE))
            logger.debug("upright baseline set to %.3f from %d samples", self.value, self._n)


# ----------------------------------------------------------------------------------------------
# The per-frame extractor
# ----------------------------------------------------------------------------------------------


class FeatureExtractor:
    """Turns a stream of poses into `FrameFeatures`, keeping only the state features need.

    State: the previous frame (speeds), two upright baselines (torso with hips in view, neck
    without), the sway ring buffer. All fixed-size. A gap longer than `max_gap_s` (or a frame without
    a presenter) forgets the previous frame and restarts the sway window, so that speeds and sway are
    never computed across a gap.
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
        self._baselines = {
            "torso": UprightBaseline(self.cfg.baseline_warmup_s),
            "neck": UprightBaseline(self.cfg.baseline_warmup_s),
        }
        self._prev: tuple[Points, Body | None, float] | None = None

    def reset(self) -> None:
        """Forget everything, e.g. when a new session (a new presenter) starts."""
        self.__init__(self.cfg, self._analysis)  # type: ignore[misc]

    @property
    def baseline(self) -> dict[str, float | None]:
        return {k: b.value for k, b in self._baselines.items()}

    def update(self, pose: Pose | None, t: float, head: HeadReading | None = None) -> FrameFeatures:
        """Features of the frame at time `t` (seconds, any monotonic clock); `head` is the face stage's
        reading of this frame when it ran (the head-direction features are to take it over)."""
        cfg = self.cfg
        if pose is None or not is_present(pose, self.min_score, cfg.presence_min_keypoints):
            self._prev = None
            return FrameFeatures(present=False)
        pts = visible_points(pose, self.min_score)
        weak = weak_points(pose, self.min_score)
        body = body_frame(pts)
        yaw = _yaw(pts, weak)
        pitch = _pitch(pts, body)
        back = _back(pts, body)
        facing = _facing(pts, yaw, back, cfg.facing_yaw_max_deg)

        wrist_v = elbow_v = None
        if self._prev is not None:
            p_pts, p_body, p_t = self._prev
            dt = t - p_t
            if 0 < dt <= cfg.max_gap_s:
                wrist_v, elbow_v = _speeds(p_pts, p_body, pts, body, dt)
        self._prev = (pts, body, t)

        slouch = None
        height = _torso_height(pts, body)
        if height is not None and yaw is not None and abs(yaw) <= cfg.facing_yaw_max_deg and not back:
            kind, h = height
            base = self._baselines[kind]
            base.update(t, h)
            slouch = slouch_from(h, base.value)

        sway_amp = sway_freq = None
        swaying = None
        if body is not None and body.hip_mid is not None:
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

        return FrameFeatures(
            present=True,
            face_visible=_face_visible(pts),
            scale_px=None if body is None else body.scale,
            head_yaw=yaw,
            head_pitch=pitch,
            facing_audience=facing,
            turned_to_screen=_turned(yaw, self.screen_side, cfg.turned_yaw_min_deg),
            back_to_audience=back,
            looking_down=_looking_down(pitch, back, cfg.looking_down_pitch),
            torso_lean=_lean(body),
            slouch=slouch,
            slouching=None if slouch is None else slouch >= cfg.slouch_drop,
            wrist_speed=wrist_v,
            elbow_speed=elbow_v,
            gesturing=None if wrist_v is None else wrist_v >= cfg.gesture_speed_min,
            hands_in_gesture_zone=_gesture_zone(pts, body),
            hands_in_pockets=_pockets(pts, weak, body),
            hands_behind_back=_behind_back(pts, body),
            arms_crossed=_crossed(pts, weak, body),
            sway_amplitude=sway_amp,
            sway_frequency=sway_freq,
            swaying=swaying,
        )
