"""Calibration and evaluation images: real photos and video frames, prepared as the runtime does."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from edge.analysis.imaging import CropRegion, crop_and_resize
from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def read_video_frames(path: Path, every: int = 1, limit: int | None = None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"{path}: OpenCV cannot open this video")
    frames: list[np.ndarray] = []
    i = 0
    try:
        while limit is None or len(frames) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames.append(frame)
            i += 1
    finally:
        cap.release()
    if not frames:
        raise SourceError(f"{path}: no frame could be decoded")
    return frames


def read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SourceError(f"{path}: not a readable image")
    return img


def collect_frames(paths: Iterable[Path], video_every: int = 3) -> list[tuple[str, np.ndarray]]:
    """BGR frames from image files, video files and folders of either, named for reports."""
    out: list[tuple[str, np.ndarray]] = []
    for path in paths:
        if path.is_dir():
            out.extend(collect_frames(sorted(p for p in path.iterdir() if p.is_file()), video_every))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            out.append((path.name, read_image(path)))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            frames = read_video_frames(path, every=video_every)
            out.extend((f"{path.name}#{i * video_every}", f) for i, f in enumerate(frames))
        elif not path.exists():
            raise SourceError(f"{path}: calibration/evaluation input not found")
    return out


def augmented_views(frame: np.ndarray, size: int, rng: np.random.Generator, n: int,
                    photometric: bool = False) -> list[np.ndarray]:
    """The full letterboxed frame plus `n` varied views: zoomed crops (as crop tracking feeds the
    model), mirror images and light changes, so that calibration ranges cover what a camera sees."""
    h, w = frame.shape[:2]
    views = [crop_and_resize(frame, CropRegion.full_frame(w, h), size)]
    for _ in range(n):
        side = max(h, w) * rng.uniform(0.45, 1.15)
        cx = w / 2 + rng.uniform(-0.2, 0.2) * w
        cy = h / 2 + rng.uniform(-0.2, 0.2) * h
        img = frame[:, ::-1] if rng.random() < 0.5 else frame
        view = crop_and_resize(np.ascontiguousarray(img), CropRegion(cx - side / 2, cy - side / 2, side), size)
        if photometric:
            gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-20, 20)
            view = np.clip(view.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
        views.append(view)
    return views


def calibration_set(paths: Iterable[Path], size: int, views_per_frame: int = 3, seed: int = 0,
                    video_every: int = 3, photometric: bool = False) -> np.ndarray:
    """N×size×size×3 uint8 RGB model inputs for post-training quantization."""
    rng = np.random.default_rng(seed)
    frames = collect_frames(paths, video_every=video_every)
    if not frames:
        raise SourceError("calibration set is empty: give --calib folders with images or videos of people")
    batch = [v for _, f in frames for v in augmented_views(f, size, rng, views_per_frame, photometric)]
    logger.info("calibration: %d frames → %d model inputs of %d×%d", len(frames), len(batch), size, size)
    return np.stack(batch)
