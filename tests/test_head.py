"""Head direction: from the face stage's HeadReading when fresh, else from the keypoint proxies."""

from __future__ import annotations

import math

import pytest
from keypoint_poses import BACK, FACE, FRONTAL, LOOKING_DOWN, POSES, make_pose, parts, turned_head

from edge.analysis import head as Hd
from edge.analysis.features import FeatureExtractor
from edge.analysis.headpose import HeadReading
from edge.analysis.keypoints import BodyPart as B
from edge.config import AnalysisConfig, FeaturesConfig


def yaw(pose):
    pts, weak, _b = parts(pose)
    return Hd.keypoint_yaw(pts, weak)


def pitch(pose):
    pts, _w, body = parts(pose)
    return Hd.keypoint_pitch(pts, body)


def reading(t=0.0, yaw=0.0, pitch=0.0, gaze_pitch=None, score=0.95):
    return HeadReading(t=t, yaw_deg=yaw, pitch_deg=pitch, roll_deg=0.0, gaze_yaw_deg=None,
                       gaze_pitch_deg=gaze_pitch, face_px=120.0, score=score)  # fmt: skip


def feats(pose, head=None, t=0.0, screen_side="left", **cfg):
    ex = FeatureExtractor(FeaturesConfig(**cfg), AnalysisConfig(screen_side=screen_side))
    return ex.update(pose, t, head=head)


# --- keypoint fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize("deg", [-75, -50, -20, 0, 10, 35, 60, 80])
def test_head_yaw_follows_the_turn_with_its_sign(deg):
    assert yaw(make_pose(turned_head(deg))) == pytest.approx(deg, abs=1e-3)


def test_head_yaw_falls_back_to_eyes_and_to_profile():
    assert 10 < yaw(make_pose(turned_head(30), hidden=(B.LEFT_EAR,))) < 30  # eyes read lower than ears
    assert yaw(POSES["profile"]) == 90.0  # only the right ear seen: turned to own left
    assert yaw(POSES["profile"].mirrored()) == -90.0
    assert yaw(make_pose(hidden=(B.NOSE,))) is None


def test_a_weakly_seen_partner_point_still_locates_the_midpoint():
    """A frontal face whose left ear scores 0.2 is not a profile: the weak ear still gives the yaw."""
    assert yaw(POSES["shy_ear"]) == pytest.approx(20.0, abs=1e-3)
    assert feats(POSES["shy_ear"]).facing_audience is True  # nose and one eye are enough
    truly_gone = make_pose(turned_head(20), hidden=(B.LEFT_EAR,), weak=(B.RIGHT_EYE,))
    assert 5 < yaw(truly_gone) < 20  # eyes (one weak) take over; they read lower
    assert yaw(make_pose(turned_head(20), hidden=(B.LEFT_EAR, B.LEFT_EYE, B.RIGHT_EYE))) == 90.0


def test_facing_and_turned_to_screen_depend_on_the_screen_side():
    left_turn = POSES["turned_left_60"]
    assert feats(left_turn).facing_audience is False
    assert feats(left_turn, screen_side="left").turned_to_screen is True
    assert feats(left_turn, screen_side="right").turned_to_screen is False
    right_turn = make_pose(turned_head(-60))
    assert feats(right_turn, screen_side="right").turned_to_screen is True
    assert feats(right_turn, screen_side="left").turned_to_screen is False
    assert feats(POSES["turned_right_20"]).facing_audience is True
    assert feats(make_pose(hidden=(B.NOSE,))).turned_to_screen is None
    # no screen side set: not judged (None), whichever way the head turns; facing is unaffected
    for pose in (left_turn, right_turn, POSES["turned_right_20"]):
        assert feats(pose, screen_side=None).turned_to_screen is None
    assert feats(POSES["turned_right_20"], screen_side=None).facing_audience is True


def test_back_to_audience_from_hidden_face_or_reversed_shoulders():
    def back(pose):
        pts, _w, body = parts(pose)
        return Hd.back_turned(pts, body)

    assert back(POSES["back"]) is True
    assert back(make_pose(hidden=FACE)) is True  # shoulders seen, no face
    assert back(make_pose(BACK, hidden=(B.LEFT_EYE, B.RIGHT_EYE))) is True  # reversed, only the nose guessed
    assert back(POSES["profile"]) is False
    assert back(make_pose(hidden=(B.LEFT_SHOULDER,))) is None
    f = feats(POSES["back"])
    assert f.facing_audience is False and f.looking_down is None and f.turned_to_screen is None
    assert f.head_direction == "back"


def test_the_nose_below_the_ear_line_is_measured_but_does_not_judge_looking_down():
    """The proxy is kept as a number (`head_pitch_kp`); without a face reading looking down is unknown:
    the proxy caught 15% of the labelled bowed-head frames, so its "no" would be a guess."""
    assert pitch(POSES["looking_down"]) == pytest.approx(0.36, abs=1e-6)
    assert pitch(make_pose(LOOKING_DOWN, hidden=(B.LEFT_EAR,))) == pytest.approx(0.36, abs=1e-6)
    for name in ("looking_down", "frontal"):
        f = feats(POSES[name])
        assert f.looking_down is None and f.head_pitch_kp is not None and f.head_from_face is False
        assert f.head_direction is None  # toward the camera; up or down unknown
    assert feats(POSES["looking_down"], reading(pitch=30.0)).looking_down is True
    assert feats(POSES["looking_down"], reading(pitch=5.0)).looking_down is False  # the face decides


def test_head_pitch_proxy_is_distance_invariant():
    """Half the size and moved: the same presenter further from the camera reads the same."""
    pts = {p: (100 + 0.5 * x, 50 + 0.5 * y) for p, (x, y) in FRONTAL.items()}
    pts.update({p: (100 + 0.5 * x, 50 + 0.5 * y) for p, (x, y) in LOOKING_DOWN.items()})
    far = make_pose(base=pts)
    assert pitch(far) == pytest.approx(pitch(POSES["looking_down"]))
    assert parts(far)[2].scale == pytest.approx(50.0)


# --- from the face -------------------------------------------------------------------------------


def test_a_fresh_reading_gives_the_head_in_degrees():
    f = feats(POSES["frontal"], reading(t=0.0, yaw=12.0, pitch=8.0))
    assert f.head_from_face is True and f.head_yaw == 12.0 and f.head_pitch == 8.0
    assert f.head_pitch_kp == pytest.approx(0.08, abs=1e-6)  # the proxy stays in its own metric (sw)
    assert f.facing_audience is True and f.looking_down is False and f.head_direction == "frontal"


def test_lowered_eyes_under_a_level_head_count_as_looking_down():
    """The keypoint proxy cannot see eyes; the iris can (the seated presenter reading her notes)."""
    f = feats(POSES["frontal"], reading(pitch=10.0, gaze_pitch=20.0))
    assert f.looking_down is True and f.eyes_pitch == 30.0 and f.head_direction == "down"
    assert feats(POSES["frontal"], reading(pitch=10.0)).looking_down is False  # no iris: the head alone
    assert feats(POSES["frontal"], reading(pitch=30.0)).looking_down is True


def test_the_face_overrules_the_keypoint_proxy():
    # the keypoints say turned 60 deg to the own left, the face says frontal: the face wins
    f = feats(POSES["turned_left_60"], reading(yaw=5.0))
    assert f.facing_audience is True and f.turned_to_screen is False and f.head_direction == "frontal"
    f = feats(POSES["frontal"], reading(yaw=-50.0), screen_side="right")
    assert f.turned_to_screen is True and f.head_direction == "image_left"


def test_a_head_at_the_threshold_is_not_judged_either_way():
    """Within `YAW_UNSURE_DEG` of the facing (30) or turned-to-the-screen (45) threshold the reading
    is not surer than the threshold: neither facing nor not, neither turned nor not. Just outside it,
    judged as before, on either side and for either sign of the turn."""
    band = Hd.YAW_UNSURE_DEG
    assert band == 4.0
    for sign in (1.0, -1.0):
        for yaw_deg, facing in ((30.0 - band - 0.5, True), (30.0 - band + 0.5, None), (30.0, None),
                                (30.0 + band - 0.5, None), (30.0 + band + 0.5, False)):
            f = feats(POSES["frontal"], reading(yaw=sign * yaw_deg))
            assert f.facing_audience is facing, (sign, yaw_deg)
            assert f.head_yaw == sign * yaw_deg and f.head_direction is not None  # the yaw is still reported
    side = {1.0: "left", -1.0: "right"}  # + yaw turns toward the presenter's own left
    for sign, screen in side.items():
        for yaw_deg, turned in ((45.0 - band - 0.5, False), (45.0, None), (45.0 + band - 0.5, None),
                                (45.0 + band + 0.5, True)):
            f = feats(POSES["frontal"], reading(yaw=sign * yaw_deg), screen_side=screen)
            assert f.turned_to_screen is turned, (screen, yaw_deg)
    # from the keypoints too: the proxy's yaw near 30 degrees is no sharper than the face's
    pts, weak, _b = parts(POSES["frontal"])
    assert Hd.keypoint_facing(pts, 31.0, False, 30.0) is None
    assert Hd.keypoint_facing(pts, 20.0, False, 30.0) is True and Hd.keypoint_facing(pts, 40.0, False, 30.0) is False
    assert Hd.keypoint_facing(pts, 31.0, True, 30.0) is False  # a back turned is not facing, whatever the yaw


def test_a_stale_or_unsure_reading_falls_back_to_the_keypoints():
    stale = feats(POSES["frontal"], reading(t=0.0, yaw=50.0), t=1.0)  # default max age 0.5 s
    assert stale.head_from_face is False and stale.head_yaw == pytest.approx(0.0, abs=1e-6)
    unsure = feats(POSES["frontal"], reading(yaw=50.0, score=0.2))
    assert unsure.head_from_face is False
    broken = feats(POSES["frontal"], reading(yaw=math.nan))
    assert broken.head_from_face is False
    assert feats(POSES["frontal"], reading(t=0.0, yaw=50.0), t=0.4).head_from_face is True


def test_the_latest_reading_carries_over_the_frames_between_face_runs():
    """The face runs on every third frame; the pipeline hands over a reading only on those."""
    ex = FeatureExtractor()
    assert ex.update(POSES["frontal"], 0.0, head=reading(t=0.0, yaw=-50.0)).head_direction == "image_left"
    carried = ex.update(POSES["frontal"], 0.3)
    assert carried.head_from_face is True and carried.head_yaw == -50.0
    assert ex.update(POSES["frontal"], 0.7).head_from_face is False  # stale: the keypoints again
    ex.reset()
    assert ex.update(POSES["frontal"], 0.8).head_from_face is False


def test_back_from_this_frame_beats_an_older_face_reading():
    f = feats(POSES["back"], reading(t=0.0, yaw=0.0), t=0.3)
    assert f.back_to_audience is True and f.facing_audience is False and f.head_direction == "back"


@pytest.mark.parametrize(
    ("yaw_deg", "down", "expected"),
    [(0.0, False, "frontal"), (40.0, False, "image_right"), (-40.0, False, "image_left"), (10.0, True, "down"),
     (-40.0, True, "down")],
)
def test_head_direction_in_image_terms(yaw_deg, down, expected):
    """+ yaw is the presenter's own left, which is the image right for a presenter facing the camera."""
    assert Hd.head_direction(False, yaw_deg, down, 30.0) == expected
    assert Hd.head_direction(None, None, None, 30.0) is None
    assert Hd.head_direction(True, yaw_deg, down, 30.0) == "back"
    turned = None if abs(yaw_deg) <= 30 else "image_right" if yaw_deg > 0 else "image_left"
    assert Hd.head_direction(False, yaw_deg, None, 30.0) == turned  # down unknown: only a turn is known


def test_head_direction_values_are_the_contract():
    assert set(Hd.HEAD_DIRECTIONS) == {"frontal", "image_left", "image_right", "down", "back"}
    for name in ("frontal", "turned_left_60", "turned_right_20", "back", "looking_down", "profile"):
        assert feats(POSES[name]).head_direction in (*Hd.HEAD_DIRECTIONS, None)
    # yaw + (own left) shows as image right: the turned_left_60 pose turns its nose to the image right
    assert feats(POSES["turned_left_60"]).head_direction == "image_right"
