"""The frame features as a whole (FeatureExtractor) on hand-made keypoint sets: a neutral presenter,
mirror images, missing and broken keypoints, and the metric list. The maths of each part has its own
test file (test_posture, test_head, test_hands, test_motion)."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pytest
from keypoint_poses import HIPS, POSES, H, W, make_pose

from edge.analysis import features as F
from edge.analysis.body import body_scale, is_present
from edge.analysis.head import HEAD_DIRECTIONS
from edge.analysis.keypoints import BodyPart as B
from edge.analysis.keypoints import Pose
from edge.analysis.posture import POSTURES
from edge.config import AnalysisConfig, FeaturesConfig


def feats(pose: Pose, screen_side: str = "left", **cfg) -> F.FrameFeatures:
    ex = F.FeatureExtractor(FeaturesConfig(**cfg), AnalysisConfig(screen_side=screen_side))
    return ex.update(pose, 0.0)


def test_frontal_pose_reads_as_a_neutral_standing_presenter():
    f = feats(POSES["frontal"])
    assert f.present and f.face_visible
    assert f.scale_px == pytest.approx(100.0)
    assert f.posture == "standing" and f.seated is False
    assert f.head_direction is None and f.head_from_face is False  # up or down needs the face
    assert f.head_yaw == pytest.approx(0.0, abs=1e-6)
    assert f.head_pitch is None and f.eyes_pitch is None  # degrees come from the face only
    assert f.head_pitch_kp == pytest.approx(0.08, abs=1e-6)
    assert f.torso_lean == pytest.approx(0.0, abs=1e-6) and f.torso_frontal is True
    assert f.facing_audience is True
    assert f.turned_to_screen is False
    assert f.back_to_audience is False
    assert f.looking_down is None  # from the face only
    assert f.hands_in_gesture_zone is False  # hanging hands are below the waist
    assert f.hands_in_pockets is False
    assert f.hands_behind_back is False
    assert f.arms_crossed is False
    assert f.hips_in_view is True and f.hands_in_view is True
    assert f.wrist_speed is None and f.gesturing is None  # no previous frame yet
    assert f.slouch is None and f.slouching is None  # no baseline yet
    assert f.sway_amplitude is None and f.swaying is None  # no window yet


def test_keypoints_on_the_frame_border_count_as_unseen():
    """MoveNet parks joints that are out of view on the border (hips below a waist-up framing)."""
    cut = make_pose({B.LEFT_HIP: (355, 479), B.RIGHT_HIP: (285, 479), B.LEFT_WRIST: (385, 478),
                     B.RIGHT_WRIST: (255, 479)})  # fmt: skip
    f = feats(cut)
    assert f.hips_in_view is False and f.hands_in_pockets is None and f.hands_behind_back is None
    assert f.posture is None and f.torso_lean is None


# --- mirror images --------------------------------------------------------------------------------

SIGNED = {"head_yaw", "torso_lean"}
MIRRORED_DIRECTION = {"image_left": "image_right", "image_right": "image_left"}


@pytest.mark.parametrize("name", sorted(POSES))
def test_mirroring_swaps_screen_side_and_keeps_symmetric_measures(name):
    pose = POSES[name]
    a = feats(pose, "left")
    b = feats(pose.mirrored(), "right")
    for fld in fields(F.FrameFeatures):
        va, vb = getattr(a, fld.name), getattr(b, fld.name)
        if fld.name in SIGNED and va is not None:
            assert vb == pytest.approx(-va, abs=1e-4), fld.name
        elif fld.name == "head_direction":
            assert vb == MIRRORED_DIRECTION.get(va, va), fld.name
        elif isinstance(va, float):
            assert vb == pytest.approx(va, abs=1e-4), fld.name
        else:
            assert vb == va, fld.name
    # with the same configured side, a turn to the screen becomes a turn away from it
    if a.turned_to_screen and abs(a.head_yaw) < 90:
        assert feats(pose.mirrored(), "left").turned_to_screen is False


def test_mirrored_dynamic_features_match():
    """Speeds, slouch and sway over a stream are the same on the mirrored stream."""
    cfg = FeaturesConfig(baseline_warmup_s=2.0)
    ex_a = F.FeatureExtractor(cfg, AnalysisConfig(screen_side="left"))
    ex_b = F.FeatureExtractor(cfg, AnalysisConfig(screen_side="right"))
    rng = np.random.default_rng(7)
    base = make_pose()
    for i in range(100):
        t = i * 0.1
        jitter = rng.normal(0, 3, size=(17, 2)).astype(np.float32)
        jitter[:, 0] += 25 * math.sin(2 * math.pi * 0.4 * t)
        jitter[B.LEFT_WRIST] += (0.0, 40 * math.sin(2 * math.pi * 1.0 * t))
        pose = replace(base, xy=base.xy + jitter)
        fa, fb = ex_a.update(pose, t), ex_b.update(pose.mirrored(), t)
        for name in ("wrist_speed", "elbow_speed", "slouch", "sway_amplitude", "sway_frequency"):
            va, vb = getattr(fa, name), getattr(fb, name)
            assert (va is None) == (vb is None), name
            if va is not None:
                assert vb == pytest.approx(va, rel=1e-4, abs=1e-6), name
        assert fa.gesturing == fb.gesturing and fa.swaying == fb.swaying and fa.slouching == fb.slouching
    assert fa.sway_amplitude is not None and fa.wrist_speed is not None


# --- missing and broken keypoints -----------------------------------------------------------------


def test_no_presenter_gives_an_empty_frame():
    ex = F.FeatureExtractor()
    f = ex.update(None, 0.0)
    assert f == F.FrameFeatures(present=False)
    empty = Pose(np.zeros((17, 2), np.float32), np.full(17, 0.1, np.float32), W, H)
    assert ex.update(empty, 0.1).present is False
    assert is_present(empty, 0.3) is False and is_present(POSES["frontal"], 0.3) is True
    assert all(v is None for v in f.metric_values().values())


def test_random_missing_keypoints_never_crash_or_give_nan():
    rng = np.random.default_rng(0)
    ex = F.FeatureExtractor(FeaturesConfig(baseline_warmup_s=0.5))
    poses = list(POSES.values())
    for i in range(600):
        base = poses[i % len(poses)]
        scores = base.scores.copy()
        scores[rng.random(17) < rng.uniform(0, 0.8)] = 0.0
        xy = base.xy + rng.normal(0, 2, size=(17, 2)).astype(np.float32)
        if i % 37 == 0:
            xy[rng.integers(0, 17)] = np.nan
        if i % 53 == 0:
            xy[:] = 100.0  # all points on top of each other
        f = ex.update(Pose(xy, scores, W, H), i * 0.1)
        for name, v in f.as_dict().items():
            assert v is None or isinstance(v, (bool, str)) or math.isfinite(v), (i, name, v)
        assert f.posture in (*POSTURES, None) and f.head_direction in (*HEAD_DIRECTIONS, None)
        if not f.present:
            assert all(v is None for v in f.metric_values().values())


def test_missing_parts_give_none_not_false_guesses():
    no_shoulders = make_pose(hidden=(B.LEFT_SHOULDER, B.RIGHT_SHOULDER))
    f = feats(no_shoulders)
    assert f.present is True and f.scale_px is None and body_scale(no_shoulders, 0.3) is None
    for name in ("head_pitch_kp", "torso_lean", "back_to_audience", "hands_in_gesture_zone", "hands_in_pockets",
                 "hands_behind_back", "arms_crossed", "looking_down", "posture", "torso_frontal"):  # fmt: skip
        assert getattr(f, name) is None, name
    assert f.head_yaw == pytest.approx(0.0, abs=1e-6)  # the head alone still gives the yaw
    no_hips = feats(make_pose(hidden=HIPS))
    assert no_hips.posture is None and no_hips.hands_in_pockets is None and no_hips.hips_in_view is False


def test_metric_specs_cover_every_metric_once():
    names = [m.name for m in F.METRICS]
    assert len(names) == len(set(names))
    assert set(F.FrameFeatures().metric_values()) == set(names)
    for m in F.CONTINUOUS_METRICS:
        assert m.lo < m.hi
    for m in F.METRICS:
        assert set(m.postures) <= set(POSTURES) and m.postures
    standing_only = {m.name for m in F.METRICS if m.postures == ("standing",)}
    assert {"hands_in_pockets", "hands_behind_back", "swaying", "sway_amplitude"} <= standing_only
    assert all(m.kind == "share" for m in F.CONTEXT_METRICS)
    assert not {m.name for m in F.CONTEXT_METRICS} & {m.name for m in F.SHARE_METRICS}


def test_units_are_not_mixed():
    """Degrees from the face and shoulder widths from the keypoints live in separate metrics."""
    units = {m.name: m.unit for m in F.METRICS}
    assert units["head_pitch"] == "deg" and units["eyes_pitch"] == "deg" and units["head_pitch_kp"] == "sw"
    assert units["head_yaw"] == "deg"


def test_a_presenter_too_small_to_measure_is_in_view_but_nothing_is_judged():
    """Under `features.min_scale_px` per shoulder width the keypoints stop carrying the metrics
    (measured by `python -m tools.validate scale`, docs/metrics.md): the frame counts as presence only."""
    big = POSES["frontal"]
    centre = np.array([W / 2, H / 2], dtype=np.float32)
    tiny = Pose((big.xy - centre) * 0.1 + centre, big.scores, W, H)  # 10 px per shoulder width, under the default 12
    f = feats(tiny)
    assert f.present and f.large_enough is False and f.scale_px == pytest.approx(10.0)
    context = {m.name for m in F.CONTEXT_METRICS}
    assert {k: v for k, v in f.metric_values().items() if k not in context and v is not None} == {}
    assert f.hips_in_view is True and f.hands_in_view is True  # what the camera saw still says why
    ungated = feats(tiny, min_scale_px=0.0, min_head_spacing_px=0.0)
    assert ungated.large_enough is True and ungated.facing_audience is True and ungated.posture == "standing"
    # its 6.4 px ear spacing is under the head's own gate, which stays when only the size gate is off
    assert feats(tiny, min_scale_px=0.0).facing_audience is None
    assert feats(big).large_enough is True
    no_shoulders = make_pose(hidden=(B.LEFT_SHOULDER,))
    assert feats(no_shoulders).large_enough is None  # no body frame, no size to judge by


def test_a_head_too_small_for_its_keypoint_yaw_leaves_facing_unjudged_and_says_so():
    """A keypoint yaw divides the nose's offset by half the ear (or eye) spacing: under
    `features.min_head_spacing_px` a pixel of error is more than 10 degrees, and compressed footage
    read such heads right on two frames in three (`python -m tools.validate scale --jpeg 60`). So
    facing is not judged there and `head_large_enough` is False; the body metrics, the turn to the
    screen and a turned back are still judged. The frontal test head's ears are 64 px apart."""
    pose = POSES["frontal"]
    f = feats(pose)
    assert f.facing_audience is True and f.head_large_enough is True and f.head_from_face is False
    small = feats(pose, min_head_spacing_px=70.0)
    assert small.facing_audience is None and small.head_large_enough is False
    assert small.head_yaw == f.head_yaw and small.turned_to_screen is False and small.arms_crossed is False
    back = feats(make_pose(hidden=(B.NOSE, B.LEFT_EYE, B.RIGHT_EYE)), min_head_spacing_px=70.0)
    assert back.back_to_audience is True and back.facing_audience is False  # a back turned is not facing
    assert feats(pose, min_head_spacing_px=0.0).facing_audience is True  # 0 switches the gate off


def turned(pose: Pose, degrees: float) -> Pose:
    """The pose turned clockwise about the frame's centre, as a camera mounted turned shows it."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=np.float32)
    centre = np.array([W / 2, H / 2], dtype=np.float32)
    return Pose((pose.xy - centre) @ rot.T + centre, pose.scores, W, H)


def test_a_presenter_upside_down_or_on_their_side_is_in_view_but_nothing_is_judged():
    """Every feature reads image-up as the presenter's up; a camera mounted turned breaks that
    silently (upside down, the frontal presenter read as turned away from the audience). Past
    MAX_TILT_DEG the frame is presence only, like a presenter too small to measure."""
    upright = POSES["frontal"]
    assert feats(upright).upright is True
    context = {m.name for m in F.CONTEXT_METRICS}
    for degrees in (90.0, 180.0, 270.0, 75.0):
        f = feats(turned(upright, degrees))
        assert f.present and f.upright is False and f.large_enough is True, degrees
        assert {k: v for k, v in f.metric_values().items() if k not in context and v is not None} == {}
        assert f.hips_in_view is True  # what the camera saw still says why
    leaning = feats(turned(upright, 40.0))  # a bend, a lean on the desk: still judged
    assert leaning.upright is True and leaning.facing_audience is not None
    head_only = make_pose(hidden=(B.LEFT_HIP, B.RIGHT_HIP))  # a desk hides the hips: the head gives the axis
    assert feats(head_only).upright is True
    assert feats(turned(head_only, 180.0)).upright is False
    no_axis = make_pose(hidden=(B.LEFT_HIP, B.RIGHT_HIP, B.NOSE, B.LEFT_EYE, B.RIGHT_EYE, B.LEFT_EAR, B.RIGHT_EAR))
    assert feats(no_axis).upright is None  # nothing to tell up by: judged as before


def test_body_tilt_reads_the_torso_then_the_head():
    from edge.analysis.body import body_frame, body_tilt

    def tilt(pts):
        return body_tilt(pts, body_frame(pts))

    pts = [None] * 17
    pts[B.LEFT_SHOULDER], pts[B.RIGHT_SHOULDER] = (120.0, 100.0), (80.0, 100.0)
    pts[B.LEFT_HIP], pts[B.RIGHT_HIP] = (140.0, 200.0), (100.0, 200.0)  # hips 20 px right, 100 px down
    assert tilt(pts) == pytest.approx(math.degrees(math.atan2(20.0, 100.0)))
    pts[B.NOSE] = (100.0, 300.0)  # the hips decide while they are seen
    assert tilt(pts) == pytest.approx(11.31, abs=0.01)
    pts[B.LEFT_HIP] = None
    assert tilt(pts) == pytest.approx(180.0)  # head below the shoulders
    pts[B.NOSE] = (200.0, 100.0)
    assert tilt(pts) == pytest.approx(90.0)


def test_a_small_presenter_breaks_the_speeds():
    """A frame too small to measure is a gap for the wrist speeds, as an empty frame is."""
    big = POSES["frontal"]
    centre = np.array([W / 2, H / 2], dtype=np.float32)
    small = Pose((big.xy - centre) * 0.1 + centre, big.scores, W, H)
    raised = big.xy.copy()
    raised[[B.LEFT_WRIST, B.RIGHT_WRIST], 1] -= 40.0
    moved = Pose(raised, big.scores, W, H)

    def last_speed(middle: Pose) -> float | None:
        ex = F.FeatureExtractor(FeaturesConfig(), AnalysisConfig())
        ex.update(big, 0.0)
        ex.update(middle, 0.1)
        return ex.update(moved, 0.2).wrist_speed

    assert last_speed(big) is not None and last_speed(big) > 0.5  # the wrists moved 0.4 sw in 0.1 s
    assert last_speed(small) is None  # no speed across the small frame
