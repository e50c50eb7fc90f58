"""Micro-benchmark of the per-frame work after the pose model: features and statistics.

    python -m tools.featurebench [--passes 20] [VIDEO ...]

The pose model runs once over each video (default: the shared clips) at `analysis.fps`; the poses
are kept and then fed `--passes` times through a fresh `FeatureExtractor` and `SessionStats`, with a
head reading every third frame (as the face stage would give one) so that both head paths run.
Printed per analysed frame: the mean of each pass, as median and minimum over the passes (the
minimum is the figure least disturbed by other work on the machine), and p50/p99 over all frames.
`ppt-edge bench` shows the same two stages inside the full pipeline (with the interpreter's cache
effects); this isolates them. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from edge.analysis.features import FeatureExtractor
from edge.analysis.headpose import HeadReading
from edge.analysis.keypoints import Pose
from edge.analysis.models import load_models
from edge.analysis.pose import CropTracker, PoseEstimator
from edge.analyze import FrameSampler, open_video
from edge.config import Config
from edge.session.stats import SessionStats

logger = logging.getLogger(__name__)

DEFAULT_VIDEOS = ("seated/raga_3people_seated.mp4", "slp_webcam_test_video.mp4", "tfjs_pose_squats.mp4")


def record_poses(cfg: Config, videos: list[Path], threads: int) -> list[tuple[float, Pose]]:
    """The poses of every analysed frame, with video times laid end to end (one long session)."""
    est = PoseEstimator(load_models(cfg).pose.path, threads)
    out: list[tuple[float, Pose]] = []
    offset = 0.0
    for video in videos:
        cap, info = open_video(video)
        tracker = CropTracker(enabled=cfg.analysis.crop_tracking)
        last = 0.0
        try:
            for _i, t, frame in FrameSampler(cap, info, cfg.analysis.fps):
                h, w = frame.shape[:2]
                pose = est.estimate(frame, tracker.region(w, h))
                tracker.update(pose)
                out.append((offset + t, pose))
                last = t
        finally:
            cap.release()
        offset += last + 2.0  # a gap between clips, as between two presenters
    return out


def run_pass(cfg: Config, poses: list[tuple[float, Pose]], t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds per frame of features and of statistics over one pass."""
    ex = FeatureExtractor(cfg.features, cfg.analysis)
    stats = SessionStats(t0, bin_s=cfg.session.bin_s, max_bins=cfg.session.max_bins)
    feat_ms = np.empty(len(poses))
    stat_ms = np.empty(len(poses))
    clock = time.perf_counter
    head: HeadReading | None = None
    for i, (t, pose) in enumerate(poses):
        tt = t0 + t
        if i % 3 == 0:
            head = HeadReading(t=tt, yaw_deg=5.0, pitch_deg=8.0, roll_deg=0.0, gaze_yaw_deg=0.0,
                               gaze_pitch_deg=4.0, face_px=90.0, score=0.9)  # fmt: skip
        a = clock()
        f = ex.update(pose, tt, head=head)
        b = clock()
        stats.add_frame(tt, f)
        c = clock()
        feat_ms[i] = (b - a) * 1000.0
        stat_ms[i] = (c - b) * 1000.0
    return feat_ms, stat_ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.featurebench", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="*", type=Path, help="recordings (default: the shared clips)")
    ap.add_argument("--passes", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    shared = Path(os.environ.get("PPT_EDGE_SHARED", "../shared")) / "data" / "videos"
    videos = args.videos or [shared / v for v in DEFAULT_VIDEOS]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"video not found: {', '.join(missing)} (set PPT_EDGE_SHARED or name the videos)", file=sys.stderr)
        return 2
    cfg = Config()
    poses = record_poses(cfg, videos, args.threads)
    span = poses[-1][0] + 10.0
    run_pass(cfg, poses, 0.0)  # warm up
    means_f, means_s, all_f, all_s = [], [], [], []
    for k in range(args.passes):
        f, s = run_pass(cfg, poses, (k + 1) * span)
        means_f.append(f.mean())
        means_s.append(s.mean())
        all_f.append(f)
        all_s.append(s)
    cat_f, cat_s = np.concatenate(all_f), np.concatenate(all_s)
    print(f"{len(poses)} analysed frames from {len(videos)} video(s), {args.passes} passes")
    print(f"{'ms per frame':<12} {'median':>8} {'min':>8} {'p50':>8} {'p99':>8}")
    for name, means, cat in (("features", means_f, cat_f), ("statistics", means_s, cat_s),
                             ("both", np.add(means_f, means_s), cat_f + cat_s)):  # fmt: skip
        print(f"{name:<12} {np.median(means):8.3f} {np.min(means):8.3f} {np.percentile(cat, 50):8.3f} "
              f"{np.percentile(cat, 99):8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
