"""Real face crops for the face models' calibration and evaluation, cut by the runtime's own code.

A crop is what the device would feed: the pose model's keypoint face box on a real photo or video frame,
widened to the landmark region (`landmark_roi`), warped to 192x192 by `warp_region` (the runtime's
interpreter input path); the iris model's inputs are the two eye regions (`eye_rois`) around the
landmarks the source model reads on that crop. FER2013 faces (48x48 grey, from a split file) add
variety of people, ages and expressions to a calibration set: each is read as `fer_template` reads
it, a first region around the image centre, then the region the landmarks themselves give, up-scaled
to 192 by the same warp.

Calibration and evaluation sets never share a file (`disjoint`): the figures a model is adopted by are
measured on people and clips the calibration never saw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.analysis.face import LANDMARK_ROI_SCALE, FaceBox, SquareRoi, face_box, landmark_roi, roi_matrix, warp_region
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceLandmarks, FaceMesh, eye_rois
from edge.analysis.pose import PoseEstimator
from tools.quantize.calibration import IMAGE_SUFFIXES, VIDEO_SUFFIXES, collect_frames
from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)

LANDMARK_SIZE = 192
IRIS_SIZE = 64


@dataclass
class FaceCrop:
    """One real face: the frame, the region the runtime would read, where it came from."""

    name: str
    frame: np.ndarray
    box: FaceBox
    roi: SquareRoi


def face_crops(paths: Iterable[Path], pose_model: Path, video_every: int = 5, min_px: float = 40.0,
               reference: Path | None = None) -> list[FaceCrop]:
    """Faces the runtime would read in these images/videos: the pose's face box at least `min_px`
    on a side, and (with `reference`) only crops where that landmark model finds a face."""
    pose = PoseEstimator(pose_model, threads=2)
    mesh = FaceMesh(reference, None, threads=2) if reference is not None else None
    out = []
    for name, frame in collect_frames(list(paths), video_every=video_every):
        box = face_box(pose.estimate(frame), 0.3)
        if box is None or box.size < min_px:
            continue
        roi = landmark_roi(box)
        if mesh is not None and mesh.landmarks(frame, roi).score < MIN_FACE_SCORE:
            continue
        out.append(FaceCrop(name, frame, box, roi))
    return out


def read_fer_face(img: np.ndarray, mesh: FaceMesh) -> FaceLandmarks | None:
    """The landmarks of one 48x48 grey FER face, read as the runtime reads a face: a first region 1.5
    face sides wide around the image centre (borders repeated), then again on the region its own
    landmarks give (MediaPipe's tracking region). None when the model finds no face."""
    bgr = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2BGR)
    c = (img.shape[0] - 1) / 2.0
    lm = mesh.landmarks(bgr, SquareRoi(c, c, img.shape[0] * 1.5))
    if lm.score < MIN_FACE_SCORE:
        return None
    lm = mesh.landmarks(bgr, roi_from_landmarks(lm.points))
    return lm if lm.score >= MIN_FACE_SCORE else None


def fer_crops(faces: np.ndarray, mesh: FaceMesh, limit: int) -> list[FaceCrop]:
    """Up to `limit` FER faces (N x 48 x 48 grey) where the landmark model finds a face, as crops."""
    out: list[FaceCrop] = []
    for i, img in enumerate(faces):
        if len(out) >= limit:
            break
        lm = read_fer_face(img, mesh)
        if lm is None:
            continue
        roi = lm.roi
        box = FaceBox(roi.cx, roi.cy, roi.side / LANDMARK_ROI_SCALE, roi.angle, True)
        out.append(FaceCrop(f"fer#{i}", cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2BGR), box, roi))
    return out


def roi_from_landmarks(points: np.ndarray, scale: float = 1.5) -> SquareRoi:
    """MediaPipe's region from landmarks (face_landmark_landmarks_to_roi.pbtxt): the tight box of all
    points, upright to the eye line (33 -> 263), scaled by 1.5 on its long side."""
    p = points[:, :2]
    d = p[263] - p[33]
    ang = math.atan2(float(d[1]), float(d[0]))
    c, s = math.cos(ang), math.sin(ang)
    local = p @ np.array([[c, -s], [s, c]])  # coordinates along the eye line and across it
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = (lo + hi) / 2.0
    cx, cy = mid[0] * c - mid[1] * s, mid[0] * s + mid[1] * c
    return SquareRoi(float(cx), float(cy), float((hi - lo).max() * scale), ang)


def beside(crop: FaceCrop) -> SquareRoi:
    """A region of the same size one side away from the face, toward the frame's larger half: what a
    bad keypoint box feeds the model (for the face-presence agreement)."""
    w = crop.frame.shape[1]
    step = crop.roi.side if crop.roi.cx < w / 2.0 else -crop.roi.side
    return SquareRoi(crop.roi.cx + step, crop.roi.cy, crop.roi.side, 0.0)


def landmark_inputs(crops: list[FaceCrop], size: int = LANDMARK_SIZE) -> np.ndarray:
    """N x size x size x 3 uint8 RGB: exactly the pixels the runtime feeds the landmark model."""
    out = np.empty((len(crops), size, size, 3), dtype=np.uint8)
    for i, c in enumerate(crops):
        warp_region(c.frame, roi_matrix(c.roi, size), out[i])
    return out


def eye_inputs(crops: list[FaceCrop], mesh: FaceMesh, size: int = IRIS_SIZE) -> np.ndarray:
    """2N x size x size x 3 uint8 RGB: both eye regions of each crop, placed by `mesh`'s landmarks
    (image-right eye mirrored), as the runtime feeds the iris model."""
    out = np.empty((2 * len(crops), size, size, 3), dtype=np.uint8)
    for i, c in enumerate(crops):
        lm = mesh.landmarks(c.frame, c.roi)
        for k, (roi, flip) in enumerate(eye_rois(lm.points)):
            warp_region(c.frame, roi_matrix(roi, size, flip), out[2 * i + k])
    return out


def _files(paths: Iterable[Path]) -> set[Path]:
    out: set[Path] = set()
    for p in paths:
        if p.is_dir():
            out |= {f.resolve() for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES}
        else:
            out.add(p.resolve())
    return out


def disjoint(calibration: Iterable[Path], evaluation: Iterable[Path]) -> None:
    """SourceError naming the files that are in both sets (a model must be measured on unseen faces)."""
    both = sorted(_files(calibration) & _files(evaluation))
    if both:
        raise SourceError(f"calibration and evaluation share {[str(p) for p in both]}: give each file to one "
                          "set only (--calib-images/--calib-video vs --images/--video)")
