"""Posture (standing/seated), torso lean and slouch on hand-made keypoints (see keypoint_poses.py)."""

from __future__ import annotations

import pytest
from keypoint_poses import (
    CROSS_LEGGED,
    FRONTAL,
    HIPS,
    KNEES,
    POSES,
    SEATED,
    leaned,
    make_pose,
    parts,
)

from edge.analysis import posture as P
from edge.analysis.features import FeatureExtractor
from edge.analysis.keypoints import BodyPart as B
from edge.config import FeaturesConfig


def cue(pose):
    pts, _weak, body = parts(pose)
    return P.posture_cue(pts, body)


def test_thigh_geometry_of_standing_and_seated():
    pts, _w, body = parts(POSES["frontal"])
    for along, angle in P.thigh_fold(pts, body):
        assert along == pytest.approx(115 / 140, abs=1e-3) and angle < 2
    pts, _w, body = parts(POSES["seated"])
    for along, angle in P.thigh_fold(pts, body):
        assert along == pytest.approx(22 / 140, abs=1e-3) and angle > 30
    pts, _w, body = parts(POSES["cross_legged"])
    for along, angle in P.thigh_fold(pts, body):
        assert abs(along) < 0.05 and angle == pytest.approx(90, abs=3)
    assert P.thigh_fold(*parts(make_pose(hidden=KNEES))[::2]) is None


def test_one_straight_thigh_carries_a_standing_body():
    """A knee lifted (a foot on a step) is standing; a lunge, one thigh folded and the other slanted
    back, is neither; a seated presenter folds every seen thigh."""
    lifted = {B.LEFT_KNEE: (380, 300)}  # left thigh folded forward, right one straight
    assert cue(make_pose(lifted)) == "standing"
    lunge = {B.LEFT_KNEE: (380, 300), B.RIGHT_KNEE: (230, 370)}
    assert cue(make_pose(lunge)) is None
    one_leg_down = make_pose({B.RIGHT_KNEE: (283, 405)}, base=SEATED)  # a thigh under the torso: standing
    assert cue(one_leg_down) == "standing"


def test_posture_cue_from_hips_and_knees():
    assert cue(POSES["frontal"]) == "standing"
    assert cue(POSES["seated"]) == "seated"
    assert cue(POSES["cross_legged"]) == "seated"
    half = {B.LEFT_KNEE: (380, 370), B.RIGHT_KNEE: (260, 370)}  # knees half folded: a squat or a bend
    assert cue(make_pose(half)) is None
    wide = {B.LEFT_KNEE: (430, 380), B.RIGHT_KNEE: (210, 380)}  # a wide stance: thighs 30+ deg out
    assert cue(make_pose(wide)) is None
    assert cue(make_pose(hidden=KNEES)) is None  # knees not seen: unknown
    assert cue(make_pose(hidden=HIPS)) is None
    one_knee = make_pose(base=SEATED, hidden=(B.RIGHT_KNEE,))
    assert cue(one_knee) == "seated"  # one seen side is enough


def test_posture_cue_holds_when_the_camera_looks_down_or_up():
    """A camera looking down from above shortens the torso and shifts a seated knee down the image;
    one looking up from below lifts the knees above the hips. The geometry keeps its answer."""
    squash = 0.8  # the vertical extent the camera sees
    down = {p: (x, 290 + (y - 290) * squash) for p, (x, y) in FRONTAL.items()}
    assert cue(make_pose(base=down)) == "standing"
    seated_from_above = dict(SEATED)
    seated_from_above.update({p: (x, 290 + (y - 290) * squash) for p, (x, y) in SEATED.items() if y < 290})
    seated_from_above[B.LEFT_KNEE], seated_from_above[B.RIGHT_KNEE] = (375, 340), (265, 340)  # 0.36 T lower
    assert cue(make_pose(base=seated_from_above)) == "seated"
    seated_from_below = {**SEATED, B.LEFT_KNEE: (378, 270), B.RIGHT_KNEE: (262, 270)}
    assert cue(make_pose(base=seated_from_below)) == "seated"


def test_posture_tracker_adopts_at_once_and_changes_only_after_the_hold():
    tr = P.PostureTracker(hold_s=2.0)
    assert tr.update(0.0, None) is None
    assert tr.update(0.1, "standing") == "standing"
    for i in range(12):  # a 1.2 s squat: the posture stays
        assert tr.update(0.2 + i * 0.1, "seated" if i % 4 else None) == "standing"
    assert tr.update(1.5, "standing") == "standing"
    for i in range(25):  # sitting down for good
        state = tr.update(2.0 + i * 0.1, "seated")
    assert state == "seated"
    assert tr.update(4.5, None) == "seated"  # a frame without knees keeps it...
    assert tr.update(7.0, None) is None  # ...but not for longer than the hold


def test_torso_frontal_needs_a_wide_enough_shoulder_line():
    _p, _w, body = parts(POSES["frontal"])
    assert P.torso_frontal(body) is True  # 100 / 140 = 0.71
    turned = make_pose({B.LEFT_SHOULDER: (350, 150), B.RIGHT_SHOULDER: (290, 150)})  # 60 / 140
    assert P.torso_frontal(parts(turned)[2]) is False
    assert P.torso_frontal(parts(make_pose(hidden=HIPS))[2]) is None


@pytest.mark.parametrize("deg", [-20, -5, 0, 8, 25])
def test_torso_lean_angle_and_sign(deg):
    assert P.torso_lean(parts(make_pose(leaned(deg)))[2]) == pytest.approx(deg, abs=1e-3)


def test_a_forward_bend_seen_at_an_angle_is_not_a_lean():
    """The torso line tilts in the image while the shoulders stay level: no sideways lean."""
    bent = {B.LEFT_SHOULDER: (400, 160), B.RIGHT_SHOULDER: (300, 160)}  # shoulders shifted 30 px sideways
    _p, _w, body = parts(make_pose(bent))
    assert abs(P.raw_lean(body)) > 10
    assert P.torso_lean(body) is None
    assert P.torso_lean(parts(make_pose(hidden=HIPS))[2]) is None


def test_slouch_against_the_presenters_own_upright_baseline():
    ex = FeatureExtractor(FeaturesConfig(baseline_warmup_s=5.0))
    upright = POSES["frontal"]
    for i in range(60):  # 6 s at 10 fps
        f = ex.update(upright, i * 0.1)
    assert ex.baseline["standing"] == pytest.approx(1.4) and ex.baseline["seated"] is None
    assert f.slouch == pytest.approx(0.0, abs=1e-9) and f.slouching is False
    drop = 15  # shoulders (and everything above) 15 px lower: torso 140 -> 125 px
    slouched = make_pose({p: (x, y + drop) for p, (x, y) in FRONTAL.items() if p < B.LEFT_ELBOW})
    f = ex.update(slouched, 6.1)
    assert f.slouch == pytest.approx(15 / 140, abs=1e-6) and f.slouching is True
    for i in range(300):  # a long slouch must not drag the baseline down
        ex.update(slouched, 6.2 + i * 0.1)
    assert ex.baseline["standing"] == pytest.approx(1.4)
    # turned away: not measured (shoulder width is foreshortened)
    assert ex.update(POSES["turned_left_60"], 40.0).slouch is None


def test_the_baseline_comes_only_from_upright_well_seen_frames():
    """A leaning, a low-score or a half-folded start sets no baseline (the squats clip once took its
    upright reference from a turned, squatting presenter)."""
    ex = FeatureExtractor(FeaturesConfig(baseline_warmup_s=1.0))
    lean = make_pose(leaned(15))
    unsure = make_pose(score=0.4)
    for i in range(30):
        ex.update(lean if i % 2 else unsure, i * 0.1)
    assert ex.baseline["standing"] is None


def test_seated_slouch_uses_its_own_baseline():
    ex = FeatureExtractor(FeaturesConfig(baseline_warmup_s=1.0, posture_hold_s=1.0))
    for i in range(20):
        ex.update(POSES["frontal"], i * 0.1)
    for i in range(40):
        f = ex.update(POSES["seated"], 2.0 + i * 0.1)
    assert f.posture == "seated"
    assert ex.baseline["standing"] == pytest.approx(1.4)
    assert ex.baseline["seated"] == pytest.approx(1.4)  # the same torso, measured seated
    sunk = make_pose({p: (x, y + 20) for p, (x, y) in SEATED.items() if p < B.LEFT_ELBOW}, base=SEATED)
    f = ex.update(sunk, 6.1)
    assert f.slouching is True and f.slouch == pytest.approx(20 / 140, abs=1e-6)


def test_no_slouch_without_hips():
    """The nose-to-shoulder height once used without hips moves with a nod: no slouch then."""
    ex = FeatureExtractor(FeaturesConfig(baseline_warmup_s=0.5))
    for i in range(20):
        f = ex.update(make_pose(hidden=HIPS), i * 0.1)
    assert f.slouch is None and f.slouching is None and f.posture is None


def test_cross_legged_reads_seated():
    ex = FeatureExtractor()
    f = ex.update(make_pose(base=CROSS_LEGGED), 0.0)
    assert f.posture == "seated" and f.seated is True
