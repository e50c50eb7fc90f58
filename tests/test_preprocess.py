"""Preprocessing (edge.analysis.imaging): the runtime feeds the model exactly the calibration rule's
pixels, places every region where the keypoint mapping expects it, filters before it shrinks, and
reuses its memory."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_models import pose_source

from edge.analysis.imaging import CropRegion, ShrinkBuffers, crop_and_resize, halvings, letterbox
from edge.analysis.pose import PoseEstimator, crop_region_from_pose
from tools.quantize.calibration import augmented_views


@pytest.fixture(scope="module")
def squat_frames(videos_dir: Path) -> list[np.ndarray]:
    """Frames 0, 20 and 40 of the 720x1280 squats video (a standing, then squatting person)."""
    cap = cv2.VideoCapture(str(videos_dir / "tfjs_pose_squats.mp4"))
    frames = []
    for i in range(41):
        ok, frame = cap.read()
        assert ok, f"frame {i}"
        if i % 20 == 0:
            frames.append(frame)
    cap.release()
    return frames


@pytest.mark.parametrize("variant", ["lightning", "thunder"])
def test_the_model_sees_the_calibration_rule(variant: str, squat_frames: list[np.ndarray]) -> None:
    """What the interpreter's input tensor holds after `estimate` is, to the byte, what the int8
    calibration prepared from the same frame and region (tools.quantize.calibration), for the
    letterboxed full frame and for the tracked crops of the next frames."""
    est = PoseEstimator(pose_source(variant), threads=2)
    size = est.input_size
    region = None
    for frame in squat_frames:
        h, w = frame.shape[:2]
        pose = est.estimate(frame, region)
        seen = est.input_pixels()
        if region is None:
            calib = augmented_views(frame, size, np.random.default_rng(0), 0)[0]  # the calibration's full view
        else:
            calib = crop_and_resize(frame, region, size)
        assert seen.dtype == np.uint8 and seen.shape == (size, size, 3)
        assert np.array_equal(seen, calib), f"{variant}: region {region}"
        region = crop_region_from_pose(pose)
        assert region is not None and region.size < max(w, h)  # the next frames go through a crop


def _dot_frame(w: int, h: int, x: int, y: int, r: int = 6) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[max(0, y - r):y + r, max(0, x - r):x + r] = (0, 0, 255)  # red in BGR
    return frame


@pytest.mark.parametrize("side,expect_k", [(150, 0), (300, 0), (500, 1), (800, 2), (1400, 2), (2000, 3)])
def test_regions_are_placed_where_the_keypoint_mapping_expects(side: int, expect_k: int) -> None:
    """A red dot at frame (x, y) lands at ((x + 0.5 - x0) * s - 0.5, ...) of the output (corner-aligned,
    the inverse of edge.analysis.pose.crop_to_frame), whatever the number of 2x halvings, and is red."""
    size = 192
    assert halvings(size / side) == expect_k
    w, h = 2100, 1300
    x, y = 1000, 700
    region = CropRegion(x - side * 0.37, y - side * 0.61, side)
    out = crop_and_resize(_dot_frame(w, h, x, y, r=max(3, side // 60)), region, size, buffers=ShrinkBuffers())
    red = out[..., 0].astype(np.float64)
    assert red.max() > 60 and out[..., 2].max() == 0  # RGB: the red channel first, no blue
    ys, xs = np.indices(red.shape)
    cx, cy = (xs * red).sum() / red.sum(), (ys * red).sum() / red.sum()
    s = size / side
    # the dot covers frame pixels x-r..x+r-1: its centre is at x - 0.5
    ex, ey = (x - 0.5 + 0.5 - region.x0) * s - 0.5, (y - 0.5 + 0.5 - region.y0) * s - 0.5
    assert abs(cx - ex) < 0.35 and abs(cy - ey) < 0.35, (cx, cy, ex, ey)


def test_outside_the_frame_is_black_and_edges_off_the_block_grid_work() -> None:
    """A frame whose size is no multiple of the halving blocks (721x1283, 4x4 blocks), letterboxed:
    the bands left and right are black, the picture between them is not. The 3 rows below the last
    whole block are left out, less than half an output row: only the last output row dims."""
    frame = np.full((1283, 721, 3), 200, np.uint8)
    out = letterbox(frame, 192)
    band = (1283 - 721) / 2 * 192 / 1283  # 42 px of padding on each side
    assert out[:, : int(band) - 1].max() == 0 and out[:, -int(band) + 1:].max() == 0
    inner = out[:-1, int(band) + 2: -int(band) - 2]
    assert inner.min() >= 195
    assert out[-1, 96].min() > 100  # the dimmed last row still shows the frame
    assert crop_and_resize(frame, CropRegion(5000, 5000, 900), 192).max() == 0  # wholly outside


def test_strong_shrinking_is_filtered() -> None:
    """One-pixel stripes shrunk 6.7x come out as even grey: the 2x2 box halvings filter them first
    (a bilinear resize straight from the frame shows them as coarse bars: aliasing)."""
    frame = np.zeros((1280, 1280, 3), np.uint8)
    frame[:, ::2] = 255
    out = crop_and_resize(frame, CropRegion(0, 0, 1280), 192)
    assert abs(float(out.mean()) - 127.5) < 3 and float(out.std()) < 3
    naive = cv2.resize(frame, (192, 192), interpolation=cv2.INTER_LINEAR)
    assert float(naive.std()) > 50  # what the filter prevents


def test_buffers_and_the_output_are_reused(squat_frames: list[np.ndarray]) -> None:
    """With `out` and `ShrinkBuffers`, a stream of regions of changing size writes into the same
    memory and gives the same pixels as fresh allocations."""
    frame = squat_frames[0]
    bufs = ShrinkBuffers()
    out = np.empty((192, 192, 3), np.uint8)
    for region in (CropRegion.full_frame(720, 1280), CropRegion(100, 300, 500), CropRegion(-50, 200, 900),
                   CropRegion(200, 400, 250), CropRegion.full_frame(720, 1280)):
        got = crop_and_resize(frame, region, 192, out=out, buffers=bufs)
        assert got is out
        assert np.array_equal(got, crop_and_resize(frame, region, 192)), region
    assert np.shares_memory(bufs.view(0, 10, 10, 3), bufs.view(0, 20, 20, 3))  # one block, grown once
