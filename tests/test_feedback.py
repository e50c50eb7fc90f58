"""Feedback rules: thresholds, ranking, severity, sparsity, and silence on too little data."""

from __future__ import annotations

import pytest

from edge.analysis.features import SHARE_METRICS
from edge.config import FeedbackConfig
from edge.session.feedback import RULES, evaluate, evaluate_stats, excess_past, severity_of
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
    assert set(d) == {"code", "severity", "metric", "value", "threshold", "message"}
