"""Hand-made keypoint sets for the feature tests: a frontal standing presenter, then turned, leaning,
crossing arms, seated...

The presenter faces the camera: their left shoulder is on the image right (COCO convention).
Shoulder width is 100 px, so 1 shoulder width (sw) = 100 px in every pose below; the torso (shoulder
midpoint to hip midpoint) is 140 px.
"""

from __future__ import annotations

import math

import numpy as np

from edge.analysis.body import Body, Points, body_frame, seen_points
from edge.analysis.keypoints import BodyPart as B
from edge.analysis.keypoints import Pose

W, H = 640, 480
MIN = 0.3

FRONTAL = {
    B.NOSE: (320, 104),
    B.LEFT_EYE: (335, 88),
    B.RIGHT_EYE: (305, 88),
    B.LEFT_EAR: (352, 96),
    B.RIGHT_EAR: (288, 96),
    B.LEFT_SHOULDER: (370, 150),
    B.RIGHT_SHOULDER: (270, 150),
    B.LEFT_ELBOW: (380, 235),
    B.RIGHT_ELBOW: (260, 235),
    B.LEFT_WRIST: (385, 315),
    B.RIGHT_WRIST: (255, 315),
    B.LEFT_HIP: (355, 290),
    B.RIGHT_HIP: (285, 290),
    B.LEFT_KNEE: (357, 405),  # 115 px = 0.82 torso lengths below the hip: a standing thigh
    B.RIGHT_KNEE: (283, 405),
    B.LEFT_ANKLE: (358, 462),
    B.RIGHT_ANKLE: (282, 462),
}
# Seated, seen from the front: the thighs point at the camera, so the knees show a little below and
# outside the hips; the hands rest in the lap, at the hips.
SEATED = {
    **FRONTAL,
    B.LEFT_KNEE: (375, 312), B.RIGHT_KNEE: (265, 312),
    B.LEFT_ANKLE: (372, 420), B.RIGHT_ANKLE: (268, 420),
    B.LEFT_ELBOW: (392, 240), B.RIGHT_ELBOW: (248, 240),
    B.LEFT_WRIST: (345, 296), B.RIGHT_WRIST: (295, 296),
}  # fmt: skip
# Seated cross-legged on the floor: knees out to the sides at hip height.
CROSS_LEGGED = {
    **SEATED,
    B.LEFT_KNEE: (445, 292), B.RIGHT_KNEE: (195, 292), B.LEFT_ANKLE: (330, 300), B.RIGHT_ANKLE: (310, 300),
}  # fmt: skip


def make_pose(
    overrides: dict | None = None, hidden: tuple = (), base: dict | None = None, weak: tuple = (),
    score: float = 0.9,
) -> Pose:  # fmt: skip
    """A pose from the frontal one with some points moved, some hidden (score 0.05) and some only
    weakly seen (score 0.2: below the 0.3 threshold, above the 0.1 "weak" one)."""
    pts = dict(base or FRONTAL)
    pts.update(overrides or {})
    xy = np.array([pts[p] for p in B], dtype=np.float32)
    scores = np.full(17, score, dtype=np.float32)
    for p in hidden:
        scores[p] = 0.05
    for p in weak:
        scores[p] = 0.2
    return Pose(xy, scores, W, H)


def parts(pose: Pose, min_score: float = MIN) -> tuple[Points, Points, Body | None]:
    """(seen points, weakly seen points, body frame): what the pure feature functions take."""
    pts, weak = seen_points(pose, min_score)
    return pts, weak, body_frame(pts)


def turned_head(deg: float) -> dict:
    """Head turned `deg` degrees to the presenter's own left (negative: right), simple head model:
    ears 32 px either side of the head centre, nose 32 px and eyes 25 px in front of the ear line."""
    th = math.radians(deg)
    c = 320.0
    return {
        B.NOSE: (c + 32 * math.sin(th), 104),
        B.LEFT_EYE: (c + 15 * math.cos(th) + 25 * math.sin(th), 88),
        B.RIGHT_EYE: (c - 15 * math.cos(th) + 25 * math.sin(th), 88),
        B.LEFT_EAR: (c + 32 * math.cos(th), 96),
        B.RIGHT_EAR: (c - 32 * math.cos(th), 96),
    }


def leaned(deg: float, base: dict | None = None) -> dict:
    """Upper body (everything above the hips) rotated about the hip midpoint toward own left."""
    th = math.radians(deg)
    cx, cy = 320.0, 290.0
    out = {}
    for p in list(B)[: B.LEFT_HIP]:
        x, y = (base or FRONTAL)[p]
        dx, dy = x - cx, y - cy
        # toward the presenter's left = image +x for a frontal presenter; y up is -dy
        out[p] = (cx + dx * math.cos(th) - dy * math.sin(th), cy + dx * math.sin(th) + dy * math.cos(th))
    return out


CROSSED = {
    B.LEFT_ELBOW: (375, 240), B.RIGHT_ELBOW: (265, 240), B.LEFT_WRIST: (280, 225), B.RIGHT_WRIST: (360, 225),
}  # fmt: skip
POCKETS = {
    B.LEFT_ELBOW: (395, 235), B.LEFT_WRIST: (358, 290), B.RIGHT_ELBOW: (245, 235), B.RIGHT_WRIST: (282, 290),
}  # fmt: skip
GESTURE = {B.LEFT_ELBOW: (395, 230), B.LEFT_WRIST: (360, 200)}
LOOKING_DOWN = {B.NOSE: (320, 132), B.LEFT_EYE: (335, 118), B.RIGHT_EYE: (305, 118)}
BACK = {
    B.LEFT_SHOULDER: (270, 150), B.RIGHT_SHOULDER: (370, 150),
    B.LEFT_HIP: (285, 290), B.RIGHT_HIP: (355, 290),
    B.LEFT_KNEE: (283, 405), B.RIGHT_KNEE: (357, 405),
    B.LEFT_ELBOW: (260, 235), B.RIGHT_ELBOW: (380, 235),
    B.LEFT_WRIST: (255, 315), B.RIGHT_WRIST: (385, 315),
}  # fmt: skip
# Arms folded with the hands tucked under them (wrists only weakly located), elbows pushed out.
FOLDED = {
    B.LEFT_ELBOW: (395, 230), B.RIGHT_ELBOW: (245, 230), B.LEFT_WRIST: (315, 222), B.RIGHT_WRIST: (290, 220),
}  # fmt: skip
FACE = (B.NOSE, B.LEFT_EYE, B.RIGHT_EYE)
WRISTS = (B.LEFT_WRIST, B.RIGHT_WRIST)
HIPS = (B.LEFT_HIP, B.RIGHT_HIP)
KNEES = (B.LEFT_KNEE, B.RIGHT_KNEE)

POSES = {
    "frontal": make_pose(),
    "turned_left_60": make_pose(turned_head(60)),
    "turned_right_20": make_pose(turned_head(-20)),
    "lean_left_10": make_pose(leaned(10)),
    "crossed": make_pose(CROSSED),
    "pockets": make_pose(POCKETS),
    "pockets_hidden_wrists": make_pose({B.LEFT_ELBOW: (400, 235), B.RIGHT_ELBOW: (240, 235)}, hidden=WRISTS),
    "behind_back": make_pose({B.LEFT_ELBOW: (372, 230), B.RIGHT_ELBOW: (268, 230)}, hidden=WRISTS),
    "gesture": make_pose(GESTURE),
    "looking_down": make_pose(LOOKING_DOWN),
    "back": make_pose(BACK, hidden=FACE),
    "profile": make_pose({B.NOSE: (355, 104)}, hidden=(B.LEFT_EAR, B.LEFT_EYE)),
    "folded_arms": make_pose(FOLDED, weak=WRISTS),
    "shy_ear": make_pose(turned_head(20), weak=(B.LEFT_EAR, B.RIGHT_EYE)),
    "seated": make_pose(base=SEATED),
    "cross_legged": make_pose(base=CROSS_LEGGED),
    "waist_up": make_pose(hidden=HIPS + KNEES + WRISTS + (B.LEFT_ANKLE, B.RIGHT_ANKLE)),
}
