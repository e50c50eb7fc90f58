"""Feedback rules: thresholds, ranking, severity, sparsity, and silence on too little data."""

from __future__ import annotations

import pytest

from edge.analysis.features import SHARE_METRICS
from edge.config import FeedbackConfig
from edge.session.feedback import (
    CAVEATS,
    LEVEL_GAZE_MAX_DEG,
    NEEDS,
    RULES,
    TOWARD_CAMERA_MAX_DEG,
    evaluate,
    evaluate_stats,
    evidence,
    excess_past,
    judge,
    not_judged,
    severity_of,
    wilson_bounds,
)
from edge.session.stats import SessionStats

CFG = FeedbackConfig(max_findings=20)
GOOD = {
    "facing_audience": 0.8, "turned_to_screen": 0.1, "back_to_audience": 0.0, "looking_down": 0.05,
    "gesturing": 0.4, "hands_in_pockets": 0.0, "hands_behind_back": 0.0, "arms_crossed": 0.0,
    "slouching": 0.1, "swaying": 0.05, "hands_in_gesture_zone": 0.5,
}  # fmt: skip
GOOD_EMOTION = {"positive": 0.3, "negative": 0.1, "neutral": 0.6}


def metrics(values: dict[str, float], n: int = 500) -> dict:
    return {k: {"kind": "share", "share": v, "n": n} for k, v in values.items()}


def emotion(c3: dict[str, float], frames: int = 200) -> dict:
    return {"frames": frames, "classes3": c3}


def test_a_good_session_has_no_findings():
    assert evaluate(metrics(GOOD), emotion(GOOD_EMOTION), CFG) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_fires_past_its_threshold(rule):
    threshold = getattr(CFG, rule.threshold_key)
    bad = min(1.0, threshold + 0.1) if rule.direction == "max" else max(0.0, threshold - 0.1)
    m, e = dict(GOOD), dict(GOOD_EMOTION)
    if rule.source.startswith("emotion."):
        e[rule.source.split(".")[1]] = bad
    else:
        m[rule.source] = bad
    found = evaluate(metrics(m), emotion(e), CFG)
    assert [f.code for f in found] == [rule.code]
    f = found[0]
    assert f.value == pytest.approx(bad) and f.threshold == threshold and f.metric == rule.source
    assert f.message.endswith(".") and f"{bad * 100:.0f}%" in f.message and len(f.message) <= 500
    assert "{" not in f.message


def test_rule_sources_exist():
    names = {m.name for m in SHARE_METRICS}
    for rule in RULES:
        assert rule.source in names or rule.source in ("emotion.negative", "emotion.positive")
        assert hasattr(FeedbackConfig(), rule.threshold_key)


def test_findings_are_ranked_by_distance_past_the_threshold_and_capped():
    m = dict(GOOD, facing_audience=0.55, back_to_audience=0.4, arms_crossed=0.3)
    found = evaluate(metrics(m), emotion(GOOD_EMOTION), CFG)
    assert [f.code for f in found] == ["back_to_audience", "arms_crossed", "facing_audience_low"]
    assert [f.severity for f in found] == ["critical", "warning", "info"]
    assert [f.code for f in evaluate(metrics(m), None, FeedbackConfig(max_findings=2))] == [
        "back_to_audience", "arms_crossed",
    ]  # fmt: skip
    assert evaluate(metrics(m), None, FeedbackConfig(max_findings=0)) == []


def test_default_config_keeps_only_three():
    m = dict(GOOD, facing_audience=0.1, back_to_audience=0.5, arms_crossed=0.6, hands_in_pockets=0.7)
    assert len(evaluate(metrics(m), None)) == 3


def test_too_little_data_gives_no_finding():
    m = dict(GOOD, back_to_audience=0.9)
    assert evaluate(metrics(m, n=CFG.min_frames - 1), None, CFG) == []
    assert [f.code for f in evaluate(metrics(m, n=CFG.min_frames), None, CFG)] == ["back_to_audience"]
    e = dict(GOOD_EMOTION, negative=0.9)
    assert evaluate(metrics(GOOD), emotion(e, frames=CFG.min_emotion_frames - 1), CFG) == []
    assert len(evaluate(metrics(GOOD), emotion(e, frames=CFG.min_emotion_frames), CFG)) == 1
    assert evaluate({}, None, CFG) == []


def test_excess_is_symmetric_in_log_odds_and_maps_to_severity():
    assert excess_past(0.1, 0.05, "max") == pytest.approx(excess_past(0.9, 0.95, "min"))
    assert excess_past(0.05, 0.1, "max") < 0
    assert excess_past(0.0, 0.1, "min") < 100  # clamped, never infinite
    assert [severity_of(x) for x in (0.1, 0.6, 2.0)] == ["info", "warning", "critical"]


def test_evaluate_stats_on_live_statistics():
    s = SessionStats()
    for i in range(200):
        s.add_values(i * 0.1, True, {"arms_crossed": i % 2 == 0, "facing_audience": True})
    found = evaluate_stats(s, CFG)
    assert [f.code for f in found] == ["arms_crossed"] and found[0].value == pytest.approx(0.5)
    d = found[0].to_dict()
    assert set(d) == {"code", "severity", "metric", "value", "threshold", "message", "basis"}
    assert d["basis"] == {"frames": 200, "share": 1.0}


def test_a_finding_needs_its_metric_judged_on_enough_of_the_session():
    m = metrics(dict(GOOD, hands_in_pockets=0.9), n=100)
    assert [f.code for f in evaluate(m, None, CFG, present=200)] == ["hands_in_pockets"]
    found = evaluate(m, None, CFG, present=200)[0]
    assert found.basis == {"frames": 100, "share": 0.5}
    # the same 100 frames out of 1000 in view: 10% of the session, too little to speak for it
    assert evaluate(m, None, CFG, present=1000) == []
    assert evaluate(m, None, FeedbackConfig(max_findings=20, min_judged_share=0.05), present=1000) != []


def test_a_share_within_sampling_noise_of_its_threshold_does_not_fire():
    lo, hi = wilson_bounds(0.25, 60, 1.64)
    assert lo < 0.2 < 0.25 < hi
    near = metrics(dict(GOOD, hands_in_pockets=0.25), n=60)
    assert evaluate(near, None, CFG, present=60) == []
    assert [f.code for f in evaluate(near, None, FeedbackConfig(max_findings=20, confidence_z=0.0),
                                     present=60)] == ["hands_in_pockets"]  # fmt: skip
    assert wilson_bounds(0.5, 0, 1.64) == (0.0, 1.0)


def _context(present: int, hips: float = 1.0, seated: float = 0.0, known: float = 1.0, hands: float = 1.0,
             frontal: float = 1.0) -> dict:  # fmt: skip
    def share(v: float, n: int) -> dict:
        return {"kind": "share", "share": v, "n": n}

    return {
        "hips_in_view": share(hips, present),
        "seated": share(seated, int(known * present)),
        "hands_in_view": share(hands, present),
        "torso_frontal": share(frontal, int(hips * present)),
        "head_from_face": share(0.0, present),
    }


def test_not_judged_says_why():
    present = 400
    m = {**_context(present, hips=0.08, known=0.08), **metrics({"hands_in_pockets": 0.0}, n=20)}
    j = judge("hands_in_pockets", m, present, CFG)
    assert not j.judged and j.reason == "hips out of view in 92% of frames"
    seated = {**_context(present, seated=1.0), **metrics({"hands_in_pockets": 0.0, "swaying": 0.0}, n=0)}
    assert judge("swaying", seated, present, CFG).reason == (
        "a standing measure, and the presenter was seated in 100% of frames"
    )
    no_knees = {**_context(present, known=0.1), **metrics({"hands_behind_back": 0.0}, n=40)}
    assert judge("hands_behind_back", no_knees, present, CFG).reason.startswith("posture unknown")
    short = {**_context(30), **metrics({"arms_crossed": 0.0}, n=30)}
    assert judge("arms_crossed", short, 30, CFG).reason == "judged on only 30 frames (at least 50 needed)"
    assert judge("arms_crossed", short, 0, CFG).reason == "the presenter was never in view"
    assert judge("arms_crossed", metrics({"arms_crossed": 0.1}), 500, CFG).judged


def test_frames_faster_than_ten_a_second_count_as_ten_a_second():
    """The minimums and the confidence interval were validated at analysis.fps = 10: at 30 fps the same
    5 s of footage must be needed (150 frames), and 150 frames weigh what 50 do at 10 fps."""
    assert [evidence(58, r) for r in (None, 5.0, 9.97, 10.0, 30.0)] == [58, 58, 58, 58, 19]
    short = {**_context(120), **metrics({"arms_crossed": 0.0}, n=120)}  # 4 s at 30 fps, 12 s at 10 fps
    assert judge("arms_crossed", short, 120, CFG, rate_hz=10.0).judged
    fast = judge("arms_crossed", short, 120, CFG, rate_hz=30.0)
    assert not fast.judged and fast.frames == 120
    assert fast.reason == "judged on only 120 frames, which count as 40 at the analysed rate (at least 50 needed)"
    # 28% looking down on 150 frames: past the 20% threshold with confidence at 10 fps (15 s of footage),
    # not at 30 fps (5 s, the evidence of 50 frames), where the Wilson interval reaches down to 20%.
    m = metrics({"looking_down": 0.28}, n=150)
    at10 = [f.code for f in evaluate(m, None, CFG, present=150, rate_hz=10.0)]
    at30 = evaluate(m, None, CFG, present=150, rate_hz=30.0)
    assert "looking_down" in at10 and "looking_down" not in [f.code for f in at30]
    emotion = {"frames": 30, "classes3": {"positive": 0.0, "neutral": 0.2, "negative": 0.8}}
    assert [i["reason"] for i in not_judged({}, emotion, None, CFG, rate_hz=30.0) if i["metric"] == "emotion"] == [
        "only 30 faces classified, which count as 10 at the analysed rate (at least 20 needed)"]
    assert "emotion" not in [i["metric"] for i in not_judged({}, emotion, None, CFG, rate_hz=10.0)]


def test_not_judged_lists_every_unjudged_share_metric_and_the_emotion():
    present = 400
    m = {**_context(present, hips=0.0, known=0.0), **metrics(dict(GOOD), n=present)}
    for name in ("hands_in_pockets", "hands_behind_back", "swaying", "slouching"):
        m[name] = {"kind": "share", "share": 0.0, "n": 0}
    items = not_judged(m, emotion(GOOD_EMOTION, frames=5), present, CFG)
    names = [i["metric"] for i in items]
    assert names == ["slouching", "hands_in_pockets", "hands_behind_back", "swaying", "emotion"]
    assert all(set(i) == {"metric", "reason"} and i["reason"] for i in items)
    assert items[0]["reason"] == "hips out of view in 100% of frames"
    assert "5 faces" in items[-1]["reason"]
    # and no finding comes from them
    m["hands_in_pockets"] = {"kind": "share", "share": 0.9, "n": 10}
    assert evaluate(m, emotion(GOOD_EMOTION), CFG, present=present) == []


def test_an_expression_reading_is_never_critical_and_ranks_below_critical_body_findings():
    """A face read 100% negative by the emotion model is at most a warning (the model's accuracy
    cannot carry more), and a critical finding on the body comes first even when less far past."""
    assert severity_of(3.0, "warning") == "warning" and severity_of(0.2, "warning") == "info"
    found = evaluate(metrics({**GOOD, "looking_down": 0.7}), emotion({"positive": 0.0, "negative": 1.0,
                                                                     "neutral": 0.0}), CFG)
    by_code = {f.code: f for f in found}
    assert by_code["negative_emotion"].severity == "warning"
    assert by_code["positive_emotion_low"].severity == "warning"
    assert by_code["looking_down"].severity == "critical"
    assert by_code["negative_emotion"].excess > by_code["looking_down"].excess
    assert found[0].code == "looking_down"


def test_looking_down_is_only_a_hint_when_the_eyes_never_came_up_to_the_camera_s_line():
    """Looking down is measured against the line to the camera: when nine readings in ten are more than
    LEVEL_GAZE_MAX_DEG below it, a presenter who read throughout and an attentive one under a camera
    mounted above eye level read alike, so the finding is info with the caveat said, however far past."""
    def eyes(p10: float) -> dict:
        return {"kind": "continuous", "unit": "deg", "mean": p10 + 8, "p10": p10, "p50": p10 + 8,
                "p90": p10 + 14, "n": 500}

    base = metrics({**GOOD, "looking_down": 0.9})
    for m, severity, caveat in ((base, "critical", None),
                                ({**base, "eyes_pitch": eyes(LEVEL_GAZE_MAX_DEG - 0.5)}, "critical", None),
                                ({**base, "eyes_pitch": eyes(LEVEL_GAZE_MAX_DEG + 0.5)}, "info", "eyes_never_level")):
        (f,) = [f for f in evaluate(m, emotion(GOOD_EMOTION), CFG) if f.code == "looking_down"]
        assert (f.severity, f.caveat) == (severity, caveat)
        d = f.to_dict()
        assert d.get("caveat") == caveat
        assert d["message"].endswith(CAVEATS["eyes_never_level"]) == (caveat is not None)
    # the caveat holds back looking down only: other rules keep their severity
    m = {**metrics({**GOOD, "arms_crossed": 0.9}), "eyes_pitch": eyes(30.0)}
    (f,) = evaluate(m, emotion(GOOD_EMOTION), CFG)
    assert (f.code, f.severity, f.caveat) == ("arms_crossed", "critical", None)


def test_facing_findings_are_only_hints_when_the_head_never_came_round_to_the_camera_s_line():
    """Facing and turned are measured from the line to the camera: when nine yaw readings in ten sit
    more than TOWARD_CAMERA_MAX_DEG to the same side of it, a presenter who kept turned away and an
    attentive one filmed from the side of the audience read alike, so both findings are info with the
    caveat said, whichever side; a yaw spread across the line keeps them at full severity."""
    def yaw(p10: float, p90: float) -> dict:
        return {"kind": "continuous", "unit": "deg", "mean": (p10 + p90) / 2, "p10": p10,
                "p50": (p10 + p90) / 2, "p90": p90, "n": 500}

    base = metrics({**GOOD, "facing_audience": 0.1, "turned_to_screen": 0.8})
    bound = TOWARD_CAMERA_MAX_DEG
    for head_yaw, caveat in ((None, None), (yaw(bound - 0.5, 70.0), None), (yaw(-70.0, -bound + 0.5), None),
                             (yaw(-20.0, 20.0), None), (yaw(bound + 0.5, 70.0), "head_never_toward_camera"),
                             (yaw(-70.0, -bound - 0.5), "head_never_toward_camera")):
        m = base if head_yaw is None else {**base, "head_yaw": head_yaw}
        found = {f.code: f for f in evaluate(m, emotion(GOOD_EMOTION), CFG)}
        for code in ("facing_audience_low", "turned_to_screen"):
            f = found[code]
            assert (f.severity, f.caveat) == ("critical" if caveat is None else "info", caveat), (code, head_yaw)
            assert f.message.endswith(CAVEATS["head_never_toward_camera"]) == (caveat is not None)
    # it holds back the head's direction only: the back turned and looking down keep their severity
    m = {**metrics({**GOOD, "back_to_audience": 0.6, "looking_down": 0.9}), "head_yaw": yaw(40.0, 70.0)}
    assert {(f.code, f.severity, f.caveat) for f in evaluate(m, emotion(GOOD_EMOTION), CFG)} == {
        ("back_to_audience", "critical", None), ("looking_down", "critical", None)}


def test_turned_to_screen_without_a_screen_side_is_not_judged_and_says_so():
    """The head's yaw was read on every frame, but no turn was judged: only an unset
    `analysis.screen_side` does that, and the reason names the key to set."""
    present = 400
    m = {**_context(present), **metrics({**GOOD}, n=present)}
    m["head_yaw"] = {"kind": "continuous", "unit": "deg", "mean": 5.0, "p10": -20.0, "p50": 5.0, "p90": 30.0,
                     "n": present}
    m["turned_to_screen"] = {"kind": "share", "share": None, "n": 0}
    reasons = {i["metric"]: i["reason"] for i in not_judged(m, emotion(GOOD_EMOTION), present, CFG)}
    assert reasons["turned_to_screen"] == NEEDS["screen"] == (
        'the screen\'s side is not set (analysis.screen_side = "left" or "right")')
    assert "facing_audience" not in reasons
    # with no yaw read either, the head is what was missing, not the setting
    m["head_yaw"]["n"] = 0
    reasons = {i["metric"]: i["reason"] for i in not_judged(m, emotion(GOOD_EMOTION), present, CFG)}
    assert reasons["turned_to_screen"] != NEEDS["screen"]


def test_not_judged_names_a_presenter_too_small_to_measure():
    present = 400
    small = {**_context(present), "large_enough": {"kind": "share", "share": 0.1, "n": present},
             **metrics({"facing_audience": 0.2, "arms_crossed": 0.0}, n=40)}
    small["head_from_face"] = {"kind": "share", "share": 0.0, "n": 40}  # no head read on the small frames
    for name in ("facing_audience", "arms_crossed"):
        reason = judge(name, small, present, CFG).reason
        assert reason == "presenter too small in the picture to measure in 90% of frames"
    big = {**_context(present, hips=0.08, known=0.08), "large_enough": {"kind": "share", "share": 1.0, "n": present},
           **metrics({"hands_in_pockets": 0.0}, n=20)}
    assert judge("hands_in_pockets", big, present, CFG).reason == "hips out of view in 92% of frames"


def test_not_judged_names_a_presenter_not_upright_in_the_picture():
    """A camera mounted upside down: the frames are in view, measured as presence only; the reason
    points at the camera, and the head-not-seen share does not claim those frames too."""
    present = 400
    turned = {**_context(present), "large_enough": {"kind": "share", "share": 1.0, "n": present},
              "upright": {"kind": "share", "share": 0.05, "n": present},
              **metrics({"facing_audience": 0.2, "arms_crossed": 0.0, "looking_down": 0.9}, n=20)}
    turned["head_from_face"] = {"kind": "share", "share": 0.5, "n": 20}
    for name in ("facing_audience", "arms_crossed", "looking_down"):
        reason = judge(name, turned, present, CFG).reason
        assert reason == "presenter not upright in the picture (a turned camera?) in 95% of frames", name
    assert evaluate(turned, None, CFG, present=present) == []
