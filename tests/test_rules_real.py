"""The features and rules on real footage through the real int8 MoveNet: a seated presenter with her
hands in her lap, a standing one doing squats, a waving hand, still frames, hands out of view."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from recordings import rewrite
from test_models import make_models_dir, pose_source, runtime_config

from edge.analysis.features import FeatureExtractor
from edge.analysis.pipeline import FrameAnalyzer
from edge.analysis.pose import CropTracker
from edge.analyze import AnalysisResult, FrameSampler, analyze_video, open_video
from edge.config import Config
from edge.session.feedback import CAVEATS, LEVEL_GAZE_MAX_DEG, TOWARD_CAMERA_MAX_DEG
from edge.session.report import render_report


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return runtime_config(make_models_dir(tmp_path_factory.mktemp("models"), pose_source()), emotion=False)


@pytest.fixture(scope="module")
def analyzer(cfg: Config) -> FrameAnalyzer:
    return FrameAnalyzer(cfg)


def frame_features(analyzer: FrameAnalyzer, video: Path, fps: float = 10.0) -> list:
    analyzer.reset()
    cap, info = open_video(video)
    try:
        return [analyzer.analyze(frame, t).features for _i, t, frame in FrameSampler(cap, info, fps)]
    finally:
        cap.release()


@pytest.fixture(scope="module")
def seated(videos_dir: Path, cfg: Config, analyzer: FrameAnalyzer) -> AnalysisResult:
    return analyze_video(videos_dir / "seated" / "raga_3people_seated.mp4", cfg, analyzer, progress=False)


def test_a_seated_presenter_with_hands_in_the_lap_reads_seated_and_gets_no_pocket_finding(seated):
    """Issue 7: "[critical] Your hands were in your pockets 58% of the time" on a woman seated on the
    floor, hands resting in her lap."""
    s = seated.summary
    assert s["posture"]["seated"] >= 0.9 and s["posture"]["standing"] == 0.0
    assert s["metrics"]["hands_in_pockets"]["n"] == 0  # a standing measure: never judged seated
    assert not [f for f in s["feedback"] if f["code"] in ("hands_in_pockets", "hands_behind_back", "swaying")]
    reasons = {i["metric"]: i["reason"] for i in s["not_judged"]}
    assert reasons["hands_in_pockets"].startswith("a standing measure, and the presenter was seated")
    assert all("basis" in f for f in s["feedback"])


def test_the_squats_clip_reads_standing(videos_dir: Path, analyzer: FrameAnalyzer):
    """Squatting bends the thighs like sitting, for about a second at a time: the posture holds."""
    feats = frame_features(analyzer, videos_dir / "tfjs_pose_squats.mp4")
    postures = [f.posture for f in feats if f.present]
    assert postures.count("standing") >= 0.9 * len(postures) and "seated" not in postures
    # turned about 35 degrees from the camera: no lean and no slouch are read off the turned torso
    leans = [abs(f.torso_lean) for f in feats if f.torso_lean is not None]
    assert not leans or max(leans) < 10
    assert not any(f.slouching for f in feats)


def test_hidden_hands_are_left_out_of_every_hand_metric(videos_dir: Path, analyzer: FrameAnalyzer) -> None:
    """Gesturing itself is measured against the labels (`tests/test_validate.py`, docs/validation.md)."""
    feats = frame_features(analyzer, videos_dir / "slp_webcam_test_video.mp4")
    hidden = [f for f in feats if f.present and f.hands_in_view is False]
    assert hidden, "the waist-up clip has frames with both hands out of view"
    for f in hidden:
        assert f.hands_in_gesture_zone is None and f.gesturing is None and f.wrist_speed is None
        assert f.hands_in_pockets is None and f.hands_behind_back is None
    assert all(f.posture is None and f.slouch is None for f in feats)  # hips out of view: no posture


def test_still_frames_read_as_not_gesturing(images_dir: Path, videos_dir: Path, cfg: Config,
                                            analyzer: FrameAnalyzer):  # fmt: skip
    """MoveNet's own noise: a still image with sensor noise and sub-pixel shifts, streamed at 10 fps."""
    cap = cv2.VideoCapture(str(videos_dir / "tfjs_pose_squats.mp4"))
    ok, squats0 = cap.read()
    cap.release()
    assert ok
    rng = np.random.default_rng(3)
    gesturing: list[bool] = []
    for full in (cv2.imread(str(images_dir / "tfjs_pose.jpg")), squats0):
        k = 480 / max(full.shape[:2])  # the model sees 192 px: a smaller still keeps the test quick
        img = cv2.resize(full, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        tracker = CropTracker()
        ex = FeatureExtractor(cfg.features, cfg.analysis)
        base = img.astype(np.float32)
        for i in range(30):
            dx, dy = rng.uniform(-0.5, 0.5, 2)
            shifted = cv2.warpAffine(base, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                                     borderMode=cv2.BORDER_REFLECT)  # fmt: skip
            noise = rng.standard_normal(shifted.shape, dtype=np.float32) * 2.0
            frame = np.clip(shifted + noise, 0, 255).astype(np.uint8)
            pose = analyzer.pose_estimator.estimate(frame, tracker.region(w, h))
            tracker.update(pose)
            f = ex.update(pose, i / 10.0)
            if i >= 3 and f.gesturing is not None:
                gesturing.append(f.gesturing)
    assert len(gesturing) >= 40
    assert sum(gesturing) <= 0.05 * len(gesturing)


def test_a_head_bowed_over_notes_reads_as_looking_down_and_gets_no_emotion_finding(videos_dir: Path) -> None:
    """Issue 7: the seated woman's head and eyes are lowered in every frame (labelled by watching); the
    keypoint proxy read 2% looking down. With the shipped face models (landmarks, head pose, gaze) most
    frames must read down and the finding must fire; her bowed face is outside the head poses the
    emotion model was trained on, so no expression finding may be drawn from it."""
    cfg = Config()
    if not cfg.models.face:
        pytest.skip("the shipped config has the face stage off")
    result = analyze_video(videos_dir / "seated" / "raga_3people_seated.mp4", cfg, progress=False)
    s = result.summary
    assert s["metrics"]["looking_down"]["share"] >= 0.5, s["metrics"]["looking_down"]
    (down,) = [f for f in s["feedback"] if f["code"] == "looking_down"]
    # ...but her eyes never come up to the camera's line, which a camera above her eyes would also give:
    # the finding is a hint with that caveat, not a critical one
    assert s["metrics"]["eyes_pitch"]["p10"] > LEVEL_GAZE_MAX_DEG
    assert (down["severity"], down["caveat"]) == ("info", "eyes_never_level")
    assert down["message"].endswith(CAVEATS["eyes_never_level"]) and CAVEATS["eyes_never_level"] in render_report(s)
    assert not [f for f in s["feedback"] if str(f["metric"]).startswith("emotion")]
    # Nor does the report show expression shares drawn from the few faces within those poses.
    text = render_report(s)
    assert "Emotion (" not in text
    assert "Emotion: not judged: only " in text or "Emotion: no face was classified." in text
    if s["emotion"]["frames"]:  # what was read is given as counts, which add up to the faces classified
        line = next(ln for ln in text.splitlines() if ln.startswith("Emotion: not judged"))
        counts = [int(part.split()[-1]) for part in line.split("; read as ")[1].split(", ")]
        assert sum(counts) == s["emotion"]["frames"]


def test_a_faster_analysis_needs_the_same_seconds_of_footage(videos_dir: Path, cfg: Config,
                                                             analyzer: FrameAnalyzer) -> None:
    """The webcam clip is 1.9 s. At `analysis.fps` = 30 it gives 58 frames, more than the 50 a finding
    needs at the default 10 fps; counted as if taken 10 a second they are 19, and nothing is judged."""
    fast = replace(cfg, analysis=replace(cfg.analysis, fps=30.0))
    s = analyze_video(videos_dir / "slp_webcam_test_video.mp4", fast, FrameAnalyzer(fast), progress=False).summary
    assert s["frames"]["analysed"] == 58 and s["fps"]["analysed"] == pytest.approx(30.0, abs=0.5)
    assert s["feedback"] == []
    reasons = {i["metric"]: i["reason"] for i in s["not_judged"]}
    n = s["metrics"]["facing_audience"]["n"]
    assert n >= 50  # would have been judged had frames counted whatever the rate
    counted = round(n * 10 / s["fps"]["analysed"])
    assert reasons["facing_audience"] == (f"judged on only {n} frames, which count as {counted} at the "
                                          "analysed rate (at least 50 needed)")


def test_a_presenter_too_small_in_the_picture_is_not_judged(videos_dir: Path, tmp_path: Path,
                                                             seated: AnalysisResult) -> None:  # fmt: skip
    """The seated clip shrunk 12x (64x48, bilinear as a cheap scaler does, coded again as MPEG-4),
    through the shipped models and the default config: the presenter is about 12 px per shoulder
    width and under. Without the size gate (`features.min_scale_px = 0`) the report warned "You
    faced the audience 44% of the time" (she faces it throughout); now the body metrics say why
    they are not judged."""
    small = tmp_path / "seated_64x48.mp4"
    rewrite(videos_dir / "seated" / "raga_3people_seated.mp4", small, "mp4v",
            lambda f: cv2.resize(f, (64, 48), interpolation=cv2.INTER_LINEAR))
    s = analyze_video(small, Config(), progress=False).summary
    assert s["frames"]["with_person"] >= 50
    assert s["metrics"]["large_enough"]["share"] < 0.5
    assert [f for f in s["feedback"] if f["severity"] in ("warning", "critical")] == []
    reasons = {item["metric"]: item["reason"] for item in s["not_judged"]}
    assert reasons["facing_audience"].startswith("presenter too small in the picture to measure")
    assert seated.summary["metrics"]["large_enough"]["share"] == 1.0  # full size: every frame measured


def test_a_head_too_small_to_read_leaves_facing_unjudged_with_its_reason(videos_dir: Path, tmp_path: Path) -> None:
    """The seated clip shrunk 6x (128x96, coded again as MPEG-4): the presenter is large enough to
    measure (about 24 px per shoulder width), but her face is too small for the landmark model and her
    ears and eyes lie under 12 px apart, where the keypoint yaw is a guess on compressed frames. Facing
    is not judged, and the reason names the head; her body measures still are."""
    small = tmp_path / "seated_128x96.mp4"
    rewrite(videos_dir / "seated" / "raga_3people_seated.mp4", small, "mp4v",
            lambda f: cv2.resize(f, (128, 96), interpolation=cv2.INTER_AREA))
    s = analyze_video(small, Config(), progress=False).summary
    assert s["metrics"]["large_enough"]["share"] > 0.9
    assert s["metrics"]["head_large_enough"]["share"] < 0.1
    reasons = {item["metric"]: item["reason"] for item in s["not_judged"]}
    assert reasons["facing_audience"].startswith("head too small in the picture to read where it faces")
    assert s["metrics"]["arms_crossed"]["n"] >= 50


def test_a_camera_mounted_upside_down_is_not_judged_and_rotation_undoes_it(videos_dir: Path, tmp_path: Path,
                                                                          cfg: Config) -> None:  # fmt: skip
    """The squats clip as a camera mounted upside down records it (turned 180 degrees, coded
    losslessly). Without the upright gate this read "Your back was to the audience 10% of the time"
    (a warning; she faces the camera throughout) and, turned 90 degrees, "You looked down 94% of the
    time" (critical). Now nothing is judged and the reasons name the picture; `rotation=180` turns it
    back, and the summary equals the upright recording's, metric for metric."""
    squats = videos_dir / "tfjs_pose_squats.mp4"
    paths = {"upright": tmp_path / "upright.avi", "upside_down": tmp_path / "upside_down.avi"}
    rewrite(squats, paths["upright"], "FFV1")
    rewrite(squats, paths["upside_down"], "FFV1", lambda f: cv2.rotate(f, cv2.ROTATE_180))

    turned = analyze_video(paths["upside_down"], cfg, progress=False).summary
    assert turned["frames"]["with_person"] >= 50
    assert turned["metrics"]["upright"]["share"] < 0.1
    assert [f for f in turned["feedback"] if f["severity"] in ("warning", "critical")] == []
    reasons = {item["metric"]: item["reason"] for item in turned["not_judged"]}
    assert reasons["back_to_audience"].startswith("presenter not upright in the picture")

    upright = analyze_video(paths["upright"], cfg, progress=False).summary
    undone = analyze_video(paths["upside_down"], cfg, progress=False, rotation=180).summary
    assert upright["metrics"]["upright"]["share"] > 0.9
    assert undone["metrics"] == upright["metrics"] and undone["feedback"] == upright["feedback"]


def test_a_presenter_filmed_from_the_side_gets_no_pressed_facing_finding(videos_dir: Path, cfg: Config) -> None:
    """The squats presenter faces a point about 30 degrees to the side of the camera throughout: her head
    reads 26-32 degrees to her left (p10-p90), the case of a camera standing off to one side of the
    audience. At the shipped 30-degree threshold her facing sits in the unsure band and is not judged;
    a site that sets the threshold to 20 degrees reads her as never facing, and the finding that gives
    is a hint that names the camera's side, not a critical one."""
    s = analyze_video(videos_dir / "tfjs_pose_squats.mp4", cfg, progress=False).summary
    assert s["metrics"]["head_yaw"]["p10"] > TOWARD_CAMERA_MAX_DEG
    assert "facing_audience" in {item["metric"] for item in s["not_judged"]}
    strict = replace(cfg, features=replace(cfg.features, facing_yaw_max_deg=20.0))
    s = analyze_video(videos_dir / "tfjs_pose_squats.mp4", strict, progress=False).summary
    assert s["metrics"]["facing_audience"]["share"] < 0.1 and s["metrics"]["facing_audience"]["n"] >= 50
    (facing,) = [f for f in s["feedback"] if f["code"] == "facing_audience_low"]
    assert (facing["severity"], facing["caveat"]) == ("info", "head_never_toward_camera")
    assert CAVEATS["head_never_toward_camera"] in render_report(s)


def _flag_rotation(path: Path) -> None:
    """Set the rotation a phone writes (the track header's display matrix: 90 degrees clockwise)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0, f"no track header in {path}"
    version = data[at + 4]
    matrix = at + 4 + 4 + (20 if version == 0 else 32) + 8 + 8
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_a_phone_s_rotation_flag_is_applied_before_the_analysis(videos_dir: Path, tmp_path: Path,
                                                                cfg: Config) -> None:  # fmt: skip
    """A phone held upright stores its picture sideways and flags the rotation in the file. The
    squats clip stored so (frames turned a quarter counterclockwise, MPEG-4) reads as a presenter on
    her side without the flag, and upright with it: the decoder turns the frames back, and
    `--rotate` is only for a camera that wrote no flag."""
    stored = tmp_path / "sideways.mp4"
    rewrite(videos_dir / "tfjs_pose_squats.mp4", stored, "mp4v",
            lambda f: cv2.rotate(f, cv2.ROTATE_90_COUNTERCLOCKWISE))
    flagged = tmp_path / "flagged.mp4"
    flagged.write_bytes(stored.read_bytes())
    _flag_rotation(flagged)

    sideways = analyze_video(stored, cfg, progress=False).summary
    assert sideways["metrics"]["upright"]["share"] < 0.1
    _cap, info = open_video(flagged)
    _cap.release()
    assert (info.width, info.height) == (720, 1280)  # as recorded: portrait
    upright = analyze_video(flagged, cfg, progress=False).summary
    assert upright["metrics"]["upright"]["share"] > 0.9
    assert not any(item["reason"].startswith("presenter not upright") for item in upright["not_judged"])


def _exif_jpeg(image: np.ndarray, orientation: int, path: Path) -> None:
    """`image` stored as a JPEG with an EXIF orientation flag (TIFF tag 0x0112), as a camera writes it."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, orientation) + b"\x00" * 4
    app1 = b"Exif\x00\x00" + tiff
    data = buf.tobytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])


@pytest.mark.parametrize(("orientation", "stored_as"), [(6, cv2.ROTATE_90_COUNTERCLOCKWISE), (3, cv2.ROTATE_180),
                                                        (8, cv2.ROTATE_90_CLOCKWISE)])
def test_a_photo_s_exif_orientation_is_applied_before_the_analysis(images_dir: Path, tmp_path: Path, cfg: Config,
                                                                   analyzer: FrameAnalyzer, orientation: int,
                                                                   stored_as: int) -> None:  # fmt: skip
    """A phone stores a portrait photo sideways (or upside down) with an EXIF orientation flag, which
    OpenCV's video reader ignores: the presenter would be analysed lying down. The photo is turned
    upright by its flag first, and reads as the upright photo does."""
    original = images_dir / "tfjs_portrait.jpg"
    upright_px = cv2.imread(str(original))
    photo = tmp_path / f"phone_{orientation}.jpg"
    _exif_jpeg(cv2.rotate(upright_px, stored_as), orientation, photo)
    raw = cv2.VideoCapture(str(photo))
    ok, as_stored = raw.read()
    raw.release()
    stored = cv2.rotate(upright_px, stored_as)
    assert ok and as_stored.shape == stored.shape  # the video reader alone reads it as stored
    assert float(np.mean(np.abs(as_stored.astype(np.int16) - stored))) < 3.0
    cap, info = open_video(photo)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == upright_px.shape and (info.width, info.height, info.frames) == (820, 1024, 1)
    assert float(np.mean(np.abs(frame.astype(np.int16) - upright_px))) < 3.0  # JPEG coded once more, upright
    want = analyze_video(original, cfg, analyzer, progress=False).summary
    got = analyze_video(photo, cfg, analyzer, progress=False).summary
    assert got["metrics"]["upright"]["share"] == want["metrics"]["upright"]["share"] == 1.0
    assert got["posture"] == want["posture"]
    # a photo without the flag keeps OpenCV's video reader (the labelled photos are read as before)
    cap, _ = open_video(original)
    cap.release()
    assert isinstance(cap, cv2.VideoCapture)
