"""The face box from the pose's head keypoints (no second detector on the hot path), the frontal test,
and the grey square crop the emotion model reads.

Geometry, measured on the mean FER2013 face (the emotion model's training framing): the eyes lie at
37% of the height from the top and 37% of the width apart, so the box side is 2.7 eye spacings and its
centre 0.135 sides below the eye midpoint. MoveNet's ear points sit near the edge of that box
(side = 1.25 ear spacings). The box takes the larger of the two estimates (spacings only shrink when
the head turns), and without eyes or ears it falls back on the shoulder width (side = 0.5 shoulder
widths, an adult's face against the shoulder joints). The crop is rotated so that the eyes are level,
as FER faces are.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.analysis.keypoints import BodyPart, Pose

logger = logging.getLogger(__name__)

EYE_SPACINGS_PER_SIDE = 2.7
EAR_SPACINGS_PER_SIDE = 1.25
SHOULDER_WIDTHS_PER_SIDE = 0.5
EYES_FROM_TOP = 0.365  # eye line as a fraction of the side from the top of the box
FRONTAL_NOSE_MARGIN = 0.15  # the nose lies between the eyes, at least this fraction of their spacing inside
MAX_ROLL_DEG = 45.0  # a steeper eye line is no upright face (or a misdetection)
_SHRINK_TO = 2  # pre-shrink with an area filter when the face is over this many times the output size

NOSE, L_EYE, R_EYE = BodyPart.NOSE, BodyPart.LEFT_EYE, BodyPart.RIGHT_EYE
L_EAR, R_EAR = BodyPart.LEFT_EAR, BodyPart.RIGHT_EAR
L_SH, R_SH = BodyPart.LEFT_SHOULDER, BodyPart.RIGHT_SHOULDER


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A square face box in frame pixels, centred at (cx, cy), turned by `roll` radians (the eye line's
    angle, clockwise in image coordinates), and whether the face is frontal."""

    cx: float
    cy: float
    size: float
    roll: float = 0.0
    frontal: bool = False

    @property
    def x0(self) -> float:
        return self.cx - self.size / 2.0

    @property
    def y0(self) -> float:
        return self.cy - self.size / 2.0


def _seen(pose: Pose, part: BodyPart, min_score: float) -> bool:
    return bool(pose.scores[part] >= min_score and np.all(np.isfinite(pose.xy[part])))


def _spacing(pose: Pose, a: BodyPart, b: BodyPart, min_score: float) -> float | None:
    if _seen(pose, a, min_score) and _seen(pose, b, min_score):
        d = float(np.hypot(*(pose.xy[a] - pose.xy[b])))
        return d if d > 1e-6 else None
    return None


def is_frontal(pose: Pose, min_score: float) -> bool:
    """Both eyes and the nose seen, the eye line within 45 degrees of level with the presenter's left
    eye on the image right (facing the camera), and the nose between the eyes along the eye line,
    15% of their spacing inside either eye (about 40 degrees of head turn at most)."""
    if not (_seen(pose, NOSE, min_score) and _seen(pose, L_EYE, min_score) and _seen(pose, R_EYE, min_score)):
        return False
    axis = pose.xy[L_EYE] - pose.xy[R_EYE]  # right eye -> left eye: +x for an upright frontal face
    spacing2 = float(axis @ axis)
    if spacing2 < 1e-6:
        return False
    if abs(math.degrees(math.atan2(float(axis[1]), float(axis[0])))) > MAX_ROLL_DEG:
        return False
    t = float((pose.xy[NOSE] - pose.xy[R_EYE]) @ axis) / spacing2
    return FRONTAL_NOSE_MARGIN <= t <= 1.0 - FRONTAL_NOSE_MARGIN


def face_box(pose: Pose, min_score: float) -> FaceBox | None:
    """The face box of a pose, or None when the head cannot be located or sized (see module docstring)."""
    eyes = _spacing(pose, L_EYE, R_EYE, min_score)
    ears = _spacing(pose, L_EAR, R_EAR, min_score)
    sizes = []
    if eyes is not None:
        sizes.append(eyes * EYE_SPACINGS_PER_SIDE)
    if ears is not None:
        sizes.append(ears * EAR_SPACINGS_PER_SIDE)
    if not sizes:
        shoulders = _spacing(pose, L_SH, R_SH, min_score)
        if shoulders is None:
            return None
        sizes.append(shoulders * SHOULDER_WIDTHS_PER_SIDE)
    side = max(sizes)

    roll = 0.0
    if eyes is not None:
        axis = pose.xy[L_EYE] - pose.xy[R_EYE]
        roll = math.atan2(float(axis[1]), float(axis[0]))
        if abs(roll) > math.pi / 2:  # eyes in reversed order: not facing the camera, keep the box upright
            roll = 0.0
        ex, ey = (pose.xy[L_EYE] + pose.xy[R_EYE]) / 2.0
    elif ears is not None:
        ex, ey = (pose.xy[L_EAR] + pose.xy[R_EAR]) / 2.0
    else:
        head = [p for p in (NOSE, L_EYE, R_EYE, L_EAR, R_EAR) if _seen(pose, p, min_score)]
        if not head:
            return None
        ex, ey = pose.xy[head].mean(axis=0)
    # the box centre lies (0.5 - EYES_FROM_TOP) sides below the eye line, "below" in the face's own frame
    down = (0.5 - EYES_FROM_TOP) * side
    cx = float(ex) - math.sin(roll) * down
    cy = float(ey) + math.cos(roll) * down
    return FaceBox(cx, cy, side, roll, is_frontal(pose, min_score))


def face_for_emotion(pose: Pose, min_score: float, min_face_px: float) -> FaceBox | None:
    """The face box when it is worth classifying: frontal and at least `min_face_px` on a side."""
    box = face_box(pose, min_score)
    if box is None or not box.frontal or box.size < min_face_px:
        return None
    return box


class FaceCropper:
    """Cuts a face box out of a BGR frame as a size x size grey image (eyes level, padded by repeating
    the border where the box leaves the frame), into one reused buffer."""

    def __init__(self, size: int = 48) -> None:
        self.size = int(size)
        self._out = np.empty((self.size, self.size), dtype=np.uint8)

    def crop(self, frame_bgr: np.ndarray, box: FaceBox) -> np.ndarray:
        """The grey crop (reused buffer: copy it to keep it past the next call)."""
        h, w = frame_bgr.shape[:2]
        # axis-aligned bounds of the turned square, clipped to the frame: only that part is converted
        reach = box.size * (abs(math.cos(box.roll)) + abs(math.sin(box.roll))) / 2.0 + 2.0
        x0, x1 = max(0, int(box.cx - reach)), min(w, int(math.ceil(box.cx + reach)))
        y0, y1 = max(0, int(box.cy - reach)), min(h, int(math.ceil(box.cy + reach)))
        if x1 <= x0 or y1 <= y0:
            self._out.fill(0)
            return self._out
        roi = frame_bgr[y0:y1, x0:x1]
        grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
        f = 1.0
        if box.size > _SHRINK_TO * self.size:  # an area filter first: warpAffine alone would alias
            f = _SHRINK_TO * self.size / box.size
            grey = cv2.resize(grey, (max(1, round(grey.shape[1] * f)), max(1, round(grey.shape[0] * f))),
                              interpolation=cv2.INTER_AREA)
        # map output pixel centres to the (shrunk) ROI: rotate by roll about the box centre, scale
        s = self.size / (box.size * f)
        cxr, cyr = (box.cx - x0) * f, (box.cy - y0) * f
        m = cv2.getRotationMatrix2D((cxr, cyr), math.degrees(box.roll), s)
        m[0, 2] += self.size / 2.0 - cxr
        m[1, 2] += self.size / 2.0 - cyr
        cv2.warpAffine(grey, m, (self.size, self.size), dst=self._out, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        return self._out
