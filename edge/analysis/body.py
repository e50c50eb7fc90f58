"""Keypoint access and the body frame every feature measures against.

Conventions (every feature module follows them):

- Keypoints follow COCO: "left" is the presenter's own left. In a camera image of a presenter facing
  the camera, their left shoulder appears on the image right (larger x).
- A keypoint counts as seen when its score is >= `min_score` (config `analysis.min_keypoint_score`)
  and it lies inside the frame, off its outermost 3% (MoveNet parks joints that are out of view,
  e.g. hips below a waist-up framing, on the border). A "weak" keypoint (score >= 0.1) is used only to
  locate a partner point (the second ear for the head yaw, a tucked-away wrist), never as evidence
  that a body part is seen.
- A measure whose keypoints are not seen is `None` (continuous) or `None` (yes/no): `None` when the
  body parts it needs are not seen, `False` when they are seen and the condition does not hold.
  Nothing here raises on missing or non-finite keypoints, and nothing returns NaN.
- Distances are in shoulder widths ("sw"): the distance between the two shoulder keypoints, floored
  at half the shoulder-to-hip length so that a presenter in profile (shoulders overlapping in the
  image) does not blow every ratio up. This makes each measure independent of the distance to the
  camera and of the frame size.
- Signed measures (head yaw, torso lean) are positive toward the presenter's own left. Mirroring a
  pose (`Pose.mirrored()`) flips their sign and swaps the screen side; every other measure is
  symmetric and unchanged.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from edge.analysis.keypoints import BodyPart, Pose

Point = tuple[float, float]
Points = list["Point | None"]

WEAK_SCORE = 0.1  # a keypoint this sure is used to locate a partner point, never as evidence it is seen
EDGE_MARGIN = 0.03  # a keypoint this close to the frame border (fraction of its size) counts as unseen
TORSO_SCALE_FLOOR = 0.5  # scale >= this x shoulder-to-hip length (profile views)
REVERSED_SHOULDERS = 0.3  # left shoulder this far (x shoulder distance) on the image left: back view
# A body axis further than this from the image's up is not a presenter the right way up in the picture
# (a camera mounted upside down or on its side): upright presenters on the labelled footage stay within
# 37 degrees, a turned camera puts the torso 62-180 degrees off (docs/metrics.md, "Upright in the picture").
MAX_TILT_DEG = 60.0

NOSE, L_EYE, R_EYE = BodyPart.NOSE, BodyPart.LEFT_EYE, BodyPart.RIGHT_EYE
L_EAR, R_EAR = BodyPart.LEFT_EAR, BodyPart.RIGHT_EAR
L_SH, R_SH = BodyPart.LEFT_SHOULDER, BodyPart.RIGHT_SHOULDER
L_EL, R_EL = BodyPart.LEFT_ELBOW, BodyPart.RIGHT_ELBOW
L_WR, R_WR = BodyPart.LEFT_WRIST, BodyPart.RIGHT_WRIST
L_HIP, R_HIP = BodyPart.LEFT_HIP, BodyPart.RIGHT_HIP
L_KNEE, R_KNEE = BodyPart.LEFT_KNEE, BodyPart.RIGHT_KNEE
SIDES = ((L_SH, L_EL, L_WR, L_HIP), (R_SH, R_EL, R_WR, R_HIP))


@functools.lru_cache(maxsize=8)
def _frame_box(fw: int, fh: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half size of the part of a frame where a keypoint counts as inside: margin <= x <=
    size - 1 - margin (per axis)."""
    centre = np.array((0.5 * (fw - 1), 0.5 * (fh - 1)))
    return centre, centre - EDGE_MARGIN * np.array((fw, fh))


def seen_masks(pose: Pose, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """(seen, weakly seen) as boolean arrays over the 17 keypoints, in one vectorised pass."""
    centre, half = _frame_box(pose.frame_width, pose.frame_height)
    with np.errstate(invalid="ignore"):  # NaN coordinates compare False: unseen
        inside = (np.abs(pose.xy - centre) <= half).all(axis=1)
    s = pose.scores
    return inside & (s >= min_score), inside & (s >= min(min_score, WEAK_SCORE))


def as_points(xy: list[list[float]], mask: list[bool]) -> Points:
    return [(p[0], p[1]) if ok else None for p, ok in zip(xy, mask, strict=True)]


def seen_points(pose: Pose, min_score: float) -> tuple[Points, Points]:
    """(seen points, weakly seen points): each keypoint as (x, y) in pixels or None.

    Plain Python tuples: the features do a few dozen scalar operations per frame, which plain floats
    do faster than 17-element numpy arrays; the masks themselves are computed once with numpy.
    """
    seen, weak = seen_masks(pose, min_score)
    xy = pose.xy.tolist()
    return as_points(xy, seen.tolist()), as_points(xy, weak.tolist())


def visible_points(pose: Pose, min_score: float) -> Points:
    """Each keypoint as (x, y) in pixels, or None when it is not seen (see the module docstring)."""
    return seen_points(pose, min_score)[0]


def weak_points(pose: Pose, min_score: float = WEAK_SCORE) -> Points:
    """`visible_points` at the weak threshold (0.1, or `min_score` if that is lower)."""
    return seen_points(pose, min_score)[1]


def mid(a: Point, b: Point) -> Point:
    return ((a[0] + b[0]) * 0.5, (a[1] + b[1]) * 0.5)


def dist(a: Point, b: Point) -> float:
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
    hip_mid: Point | None  # None unless both hips are seen
    torso_len: float | None  # pixels from the hip midpoint to the shoulder midpoint
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
    sh_mid = mid(ls, rs)
    width = dist(ls, rs)
    lh, rh = pts[L_HIP], pts[R_HIP]
    hip_mid = mid(lh, rh) if lh is not None and rh is not None else None
    scale = width
    torso = None
    if hip_mid is not None:
        torso = dist(sh_mid, hip_mid)
        scale = max(width, TORSO_SCALE_FLOOR * torso)
        if torso < 1e-6:
            hip_mid, torso = None, None  # hips on top of the shoulders: no torso to measure
    if scale < 1e-6:
        return None
    center_x = sh_mid[0] if hip_mid is None else (sh_mid[0] + hip_mid[0]) * 0.5
    left_sign = 1.0 if ls[0] >= rs[0] else -1.0
    return Body(ls, rs, sh_mid, width, hip_mid, torso, scale, center_x, left_sign)


def body_scale(pose: Pose, min_score: float) -> float | None:
    """Pixels per shoulder width: the unit of every distance feature (None without both shoulders)."""
    body = body_frame(visible_points(pose, min_score))
    return None if body is None else body.scale


def is_present(pose: Pose | None, min_score: float, min_keypoints: int = 5) -> bool:
    """A presenter is in view when at least `min_keypoints` keypoints are seen.

    MoveNet SinglePose always returns 17 points, even on an empty room; their scores are what tell.
    """
    if pose is None:
        return False
    return int(np.count_nonzero(seen_masks(pose, min_score)[0])) >= min_keypoints


def body_tilt(pts: Points, body: Body) -> float | None:
    """Degrees (0-180) between the image's up and the body's up: the hips-to-shoulders line, or
    without both hips the shoulders-to-head line (the mean of the seen nose, eyes and ears). None when
    neither can be drawn. Every feature assumes image-up is the presenter's up (looking down is the
    face pointing to the image's bottom, hands in pockets are below the hips); a turned camera breaks
    that silently, and this is how a frame says so.
    """
    if body.hip_mid is not None:
        dx, dy = body.sh_mid[0] - body.hip_mid[0], body.sh_mid[1] - body.hip_mid[1]
    else:
        head = [p for p in pts[NOSE : R_EAR + 1] if p is not None]
        if not head:
            return None
        dx = sum(p[0] for p in head) / len(head) - body.sh_mid[0]
        dy = sum(p[1] for p in head) / len(head) - body.sh_mid[1]
    if math.hypot(dx, dy) < 1e-6:
        return None
    return math.degrees(math.atan2(abs(dx), -dy))
