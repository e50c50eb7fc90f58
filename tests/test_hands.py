"""Hand measures on hand-made keypoints: unseen hands are left out (None, never False), and pockets
and hands behind the back are standing measures."""

from __future__ import annotations

from keypoint_poses import CROSSED, FOLDED, GESTURE, HIPS, POCKETS, POSES, SEATED, WRISTS, make_pose, parts

from edge.analysis import hands as Hn
from edge.analysis.features import FeatureExtractor
from edge.analysis.keypoints import BodyPart as B


def zone(pose):
    pts, _w, body = parts(pose)
    return Hn.gesture_zone(pts, body)


def pockets(pose):
    return Hn.pockets(*parts(pose))


def behind(pose):
    pts, _w, body = parts(pose)
    return Hn.behind_back(pts, body)


def crossed(pose):
    return Hn.crossed(*parts(pose))


def test_hands_in_gesture_zone():
    assert zone(POSES["gesture"]) is True
    assert zone(POSES["frontal"]) is False  # hanging hands are below the waist
    assert zone(make_pose(GESTURE, hidden=(B.RIGHT_WRIST,))) is True
    assert zone(make_pose(hidden=(B.RIGHT_WRIST,))) is False  # the seen hand is out: the unseen left out
    assert zone(make_pose({B.LEFT_WRIST: (480, 200)})) is False  # arm stretched out sideways
    assert zone(make_pose({B.LEFT_WRIST: (360, 90)})) is False  # hand above the head
    assert zone(make_pose(GESTURE, hidden=HIPS)) is True


def test_a_wrist_at_the_zone_edge_within_its_keypoint_error_is_not_judged():
    """Zone bottom at y 269 here (85% of the 140 px torso below the shoulders at 150), 1 sw = 100 px.
    A wrist scoring 0.9 may be 10 px off (p90), one scoring 0.35 about 68 px (docs/metrics.md)."""

    def at(y: float, score: float) -> bool | None:
        pts, _w, body = parts(make_pose({B.LEFT_WRIST: (330, y)}, hidden=(B.RIGHT_WRIST,)))
        return Hn.gesture_zone(pts, body, (score, 1.0))

    assert at(240, 0.9) is True and at(240, 0.35) is None  # 29 px inside the edge
    assert at(262, 0.9) is None  # 7 px inside: within a well-seen wrist's error
    assert at(330, 0.9) is False and at(330, 0.35) is None  # 61 px below the edge
    assert at(400, 0.35) is False  # far below, whatever the score
    assert Hn.position_uncertainty(0.95) < Hn.position_uncertainty(0.55) < Hn.position_uncertainty(0.45)


def test_hidden_hands_are_left_out_not_counted_as_outside():
    """A waist-up webcam framing: the hands below the frame are not "out of the gesture zone"."""
    f = FeatureExtractor().update(POSES["waist_up"], 0.0)
    assert f.present is True
    for name in ("hands_in_gesture_zone", "gesturing", "hands_in_pockets", "hands_behind_back", "wrist_speed"):
        assert getattr(f, name) is None, name
    assert f.hands_in_view is False and f.hips_in_view is False
    assert zone(make_pose(hidden=WRISTS)) is None


def test_hands_in_pockets():
    assert pockets(POSES["pockets"]) is True
    assert pockets(POSES["pockets_hidden_wrists"]) is True
    one = make_pose({B.LEFT_ELBOW: POCKETS[B.LEFT_ELBOW], B.LEFT_WRIST: POCKETS[B.LEFT_WRIST]})
    assert pockets(one) is True
    assert pockets(POSES["frontal"]) is False  # hanging hands
    assert pockets(POSES["crossed"]) is False
    assert pockets(POSES["behind_back"]) is None  # both hands hidden, no pocket elbows: cannot tell
    assert pockets(make_pose(POCKETS, hidden=(B.LEFT_HIP,))) is None
    clasped = {B.LEFT_WRIST: (327, 292), B.RIGHT_WRIST: (313, 292), B.LEFT_ELBOW: (372, 240),
               B.RIGHT_ELBOW: (268, 240)}  # fmt: skip
    assert pockets(make_pose(clasped)) is False  # hands clasped in front of the belly: not at a pocket
    straight = {B.LEFT_ELBOW: (365, 225), B.LEFT_WRIST: (358, 290)}  # wrist at the hip, elbow not out
    assert pockets(make_pose(straight, hidden=(B.RIGHT_WRIST,))) is False


def test_pockets_only_when_standing_never_for_hands_in_the_lap():
    """The old rule "wrist at the hip, elbow out" fired on every seated presenter."""
    ex = FeatureExtractor()
    f = ex.update(POSES["seated"], 0.0)
    assert f.posture == "seated"
    assert f.hands_in_pockets is None and f.hands_behind_back is None
    lap_like_pockets = make_pose({**POCKETS}, base=SEATED)
    assert ex.update(lap_like_pockets, 0.1).hands_in_pockets is None
    assert FeatureExtractor().update(POSES["pockets"], 0.0).hands_in_pockets is True  # standing: judged
    unknown = FeatureExtractor().update(make_pose(POCKETS, hidden=(B.LEFT_KNEE, B.RIGHT_KNEE)), 0.0)
    assert unknown.posture is None and unknown.hands_in_pockets is None


def test_hands_behind_back():
    assert behind(POSES["behind_back"]) is True
    assert behind(POSES["pockets_hidden_wrists"]) is False  # elbows out: pockets
    assert behind(POSES["frontal"]) is False  # wrists seen
    assert behind(make_pose(hidden=WRISTS + HIPS)) is None  # waist-up framing: unknown


def test_arms_crossed():
    assert crossed(POSES["crossed"]) is True
    assert crossed(make_pose(CROSSED, hidden=(B.RIGHT_WRIST,))) is True  # one wrist tucked under the arm
    assert crossed(make_pose(CROSSED, hidden=WRISTS)) is None  # neither wrist even weakly located
    assert crossed(POSES["frontal"]) is False
    assert crossed(POSES["gesture"]) is False
    assert crossed(make_pose(CROSSED, hidden=(B.LEFT_ELBOW,))) is None


def test_folded_arms_with_tucked_hands_are_crossed_not_pockets():
    folded = POSES["folded_arms"]
    assert crossed(folded) is True
    assert pockets(folded) is None  # elbows out but the hands at the chest: no pocket, hands unseen
    assert behind(folded) is False  # elbows out: not behind the back
    hidden = make_pose(FOLDED, hidden=WRISTS)  # the same elbows, hands hidden for good: pockets
    assert crossed(hidden) is None and pockets(hidden) is True
    hanging = make_pose({B.LEFT_ELBOW: (395, 235), B.RIGHT_ELBOW: (245, 235)}, weak=WRISTS)
    assert crossed(hanging) is False
