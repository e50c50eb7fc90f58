"""The face stage on real frames through the real interpreter: MediaPipe's landmark and iris models on
the face box the pose gives, and head angles from them (`python -m tools.quantize face` and the shipped
models' agreement with the sources: tests/test_quantize_face.py)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_models import face_sources, pose_source

from edge.analysis.face import SquareRoi, face_box, landmark_roi
from edge.analysis.facecheck import FaceCheck
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceMesh, roi_from_landmarks
from edge.analysis.pose import PoseEstimator

MIN = 0.3


@pytest.fixture(scope="module")
def pose() -> PoseEstimator:
    return PoseEstimator(pose_source(), threads=2)


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    faces = face_sources()
    if len(faces) != 2:
        pytest.skip("no face models in models/quantized (python -m tools.quantize face ...)")
    return FaceMesh(faces["face_landmark"], faces["iris"], threads=2)


@pytest.fixture(scope="module")
def check(mesh: FaceMesh) -> FaceCheck:
    return FaceCheck(mesh, None, MIN, min_face_px=40, min_landmark_px=48)


def _frames(path: Path, every: int, limit: int | None = None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while limit is None or len(out) < limit:
        ok, f = cap.read()
        if not ok:
            break
        if i % every == 0:
            out.append(f)
        i += 1
    cap.release()
    return out


def test_grace_hopper_faces_the_camera(images_dir: Path, pose: PoseEstimator, mesh: FaceMesh,
                                       check: FaceCheck) -> None:
    img = cv2.imread(str(images_dir / "coral_grace_hopper.bmp"))
    p = pose.estimate(img)
    box = face_box(p, MIN)
    assert box is not None and box.size > 150
    lm = mesh.landmarks(img, landmark_roi(box))
    assert lm.score > 0.9 and lm.points.shape == (468, 3)
    # the landmarks sit on the face the keypoints saw: nose tip next to MoveNet's nose
    assert np.hypot(*(lm.points[1, :2] - p.xy[0])) < 0.15 * box.size
    r = check.run(img, p, 0.0, head=True, emotion=False)
    assert r.head is not None and r.landmarks is not None
    assert abs(r.head.yaw_deg) < 10 and abs(r.head.pitch_deg) < 15 and abs(r.head.roll_deg) < 10
    assert r.head.gaze_yaw_deg is not None and abs(r.head.gaze_yaw_deg) < 15
    assert r.head.gaze_pitch_deg is not None and abs(r.head.gaze_pitch_deg) < 15
    # the reading comes from the second, tracked region: tighter around the face than the keypoint box
    assert r.head.face_px == pytest.approx(r.landmarks.roi.side) and r.face_ms > 0
    assert r.landmarks.roi == roi_from_landmarks(lm.points) and r.landmarks.roi.side < lm.roi.side
    eyes = mesh.eyes(img, lm)
    assert eyes is not None
    for e in eyes:  # each iris between its eye's corners, a plausible size
        assert e.corners[0, 0] < e.iris[0] < e.corners[1, 0]
        assert 0.1 < e.iris_radius / np.hypot(*(e.corners[1] - e.corners[0])) < 0.5


def test_no_face_in_a_crop_of_background(images_dir: Path, mesh: FaceMesh) -> None:
    img = cv2.imread(str(images_dir / "coral_grace_hopper.bmp"))
    assert mesh.landmarks(img, SquareRoi(60.0, 60.0, 100.0)).score < MIN_FACE_SCORE  # the flag, no face


def test_squats_woman_turns_her_head_to_her_own_left(videos_dir: Path, pose: PoseEstimator,
                                                     check: FaceCheck) -> None:
    """She keeps her head turned about 30 degrees to her own left (+ yaw) throughout the clip."""
    yaws = []
    for f in _frames(videos_dir / "tfjs_pose_squats.mp4", every=4):
        r = check.run(f, pose.estimate(f), 0.0, head=True, emotion=False)
        if r.head is not None:
            yaws.append(r.head.yaw_deg)
    assert len(yaws) >= 12
    assert 20 < float(np.median(yaws)) < 40
    assert sum(y > 15 for y in yaws) >= 0.9 * len(yaws)


def test_seated_woman_looks_down(videos_dir: Path, pose: PoseEstimator, check: FaceCheck) -> None:
    """The centre woman of the seated clip has her head lowered toward her lap in the first seconds."""
    pitches = []
    for f in _frames(videos_dir / "seated" / "raga_3people_seated.mp4", every=10, limit=8):
        r = check.run(f, pose.estimate(f), 0.0, head=True, emotion=False)
        if r.head is not None:
            pitches.append(r.head.pitch_deg + (r.head.gaze_pitch_deg or 0.0))
    assert len(pitches) >= 5
    assert float(np.median(pitches)) > 20


def test_small_faces_give_no_reading(images_dir: Path, pose: PoseEstimator, mesh: FaceMesh) -> None:
    """Below the minimum size the check reads no head (the features fall back on the keypoints)."""
    img = cv2.imread(str(images_dir / "coral_grace_hopper.bmp"))
    p = pose.estimate(img)
    box = face_box(p, MIN)
    assert box is not None
    strict = FaceCheck(mesh, None, MIN, min_face_px=40, min_landmark_px=int(box.size) + 1)
    r = strict.run(img, p, 0.0, head=True, emotion=False)
    assert r.head is None and r.landmarks is None and r.face_ms == 0.0


def test_tracked_region_is_mediapipes_box_of_the_landmarks() -> None:
    """1.5x the long side of the landmarks' tight box in the face's own frame (eye line from 33 to 263),
    around its centre: a face rotated by 30 degrees gives the same region, rotated."""
    rng = np.random.default_rng(3)
    pts = np.zeros((468, 3))
    pts[:, 0] = rng.uniform(-40, 40, 468)  # 80 wide
    pts[:, 1] = rng.uniform(-50, 70, 468)  # 120 tall, centre 10 below the origin
    pts[[0, 1], :2] = [[-40, -50], [40, 70]]  # the extremes, so the box is exact
    pts[33, :2], pts[263, :2] = (-20, 0), (20, 0)
    upright = roi_from_landmarks(pts)
    assert (upright.cx, upright.cy, upright.side, upright.angle) == pytest.approx((0, 10, 180, 0))
    a = math.radians(30)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    turned = pts.copy()
    turned[:, :2] = pts[:, :2] @ rot.T + (300, 200)
    r = roi_from_landmarks(turned)
    cx, cy = rot @ (0, 10) + (300, 200)
    assert (r.cx, r.cy, r.side, r.angle) == pytest.approx((cx, cy, 180, a))


def test_a_batched_iris_model_reads_both_eyes_as_single_invokes_do(shared_dir: Path, images_dir: Path,
                                                                    pose: PoseEstimator, mesh: FaceMesh) -> None:
    """The shipped iris model reads both eyes in one invoke (a batch of 2); MediaPipe's source reads
    one eye per invoke. Same eyes, same places: a slot mix-up (eyes swapped, the mirrored one read
    unmirrored) would move the irises by tens of pixels, float16 weights by hundredths."""
    faces = face_sources()
    source = shared_dir / "models" / "face" / "iris_landmark.tflite"
    if not source.is_file():
        pytest.skip(f"MediaPipe's iris model not found at {source}")
    single = FaceMesh(faces["face_landmark"], source, threads=2)
    assert single._iris is not None and single._iris.batch == 1  # noqa: SLF001
    img = cv2.imread(str(images_dir / "coral_grace_hopper.bmp"))
    box = face_box(pose.estimate(img), MIN)
    assert box is not None
    lm = mesh.landmarks(img, landmark_roi(box))
    a, b = mesh.eyes(img, lm), single.eyes(img, lm)
    assert a is not None and b is not None
    for x, y in zip(a, b, strict=True):
        assert float(np.hypot(*(x.iris - y.iris))) < 0.1
        assert float(np.abs(x.corners - y.corners).max()) < 0.1
