"""Run the real analysis on a labelled clip exactly as `ppt-edge analyze` does, keeping each frame.

The clip goes through `edge.analyze.analyze_video` itself (same FrameSampler, same FrameAnalyzer,
same SessionStats and summary with its feedback rules); the only addition is a FrameAnalyzer
subclass that remembers what each analysed frame said, the emotion model's class where it ran
(and, for contact sheets, a small copy of the frame). A photo is a one-frame clip: OpenCV opens a
still image as a one-frame video, so it takes the same path. Per clip the analyser is built with
that clip's `screen_side`; the models are loaded once and shared, and `analyze_video` resets the
analyser before each clip.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edge.analysis.features import FrameFeatures
from edge.analysis.imaging import turn
from edge.analysis.keypoints import BodyPart, Pose
from edge.analysis.models import ModelSet, load_models
from edge.analysis.pipeline import FrameAnalyzer, FrameResult
from edge.analyze import NoPersonError, analyze_video
from edge.config import QUARTER_TURNS, Config
from tools.validate.labels import Clip

logger = logging.getLogger(__name__)


@dataclass
class AnalysedFrame:
    """What the analysis said about one analysed frame."""

    index: int  # frame index in the recording
    t: float
    features: FrameFeatures
    pose: Pose | None  # None when nobody was in view
    thumb: np.ndarray | None = None  # downscaled BGR copy (sheets only)
    thumb_scale: float = 1.0  # thumb pixels per frame pixel
    thumb_origin: tuple[int, int] = (0, 0)  # frame pixel at the thumb's top-left corner
    emotion: int | None = None  # FrameResult.emotion: the FER class index where the emotion model ran


@dataclass
class ClipRun:
    clip: Clip
    frames: list[AnalysedFrame]
    summary: dict[str, Any] | None  # None when nobody was found in any frame
    error: str | None = None
    frame_size: tuple[int, int] = (0, 0)  # (width, height)
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Variant:
    """How every frame is altered before the analysis, to see how the metrics hold up on footage
    unlike the labelled set's: shrunk `downscale` times (area filter: the same scene from a smaller or
    farther camera), its bottom `cut` share cut away (a desk or a lectern in front, a waist-up
    framing), mirrored left to right, turned clockwise by `turn` degrees (a camera mounted
    turned, with no `camera.rotation` set), rolled clockwise by `roll` degrees about the frame's centre
    (a camera mounted a little out of level; the corners it would see beyond the recording are black),
    blurred by a Gaussian of `blur` pixels (a lens out of focus, a soft webcam),
    in `dim` times less light (a room darkened for the
    projector: the signal cut to 1/dim in 8 bits with one level of sensor noise, then the camera's
    gain brings it back, so the picture has dim times the noise and 256/dim grey levels), then
    JPEG-coded at quality `jpeg` (0: not; the blocks a compressed stream adds). The labels still hold,
    since they say what the presenter does; a mirror needs its clip mirrored too (`labels.mirrored`),
    a turned or rolled frame's pose is turned back and a cut frame is matched as the whole frame it was
    cut from, before the pose is matched with the presenter box (`RecordingAnalyzer`)."""

    downscale: float = 1.0
    jpeg: int = 0
    mirror: bool = False
    turn: int = 0
    dim: float = 1.0
    cut: float = 0.0
    roll: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.blur <= 20.0:
            raise ValueError(f"--blur must be a Gaussian sigma between 0 (off) and 20 pixels, got {self.blur}")
        if not -45.0 <= self.roll <= 45.0:
            raise ValueError(f"--roll must be between -45 and 45 degrees (--turn for quarter turns), got {self.roll}")
        if not 0.0 <= self.cut <= 0.7:
            raise ValueError(f"--cut must be a share between 0 (off) and 0.7 of the frame's height, got {self.cut}")
        if not 1.0 <= self.dim <= 64.0:
            raise ValueError(f"--dim must be between 1 (off) and 64, got {self.dim}")
        if not self.downscale >= 1.0:
            raise ValueError(f"--downscale must be >= 1, got {self.downscale}")
        if not 0 <= self.jpeg <= 100:
            raise ValueError(f"--jpeg must be 0 (off) or 1..100, got {self.jpeg}")
        if self.turn not in QUARTER_TURNS:
            raise ValueError(f"--turn must be one of 0, 90, 180, 270, got {self.turn}")

    @property
    def altered(self) -> bool:
        return self != AS_RECORDED

    def describe(self) -> str:
        parts = ([f"shrunk {self.downscale:g}x"] if self.downscale > 1.0 else []) + (
            [f"bottom {self.cut:.0%} cut away"] if self.cut else []) + (
            ["mirrored"] if self.mirror else []) + ([f"turned {self.turn} degrees"] if self.turn else []) + (
            [f"rolled {self.roll:g} degrees"] if self.roll else []) + (
            [f"blurred {self.blur:g} px"] if self.blur else []) + (
            [f"{self.dim:g}x less light"] if self.dim > 1.0 else []) + (
            [f"JPEG quality {self.jpeg}"] if self.jpeg else [])
        return ", ".join(parts) or "as recorded"

    def apply(self, frame_bgr: np.ndarray) -> np.ndarray:
        if self.downscale > 1.0:
            fh, fw = frame_bgr.shape[:2]
            size = (max(1, round(fw / self.downscale)), max(1, round(fh / self.downscale)))
            frame_bgr = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        if self.cut:
            frame_bgr = frame_bgr[: max(1, round(frame_bgr.shape[0] * (1.0 - self.cut)))]
        if self.mirror:
            frame_bgr = cv2.flip(frame_bgr, 1)
        frame_bgr = turn(frame_bgr, self.turn)
        if self.roll:
            fh, fw = frame_bgr.shape[:2]
            frame_bgr = cv2.warpAffine(frame_bgr, roll_matrix(self.roll, fw, fh), (fw, fh), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT)
        if self.blur:
            frame_bgr = cv2.GaussianBlur(frame_bgr, (0, 0), self.blur)
        if self.dim > 1.0:
            frame_bgr = dimmed(frame_bgr, self.dim)
        if self.jpeg:
            ok, data = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            frame_bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return frame_bgr


AS_RECORDED = Variant()
SENSOR_NOISE = 1.0  # grey levels of noise at the sensor, before the gain (a dark scene's read and shot noise)


def dimmed(frame_bgr: np.ndarray, factor: float) -> np.ndarray:
    """The frame as a camera would give it in `factor` times less light, its gain turned up to match:
    the sensor's 8-bit signal is frame / factor plus noise, multiplied back by the factor. The noise
    is seeded by the frame's own pixels, so a run repeats exactly."""
    seed = int(frame_bgr[:: max(1, frame_bgr.shape[0] // 16), :: max(1, frame_bgr.shape[1] // 16)].sum())
    noise = np.random.default_rng(seed).normal(0.0, SENSOR_NOISE, frame_bgr.shape)
    signal = np.clip(np.rint(frame_bgr / factor + noise), 0, 255)
    return np.clip(signal * factor, 0, 255).astype(np.uint8)


def roll_matrix(degrees: float, width: int, height: int) -> np.ndarray:
    """The 2x3 affine that turns a width x height picture clockwise by `degrees` about its centre."""
    return cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), -degrees, 1.0)


def rolled_back(pose: Pose, degrees: float) -> Pose:
    """A pose found in a frame rolled clockwise by `degrees` (`roll_matrix`), in the frame's pixels before."""
    back = cv2.invertAffineTransform(roll_matrix(degrees, pose.frame_width, pose.frame_height))
    xy = pose.xy @ back[:, :2].T + back[:, 2]
    return Pose(xy.astype(np.float32), pose.scores, pose.frame_width, pose.frame_height)


def turned_back(pose: Pose, degrees: int) -> Pose:
    """A pose found in a frame turned clockwise by `degrees`, in the frame's pixels before the turn."""
    x, y = pose.xy[:, 0], pose.xy[:, 1]
    w, h = pose.frame_width, pose.frame_height  # of the turned frame
    if degrees == 90:
        xy, size = np.stack([y, w - 1 - x], axis=1), (h, w)
    elif degrees == 180:
        xy, size = np.stack([w - 1 - x, h - 1 - y], axis=1), (w, h)
    elif degrees == 270:
        xy, size = np.stack([h - 1 - y, x], axis=1), (h, w)
    else:
        return pose
    return Pose(xy.astype(np.float32), pose.scores, *size)


class RecordingAnalyzer(FrameAnalyzer):
    """The real FrameAnalyzer, remembering each result (and a thumbnail when `thumb_px` > 0)."""

    def __init__(self, cfg: Config, models: ModelSet, thumb_px: int = 0,
                 view: tuple[float, float, float, float] | None = None,
                 variant: Variant = AS_RECORDED) -> None:  # fmt: skip
        super().__init__(cfg, models)
        self.variant = variant
        self.thumb_px = thumb_px
        self.view = view  # part of the frame kept in the thumbnail (fractions x0, y0, x1, y1)
        self.records: list[AnalysedFrame] = []
        self.frame_size = (0, 0)

    def reset(self) -> None:
        super().reset()
        self.records = []

    def analyze(self, frame_bgr: np.ndarray, t: float) -> FrameResult:
        if self.variant.altered:
            frame_bgr = self.variant.apply(frame_bgr)
        result = super().analyze(frame_bgr, t)
        h, w = frame_bgr.shape[:2]
        pose = result.pose
        if self.variant.roll and pose is not None:  # undone before the quarter turn, as applied after it
            pose = rolled_back(pose, self.variant.roll)
        if self.variant.turn:  # matched with the presenter box in the frame as recorded
            pose = None if pose is None else turned_back(pose, self.variant.turn)
            w, h = (h, w) if self.variant.turn in (90, 270) else (w, h)
        if self.variant.cut:  # a cut moves no pixel: the pose is in the whole frame's coordinates
            h = round(h / (1.0 - self.variant.cut))
        self.frame_size = (w, h)
        thumb = None
        scale = 1.0
        x0 = y0 = 0
        if self.thumb_px > 0:
            vx0, vy0, vx1, vy1 = self.view or (0.0, 0.0, 1.0, 1.0)
            x0, y0 = int(vx0 * w), int(vy0 * h)
            part = frame_bgr[y0:max(y0 + 1, int(vy1 * h)), x0:max(x0 + 1, int(vx1 * w))]
            ph, pw = part.shape[:2]
            scale = self.thumb_px / max(pw, ph)
            thumb = cv2.resize(part, (max(1, round(pw * scale)), max(1, round(ph * scale))),
                               interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        self.records.append(AnalysedFrame(-1, t, result.features, pose, thumb, scale, (x0, y0),
                                          result.emotion))
        return result


def clip_config(cfg: Config, clip: Clip) -> Config:
    """The run's config with the clip's screen side (the only per-clip setting)."""
    side: Literal["left", "right"] = "right" if clip.screen_side == "right" else "left"
    return dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, screen_side=side))


def view_of(box: tuple[float, float, float, float] | None, margin: float = 0.8) -> tuple[float, float, float, float]:
    """The part of the frame a contact sheet shows: around the presenter box when there is one (a
    presenter among others is small in the full frame), else the whole frame."""
    if box is None:
        return (0.0, 0.0, 1.0, 1.0)
    bw, bh = box[2] - box[0], box[3] - box[1]
    return (max(0.0, box[0] - margin * bw), max(0.0, box[1] - 1.5 * margin * bh),
            min(1.0, box[2] + margin * bw), min(1.0, box[3] + 1.5 * margin * bh))


def run_clip(clip: Clip, cfg: Config, models: ModelSet | None = None, thumb_px: int = 0,
             variant: Variant = AS_RECORDED) -> ClipRun:  # fmt: skip
    """Analyse one clip; every analysed frame is kept with its features and pose, each frame altered
    by `variant` first (pass a mirrored clip with a mirroring variant)."""
    models = models if models is not None else load_models(cfg)
    ccfg = clip_config(cfg, clip)
    analyzer = RecordingAnalyzer(ccfg, models, thumb_px, view_of(clip.presenter_box), variant)
    indices: list[int] = []
    summary: dict[str, Any] | None = None
    error: str | None = None
    try:
        result = analyze_video(Path(clip.path), ccfg, analyzer=analyzer, progress=False,
                               on_frame=lambda index, t: indices.append(index))
        summary = result.summary
    except NoPersonError as exc:  # every frame analysed, nobody found: the frames still count
        error = str(exc)
    frames = analyzer.records
    if len(indices) == len(frames):
        for rec, index in zip(frames, indices, strict=True):
            rec.index = index
    findings = list(summary.get("feedback", [])) if summary else []
    return ClipRun(clip, frames, summary, error, analyzer.frame_size, findings)


def shoulder_centre(pose: Pose | None, min_score: float) -> tuple[float, float] | None:
    """The presenter's shoulder midpoint (or the nose, or a single shoulder) in frame pixels."""
    if pose is None:
        return None
    pts = []
    for part in (BodyPart.LEFT_SHOULDER, BodyPart.RIGHT_SHOULDER):
        if pose.scores[part] >= min_score:
            pts.append(pose.xy[part])
    if not pts and pose.scores[BodyPart.NOSE] >= min_score:
        pts.append(pose.xy[BodyPart.NOSE])
    if not pts:
        return None
    arr = np.mean(np.asarray(pts, dtype=np.float64), axis=0)
    return float(arr[0]), float(arr[1])


def on_presenter(frame: AnalysedFrame, box: tuple[float, float, float, float] | None,
                 size: tuple[int, int], min_score: float) -> bool | None:  # fmt: skip
    """Whether the analysed pose is the labelled presenter: its shoulder midpoint inside the clip's
    presenter box. True without a box (one person in view); None without a pose."""
    if frame.pose is None:
        return None
    if box is None:
        return True
    c = shoulder_centre(frame.pose, min_score)
    if c is None:
        return None
    w, h = size
    return box[0] * w <= c[0] <= box[2] * w and box[1] * h <= c[1] <= box[3] * h
