"""How far a rebuilt face model reads real crops from the float source, in the units the features use.

Everything runs through the runtime (`FaceMesh` for the interpreters and their input path, and
`head_reading` for solvePnP and the gaze), so a figure here is what the device would see change:
- landmark model: landmark distance in pixels of the 192 input (all 468 points of all crops, mean and
  p90), the head-angle difference it causes (per crop the largest of |d yaw|, |d pitch|, |d roll|;
  mean and p90) and the gaze difference (eye regions follow each model's own landmarks; the source
  iris model reads both), and the face-presence decision (probability >= `MIN_FACE_SCORE`) on the face
  crops plus one region beside each face;
- iris model: on the eye regions the source landmarks give, the iris-centre and eye-corner distance in
  pixels of the 64 input, and the gaze difference (largest of |d gaze yaw|, |d gaze pitch|).

For scale, the same figures for the float source against itself with its region moved by one input
pixel (`moved`): the jitter the float model shows anyway, since a keypoint face box moves by more than
that from frame to frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edge.analysis.face import SquareRoi
from edge.analysis.facecheck import head_reading
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceLandmarks, FaceMesh, eye_rois
from edge.analysis.headpose import HeadReading
from tools.quantize.face_data import IRIS_SIZE, FaceCrop, beside

# The bounds a quantized candidate must keep to be adopted (docs/face.md, "Models and quantization").
BOUNDS = {"landmark_p90_px": 1.0, "angle_p90_deg": 1.0, "gaze_p90_deg": 1.0, "score_agreement": 0.99}


def _p90(x: list[float] | np.ndarray) -> float:
    a = np.asarray(x, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.percentile(a, 90)) if a.size else float("nan")


def _mean(x: list[float] | np.ndarray) -> float:
    a = np.asarray(x, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def _angle_diff(a: HeadReading | None, b: HeadReading | None) -> float:
    if a is None or b is None:
        return float("inf")  # one model gives a head reading, the other none: worst case
    return max(abs(a.yaw_deg - b.yaw_deg), abs(a.pitch_deg - b.pitch_deg), abs(a.roll_deg - b.roll_deg))


def _gaze_diff(a: HeadReading | None, b: HeadReading | None) -> float:
    if a is None or b is None or a.gaze_yaw_deg is None or b.gaze_yaw_deg is None:
        return float("nan")
    assert a.gaze_pitch_deg is not None and b.gaze_pitch_deg is not None
    return max(abs(a.gaze_yaw_deg - b.gaze_yaw_deg), abs(a.gaze_pitch_deg - b.gaze_pitch_deg))


@dataclass
class LandmarkAgreement:
    crops: int
    mean_px: float
    p90_px: float
    angle_mean_deg: float
    angle_p90_deg: float
    gaze_mean_deg: float
    gaze_p90_deg: float
    score_crops: int  # face crops plus one region beside each
    score_agreement: float  # share of those where both models make the same face / no-face decision
    score_mean_diff: float  # mean |d probability|

    def within(self) -> list[str]:
        """The bounds this candidate breaks (empty: adoptable)."""
        broken = []
        if not self.p90_px <= BOUNDS["landmark_p90_px"]:
            broken.append(f"landmark p90 {self.p90_px:.2f} px > {BOUNDS['landmark_p90_px']} px")
        if not self.angle_p90_deg <= BOUNDS["angle_p90_deg"]:
            broken.append(f"head angle p90 {self.angle_p90_deg:.2f} deg > {BOUNDS['angle_p90_deg']} deg")
        if not self.gaze_p90_deg <= BOUNDS["gaze_p90_deg"]:
            broken.append(f"gaze p90 {self.gaze_p90_deg:.2f} deg > {BOUNDS['gaze_p90_deg']} deg")
        if not self.score_agreement >= BOUNDS["score_agreement"]:
            broken.append(f"face/no-face agreement {self.score_agreement:.3f} < {BOUNDS['score_agreement']}")
        return broken

    def line(self) -> str:
        return (f"landmarks mean {self.mean_px:.3f} / p90 {self.p90_px:.3f} px (192); head angle mean "
                f"{self.angle_mean_deg:.2f} / p90 {self.angle_p90_deg:.2f} deg; gaze mean {self.gaze_mean_deg:.2f} "
                f"/ p90 {self.gaze_p90_deg:.2f} deg; face/no-face agree {self.score_agreement:.3f} on "
                f"{self.score_crops} (mean |dp| {self.score_mean_diff:.4f})")

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class IrisAgreement:
    eyes: int
    iris_mean_px: float
    iris_p90_px: float
    corner_mean_px: float
    corner_p90_px: float
    gaze_mean_deg: float
    gaze_p90_deg: float

    def within(self) -> list[str]:
        if not self.gaze_p90_deg <= BOUNDS["gaze_p90_deg"]:
            return [f"gaze p90 {self.gaze_p90_deg:.2f} deg > {BOUNDS['gaze_p90_deg']} deg"]
        return []

    def line(self) -> str:
        return (f"iris centre mean {self.iris_mean_px:.3f} / p90 {self.iris_p90_px:.3f} px (64); eye corners mean "
                f"{self.corner_mean_px:.3f} / p90 {self.corner_p90_px:.3f} px; gaze mean {self.gaze_mean_deg:.2f} "
                f"/ p90 {self.gaze_p90_deg:.2f} deg ({self.eyes} eyes)")

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def moved(crop: FaceCrop, px: float, size: int) -> FaceCrop:
    """The same face with its region moved by `px` pixels of a `size` model input along the region's x
    axis: the float model's own jitter under such a move is the scale a quantization error is set against."""
    d = px * crop.roi.side / size
    roi = crop.roi
    return FaceCrop(crop.name, crop.frame, crop.box,
                    SquareRoi(roi.cx + d * math.cos(roi.angle), roi.cy + d * math.sin(roi.angle), roi.side, roi.angle))


def landmark_agreement(reference: FaceMesh, candidate: FaceMesh, crops: list[FaceCrop],
                       candidate_crops: list[FaceCrop] | None = None) -> LandmarkAgreement:
    """`candidate` (the quantized landmark model with the source iris model) against `reference` (both
    source models) on the face crops (or on `candidate_crops`, the same faces in other regions, with
    `candidate` the reference itself: its jitter); see the module docstring."""
    dists, angles, gazes, score_diff, same = [], [], [], [], []
    for c, cc in zip(crops, candidate_crops or crops, strict=True):
        a, b = reference.landmarks(c.frame, c.roi), candidate.landmarks(cc.frame, cc.roi)
        k = reference.input_size / c.roi.side  # frame pixels -> pixels of the model input
        dists.append(np.hypot(*(a.points[:, :2] - b.points[:, :2]).T) * k)
        ha, hb = head_reading(c.frame, a, 0.0, reference), head_reading(c.frame, b, 0.0, candidate)
        angles.append(_angle_diff(ha, hb))
        gazes.append(_gaze_diff(ha, hb))
        for sa, sb in ((a.score, b.score), _scores(reference, candidate, c, cc)):
            score_diff.append(abs(sa - sb))
            same.append((sa >= MIN_FACE_SCORE) == (sb >= MIN_FACE_SCORE))
    d = np.concatenate(dists) if dists else np.zeros(0)
    return LandmarkAgreement(len(crops), _mean(d), _p90(d), _mean(angles), _p90(angles), _mean(gazes), _p90(gazes),
                             len(same), float(np.mean(same)) if same else float("nan"), _mean(score_diff))


def _scores(reference: FaceMesh, candidate: FaceMesh, crop: FaceCrop, other: FaceCrop) -> tuple[float, float]:
    return (reference.landmarks(crop.frame, beside(crop)).score,
            candidate.landmarks(other.frame, beside(other)).score)


def iris_agreement(reference: FaceMesh, candidate: FaceMesh, crops: list[FaceCrop],
                   move_px: float = 0.0) -> IrisAgreement:
    """`candidate` (the source landmark model with the quantized iris model) against `reference` on the
    eye regions the source landmarks give (moved by `move_px` pixels of the 64 input for the candidate,
    with `candidate` the reference itself: its jitter); see the module docstring."""
    iris, corners, gazes = [], [], []
    for c in crops:
        lm = reference.landmarks(c.frame, c.roi)
        lm_b = lm
        if move_px:
            pts = lm.points.copy()
            pts[:, 0] += move_px * eye_rois(lm.points)[0][0].side / IRIS_SIZE
            lm_b = FaceLandmarks(pts, lm.score, lm.roi)
        ea, eb = reference.eyes(c.frame, lm), candidate.eyes(c.frame, lm_b)
        if ea is None or eb is None:
            raise ValueError("iris_agreement needs FaceMesh objects with an iris model")
        for (roi, _), x, y in zip(eye_rois(lm.points), ea, eb, strict=True):
            k = IRIS_SIZE / roi.side
            iris.append(float(np.hypot(*(x.iris - y.iris))) * k)
            corners.extend((np.hypot(*(x.corners - y.corners).T) * k).tolist())
        gazes.append(_gaze_diff(head_reading(c.frame, lm, 0.0, reference),
                                head_reading(c.frame, lm_b, 0.0, candidate)))
    return IrisAgreement(len(iris), _mean(iris), _p90(iris), _mean(corners), _p90(corners), _mean(gazes),
                         _p90(gazes))
