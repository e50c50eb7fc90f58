"""Head pose and gaze read from the face: the contract between the face stage and the features.

The face stage (MediaPipe face landmarks on the face box the pose gives, plus the iris model) fills a
`HeadReading` on the frames where it runs; `FeatureExtractor.update(pose, t, head=...)` uses the most
recent reading while it is fresh and falls back to the keypoint proxies when there is none (face too
small, turned away, not run on this frame).

Sign conventions match the keypoint features: yaw is + when the head turns toward the presenter's own
left (image right for a presenter facing the camera), pitch is + when the head tilts down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class HeadReading:
    """One frame's head pose and gaze, in degrees, relative to the camera (which stands for the audience)."""

    t: float  # time of the frame it was read on (the frame clock of FrameAnalyzer.analyze)
    yaw_deg: float  # + = turned toward the presenter's own left
    pitch_deg: float  # + = tilted down
    roll_deg: float  # + = the head tipped toward the presenter's own left shoulder
    gaze_yaw_deg: float | None  # eyes relative to the head, + = own left; None when the irises were not read
    gaze_pitch_deg: float | None  # eyes relative to the head, + = looking down; None when not read
    face_px: float  # face size in frame pixels (side of the landmark crop the reading came from)
    score: float  # face presence confidence of the landmark model, 0..1


# ----------------------------------------------------------------------------------------------------
# The geometry: pure functions from face landmarks to angles.
# ----------------------------------------------------------------------------------------------------

# The landmarks MediaPipe's own geometry pipeline fits its canonical face to (the procrustes basis of
# mediapipe/modules/face_geometry/data/geometry_pipeline_metadata_landmarks.pbtxt: forehead, eye
# corners, nose, cheek bones, jaw; no lips), with their positions on the canonical face model
# (canonical_face_model.obj of the same folder, Apache-2.0; centimetres, x to the image right of a
# face seen from the front, y up, z toward the viewer). The model is left-right symmetric.
CANONICAL: dict[int, tuple[float, float, float]] = {
    4: (0.000000, -0.463170, 7.586580),
    6: (0.000000, 2.473255, 5.788627),
    10: (0.000000, 8.261778, 4.481535),
    33: (-4.445859, 2.663991, 3.173422),
    54: (-6.279331, 6.615427, 1.425850),
    67: (-3.523964, 8.005976, 3.729163),
    117: (-5.258659, 0.945811, 2.974312),
    119: (-3.300681, 0.861641, 3.872784),
    121: (-1.820731, 1.467954, 4.224124),
    127: (-7.743095, 2.364999, -2.005167),
    129: (-1.785794, -0.978284, 4.850470),
    132: (-7.270895, -2.890917, -2.252455),
    133: (-1.856432, 2.585245, 3.757904),
    136: (-5.085276, -7.178590, 0.714711),
    143: (-6.407571, 2.236021, 1.560843),
    147: (-6.234883, -1.944430, 1.663542),
    198: (-1.246815, 0.230297, 5.681036),
    205: (-3.832928, -1.537326, 4.137731),
    263: (4.445859, 2.663991, 3.173422),
    284: (6.279331, 6.615427, 1.425850),
    297: (3.523964, 8.005976, 3.729163),
    346: (5.258659, 0.945811, 2.974312),
    348: (3.300681, 0.861641, 3.872784),
    350: (1.820731, 1.467954, 4.224124),
    356: (7.743095, 2.364999, -2.005167),
    358: (1.785794, -0.978284, 4.850470),
    361: (7.270895, -2.890917, -2.252455),
    362: (1.856432, 2.585245, 3.757904),
    365: (5.085276, -7.178590, 0.714711),
    372: (6.407571, 2.236021, 1.560843),
    376: (6.234883, -1.944430, 1.663542),
    420: (1.246815, 0.230297, 5.681036),
    425: (3.832928, -1.537326, 4.137731),
}
PNP_IDS: tuple[int, ...] = tuple(sorted(CANONICAL))
# The same points in OpenCV's camera convention for a face looking into the camera: x right, y down,
# z away from the camera.
PNP_POINTS = np.array([CANONICAL[i] for i in PNP_IDS], dtype=np.float64) * np.array([1.0, -1.0, -1.0])

# The camera's focal length is unknown: one long side of the frame (a 53-degree field of view across
# it, between a webcam's and a Pi camera module's). Head angles of a face that fills a small part of
# the frame barely depend on it; the line-of-sight correction below does, within a few degrees.
FOCAL_PER_LONG_SIDE = 1.0

# Eye geometry for gaze in degrees (adult averages): the iris moves on a ball of 12 mm radius, and the
# eye opening from corner to corner is 30 mm wide.
EYEBALL_RADIUS_MM = 12.0
EYE_WIDTH_MM = 30.0


@dataclass(frozen=True, slots=True)
class HeadAngles:
    """Yaw, pitch and roll in degrees (the conventions of `HeadReading`), relative to the line of sight
    from the face to the camera, and the face-to-camera distance in canonical-face units (cm)."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    distance: float


def camera_matrix(width: int, height: int) -> np.ndarray:
    f = FOCAL_PER_LONG_SIDE * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64)


def rotation_from_angles(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """The rotation (face -> camera, OpenCV axes) of a head turned by yaw, then tilted by pitch, then
    tipped by roll, each in `HeadReading`'s sign convention: R = Ryaw @ Rpitch @ Rroll."""
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    ryaw = np.array([[math.cos(y), 0.0, -math.sin(y)], [0.0, 1.0, 0.0], [math.sin(y), 0.0, math.cos(y)]])
    rpitch = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), -math.sin(p)], [0.0, math.sin(p), math.cos(p)]])
    rroll = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return ryaw @ rpitch @ rroll


def _direction_angles(v: np.ndarray) -> tuple[float, float]:
    """Yaw and pitch (radians) of a direction in camera axes, as of a face's forward vector: a face
    looking into the camera points along -z; + yaw toward the image right, + pitch toward image down."""
    return math.atan2(float(v[0]), float(-v[2])), math.atan2(float(v[1]), math.hypot(float(v[0]), float(v[2])))


def angles_from_rotation(rot: np.ndarray, translation: np.ndarray | None = None) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a face -> camera rotation: the inverse of
    `rotation_from_angles`. With the face's `translation`, yaw and pitch are taken relative to the line
    of sight to the camera (a presenter at the frame's edge who looks into the lens faces the audience)."""
    fwd = -rot[:, 2]
    yaw, pitch = _direction_angles(fwd)
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    right0 = np.array([cy, 0.0, sy])  # the face's x and y axes before roll
    down0 = np.array([-sy * sp, cp, cy * sp])
    roll = math.atan2(float(rot[:, 0] @ down0), float(rot[:, 0] @ right0))
    if translation is not None:
        t = np.asarray(translation, dtype=np.float64).reshape(3)
        n = float(np.linalg.norm(t))
        if n > 1e-9:
            los_yaw, los_pitch = _direction_angles(-t / n)
            yaw, pitch = yaw - los_yaw, pitch - los_pitch
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


MIN_SPREAD_PX = 1.0  # landmarks spread less than this (std, pixels) hold no head pose to solve for


def solve_head_pose(image_points: np.ndarray, width: int, height: int) -> HeadAngles | None:
    """Head angles from the frame positions (N x 2) of the `PNP_IDS` landmarks, by `cv2.solvePnP`
    (SQPnP, a global solver: no initial guess to go wrong) against the canonical face. None when the
    solver fails or puts the face behind the camera.

    SQPnP refuses points that span a tiny angle of the view (an assertion on their variance in
    normalised coordinates): a face of a few dozen pixels in a 4K frame. EPnP, which agrees with it
    where both run, takes over there; points within a pixel of each other (`MIN_SPREAD_PX`) or that a
    solver still refuses give None, never an exception that would end the analysis."""
    pts = np.ascontiguousarray(np.asarray(image_points, dtype=np.float64).reshape(-1, 2))
    if pts.shape[0] != len(PNP_IDS) or not np.all(np.isfinite(pts)):
        raise ValueError(f"solve_head_pose: expected {len(PNP_IDS)} finite points, got {pts.shape}")
    if float(pts.std(axis=0).max()) < MIN_SPREAD_PX:
        return None
    cam = camera_matrix(width, height)
    try:
        ok, rvec, tvec = cv2.solvePnP(PNP_POINTS, pts, cam, None, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        try:
            ok, rvec, tvec = cv2.solvePnP(PNP_POINTS, pts, cam, None, flags=cv2.SOLVEPNP_EPNP)
        except cv2.error:
            return None
    if not ok or tvec is None or float(tvec[2, 0]) <= 0.0:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    yaw, pitch, roll = angles_from_rotation(rot, tvec)
    return HeadAngles(yaw, pitch, roll, float(np.linalg.norm(tvec)))


def project_canonical(angles: tuple[float, float, float], translation: tuple[float, float, float],
                      width: int, height: int) -> np.ndarray:
    """Where the `PNP_IDS` points of the canonical face turned by (yaw, pitch, roll) and placed at
    `translation` (cm, camera axes) fall in the frame: the synthetic input of the geometry tests."""
    rot = rotation_from_angles(*angles)
    rvec, _ = cv2.Rodrigues(rot)
    tvec = np.asarray(translation, dtype=np.float64)
    pts, _ = cv2.projectPoints(PNP_POINTS, rvec, tvec, camera_matrix(width, height), None)
    return pts.reshape(-1, 2)


def gaze_from_eye(corner_a: np.ndarray, corner_b: np.ndarray, iris: np.ndarray) -> tuple[float, float]:
    """Eye-in-head gaze (yaw, pitch) in degrees from one eye's two corners and its iris centre (frame
    pixels; the corners in either order, the image-left one is found here).

    The iris offset from the corners' midpoint is measured along and across the corner line (so head
    roll does not read as gaze), in eye widths, and turned into an angle on the eyeball:
    asin(offset * EYE_WIDTH_MM / EYEBALL_RADIUS_MM). + yaw toward the image right (the presenter's own
    left), + pitch down. The corners are fixed to the skull, unlike the lids, which follow the gaze.
    """
    a, b = np.asarray(corner_a, dtype=np.float64), np.asarray(corner_b, dtype=np.float64)
    if a[0] > b[0]:
        a, b = b, a
    axis = b - a
    width = float(np.hypot(*axis))
    if width < 1e-6:
        return 0.0, 0.0
    ux = axis / width
    uy = np.array([-ux[1], ux[0]])  # image-down for a level eye line
    d = np.asarray(iris, dtype=np.float64) - (a + b) / 2.0
    k = EYE_WIDTH_MM / EYEBALL_RADIUS_MM
    h = float(np.clip(d @ ux / width * k, -1.0, 1.0))
    v = float(np.clip(d @ uy / width * k, -1.0, 1.0))
    return math.degrees(math.asin(h)), math.degrees(math.asin(v))


# Where the iris sits in an eye that looks into the camera, from `gaze_from_eye` (degrees): the iris
# centre reads above the corner line and toward the outer corner. Measured on the 10 eyes of the 5
# frontal portraits in shared/data/images (people looking into the lens), see docs/face.md.
GAZE_NEUTRAL_PITCH_DEG = -10.0
GAZE_NEUTRAL_OUTWARD_DEG = 5.0
NEAR_EYE_YAW_DEG = 30.0  # past this head yaw the far eye is foreshortened or hidden: use the near one


# How far the eyes turn in the head before people turn the head instead: gaze shifts beyond about
# 15-20 degrees recruit the head, and the mechanical range is about 45-50 degrees. A reading past
# MAX_EYE_IN_HEAD_DEG on either axis is a misread, not a glance: measured on the labelled set, an iris
# hidden under lowered lids read 50-80 degrees *up* while the head was bowed over notes. Such an eye
# is dropped, and with no eye left the head alone decides.
MAX_EYE_IN_HEAD_DEG = 35.0


def _plausible(gaze: tuple[float, float]) -> bool:
    return abs(gaze[0]) <= MAX_EYE_IN_HEAD_DEG and abs(gaze[1]) <= MAX_EYE_IN_HEAD_DEG


def combine_gaze(left_img: tuple[float, float], right_img: tuple[float, float],
                 head_yaw_deg: float) -> tuple[float, float] | None:
    """One eye-in-head gaze (yaw, pitch) from the raw `gaze_from_eye` readings of the eye on the image
    left and the one on the image right, each corrected by the neutral offsets; the mean of both, or
    only the eye nearer to the camera once the head is turned past `NEAR_EYE_YAW_DEG` (turning toward
    the image right hides the image-right eye). An eye past `MAX_EYE_IN_HEAD_DEG` is left out; None
    when no eye is left."""
    left = (left_img[0] + GAZE_NEUTRAL_OUTWARD_DEG, left_img[1] - GAZE_NEUTRAL_PITCH_DEG)
    right = (right_img[0] - GAZE_NEUTRAL_OUTWARD_DEG, right_img[1] - GAZE_NEUTRAL_PITCH_DEG)
    if head_yaw_deg > NEAR_EYE_YAW_DEG:
        eyes = [left]
    elif head_yaw_deg < -NEAR_EYE_YAW_DEG:
        eyes = [right]
    else:
        eyes = [left, right]
    eyes = [e for e in eyes if _plausible(e)]
    if not eyes:
        return None
    return sum(e[0] for e in eyes) / len(eyes), sum(e[1] for e in eyes) / len(eyes)
