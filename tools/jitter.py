"""Measure keypoint jitter as speed: how fast a still joint seems to move, raw and smoothed.

    python -m tools.jitter                      # the shared still-frame set and clips
    python -m tools.jitter --variants 60 --fps 10 --clip VIDEO:right_wrist[:START-END] ...

Two sources of "movement" that is not movement:

- MoveNet's own noise: every image of the still set (the photos in $PPT_EDGE_SHARED/data/images and
  the first frame of each shared video) is repeated `--variants` times with what a still camera adds
  between two frames (sensor noise, sigma 2 grey levels; a sub-pixel shift, up to 0.5 px) and run
  through the real int8 MoveNet with crop tracking, as a stream at `--fps`;
- a joint at rest in a real clip (`--clip VIDEO:JOINT[:START-END]`, seconds), by default the seated
  presenter's right hand resting on her knee in seated/raga_3people_seated.mp4; the waving hands of
  slp_webcam_test_video.mp4 are printed beside it for contrast.

For each source: the speed of each seen wrist (or the given joint) relative to the shoulder midpoint,
in shoulder widths per second, from raw keypoints and from the One Euro-smoothed ones the features
use (`edge.analysis.motion`, config `features.smooth_*`). The gesture threshold
(`features.gesture_speed_min`) must lie above the still joints' speeds. Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.analysis.body import seen_masks
from edge.analysis.keypoints import BodyPart, Pose
from edge.analysis.models import load_models
from edge.analysis.motion import JointSpeeds, KeypointSmoother
from edge.analysis.pose import CropTracker, PoseEstimator
from edge.analyze import FrameSampler, open_video
from edge.config import Config, FeaturesConfig

logger = logging.getLogger(__name__)

NO_SMOOTHING = 1e9  # a cutoff this high makes the One Euro filter pass every sample through
QUANTILES = (50, 90, 95, 99)
WRISTS = ("left_wrist", "right_wrist")


@dataclass
class Speeds:
    """Speeds of one source, raw and smoothed (sw/s)."""

    raw: list[float] = field(default_factory=list)
    smooth: list[float] = field(default_factory=list)

    def row(self, name: str) -> str:
        def stats(v: list[float]) -> str:
            if not v:
                return "   (none)" + " " * 27
            q = np.percentile(v, QUANTILES)
            return " ".join(f"{x:5.2f}" for x in q) + f" {max(v):5.2f}"

        return f"{name:<38} {len(self.raw):5d}  {stats(self.raw)}  | {stats(self.smooth)}"


class SpeedMeter:
    """Raw and smoothed per-joint speeds of a pose stream, with the features' own filter and speeds."""

    def __init__(self, features: FeaturesConfig, min_score: float) -> None:
        self.min_score = max(min_score, features.motion_min_score)
        gap = features.max_gap_s
        self._raw = (KeypointSmoother(NO_SMOOTHING, 0.0, gap), JointSpeeds())
        self._smooth = (KeypointSmoother(features.smooth_min_cutoff_hz, features.smooth_beta, gap), JointSpeeds())
        self.gap = gap

    def update(self, pose: Pose, t: float) -> tuple[list[float | None], list[float | None]]:
        """(raw, smoothed) speeds of [left wrist, right wrist, left elbow, right elbow]."""
        seen = seen_masks(pose, self.min_score)[0]
        ls, rs = BodyPart.LEFT_SHOULDER, BodyPart.RIGHT_SHOULDER
        scale = float(np.hypot(*(pose.xy[ls] - pose.xy[rs]))) if seen[ls] and seen[rs] else None
        out = []
        for smoother, speeds in (self._raw, self._smooth):
            smoother.update(pose.xy, pose.scores, seen, t, scale)
            wr, el = speeds.update(smoother, t, scale, self.gap)
            out.append(wr + el)
        return out[0], out[1]


def _index(joint: str) -> int:
    return ("left_wrist", "right_wrist", "left_elbow", "right_elbow").index(joint)


def still_set(shared: Path) -> list[tuple[str, np.ndarray]]:
    """The still images: the shared photos and the first frame of each shared video."""
    out: list[tuple[str, np.ndarray]] = []
    for p in sorted((shared / "data" / "images").glob("*")):
        img = cv2.imread(str(p))
        if img is not None:
            out.append((p.name, img))
    for p in sorted((shared / "data" / "videos").rglob("*.mp4")):
        cap = cv2.VideoCapture(str(p))
        ok, frame = cap.read()
        cap.release()
        if ok and frame is not None:
            out.append((p.name + "#0", frame))
    return out


SCORE_BINS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.01)


def score_table(pairs: list[tuple[float, float]]) -> list[str]:
    """Per-frame displacement of every keypoint on the still set, by the lower score of the two frames."""
    a = np.array(pairs) if pairs else np.zeros((0, 2))
    lines = [f"{'keypoint score':<16} {'n':>6}  displacement between near-identical frames (sw): p50 p90 p95 p99"]
    for lo, hi in zip(SCORE_BINS[:-1], SCORE_BINS[1:], strict=True):
        m = (a[:, 0] >= lo) & (a[:, 0] < hi)
        if m.any():
            q = np.percentile(a[m, 1], QUANTILES)
            label = f"{lo:.1f}..{min(hi, 1.0):.1f}"
            lines.append(f"{label:<16} {int(m.sum()):6d}  " + " ".join(f"{x:6.3f}" for x in q))
    return lines


def measure_still(est: PoseEstimator, cfg: Config, images: list[tuple[str, np.ndarray]], variants: int,
                  fps: float, seed: int = 0,
                  by_score: list[tuple[float, float]] | None = None) -> dict[str, Speeds]:  # fmt: skip
    """Speeds of the wrists on `variants` near-identical copies of each image, streamed at `fps`;
    `by_score` collects (score, displacement in sw) of every keypoint between consecutive copies."""
    rng = np.random.default_rng(seed)
    out: dict[str, Speeds] = {}
    for name, img in images:
        h, w = img.shape[:2]
        tracker = CropTracker(enabled=cfg.analysis.crop_tracking)
        meter = SpeedMeter(cfg.features, cfg.analysis.min_keypoint_score)
        sp = out.setdefault(name, Speeds())
        base = img.astype(np.float32)
        for i in range(variants):
            dx, dy = rng.uniform(-0.5, 0.5, 2)
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            shifted = cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            frame = np.clip(shifted + rng.normal(0.0, 2.0, shifted.shape), 0, 255).astype(np.uint8)
            pose = est.estimate(frame, tracker.region(w, h))
            tracker.update(pose)
            if i < 3:  # let the crop settle on the person first
                prev = pose
                continue
            sw = float(np.hypot(*(pose.xy[5] - pose.xy[6])))
            if by_score is not None and sw > 1.0:
                disp = np.hypot(*(pose.xy - prev.xy).T) / sw
                by_score += list(zip(np.minimum(pose.scores, prev.scores).tolist(), disp.tolist(), strict=True))
            prev = pose
            raw, smooth = meter.update(pose, i / fps)
            for j in (0, 1):
                if raw[j] is not None and smooth[j] is not None:
                    sp.raw.append(raw[j])
                    sp.smooth.append(smooth[j])
    return out


def measure_clip(est: PoseEstimator, cfg: Config, video: Path, joints: tuple[str, ...], start: float,
                 end: float, fps: float) -> Speeds:  # fmt: skip
    """Speeds of `joints` in a clip between `start` and `end` seconds, sampled at `fps`."""
    cap, info = open_video(video)
    tracker = CropTracker(enabled=cfg.analysis.crop_tracking)
    meter = SpeedMeter(cfg.features, cfg.analysis.min_keypoint_score)
    sp = Speeds()
    idx = [_index(j) for j in joints]
    try:
        for _i, t, frame in FrameSampler(cap, info, fps):
            h, w = frame.shape[:2]
            pose = est.estimate(frame, tracker.region(w, h))
            tracker.update(pose)
            raw, smooth = meter.update(pose, t)
            if not start <= t <= end:
                continue
            for j in idx:
                if raw[j] is not None and smooth[j] is not None:
                    sp.raw.append(raw[j])
                    sp.smooth.append(smooth[j])
    finally:
        cap.release()
    return sp


def _parse_clip(spec: str, shared: Path) -> tuple[Path, tuple[str, ...], float, float]:
    parts = spec.split(":")
    path = Path(parts[0])
    if not path.is_absolute() and not path.exists():
        path = shared / "data" / "videos" / parts[0]
    joints = tuple(parts[1].split("+")) if len(parts) > 1 and parts[1] else WRISTS
    for j in joints:
        _index(j)  # ValueError names a bad joint
    start, end = 0.0, float("inf")
    if len(parts) > 2:
        a, _, b = parts[2].partition("-")
        start, end = float(a or 0.0), float(b or "inf")
    return path, joints, start, end


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.jitter", description=__doc__.split("\n\n")[0])
    ap.add_argument("--fps", type=float, default=None, help="stream rate (default: analysis.fps)")
    ap.add_argument("--variants", type=int, default=40, help="near-identical copies of each still image")
    ap.add_argument("--clip", action="append", default=None,
                    help="VIDEO:JOINT[+JOINT][:START-END]; default: the resting hand and the waving clip")
    ap.add_argument("--motion-min-score", type=float, default=None,
                    help="score a keypoint needs to count in speeds (default: features.motion_min_score)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    shared = Path(os.environ.get("PPT_EDGE_SHARED", "../shared"))
    if not (shared / "data").is_dir():
        print(f"shared data not found under {shared} (set PPT_EDGE_SHARED)", file=sys.stderr)
        return 2
    cfg = Config()
    if args.motion_min_score is not None:
        cfg = dataclasses.replace(
            cfg, features=dataclasses.replace(cfg.features, motion_min_score=args.motion_min_score)
        )
    fps = args.fps or cfg.analysis.fps
    est = PoseEstimator(load_models(cfg).pose.path, args.threads)
    clips = args.clip or [
        "seated/raga_3people_seated.mp4:right_wrist",
        "slp_webcam_test_video.mp4:left_wrist+right_wrist",
    ]
    f = cfg.features
    print(f"keypoint speed (sw/s) at {fps:g} fps; keypoints scoring >= {f.motion_min_score:g}; smoothing: One "
          f"Euro min_cutoff {f.smooth_min_cutoff_hz:g} Hz, beta {f.smooth_beta:g}; gesture threshold now "
          f"{f.gesture_speed_min:g} sw/s")
    head = " ".join(f"  p{q:<3d}" for q in QUANTILES) + "   max"
    print(f"{'source':<38} {'n':>5}  {head} | {head}")
    print(f"{'':<38} {'':>5}  {'raw':^35}   {'smoothed':^35}")
    pairs: list[tuple[float, float]] = []
    still = measure_still(est, cfg, still_set(shared), args.variants, fps, by_score=pairs)
    total = Speeds()
    for sp in still.values():
        total.raw += sp.raw
        total.smooth += sp.smooth
    print(total.row(f"still set, all wrists ({len(still)} images)"))
    for spec in clips:
        path, joints, start, end = _parse_clip(spec, shared)
        sp = measure_clip(est, cfg, path, joints, start, end, fps)
        print(sp.row(f"{path.name}:{'+'.join(joints)}"[:38]))
    print()
    print("\n".join(score_table(pairs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
