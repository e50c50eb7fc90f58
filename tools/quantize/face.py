"""MediaPipe's face landmark and iris models for the device: checked, measured, recorded.

The sources are TFLite flatbuffers (the landmark model's weights already float16, the iris model's
float32), not TensorFlow graphs, so post-training quantization would first need the graph rebuilt
from the flatbuffer (the `tflite` package parses it; an ONNX route via tflite2onnx/onnx2tf is the
other way). `build` takes each source (sha256 checked), keeps it as it is unless a candidate (e.g. an
int8 rebuild passed with --int8-landmark/--int8-iris) stays within `MAX_MEAN_PX` / `MAX_ANGLE_DEG` of
it on real face crops, and measures what it ships against the source either way.

Also here, measured with the runtime's own code:
- `face_crops`: real face regions (pose keypoints -> face box -> landmark region) from photos and videos;
- `agreement`: landmark distance (pixels of the 192 input) and the head-angle difference it causes;
- `fer_template`: where FER2013 faces have their eye and mouth centres (the emotion crop's template);
- `size_sweep`: head-angle error against the full-size reading as the face shrinks (the minimum face size).
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.analysis.face import FaceBox, SquareRoi, face_box, face_centres, landmark_roi
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceMesh
from edge.analysis.headpose import PNP_IDS, solve_head_pose
from edge.analysis.pose import PoseEstimator
from tools.quantize.calibration import collect_frames
from tools.quantize.sources import SourceError, check_source

logger = logging.getLogger(__name__)

MAX_MEAN_PX = 1.0  # a candidate may move landmarks by this much on average (pixels of the 192 input) ...
MAX_ANGLE_DEG = 1.0  # ... and head angles by this much on average, or the source is kept
SIZES_PX = (160, 120, 96, 80, 64, 48, 40, 32, 24)
MIN_SIZE_SWEEP_PX = 150  # faces at least this large (face box side) are the full-size references


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


@dataclass
class Agreement:
    """Landmark distance of a model to the reference (pixels of the 192 input, over all points of all
    crops) and mean absolute head-angle difference (yaw, pitch, roll) it causes."""

    n_crops: int
    mean_px: float
    p90_px: float
    angle_deg: tuple[float, float, float]
    gaze_deg: float | None = None  # mean absolute difference of the iris centres, as gaze angles

    def line(self, name: str) -> str:
        g = f" gaze={self.gaze_deg:.2f}deg" if self.gaze_deg is not None else ""
        return (f"{name}: crops={self.n_crops} mean={self.mean_px:.3f}px p90={self.p90_px:.3f}px (192 input) "
                f"yaw/pitch/roll diff={self.angle_deg[0]:.2f}/{self.angle_deg[1]:.2f}/{self.angle_deg[2]:.2f}deg{g}")

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"crops": self.n_crops, "mean_px": round(self.mean_px, 4),
                                "p90_px": round(self.p90_px, 4),
                                "yaw_pitch_roll_deg": [round(a, 3) for a in self.angle_deg]}
        if self.gaze_deg is not None:
            d["iris_deg"] = round(self.gaze_deg, 3)
        return d


def _angles(points: np.ndarray, frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    a = solve_head_pose(points[list(PNP_IDS), :2], w, h)
    return np.array([a.yaw_deg, a.pitch_deg, a.roll_deg]) if a is not None else np.full(3, np.nan)


def agreement(reference: FaceMesh, candidate: FaceMesh, crops: list[FaceCrop]) -> Agreement:
    """How far `candidate` reads the crops from `reference` (both FaceMesh, with or without iris)."""
    dists, angles, iris = [], [], []
    for c in crops:
        a, b = reference.landmarks(c.frame, c.roi), candidate.landmarks(c.frame, c.roi)
        k = reference.input_size / c.roi.side  # frame pixels -> pixels of the model input
        dists.append(np.hypot(*(a.points[:, :2] - b.points[:, :2]).T) * k)
        angles.append(np.abs(_angles(a.points, c.frame) - _angles(b.points, c.frame)))
        ea, eb = reference.eyes(c.frame, a), candidate.eyes(c.frame, a)  # same eye regions for both
        if ea is not None and eb is not None:
            for x, y in zip(ea, eb, strict=True):
                width = float(np.hypot(*(x.corners[1] - x.corners[0])))
                iris.append(math.degrees(math.asin(min(1.0, float(np.hypot(*(x.iris - y.iris))) / max(width, 1e-6)
                                                       * 2.5))))
    d = np.concatenate(dists) if dists else np.zeros(1)
    ang = np.nanmean(np.stack(angles), axis=0) if angles else np.zeros(3)
    return Agreement(len(crops), float(d.mean()), float(np.percentile(d, 90)),
                     (float(ang[0]), float(ang[1]), float(ang[2])), float(np.mean(iris)) if iris else None)


@dataclass
class BuildResult:
    landmark: Path
    iris: Path
    measured: dict[str, dict[str, object]] = field(default_factory=dict)
    choice: dict[str, str] = field(default_factory=dict)


def build(landmark_src: Path, iris_src: Path, out_dir: Path, crops: list[FaceCrop],
          int8_landmark: Path | None = None, int8_iris: Path | None = None) -> BuildResult:
    """Write the device's face models into `out_dir` (see the module docstring) and measure them."""
    check_source(landmark_src)
    check_source(iris_src)
    if not crops:
        raise SourceError("no face crops to measure on: give --images/--video with faces of at least 40 px")
    out_dir.mkdir(parents=True, exist_ok=True)
    ref = FaceMesh(landmark_src, iris_src, threads=2)
    result = BuildResult(out_dir / "face_landmark_f16.tflite", out_dir / "iris_landmark_f32.tflite")
    # The sources as they are: float16 weights (landmarks), float32 (iris).
    chosen_landmark, chosen_iris = landmark_src, iris_src
    for role, cand in (("face_landmark", int8_landmark), ("iris", int8_iris)):
        if cand is None:
            result.choice[role] = "source kept: no int8 candidate given"
            continue
        probe = FaceMesh(cand if role == "face_landmark" else landmark_src, cand if role == "iris" else iris_src, 2)
        a = agreement(ref, probe, crops)
        result.measured[f"{role}_int8_candidate"] = a.as_dict()
        print(a.line(f"int8 candidate {role} ({cand.name})"))
        ok = a.mean_px <= MAX_MEAN_PX and max(a.angle_deg) <= MAX_ANGLE_DEG
        if role == "iris":
            ok = a.gaze_deg is not None and a.gaze_deg <= MAX_ANGLE_DEG
        result.choice[role] = ("int8 candidate kept: within tolerance" if ok else
                               "source kept: the int8 candidate moved landmarks past the tolerance")
        if ok and role == "face_landmark":
            chosen_landmark, result.landmark = cand, out_dir / "face_landmark_int8.tflite"
        elif ok:
            chosen_iris, result.iris = cand, out_dir / "iris_landmark_int8.tflite"
    shutil.copyfile(chosen_landmark, result.landmark)
    shutil.copyfile(chosen_iris, result.iris)
    shipped = FaceMesh(result.landmark, result.iris, threads=2)
    a = agreement(ref, shipped, crops)
    print(a.line("shipped"))
    result.measured["shipped"] = a.as_dict()
    return result


def fer_template(x: np.ndarray, mesh: FaceMesh) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and standard deviation (3 x 2, 48-pixel coordinates) of the (right eye, left eye, mouth)
    centres over FER faces where the landmark model finds a face, and how many it found.

    Each 48x48 face is read as the runtime reads a face: a first region 1.5 face sides wide around
    the image centre (borders repeated), then again on the region its own landmarks give (MediaPipe's
    tracking region: 1.5x their tight box, upright to the eye line)."""
    found = []
    for img in x:
        bgr = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2BGR)
        lm = mesh.landmarks(bgr, SquareRoi(23.5, 23.5, 48 * 1.5))
        if lm.score < MIN_FACE_SCORE:
            continue
        lm = mesh.landmarks(bgr, roi_from_landmarks(lm.points))
        if lm.score < MIN_FACE_SCORE:
            continue
        found.append(face_centres(lm.points))
    arr = np.stack(found) if found else np.full((1, 3, 2), np.nan)
    return arr.mean(axis=0), arr.std(axis=0), len(found)


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


def size_sweep(crops: list[FaceCrop], mesh: FaceMesh, sizes: Iterable[int] = SIZES_PX) -> list[dict[str, float]]:
    """Per target face size: how the head angles read on the frame shrunk so that the face box has
    that side differ from the full-size reading (median and p90 of the largest of |d yaw|, |d pitch|),
    and the share of faces the model still finds. The face box is the full-size one, scaled with the
    frame, so that only the landmark model's reliability is measured, not the pose's."""
    refs = []
    for c in crops:
        lm = mesh.landmarks(c.frame, c.roi)
        if lm.score >= MIN_FACE_SCORE:
            refs.append((c, _angles(lm.points, c.frame)))
    rows = []
    for size in sizes:
        errs, found = [], 0
        for c, ref in refs:
            f = size / c.box.size
            if f >= 1.0:
                continue
            h, w = c.frame.shape[:2]
            small = cv2.resize(c.frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / w, small.shape[0] / h
            roi = SquareRoi((c.roi.cx + 0.5) * fx - 0.5, (c.roi.cy + 0.5) * fy - 0.5, c.roi.side * fx, c.roi.angle)
            lm = mesh.landmarks(small, roi)
            if lm.score < MIN_FACE_SCORE:
                errs.append(np.inf)
                continue
            found += 1
            errs.append(float(np.max(np.abs(_angles(lm.points, small) - ref)[:2])))
        e = np.array(errs) if errs else np.array([np.nan])
        rows.append({"size_px": size, "faces": len(errs), "found": found,
                     "median_deg": float(np.median(e)), "p90_deg": float(np.percentile(e, 90))})
    return rows
