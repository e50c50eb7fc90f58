"""FrameAnalyzer on a real frame stream: the daemon's contract (FrameResult fields, timings, emotion
cadence, reset), an empty room, and memory that does not grow with frames."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_models import emotion_source, make_models_dir, pose_source, runtime_config

from edge.analysis.emotion import EMOTIONS7
from edge.analysis.face import face_box, face_for_emotion
from edge.analysis.facecheck import emotion_pose_ok
from edge.analysis.features import FrameFeatures
from edge.analysis.models import load_models
from edge.analysis.pipeline import STAGES, FrameAnalyzer, FrameResult


@pytest.fixture(scope="module")
def mdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_models_dir(tmp_path_factory.mktemp("models"), pose_source(), emotion_source())


@pytest.fixture(scope="module")
def webcam_frames(videos_dir: Path) -> list[tuple[float, np.ndarray]]:
    cap = cv2.VideoCapture(str(videos_dir / "slp_webcam_test_video.mp4"))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append((cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, frame))
    cap.release()
    assert len(out) > 40
    return out


def test_frame_results_on_a_real_stream(mdir: Path, webcam_frames: list[tuple[float, np.ndarray]]) -> None:
    cfg = runtime_config(mdir, emotion_every=3)
    analyzer = FrameAnalyzer(cfg, load_models(cfg))
    results: list[FrameResult] = [analyzer.analyze(frame, t) for t, frame in webcam_frames]
    assert all(r.pose is not None and r.features.present for r in results)  # she is in view throughout
    for (t, frame), r in zip(webcam_frames, results, strict=True):
        assert r.t == t
        assert set(r.timings_ms) == set(STAGES) and all(v >= 0 for v in r.timings_ms.values())
        assert r.timings_ms["pose"] > 0
        assert isinstance(r.features, FrameFeatures)
        assert r.pose is not None
        assert (r.pose.frame_width, r.pose.frame_height) == (frame.shape[1], frame.shape[0])
    # she faces the camera, nose at about 54% of the width and 36% of the height (checked by eye)
    facing = [r.features.facing_audience for r in results]
    assert sum(bool(f) for f in facing) > 0.8 * len(results)
    h, w = webcam_frames[0][1].shape[:2]
    nose = np.median(np.array([r.pose.xy[0] for r in results if r.pose is not None]), axis=0)
    assert 0.45 < nose[0] / w < 0.62 and 0.30 < nose[1] / h < 0.42

    if cfg.models.face:  # the face stage reads her head on every 3rd frame: facing the camera
        for i, r in enumerate(results):
            assert (r.head is not None) == (i % 3 == 0), f"frame {i}: face stage off the cadence"
            assert (r.timings_ms["face"] > 0) == (i % 3 == 0)
        heads = [r.head for r in results if r.head is not None]
        assert sum(abs(h.yaw_deg) < 30 and abs(h.pitch_deg) < 30 for h in heads) >= 0.8 * len(heads)
        assert all(h.gaze_yaw_deg is not None and h.score >= 0.5 for h in heads)
    if not cfg.models.emotion:
        assert all(r.emotion is None for r in results)
        return
    for i, r in enumerate(results):
        if cfg.models.face and face_box(r.pose, 0.3).size >= cfg.analysis.min_face_landmark_px:
            eligible = i % 3 == 0 and r.head is not None and emotion_pose_ok(r.head)
        else:
            eligible = i % 3 == 0 and face_for_emotion(r.pose, 0.3, cfg.analysis.min_face_px) is not None
        if i % 3:
            assert r.emotion is None and r.timings_ms["emotion"] == 0.0, f"frame {i}: emotion off the cadence"
        if r.emotion is not None:
            assert 0 <= r.emotion < len(EMOTIONS7)
            assert r.emotion_probs is not None and r.emotion_probs.sum() == pytest.approx(1.0, abs=1e-3)
            assert r.emotion == int(np.argmax(r.emotion_probs))
        else:
            assert r.emotion_probs is None
        assert (r.emotion is not None) == eligible
    assert sum(r.emotion is not None for r in results) >= len(results) // 3 - 2
    assert set(analyzer.models_info) == {"pose", "emotion"} | ({"face_landmark", "iris"} if cfg.models.face else set())


def test_empty_room_and_reset(mdir: Path, webcam_frames: list[tuple[float, np.ndarray]]) -> None:
    cfg = runtime_config(mdir, emotion_every=2)
    analyzer = FrameAnalyzer(cfg)
    blank = np.full((480, 640, 3), 90, np.uint8)
    r = analyzer.analyze(blank, 0.0)
    assert r.pose is None and not r.features.present and r.emotion is None
    assert r.timings_ms["emotion"] == 0.0
    # the emotion cadence counts frames with a person only, and restarts on reset
    t, frame = webcam_frames[0]
    first = analyzer.analyze(frame, 1.0)
    second = analyzer.analyze(frame, 1.1)
    analyzer.reset()
    again = analyzer.analyze(frame, 5.0)
    if cfg.models.emotion:
        assert first.emotion is not None and second.emotion is None and again.emotion is not None
    # after a reset, speeds need two frames again
    assert again.features.wrist_speed is None


def test_emotion_off(mdir: Path, webcam_frames: list[tuple[float, np.ndarray]]) -> None:
    cfg = runtime_config(mdir, emotion=False)
    analyzer = FrameAnalyzer(cfg)
    assert set(analyzer.models_info) == {"pose"} | ({"face_landmark", "iris"} if cfg.models.face else set())
    r = analyzer.analyze(webcam_frames[0][1], 0.0)
    assert r.emotion is None and r.emotion_probs is None


def test_memory_is_flat_per_frame(mdir: Path, webcam_frames: list[tuple[float, np.ndarray]]) -> None:
    """Python allocations that survive a frame do not add up: 3 passes over the clip hold no more
    than 1 pass (the feature extractor's ring buffers fill in the first)."""
    cfg = runtime_config(mdir, emotion_every=1)
    analyzer = FrameAnalyzer(cfg)
    clip = webcam_frames[:30]
    period = clip[-1][0] + 0.1

    def one_pass(k: int) -> None:
        for t, frame in clip:
            analyzer.analyze(frame, k * period + t)

    one_pass(0)
    tracemalloc.start()
    try:
        one_pass(1)
        after_one = tracemalloc.get_traced_memory()[0]
        for k in range(2, 4):
            one_pass(k)
        after_three = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_three - after_one < 64 * 1024, f"grew by {after_three - after_one} bytes over 60 frames"


def test_the_stage_keeps_people_outside_it_out(images_dir: Path) -> None:
    """Three people side by side (a real photo): the whole frame gives the one MoveNet picks, a stage
    over the left third gives the person standing there, in the whole frame's pixels; a stage in
    which nobody stands gives nobody."""
    import dataclasses

    from edge.config import Config

    img = cv2.imread(str(images_dir / "tfjs_three_people.jpg"))
    h, w = img.shape[:2]

    def pose_in(stage: tuple[float, float, float, float]):
        cfg = Config()
        cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, stage=stage))
        analyzer = FrameAnalyzer(cfg)
        for _ in range(3):  # the crop tracker settles on the person
            result = analyzer.analyze(img, 0.0)
        return result.pose

    whole, left = pose_in((0.0, 0.0, 1.0, 1.0)), pose_in((0.0, 0.0, 1 / 3, 1.0))
    assert whole is not None and left is not None
    assert (left.frame_width, left.frame_height) == (w, h)  # reported in the whole frame's pixels
    seen = left.scores >= 0.3
    assert seen.sum() >= 8 and float(np.median(left.xy[seen, 0])) < w / 3
    assert float(np.median(whole.xy[whole.scores >= 0.3, 0])) > 2 * w / 3  # somebody else
    assert pose_in((0.0, 0.0, 1.0, 0.12)) is None  # a strip above everyone's head
