"""The face box from the pose's head keypoints (no second detector on the hot path), the frontal test,
the square regions the face models read, and the grey crops the emotion model reads.

Geometry, measured on the mean FER2013 face (the emotion model's training framing): the eyes lie at
37% of the height from the top and 37% of the width apart, so the box side is 2.7 eye spacings and its
centre 0.135 sides below the eye midpoint. MoveNet's ear points sit near the edge of that box
(side = 1.25 ear spacings). The box takes the larger of the two estimates (spacings only shrink when
the head turns), and without eyes or ears it falls back on the shoulder width (side = 0.5 shoulder
widths, an adult's face against the shoulder joints). The crop is rotated so that the eyes are level,
as FER faces are.

The face landmark model reads a square region 1.55 face-box sides wide around the same centre
(`landmark_roi`): MediaPipe crops 1.5x the tight box of the 468 landmarks, whose long side (forehead
to chin, 17.7 units of the canonical face against 6.3 between the eye centres) is 2.8 eye spacings,
about our box side. With landmarks, the emotion crop is a similarity transform that puts both eye
centres and the mouth centre where FER2013's faces have them (`align_face`, `FER_TEMPLATE`).
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


# ----------------------------------------------------------------------------------------------------
# Square regions for the face models, and the warps that cut them out.
# ----------------------------------------------------------------------------------------------------

LANDMARK_ROI_SCALE = 1.55  # landmark-model region side in face-box sides (see the module docstring)

# Landmarks (MediaPipe face mesh indices) whose mean is each eye's centre and the mouth's centre:
# the eye corners and the middles of both lids; the mouth corners and the middles of the inner lips.
# "right"/"left" are the presenter's own: the right eye is on the image left of a face seen from the front.
RIGHT_EYE_IDS = (33, 133, 159, 145)
LEFT_EYE_IDS = (362, 263, 386, 374)
MOUTH_IDS = (61, 291, 13, 14)

# Where FER2013 faces have those three centres, in 48x48 pixel coordinates (x, y): the mean over the
# faces of public_test.npz on which the landmark model found a face, measured by
# `python -m tools.quantize fer-template --data ../shared/data/fer2013/public_test.npz --limit 600`
# (docs/face.md has the figures and their spread).
FER_TEMPLATE = np.array([[14.67, 17.71], [32.34, 17.34], [23.92, 36.64]], dtype=np.float64)
FER_SIZE = 48


@dataclass(frozen=True, slots=True)
class SquareRoi:
    """A square region of a frame: centre and side in frame pixels, and `angle`, the direction of
    the region's x axis in the frame (radians, clockwise in image coordinates)."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0


def landmark_roi(box: FaceBox) -> SquareRoi:
    """The region the face landmark model reads for a keypoint face box (upright to the eye line)."""
    return SquareRoi(box.cx, box.cy, box.size * LANDMARK_ROI_SCALE, box.roll)


def roi_matrix(roi: SquareRoi, size: int, flip: bool = False) -> np.ndarray:
    """2x3 affine map from frame pixels to the size x size model input that shows `roi`.

    Pixel centres sit at integer coordinates (OpenCV's convention) and the region's edges at -0.5 and
    size - 0.5, so that a model coordinate x in [0, size] (MediaPipe: normalised * size) is x - 0.5 here.
    `flip` mirrors the region left to right (MediaPipe's iris model only knows one eye).
    """
    k = size / roi.side
    c, s = math.cos(roi.angle), math.sin(roi.angle)
    fx = -1.0 if flip else 1.0
    half = size / 2.0 - 0.5
    return np.array([
        [k * fx * c, k * fx * s, -k * fx * (c * roi.cx + s * roi.cy) + half],
        [-k * s, k * c, -k * (-s * roi.cx + c * roi.cy) + half],
    ], dtype=np.float64)


def model_to_frame(xy: np.ndarray, roi: SquareRoi, size: int, flip: bool = False) -> np.ndarray:
    """Model-output coordinates (x, y in [0, size], MediaPipe's convention) -> frame pixels (N, 2)."""
    n = np.asarray(xy, dtype=np.float64).reshape(-1, 2) / size - 0.5
    c, s = math.cos(roi.angle), math.sin(roi.angle)
    lx = (-n[:, 0] if flip else n[:, 0]) * roi.side
    ly = n[:, 1] * roi.side
    return np.stack([roi.cx + lx * c - ly * s, roi.cy + lx * s + ly * c], axis=1)


def warp_region(frame_bgr: np.ndarray, m: np.ndarray, out: np.ndarray, grey: bool = False) -> np.ndarray:
    """Fill `out` (size x size x 3 RGB, or size x size grey) with the frame seen through the affine map
    `m` (frame -> out pixels), repeating the frame's border where the region leaves it.

    Only the part of the frame under the region is converted, and a region much larger than the output
    is first shrunk with an area filter (warpAffine alone would alias), so the cost follows the
    output size, not the frame's.
    """
    size = out.shape[0]
    h, w = frame_bgr.shape[:2]
    inv = cv2.invertAffineTransform(m)
    e = size - 0.5
    corners = inv @ np.array([[-0.5, e, -0.5, e], [-0.5, -0.5, e, e], [1.0, 1.0, 1.0, 1.0]])
    x0, y0 = max(0, int(math.floor(corners[0].min())) - 1), max(0, int(math.floor(corners[1].min())) - 1)
    x1, y1 = min(w, int(math.ceil(corners[0].max())) + 2), min(h, int(math.ceil(corners[1].max())) + 2)
    if x1 - x0 < 2 or y1 - y0 < 2:
        out.fill(0)
        return out
    src = frame_bgr[y0:y1, x0:x1]
    if grey and src.ndim == 3:
        src = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY)
    scale = math.sqrt(abs(float(np.linalg.det(m[:, :2]))))  # output pixels per frame pixel
    lin = m[:, :2]
    if scale < 1.0 / _SHRINK_TO:
        f = _SHRINK_TO * scale
        rw, rh = max(1, round(src.shape[1] * f)), max(1, round(src.shape[0] * f))
        fx, fy = rw / src.shape[1], rh / src.shape[0]
        src = cv2.resize(src, (rw, rh), interpolation=cv2.INTER_AREA)
        # shrunk pixel p' sits at (p' + 0.5) / f - 0.5 in the region
        d = np.diag([1.0 / fx, 1.0 / fy])
        offset = np.array([0.5 / fx - 0.5 + x0, 0.5 / fy - 0.5 + y0])
        local = np.hstack([lin @ d, (lin @ offset + m[:, 2]).reshape(2, 1)])
    else:
        local = np.hstack([lin, (lin @ np.array([x0, y0], dtype=np.float64) + m[:, 2]).reshape(2, 1)])
    cv2.warpAffine(src, local, (size, size), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if not grey:
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)
    return out


def face_centres(points_xy: np.ndarray) -> np.ndarray:
    """(right eye, left eye, mouth) centres (3, 2) from 468 face landmarks (x, y)."""
    p = np.asarray(points_xy, dtype=np.float64)[:, :2]
    return np.stack([p[list(RIGHT_EYE_IDS)].mean(axis=0), p[list(LEFT_EYE_IDS)].mean(axis=0),
                     p[list(MOUTH_IDS)].mean(axis=0)])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + shift taking points `src` to `dst` (Umeyama, no
    reflection), as a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    var = float((a * a).sum())
    if var < 1e-12:
        raise ValueError("similarity: source points coincide")
    cov = b.T @ a / len(src)
    u, sv, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1.0
    r = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d)) / (var / len(src))
    m = np.empty((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - scale * r @ ms
    return m


def align_face(frame_bgr: np.ndarray, points_xy: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The 48x48 grey face for the emotion model, framed as FER2013 frames its faces: the eye and
    mouth centres of the face landmarks (frame pixels, 468 x 2 or x 3) go to `FER_TEMPLATE`.

    This is the runtime's crop; tools that show what the emotion model saw call it too.
    """
    if out is None:
        out = np.empty((FER_SIZE, FER_SIZE), dtype=np.uint8)
    size = out.shape[0]
    m = similarity(face_centres(points_xy), FER_TEMPLATE * (size / FER_SIZE))
    return warp_region(frame_bgr, m, out, grey=True)
