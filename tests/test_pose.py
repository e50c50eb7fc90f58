"""The MoveNet wrapper: golden keypoints on real photos (positions checked by eye, see
golden_keypoints.json), colour order, the crop-to-frame mapping, and crop-region tracking on
hand-made poses and on a real video."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_models import pose_source

from edge.analysis.body import is_present
from edge.analysis.imaging import CropRegion, crop_and_resize
from edge.analysis.inference import quantize_input
from edge.analysis.keypoints import KEYPOINT_NAMES, Pose
from edge.analysis.keypoints import BodyPart as B
from edge.analysis.pose import (
    BODY_EXPANSION,
    CropTracker,
    PoseEstimator,
    crop_region_from_pose,
)

GOLDEN = json.loads((Path(__file__).parent / "golden_keypoints.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    return PoseEstimator(pose_source(), threads=2)


@pytest.fixture(scope="module", params=["lightning", "thunder"])
def any_estimator(request: pytest.FixtureRequest) -> PoseEstimator:
    return PoseEstimator(pose_source(request.param), threads=2)


def _check_golden(pose: Pose, image: str, expected: dict[str, list[int]], tol: float) -> None:
    """Every listed joint within `tol` pixels; the failure names the image and each joint missed."""
    misses = []
    for name, (x, y) in expected.items():
        i = KEYPOINT_NAMES.index(name)
        d = float(np.hypot(pose.xy[i, 0] - x, pose.xy[i, 1] - y))
        if d > tol:
            misses.append(f"{name} at ({pose.xy[i, 0]:.0f}, {pose.xy[i, 1]:.0f}) is {d:.0f} px from "
                          f"({x}, {y}) (tolerance {tol:g} px, score {pose.scores[i]:.2f})")
    assert not misses, f"{image}: " + "; ".join(misses)


@pytest.mark.parametrize("image", sorted(GOLDEN["images"]))
def test_golden_full_frame(any_estimator: PoseEstimator, images_dir: Path, image: str) -> None:
    spec = GOLDEN["images"][image]
    frame = cv2.imread(str(images_dir / image))
    assert frame is not None, image
    pose = any_estimator.estimate(frame)
    assert (pose.frame_width, pose.frame_height) == (frame.shape[1], frame.shape[0])
    tol = spec.get("full_frame_tolerance_px", spec["tolerance_px"])
    _check_golden(pose, image, spec["keypoints"], tol)


@pytest.mark.parametrize("image", sorted(GOLDEN["images"]))
def test_golden_tracked(any_estimator: PoseEstimator, images_dir: Path, image: str) -> None:
    """The second frame of a still video: the crop from the first pass, mapped back to the frame."""
    spec = GOLDEN["images"][image]
    frame = cv2.imread(str(images_dir / image))
    first = any_estimator.estimate(frame)
    region = crop_region_from_pose(first)
    pose = any_estimator.estimate(frame, region)
    _check_golden(pose, image, spec["keypoints"], spec["tolerance_px"])


def test_crop_mapping_back_to_frame(estimator: PoseEstimator, images_dir: Path) -> None:
    """An image pasted into a larger canvas, estimated through a crop of exactly the image: the
    keypoints come back where the image's own keypoints are, shifted by the paste offset."""
    image = "tfjs_pose.jpg"
    spec = GOLDEN["images"][image]
    frame = cv2.imread(str(images_dir / image))
    h, w = frame.shape[:2]
    ox, oy = 300, 180
    canvas = np.zeros((h + 2 * oy, w + 2 * ox, 3), np.uint8)
    canvas[oy:oy + h, ox:ox + w] = frame
    side = max(w, h)
    region = CropRegion(ox - (side - w) / 2, oy - (side - h) / 2, side)
    pose = estimator.estimate(canvas, region)
    shifted = {k: [x + ox, y + oy] for k, (x, y) in spec["keypoints"].items()}
    _check_golden(pose, f"{image} in a canvas", shifted, spec["tolerance_px"])


def test_frames_go_in_as_rgb(estimator: PoseEstimator) -> None:
    """OpenCV frames are BGR; MoveNet wants RGB: pure blue in the frame is the last input channel."""
    blue = np.zeros((480, 640, 3), np.uint8)
    blue[..., 0] = 255  # B of BGR
    estimator.estimate(blue)
    inp = estimator.input_pixels()
    centre = inp[estimator.input_size // 2, estimator.input_size // 2]
    assert centre.tolist() == [0, 0, 255]
    small = np.zeros((100, 100, 3), np.uint8)
    small[..., 2] = 200  # R of BGR, through the zoomed (scale >= 0.5) path
    assert crop_and_resize(small, CropRegion(0, 0, 100), 192)[96, 96].tolist() == [200, 0, 0]


def test_crops_are_scaled() -> None:
    """A horizontal ramp cut at x 50..250 spans 40..199 after resizing to 192, through the zoomed
    (scale >= 0.5) and the area-shrinking path alike. (edge.analysis.imaging once left the scale out of the
    zoomed path, which broke crop tracking.)"""
    ramp = np.zeros((400, 300, 3), np.uint8)
    ramp[..., 0] = (np.arange(300) * 0.8).astype(np.uint8)[None, :]
    out = crop_and_resize(ramp, CropRegion(50, 60, 200), 192)  # scale 0.96
    assert abs(int(out[10, 0, 2]) - 40) <= 2 and abs(int(out[10, -1, 2]) - 199) <= 2
    big = cv2.resize(ramp, (1200, 1600), interpolation=cv2.INTER_LINEAR)
    out = crop_and_resize(big, CropRegion(200, 240, 800), 192)  # scale 0.24
    assert abs(int(out[10, 0, 2]) - 40) <= 3 and abs(int(out[10, -1, 2]) - 199) <= 3


def test_quantize_input_follows_the_model_details() -> None:
    rgb = np.array([[[0, 128, 255]]], np.uint8)
    out = np.empty((1, 1, 1, 3), np.int8)
    quantize_input(rgb, {"dtype": np.int8, "quantization": (1.0, -128)}, out)
    assert out.ravel().tolist() == [-128, 0, 127]
    out_u = np.empty((1, 1, 1, 3), np.uint8)
    quantize_input(rgb, {"dtype": np.uint8, "quantization": (2.0, 10)}, out_u)
    assert out_u.ravel().tolist() == [10, 74, 138]
    out_f = np.empty((1, 1, 1, 3), np.float32)
    quantize_input(rgb, {"dtype": np.float32, "quantization": (0.0, 0)}, out_f)
    assert out_f.ravel().tolist() == [0.0, 128.0, 255.0]


# --- crop region on hand-made poses -------------------------------------------------------------

W, H = 1280, 720
STANDING = {  # a presenter 400 px tall in a 1280x720 frame, facing the camera
    B.NOSE: (640, 200), B.LEFT_EYE: (650, 190), B.RIGHT_EYE: (630, 190), B.LEFT_EAR: (662, 196),
    B.RIGHT_EAR: (618, 196), B.LEFT_SHOULDER: (690, 250), B.RIGHT_SHOULDER: (590, 250),
    B.LEFT_ELBOW: (705, 330), B.RIGHT_ELBOW: (575, 330), B.LEFT_WRIST: (710, 400),
    B.RIGHT_WRIST: (570, 400), B.LEFT_HIP: (670, 400), B.RIGHT_HIP: (610, 400),
    B.LEFT_KNEE: (670, 500), B.RIGHT_KNEE: (610, 500), B.LEFT_ANKLE: (670, 590), B.RIGHT_ANKLE: (610, 590),
}


def make_pose(points: dict[B, tuple[float, float]], score: float = 0.8, w: int = W, h: int = H,
              low: tuple[B, ...] = ()) -> Pose:
    xy = np.zeros((17, 2), np.float32)
    scores = np.full(17, score, np.float32)
    for part, (x, y) in points.items():
        xy[part] = (x, y)
    for part in low:
        scores[part] = 0.05
    return Pose(xy, scores, w, h)


def test_crop_region_centres_on_hips_and_holds_the_body() -> None:
    pose = make_pose(STANDING)
    r = crop_region_from_pose(pose)
    assert r is not None
    cx, cy = r.x0 + r.size / 2, r.y0 + r.size / 2
    assert (cx, cy) == pytest.approx((640, 400))
    # half side: 1.2 x the farthest keypoint from the hips (the nose, 200 px above) -> 240 px
    assert r.size / 2 == pytest.approx(max(1.9 * 150, BODY_EXPANSION * 200))
    inside = (pose.xy[:, 0] > r.x0) & (pose.xy[:, 0] < r.x0 + r.size)
    inside &= (pose.xy[:, 1] > r.y0) & (pose.xy[:, 1] < r.y0 + r.size)
    assert inside.all()


def test_crop_region_measures_every_body_keypoint() -> None:
    """A wrist raised far above the head widens the crop. (The TensorFlow Raspberry Pi example
    measured a stale loop variable, the last torso joint, instead of each keypoint.)"""
    raised = dict(STANDING)
    raised[B.LEFT_WRIST] = (720, 60)  # 340 px above the hips
    r = crop_region_from_pose(make_pose(raised))
    assert r is not None
    assert r.size / 2 == pytest.approx(BODY_EXPANSION * 340)
    assert r.y0 < 60


def test_crop_region_ignores_unsure_keypoints() -> None:
    raised = dict(STANDING)
    raised[B.LEFT_WRIST] = (720, 60)
    r = crop_region_from_pose(make_pose(raised, low=(B.LEFT_WRIST,)))
    assert r is not None and r.size / 2 == pytest.approx(1.9 * 150)  # back to the torso's extent


def test_crop_region_falls_back_to_full_frame() -> None:
    no_hips = make_pose(STANDING, low=(B.LEFT_HIP, B.RIGHT_HIP))
    assert crop_region_from_pose(no_hips) is None
    no_shoulders = make_pose(STANDING, low=(B.LEFT_SHOULDER, B.RIGHT_SHOULDER))
    assert crop_region_from_pose(no_shoulders) is None
    # a body filling the frame: the square is limited to the farthest frame edge from the hips
    huge = {p: ((x - 640) * 3 + 640, (y - 400) * 3 + 400) for p, (x, y) in STANDING.items()}
    r = crop_region_from_pose(make_pose(huge))
    assert r is None or r.size <= W
    # hips beyond the frame's edge and a large body: the square would be larger than the frame
    off = {p: ((x - 640) * 3 - 100, (y - 400) * 3 + 400) for p, (x, y) in STANDING.items()}
    assert crop_region_from_pose(make_pose(off)) is None


def test_crop_region_mirrors_with_the_pose() -> None:
    pose = make_pose({p: (x + 200, y) for p, (x, y) in STANDING.items()})
    r, rm = crop_region_from_pose(pose), crop_region_from_pose(pose.mirrored())
    assert r is not None and rm is not None
    assert rm.size == pytest.approx(r.size)
    assert rm.x0 + rm.size / 2 == pytest.approx((W - 1) - (r.x0 + r.size / 2))


def test_crop_tracker_lost_reset_and_new_frame_size() -> None:
    trk = CropTracker(enabled=True)
    assert trk.region(W, H) is None  # the first frame is the full frame
    trk.update(make_pose(STANDING))
    assert trk.region(W, H) is not None
    assert trk.region(640, 480) is None  # a frame of another size: start over
    trk.update(None)  # the presenter is gone
    assert trk.region(W, H) is None
    trk.update(make_pose(STANDING))
    trk.reset()
    assert trk.region(W, H) is None
    off = CropTracker(enabled=False)
    off.update(make_pose(STANDING))
    assert off.region(W, H) is None


# --- crop tracking on a real video -------------------------------------------------------------


def _video_frames(path: Path, limit: int = 80) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_crop_tracking_on_a_real_video(estimator: PoseEstimator, videos_dir: Path) -> None:
    """On the squats recording (a whole body in a 720x1280 portrait frame) tracking engages after the
    first frame, keeps the body inside its crop, and the model is surer of what it sees than on the
    letterboxed full frame (measured: mean score of the keypoints it finds 0.74 against 0.62)."""
    frames = _video_frames(videos_dir / "tfjs_pose_squats.mp4")
    assert len(frames) > 30
    trk = CropTracker(enabled=True)
    tracked_scores, full_scores, crops = [], [], 0
    for frame in frames:
        h, w = frame.shape[:2]
        region = trk.region(w, h)
        crops += region is not None
        pose = estimator.estimate(frame, region)
        present = is_present(pose, 0.3, 5)
        trk.update(pose if present else None)
        assert present
        if region is not None:
            seen = pose.scores >= 0.3
            xs, ys = pose.xy[seen, 0], pose.xy[seen, 1]
            assert (xs >= region.x0).all() and (xs <= region.x0 + region.size).all()
            assert (ys >= region.y0).all() and (ys <= region.y0 + region.size).all()
        tracked_scores.append(float(pose.scores.mean()))
        full_scores.append(float(estimator.estimate(frame).scores.mean()))
    assert crops >= len(frames) - 2
    assert np.mean(tracked_scores) > np.mean(full_scores)
