"""Face box and frontal test on hand-made poses and real photos; the grey crop; the emotion model."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_models import emotion_source, pose_source

from edge.analysis.emotion import EMOTIONS3, EMOTIONS7, FOLD, EmotionClassifier, fold3
from edge.analysis.face import (
    EYE_SPACINGS_PER_SIDE,
    SHOULDER_WIDTHS_PER_SIDE,
    FaceBox,
    FaceCropper,
    face_box,
    face_for_emotion,
    is_frontal,
)
from edge.analysis.keypoints import BodyPart as B
from edge.analysis.keypoints import Pose
from edge.analysis.pose import PoseEstimator

MIN = 0.3
# A head facing the camera: eyes 40 px apart, ears 80 px apart (presenter's left on the image right).
HEAD = {
    B.NOSE: (320, 230), B.LEFT_EYE: (340, 210), B.RIGHT_EYE: (300, 210), B.LEFT_EAR: (362, 220),
    B.RIGHT_EAR: (278, 220), B.LEFT_SHOULDER: (400, 320), B.RIGHT_SHOULDER: (240, 320),
}


def head_pose(points: dict[B, tuple[float, float]] | None = None, low: tuple[B, ...] = ()) -> Pose:
    pts = HEAD if points is None else points
    xy = np.zeros((17, 2), np.float32)
    scores = np.full(17, 0.05, np.float32)
    for part, (x, y) in pts.items():
        xy[part] = (x, y)
        scores[part] = 0.05 if part in low else 0.8
    return Pose(xy, scores, 640, 480)


def test_frontal_face() -> None:
    pose = head_pose()
    assert is_frontal(pose, MIN)
    assert is_frontal(pose.mirrored(), MIN)  # a mirror image of a frontal face is frontal


def test_not_frontal_when_turned_missing_or_from_behind() -> None:
    turned = dict(HEAD)
    turned[B.NOSE] = (338, 230)  # nose almost over the left eye: head turned far to the presenter's left
    assert not is_frontal(head_pose(turned), MIN)
    assert not is_frontal(head_pose(low=(B.RIGHT_EYE,)), MIN)
    assert not is_frontal(head_pose(low=(B.NOSE,)), MIN)
    behind = dict(HEAD)
    behind[B.LEFT_EYE], behind[B.RIGHT_EYE] = HEAD[B.RIGHT_EYE], HEAD[B.LEFT_EYE]  # eyes in reversed order
    assert not is_frontal(head_pose(behind), MIN)
    rolled = {p: (320 + (y - 210), 210 - (x - 320)) for p, (x, y) in HEAD.items()}  # head on its side
    assert not is_frontal(head_pose(rolled), MIN)


def test_face_box_size_and_position() -> None:
    box = face_box(head_pose(), MIN)
    assert box is not None and box.frontal
    # eyes 40 px apart -> 108 px; ears 80 px apart -> 100 px; the larger wins
    assert box.size == pytest.approx(40 * EYE_SPACINGS_PER_SIDE)
    assert box.cx == pytest.approx(320)
    assert box.y0 < 210 < box.y0 + box.size * 0.5  # the eyes in the upper half
    assert box.y0 < 230 < box.y0 + box.size  # the nose inside
    assert box.roll == pytest.approx(0.0)


def test_face_box_follows_a_tilted_head() -> None:
    a = math.radians(20)
    rot = {p: (320 + (x - 320) * math.cos(a) - (y - 210) * math.sin(a),
               210 + (x - 320) * math.sin(a) + (y - 210) * math.cos(a)) for p, (x, y) in HEAD.items()}
    box = face_box(head_pose(rot), MIN)
    assert box is not None and box.frontal
    assert box.roll == pytest.approx(a, abs=1e-5)
    # the centre lies below the eyes along the face's own down direction (rotated by the roll)
    assert box.cx < 320


def test_face_box_fallbacks() -> None:
    only_ears = face_box(head_pose(low=(B.LEFT_EYE, B.RIGHT_EYE)), MIN)
    assert only_ears is not None and not only_ears.frontal
    assert only_ears.size == pytest.approx(84 * 1.25)
    only_shoulders = face_box(head_pose(low=(B.LEFT_EYE, B.RIGHT_EYE, B.LEFT_EAR, B.RIGHT_EAR)), MIN)
    assert only_shoulders is not None
    assert only_shoulders.size == pytest.approx(160 * SHOULDER_WIDTHS_PER_SIDE)
    assert (only_shoulders.cx, only_shoulders.cy) != (0, 0)
    nothing = head_pose({B.LEFT_KNEE: (300, 400)})
    assert face_box(nothing, MIN) is None


def test_face_for_emotion_needs_frontal_and_size() -> None:
    assert face_for_emotion(head_pose(), MIN, 40) is not None
    assert face_for_emotion(head_pose(), MIN, 200) is None  # 108 px is too small for a 200 px minimum
    turned = dict(HEAD)
    turned[B.NOSE] = (302, 230)
    assert face_for_emotion(head_pose(turned), MIN, 40) is None


def test_cropper_levels_the_eyes_and_pads() -> None:
    """Two dark 'eyes' on a tilted line come out level in the 48x48 crop; a box past the frame edge
    is padded instead of failing."""
    img = np.full((480, 640, 3), 200, np.uint8)
    a = math.radians(25)
    centre = np.array([320.0, 240.0])
    d = np.array([math.cos(a), math.sin(a)]) * 30  # eye half-spacing along the tilted eye line
    for p in (centre - d, centre + d):
        cv2.circle(img, (round(p[0]), round(p[1])), 6, (0, 0, 0), -1)
    box = FaceBox(320.0, 240.0, 150.0, a, True)
    crop = FaceCropper(48).crop(img, box)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    ys, xs = np.nonzero(crop < 100)
    left, right = xs < 24, xs >= 24
    assert abs(ys[left].mean() - ys[right].mean()) < 1.0
    assert abs(ys.mean() - 23.5) < 1.5
    edge = FaceCropper(48).crop(img, FaceBox(5.0, 5.0, 100.0, 0.0, True))
    assert edge.shape == (48, 48)


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    return PoseEstimator(pose_source(), threads=2)


def test_face_on_real_photos(estimator: PoseEstimator, images_dir: Path) -> None:
    """A portrait facing the camera gives a frontal face box around the eyes and nose; a man squatting
    with his head turned about 45 degrees to his left (face large enough, 50 px) is not frontal."""
    img = cv2.imread(str(images_dir / "tfjs_portrait.jpg"))
    pose = estimator.estimate(img)
    box = face_for_emotion(pose, MIN, 40)
    assert box is not None
    # eyes at about (449, 172) and (362, 176), nose (406, 217), checked by eye (golden_keypoints.json)
    assert box.x0 < 362 and box.x0 + box.size > 449
    assert box.y0 < 172 and box.y0 + box.size > 217
    assert 180 < box.size < 380
    crop = FaceCropper(48).crop(img, box)
    assert crop.std() > 20  # a face, not padding

    squat = cv2.imread(str(images_dir / "coral_squat.bmp"))
    turned = face_box(estimator.estimate(squat), MIN)
    assert turned is not None and turned.size >= 40 and not turned.frontal
    assert face_for_emotion(estimator.estimate(squat), MIN, 40) is None


def test_fold3_table() -> None:
    assert FOLD.shape == (3, 7)
    assert FOLD.sum(axis=0).tolist() == [1.0] * 7  # each class folds into exactly one
    onehot = np.eye(7, dtype=np.float32)
    fold = {EMOTIONS7[i]: EMOTIONS3[int(np.argmax(fold3(onehot[i])))] for i in range(7)}
    assert fold == {"angry": "negative", "disgust": "negative", "fear": "negative", "happy": "positive",
                    "sad": "negative", "surprise": "positive", "neutral": "neutral"}


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    src = emotion_source()
    if src is None:
        pytest.skip("no emotion model in models/quantized (set PPT_EDGE_EMOTION_MODEL to test with another)")
    return EmotionClassifier(src, threads=1)


def test_emotion_classifier_returns_a_distribution(classifier: EmotionClassifier, estimator: PoseEstimator,
                                                   images_dir: Path) -> None:
    assert classifier.input_size == 48
    img = cv2.imread(str(images_dir / "tfjs_portrait.jpg"))
    box = face_for_emotion(estimator.estimate(img), MIN, 40)
    assert box is not None
    probs = classifier.classify(FaceCropper(classifier.input_size).crop(img, box)).copy()
    assert probs.shape == (7,)
    assert (probs >= 0).all() and probs.sum() == pytest.approx(1.0, abs=1e-3)
    assert fold3(probs).sum() == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError):
        classifier.classify(np.zeros((32, 32), np.uint8))
