"""Frame features on hand-made keypoint sets: a frontal standing presenter, then turned, leaning,
crossing arms...; their mirror images; and missing keypoints.

The presenter faces the camera: their left shoulder is on the image right (COCO convention).
Shoulder width is 100 px, so 1 shoulder width (sw) = 100 px in every pose below.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pytest

from edge.analysis import features as F
from edge.analysis.keypoints import BodyPart as B
from edge.analysis.keypoints import Pose
from edge.config import AnalysisConfig, FeaturesConfig

W, H = 640, 480
MIN = 0.3

FRONTAL = {
    B.NOSE: (320, 104),
    B.LEFT_EYE: (335, 88),
    B.RIGHT_EYE: (305, 88),
    B.LEFT_EAR: (352, 96),
    B.RIGHT_EAR: (288, 96),
    B.LEFT_SHOULDER: (370, 150),
    B.RIGHT_SHOULDER: (270, 150),
    B.LEFT_ELBOW: (380, 235),
    B.RIGHT_ELBOW: (260, 235),
    B.LEFT_WRIST: (385, 315),
    B.RIGHT_WRIST: (255, 315),
    B.LEFT_HIP: (355, 290),
    B.RIGHT_HIP: (285, 290),
    B.LEFT_KNEE: (355, 380),
    B.RIGHT_KNEE: (285, 380),
    B.LEFT_ANKLE: (355, 465),
    B.RIGHT_ANKLE: (285, 465),
}


def make_pose(
    overrides: dict | None = None, hidden: tuple = (), base: dict | None = None, weak: tuple = ()
) -> Pose:
    """A pose from the frontal one with some points moved, some hidden (score 0.05) and some only
    weakly seen (score 0.2: below the 0.3 threshold, above the 0.1 "weak" one)."""
    pts = dict(base or FRONTAL)
    pts.update(overrides or {})
    xy = np.array([pts[p] for p in B], dtype=np.float32)
    scores = np.full(17, 0.9, dtype=np.float32)
    for p in hidden:
        scores[p] = 0.05
    for p in weak:
        scores[p] = 0.2
    return Pose(xy, scores, W, H)


def turned_head(deg: float) -> dict:
    """Head turned `deg` degrees to the presenter's own left (negative: right), simple head model:
    ears 32 px either side of the head centre, nose 32 px and eyes 25 px in front of the ear line."""
    th = math.radians(deg)
    c = 320.0
    return {
        B.NOSE: (c + 32 * math.sin(th), 104),
        B.LEFT_EYE: (c + 15 * math.cos(th) + 25 * math.sin(th), 88),
        B.RIGHT_EYE: (c - 15 * math.cos(th) + 25 * math.sin(th), 88),
        B.LEFT_EAR: (c + 32 * math.cos(th), 96),
        B.RIGHT_EAR: (c - 32 * math.cos(th), 96),
    }


def leaned(deg: float) -> dict:
    """Upper body (everything above the hips) rotated about the hip midpoint toward own left."""
    th = math.radians(deg)
    cx, cy = 320.0, 290.0
    out = {}
    for p in list(B)[: B.LEFT_HIP]:
        x, y = FRONTAL[p]
        dx, dy = x - cx, y - cy
        # toward the presenter's left = image +x for a frontal presenter; y up is -dy
        out[p] = (cx + dx * math.cos(th) - dy * math.sin(th), cy + dx * math.sin(th) + dy * math.cos(th))
    return out


CROSSED = {
    B.LEFT_ELBOW: (375, 240), B.RIGHT_ELBOW: (265, 240), B.LEFT_WRIST: (280, 225), B.RIGHT_WRIST: (360, 225),
}  # fmt: skip
POCKETS = {
    B.LEFT_ELBOW: (395, 235), B.LEFT_WRIST: (358, 290), B.RIGHT_ELBOW: (245, 235), B.RIGHT_WRIST: (282, 290),
}  # fmt: skip
GESTURE = {B.LEFT_ELBOW: (395, 230), B.LEFT_WRIST: (360, 200)}
LOOKING_DOWN = {B.NOSE: (320, 132), B.LEFT_EYE: (335, 118), B.RIGHT_EYE: (305, 118)}
BACK = {
    B.LEFT_SHOULDER: (270, 150), B.RIGHT_SHOULDER: (370, 150),
    B.LEFT_HIP: (285, 290), B.RIGHT_HIP: (355, 290),
    B.LEFT_ELBOW: (260, 235), B.RIGHT_ELBOW: (380, 235),
    B.LEFT_WRIST: (255, 315), B.RIGHT_WRIST: (385, 315),
}  # fmt: skip
# Arms folded with the hands tucked under them (wrists only weakly located), elbows pushed out.
FOLDED = {
    B.LEFT_ELBOW: (395, 230), B.RIGHT_ELBOW: (245, 230), B.LEFT_WRIST: (315, 222), B.RIGHT_WRIST: (290, 220),
}  # fmt: skip
FACE = (B.NOSE, B.LEFT_EYE, B.RIGHT_EYE)
WRISTS = (B.LEFT_WRIST, B.RIGHT_WRIST)

POSES = {
    "frontal": make_pose(),
    "turned_left_60": make_pose(turned_head(60)),
    "turned_right_20": make_pose(turned_head(-20)),
    "lean_left_10": make_pose(leaned(10)),
    "crossed": make_pose(CROSSED),
    "pockets": make_pose(POCKETS),
    "pockets_hidden_wrists": make_pose({B.LEFT_ELBOW: (400, 235), B.RIGHT_ELBOW: (240, 235)}, hidden=WRISTS),
    "behind_back": make_pose({B.LEFT_ELBOW: (372, 230), B.RIGHT_ELBOW: (268, 230)}, hidden=WRISTS),
    "gesture": make_pose(GESTURE),
    "looking_down": make_pose(LOOKING_DOWN),
    "back": make_pose(BACK, hidden=FACE),
    "profile": make_pose({B.NOSE: (355, 104)}, hidden=(B.LEFT_EAR, B.LEFT_EYE)),
    "folded_arms": make_pose(FOLDED, weak=WRISTS),
    "shy_ear": make_pose(turned_head(20), weak=(B.LEFT_EAR, B.RIGHT_EYE)),
}


def feats(pose: Pose, screen_side: str = "left", **cfg) -> F.FrameFeatures:
    ex = F.FeatureExtractor(FeaturesConfig(**cfg), AnalysisConfig(screen_side=screen_side))
    return ex.update(pose, 0.0)


# --- single features ----------------------------------------------------------------------------


def test_frontal_pose_reads_as_a_neutral_presenter():
    f = feats(POSES["frontal"])
    assert f.present and f.face_visible
    assert f.scale_px == pytest.approx(100.0)
    assert f.head_yaw == pytest.approx(0.0, abs=1e-6)
    assert f.head_pitch == pytest.approx(0.08, abs=1e-6)
    assert f.torso_lean == pytest.approx(0.0, abs=1e-6)
    assert f.facing_audience is True
    assert f.turned_to_screen is False
    assert f.back_to_audience is False
    assert f.looking_down is False
    assert f.hands_in_gesture_zone is False  # hanging hands are below the waist
    assert f.hands_in_pockets is False
    assert f.hands_behind_back is False
    assert f.arms_crossed is False
    assert f.wrist_speed is None and f.gesturing is None  # no previous frame yet
    assert f.slouch is None and f.slouching is None  # no baseline yet
    assert f.sway_amplitude is None and f.swaying is None  # no window yet


@pytest.mark.parametrize("deg", [-75, -50, -20, 0, 10, 35, 60, 80])
def test_head_yaw_follows_the_turn_with_its_sign(deg):
    yaw = F.head_yaw(make_pose(turned_head(deg)), MIN)
    assert yaw == pytest.approx(deg, abs=1e-3)


def test_head_yaw_falls_back_to_eyes_and_to_profile():
    pose = make_pose(turned_head(30), hidden=(B.LEFT_EAR,))
    yaw = F.head_yaw(pose, MIN)
    assert 10 < yaw < 30  # eyes read lower than ears
    assert F.head_yaw(POSES["profile"], MIN) == 90.0  # only the right ear seen: turned to own left
    assert F.head_yaw(POSES["profile"].mirrored(), MIN) == -90.0
    assert F.head_yaw(make_pose(hidden=(B.NOSE,)), MIN) is None


def test_a_weakly_seen_partner_point_still_locates_the_midpoint():
    """A frontal face whose left ear scores 0.2 is not a profile: the weak ear still gives the yaw."""
    assert F.head_yaw(POSES["shy_ear"], MIN) == pytest.approx(20.0, abs=1e-3)
    assert F.facing_audience(POSES["shy_ear"], MIN) is True  # nose and one eye are enough
    truly_gone = make_pose(turned_head(20), hidden=(B.LEFT_EAR,), weak=(B.RIGHT_EYE,))
    assert 5 < F.head_yaw(truly_gone, MIN) < 20  # eyes (one weak) take over; they read lower
    profile = make_pose(turned_head(20), hidden=(B.LEFT_EAR, B.LEFT_EYE, B.RIGHT_EYE))
    assert F.head_yaw(profile, MIN) == 90.0


def test_keypoints_on_the_frame_border_count_as_unseen():
    """MoveNet parks joints that are out of view on the border (hips below a waist-up framing)."""
    cut = make_pose({B.LEFT_HIP: (355, 479), B.RIGHT_HIP: (285, 479), B.LEFT_WRIST: (385, 478),
                     B.RIGHT_WRIST: (255, 479)})  # fmt: skip
    pts = F.visible_points(cut, MIN)
    assert pts[B.LEFT_HIP] is None and pts[B.LEFT_WRIST] is None and pts[B.LEFT_SHOULDER] is not None
    assert F.hands_in_pockets(cut, MIN) is None and F.hands_behind_back(cut, MIN) is None
    outside = make_pose({B.NOSE: (-20, 104)})
    assert F.visible_points(outside, MIN)[B.NOSE] is None


def test_facing_and_turned_to_screen_depend_on_the_screen_side():
    left_turn = POSES["turned_left_60"]
    assert F.facing_audience(left_turn, MIN) is False
    assert F.turned_to_screen(left_turn, MIN, "left") is True
    assert F.turned_to_screen(left_turn, MIN, "right") is False
    right_turn = make_pose(turned_head(-60))
    assert F.turned_to_screen(right_turn, MIN, "right") is True
    assert F.turned_to_screen(right_turn, MIN, "left") is False
    assert F.facing_audience(POSES["turned_right_20"], MIN) is True
    assert F.turned_to_screen(make_pose(hidden=(B.NOSE,)), MIN, "left") is None


def test_back_to_audience_from_hidden_face_or_reversed_shoulders():
    assert F.back_to_audience(POSES["back"], MIN) is True
    assert F.back_to_audience(make_pose(hidden=FACE), MIN) is True  # shoulders seen, no face
    # Reversed shoulders with only the nose guessed: still the back.
    assert F.back_to_audience(make_pose(BACK, hidden=(B.LEFT_EYE, B.RIGHT_EYE)), MIN) is True
    assert F.back_to_audience(POSES["profile"], MIN) is False
    assert F.back_to_audience(make_pose(hidden=(B.LEFT_SHOULDER,)), MIN) is None
    f = feats(POSES["back"])
    assert f.facing_audience is False and f.looking_down is None and f.turned_to_screen is None


def test_looking_down_from_the_nose_below_the_ear_line():
    assert F.head_pitch(POSES["looking_down"], MIN) == pytest.approx(0.36, abs=1e-6)
    assert F.looking_down(POSES["looking_down"], MIN) is True
    assert F.looking_down(POSES["frontal"], MIN) is False
    one_ear = make_pose(LOOKING_DOWN, hidden=(B.LEFT_EAR,))
    assert F.head_pitch(one_ear, MIN) == pytest.approx(0.36, abs=1e-6)
    assert F.looking_down(make_pose(hidden=(B.LEFT_EAR, B.RIGHT_EAR)), MIN) is None


def test_head_pitch_is_distance_invariant():
    """Half the size and moved: the same presenter further from the camera reads the same."""
    pts = {p: (100 + 0.5 * x, 50 + 0.5 * y) for p, (x, y) in FRONTAL.items()}
    pts.update({p: (100 + 0.5 * x, 50 + 0.5 * y) for p, (x, y) in LOOKING_DOWN.items()})
    far = make_pose(base=pts)
    assert F.head_pitch(far, MIN) == pytest.approx(F.head_pitch(POSES["looking_down"], MIN))
    assert F.body_scale(far, MIN) == pytest.approx(50.0)


@pytest.mark.parametrize("deg", [-20, -5, 0, 8, 25])
def test_torso_lean_angle_and_sign(deg):
    assert F.torso_lean(make_pose(leaned(deg)), MIN) == pytest.approx(deg, abs=1e-3)


def test_torso_lean_needs_hips():
    assert F.torso_lean(make_pose(hidden=(B.LEFT_HIP,)), MIN) is None


def test_arms_crossed():
    assert F.arms_crossed(POSES["crossed"], MIN) is True
    # one wrist tucked under the other arm, not seen: still crossed
    assert F.arms_crossed(make_pose(CROSSED, hidden=(B.RIGHT_WRIST,)), MIN) is True
    assert F.arms_crossed(make_pose(CROSSED, hidden=WRISTS), MIN) is False
    assert F.arms_crossed(POSES["frontal"], MIN) is False
    assert F.arms_crossed(POSES["gesture"], MIN) is False
    assert F.arms_crossed(make_pose(CROSSED, hidden=(B.LEFT_ELBOW,)), MIN) is None


def test_folded_arms_with_tucked_hands_are_crossed_not_pockets():
    folded = POSES["folded_arms"]
    assert F.arms_crossed(folded, MIN) is True
    assert F.hands_in_pockets(folded, MIN) is False  # elbows out, but the hands are up at the chest
    assert F.hands_behind_back(folded, MIN) is False  # elbows out: not behind the back
    # the same elbows with the hands hidden for good (score 0.05): pockets, not crossed
    hidden = make_pose(FOLDED, hidden=WRISTS)
    assert F.arms_crossed(hidden, MIN) is False and F.hands_in_pockets(hidden, MIN) is True
    # weak wrists hanging by the hips are not folded
    hanging = make_pose({B.LEFT_ELBOW: (395, 235), B.RIGHT_ELBOW: (245, 235)}, weak=WRISTS)
    assert F.arms_crossed(hanging, MIN) is False


def test_hands_in_pockets():
    assert F.hands_in_pockets(POSES["pockets"], MIN) is True
    assert F.hands_in_pockets(POSES["pockets_hidden_wrists"], MIN) is True
    one = make_pose({B.LEFT_ELBOW: POCKETS[B.LEFT_ELBOW], B.LEFT_WRIST: POCKETS[B.LEFT_WRIST]})
    assert F.hands_in_pockets(one, MIN) is True
    assert F.hands_in_pockets(POSES["frontal"], MIN) is False  # hanging hands
    assert F.hands_in_pockets(POSES["behind_back"], MIN) is False
    assert F.hands_in_pockets(POSES["crossed"], MIN) is False
    assert F.hands_in_pockets(make_pose(POCKETS, hidden=(B.LEFT_HIP,)), MIN) is None


def test_hands_behind_back():
    assert F.hands_behind_back(POSES["behind_back"], MIN) is True
    assert F.hands_behind_back(POSES["pockets_hidden_wrists"], MIN) is False  # elbows out: pockets
    assert F.hands_behind_back(POSES["frontal"], MIN) is False  # wrists seen
    # wrists and hips out of frame (waist-up framing): unknown, not "behind the back"
    cut = make_pose(hidden=WRISTS + (B.LEFT_HIP, B.RIGHT_HIP))
    assert F.hands_behind_back(cut, MIN) is None


def test_hands_in_gesture_zone():
    assert F.hands_in_gesture_zone(POSES["gesture"], MIN) is True
    assert F.hands_in_gesture_zone(POSES["frontal"], MIN) is False
    assert F.hands_in_gesture_zone(make_pose(hidden=WRISTS), MIN) is False
    far_out = make_pose({B.LEFT_WRIST: (480, 200)})  # arm stretched out sideways: outside the box
    assert F.hands_in_gesture_zone(far_out, MIN) is False
    above = make_pose({B.LEFT_WRIST: (360, 90)})  # hand above the head
    assert F.hands_in_gesture_zone(above, MIN) is False
    no_hips = make_pose(GESTURE, hidden=(B.LEFT_HIP, B.RIGHT_HIP))
    assert F.hands_in_gesture_zone(no_hips, MIN) is True


def test_speeds_are_relative_to_the_torso_and_in_shoulder_widths_per_second():
    a = POSES["frontal"]
    moved = make_pose({B.LEFT_WRIST: (385, 305), B.RIGHT_ELBOW: (257, 231)})  # 10 px, 5 px
    wrist, elbow = F.joint_speeds(a, moved, 0.1, MIN)
    assert wrist == pytest.approx(1.0) and elbow == pytest.approx(0.5)
    walked = make_pose(base={p: (x + 30, y) for p, (x, y) in FRONTAL.items()})  # whole body moved
    assert F.joint_speeds(a, walked, 0.1, MIN) == (pytest.approx(0.0), pytest.approx(0.0))
    assert F.joint_speeds(a, make_pose(hidden=WRISTS), 0.1, MIN)[0] is None
    assert F.joint_speeds(a, moved, 0.0, MIN) == (None, None)


def test_extractor_gesturing_and_gap_handling():
    ex = F.FeatureExtractor()
    ex.update(POSES["frontal"], 0.0)
    f = ex.update(make_pose({B.LEFT_WRIST: (385, 300)}), 0.1)  # 15 px in 0.1 s = 1.5 sw/s
    assert f.wrist_speed == pytest.approx(1.5) and f.gesturing is True
    f = ex.update(make_pose({B.LEFT_WRIST: (385, 299)}), 0.2)
    assert f.wrist_speed == pytest.approx(0.1) and f.gesturing is False
    f = ex.update(make_pose({B.LEFT_WRIST: (385, 250)}), 5.0)  # after a long gap: no speed
    assert f.wrist_speed is None and f.gesturing is None
    ex.update(None, 5.1)  # presenter lost: the previous frame is forgotten
    assert ex.update(POSES["frontal"], 5.2).wrist_speed is None


def test_slouch_against_the_presenters_own_upright_baseline():
    ex = F.FeatureExtractor(FeaturesConfig(baseline_warmup_s=5.0))
    upright = POSES["frontal"]
    for i in range(60):  # 6 s at 10 fps
        f = ex.update(upright, i * 0.1)
    assert ex.baseline["torso"] == pytest.approx(1.4)
    assert f.slouch == pytest.approx(0.0, abs=1e-9) and f.slouching is False
    drop = 15  # shoulders (and everything above) 15 px lower: torso 140 -> 125 px
    slouched = make_pose({p: (x, y + drop) for p, (x, y) in FRONTAL.items() if p < B.LEFT_ELBOW})
    f = ex.update(slouched, 6.1)
    assert f.slouch == pytest.approx(15 / 140, abs=1e-6) and f.slouching is True
    for i in range(300):  # a long slouch must not drag the baseline down
        ex.update(slouched, 6.2 + i * 0.1)
    assert ex.baseline["torso"] == pytest.approx(1.4)
    # turned away: not measured (shoulder width is foreshortened)
    assert ex.update(POSES["turned_left_60"], 40.0).slouch is None


def test_slouch_uses_the_neck_without_hips():
    ex = F.FeatureExtractor(FeaturesConfig(baseline_warmup_s=1.0))
    no_hips = (B.LEFT_HIP, B.RIGHT_HIP)
    for i in range(20):
        ex.update(make_pose(hidden=no_hips), i * 0.1)
    assert ex.baseline["neck"] == pytest.approx(0.46)
    assert ex.baseline["torso"] is None
    sunk = make_pose({B.LEFT_SHOULDER: (370, 140), B.RIGHT_SHOULDER: (270, 140)}, hidden=no_hips)
    f = ex.update(sunk, 2.1)
    assert f.slouch == pytest.approx(1 - 0.36 / 0.46) and f.slouching is True


def _sway_stream(ex, amp_sw, freq, seconds=8.0, fps=10.0, drift_px_s=0.0):
    out = None
    for i in range(int(seconds * fps)):
        t = i / fps
        dx = amp_sw * 100 * math.sin(2 * math.pi * freq * t) + drift_px_s * t
        out = ex.update(make_pose(base={p: (x + dx, y) for p, (x, y) in FRONTAL.items()}), t)
    return out


def test_hip_sway_amplitude_and_frequency():
    f = _sway_stream(F.FeatureExtractor(), 0.2, 0.5)
    assert f.sway_amplitude == pytest.approx(0.2, rel=0.15)
    assert f.sway_frequency == pytest.approx(0.5, abs=0.08)
    assert f.swaying is True
    still = _sway_stream(F.FeatureExtractor(), 0.0, 0.5)
    assert still.sway_amplitude == pytest.approx(0.0, abs=1e-6)
    assert still.sway_frequency is None and still.swaying is False
    walking = _sway_stream(F.FeatureExtractor(), 0.0, 0.5, drift_px_s=15.0)  # steady walk: trend removed
    assert walking.swaying is False
    fast = _sway_stream(F.FeatureExtractor(), 0.2, 1.2)
    assert fast.sway_frequency == pytest.approx(1.2, abs=0.1)


def test_sway_ring_buffer_is_fixed_size():
    ex = F.FeatureExtractor()
    cap = ex._sway.capacity
    _sway_stream(ex, 0.2, 0.5, seconds=60.0)
    assert ex._sway.capacity == cap and len(ex._sway._t) == cap
    t, x, s = ex._sway.samples(59.9)
    assert len(t) <= cap and t[-1] - t[0] <= FeaturesConfig().sway_window_s + 1e-9


def test_sway_from_samples_on_irregular_timestamps():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 6, 50))
    x = 300 + 30 * np.sin(2 * np.pi * 0.7 * t)
    amp, freq = F.sway_from_samples(t, x, 100.0)
    assert amp == pytest.approx(0.3, rel=0.15) and freq == pytest.approx(0.7, abs=0.1)
    assert F.sway_from_samples(t[:3], x[:3], 100.0) is None


# --- mirror images --------------------------------------------------------------------------------

SIGNED = {"head_yaw", "torso_lean"}


@pytest.mark.parametrize("name", sorted(POSES))
def test_mirroring_swaps_screen_side_and_keeps_symmetric_measures(name):
    pose = POSES[name]
    a = feats(pose, "left")
    b = feats(pose.mirrored(), "right")
    for fld in fields(F.FrameFeatures):
        va, vb = getattr(a, fld.name), getattr(b, fld.name)
        if fld.name in SIGNED and va is not None:
            assert vb == pytest.approx(-va, abs=1e-4), fld.name
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
        pose = replace(base, xy=base.xy + jitter)
        fa, fb = ex_a.update(pose, t), ex_b.update(pose.mirrored(), t)
        for name in ("wrist_speed", "elbow_speed", "slouch", "sway_amplitude", "sway_frequency"):
            va, vb = getattr(fa, name), getattr(fb, name)
            assert (va is None) == (vb is None), name
            if va is not None:
                assert vb == pytest.approx(va, rel=1e-4, abs=1e-6), name
        assert fa.gesturing == fb.gesturing and fa.swaying == fb.swaying and fa.slouching == fb.slouching
    assert fa.sway_amplitude is not None


# --- missing and broken keypoints -----------------------------------------------------------------


def test_no_presenter_gives_an_empty_frame():
    ex = F.FeatureExtractor()
    f = ex.update(None, 0.0)
    assert f == F.FrameFeatures(present=False)
    empty = Pose(np.zeros((17, 2), np.float32), np.full(17, 0.1, np.float32), W, H)
    assert ex.update(empty, 0.1).present is False
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
            assert v is None or isinstance(v, bool) or math.isfinite(v), (i, name, v)
        if not f.present:
            assert all(v is None for v in f.metric_values().values())


def test_missing_parts_give_none_not_false_guesses():
    no_shoulders = make_pose(hidden=(B.LEFT_SHOULDER, B.RIGHT_SHOULDER))
    f = feats(no_shoulders)
    assert f.present is True and f.scale_px is None
    for name in ("head_pitch", "torso_lean", "back_to_audience", "hands_in_gesture_zone", "hands_in_pockets",
                 "hands_behind_back", "arms_crossed", "looking_down"):  # fmt: skip
        assert getattr(f, name) is None, name
    assert f.head_yaw == pytest.approx(0.0, abs=1e-6)  # the head alone still gives the yaw


def test_metric_specs_cover_every_metric_once():
    names = [m.name for m in F.METRICS]
    assert len(names) == len(set(names))
    assert set(F.FrameFeatures().metric_values()) == set(names)
    for m in F.CONTINUOUS_METRICS:
        assert m.lo < m.hi
