"""Session summaries (schema v1) and the text report made from them."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge.analysis.features import METRICS, FrameFeatures
from edge.config import FeedbackConfig, SessionConfig
from edge.schema import summary_errors, validate_summary
from edge.session.report import render_report, sparkline
from edge.session.stats import SessionStats
from edge.session.summary import build_summary, new_session_id, parse_rfc3339, rfc3339, session_summary
from edge.session.tracker import SessionTracker

MODELS = {
    "pose": {"name": "movenet_singlepose_lightning_int8", "sha256": "ab" * 32},
    "emotion": {"name": "fer_cnn_pruned_int8", "sha256": "0" * 64},
}
START = datetime(2025, 3, 1, 9, 30, 0, 250000, tzinfo=timezone.utc)
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{8,80}$")


def synthetic_session(seconds: float = 120.0, seed: int = 3):
    """A tracked session from random frame features: the presenter arrives at 2 s, leaves at
    `seconds` - 15 s; arms crossed a third of the time, rarely facing the audience."""
    rng = np.random.default_rng(seed)
    tr = SessionTracker(SessionConfig())
    events = []
    for i in range(int(seconds * 10)):
        t = i / 10
        present = 2.0 <= t < seconds - 15
        if not present:
            ff = FrameFeatures(present=False)
        else:
            ff = FrameFeatures(
                present=True,
                facing_audience=bool(rng.random() < 0.4),
                turned_to_screen=bool(rng.random() < 0.1),
                arms_crossed=bool(rng.random() < 0.33),
                gesturing=bool(rng.random() < 0.3),
                head_yaw=float(rng.normal(0, 20)),
                wrist_speed=float(rng.gamma(2, 0.3)),
                sway_amplitude=float(rng.uniform(0, 0.1)),
            )
        for e in tr.observe(t, ff):
            if e.kind == "started":
                e.session.meta["session_id"] = new_session_id("room-1", START)
                e.session.meta["started_at"] = rfc3339(START)
            events.append(e)
        if present and tr.stats is not None and i % 3 == 0:
            tr.stats.add_emotion(t, int(rng.integers(0, 7)))
        if tr.stats is not None:
            tr.stats.add_seen(3, t=t)
    events += tr.finish("end_of_video")
    ended = [e for e in events if e.kind == "ended"]
    assert len(ended) == 1
    return ended[0].session


@pytest.fixture(scope="module")
def summary():
    return session_summary(synthetic_session(), device="room-1", models=MODELS)


def test_summary_validates_and_has_the_numbers(summary):
    assert summary_errors(summary) == []
    validate_summary(summary)
    assert summary["schema"] == 1 and summary["device"] == "room-1"
    assert summary["status"] == "complete" and summary["ended_by"] == "absence"
    assert summary["started_at"] == "2025-03-01T09:30:00.250Z"
    assert summary["duration_s"] == pytest.approx(102.9)  # 2.0 s .. 104.9 s (last presence)
    span = parse_rfc3339(summary["ended_at"]) - parse_rfc3339(summary["started_at"])
    assert span == timedelta(seconds=102.9)
    assert summary["frames"]["analysed"] == summary["frames"]["with_person"] == 1030
    assert summary["fps"]["analysed"] == pytest.approx(10.0)
    assert summary["fps"]["source"] == pytest.approx(30.0, rel=0.02)
    assert set(summary["metrics"]) == {m.name for m in METRICS}
    assert summary["metrics"]["arms_crossed"]["kind"] == "share"
    assert summary["metrics"]["arms_crossed"]["share"] == pytest.approx(0.33, abs=0.05)
    assert summary["metrics"]["wrist_speed"]["unit"] == "sw/s"
    assert summary["metrics"]["slouch"] == {
        "kind": "continuous", "unit": "fraction", "mean": None, "p10": None, "p50": None, "p90": None, "n": 0,
    }  # fmt: skip
    assert sum(summary["emotion"]["classes7"].values()) == pytest.approx(1.0, abs=1e-3)
    assert sum(summary["emotion"]["classes3"].values()) == pytest.approx(1.0, abs=1e-3)
    tl = summary["timeline"]
    assert tl["bin_s"] == 5.0 and len(tl["series"]["facing_audience"]) == 21  # 102.9 s in 5 s bins
    # random emotions are 4/7 negative (> 42%); arms crossed 33% (> 15%); facing 40% (< 60%): all three
    # warnings, ranked by their distance past the threshold in log odds (1.03, 0.81, 0.61)
    codes = [f["code"] for f in summary["feedback"]]
    assert codes == ["arms_crossed", "facing_audience_low", "negative_emotion"]
    basis = {f["code"]: f["basis"] for f in summary["feedback"]}
    assert basis["arms_crossed"] == {"frames": 1030, "share": 1.0}
    assert basis["negative_emotion"]["frames"] == summary["emotion"]["frames"]
    # the synthetic presenter shows no posture, hips or hands: those metrics are listed, not scored
    assert summary["posture"] == {"standing": 0.0, "seated": 0.0, "unknown": 1.0}
    not_judged = {i["metric"]: i["reason"] for i in summary["not_judged"]}
    assert {"slouching", "hands_in_pockets", "swaying", "looking_down"} <= set(not_judged)
    assert "arms_crossed" not in not_judged and "facing_audience" not in not_judged
    json.dumps(summary, allow_nan=False)  # no NaN or inf anywhere


def test_posture_and_not_judged_from_frames_with_context():
    """Seated 3/4 of the session with the hips in view: the posture shares add up, the standing
    measures are not judged because the presenter was seated, with that reason."""
    s = SessionStats(t0=0.0)
    for i in range(400):
        seated = i < 300
        s.add_frame(i * 0.1, FrameFeatures(
            present=True, posture="seated" if seated else "standing", seated=seated, hips_in_view=True,
            hands_in_view=True, torso_frontal=True, head_from_face=False, facing_audience=True,
            hands_in_pockets=None if seated else False, arms_crossed=False,
        ))  # fmt: skip
    summary = build_summary(s, session_id=new_session_id("room-1"), device="room-1", started_at=START,
                            ended_at=START + timedelta(seconds=40), models=MODELS)  # fmt: skip
    validate_summary(summary)
    assert summary["posture"] == {"standing": 0.25, "seated": 0.75, "unknown": 0.0}
    reasons = {i["metric"]: i["reason"] for i in summary["not_judged"]}
    assert reasons["hands_in_pockets"] == "a standing measure, and the presenter was seated in 75% of frames"
    text = render_report(summary)
    assert "not judged: a standing measure" in text and "standing 25%, seated 75%" in text


def test_session_ids_are_unique_and_match_the_schema():
    # 200 ids in the same second: 24 random bits make one pair collide once in ~840 runs (it happened in
    # CI), two pairs once in ~1.4 million; two sessions of one device in one second collide 1 in 16.7 M.
    ids = {new_session_id("room-1", START) for _ in range(200)}
    assert len(ids) >= 199
    assert all(ID_RE.match(i) for i in ids)
    assert next(iter(ids)).startswith("room-1-20250301T093000Z-")
    long_id = new_session_id("x" * 64)
    assert ID_RE.match(long_id)
    assert new_session_id("room-1", 0.0, suffix="abc123") == "room-1-19700101T000000Z-abc123"


def test_rfc3339_round_trip():
    assert rfc3339(START) == "2025-03-01T09:30:00.250Z"
    assert parse_rfc3339(rfc3339(START)) == START
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(datetime(2025, 1, 1, 12, 0)) == "2025-01-01T12:00:00.000Z"  # naive: UTC
    cet = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2025, 1, 1, 13, 0, tzinfo=cet)) == "2025-01-01T12:00:00.000Z"


def test_empty_and_interrupted_sessions_validate():
    s = SessionStats(t0=0.0)
    summary = build_summary(
        s, session_id=new_session_id("room-1"), device="room-1", started_at=START, ended_at=START,
        models={"pose": MODELS["pose"]}, status="interrupted", ended_by="crash", label="Ada",
    )  # fmt: skip
    validate_summary(summary)
    assert summary["feedback"] == [] and summary["emotion"]["frames"] == 0
    assert all(v == [] for v in summary["timeline"]["series"].values())
    assert "source" not in summary["fps"]


def test_bad_metadata_fails_where_the_summary_is_made():
    s = SessionStats()
    common = {"session_id": "room-1-x-abcdef", "device": "room-1", "started_at": START, "ended_at": START}
    with pytest.raises(ValueError, match="status"):
        build_summary(s, **common, models=MODELS, status="done")
    with pytest.raises(ValueError, match="sha256"):
        build_summary(s, **common, models={"pose": {"name": "p", "sha256": "xyz"}})
    with pytest.raises(ValueError, match="pose"):
        build_summary(s, **common, models={"emotion": MODELS["emotion"]})
    with pytest.raises(ValueError, match="ended_by"):
        build_summary(s, **common, models=MODELS, ended_by="boredom")


def test_feedback_thresholds_come_from_the_config():
    session = synthetic_session(seed=5)
    lenient = FeedbackConfig(facing_audience_min=0.0, arms_crossed_max=1.0, facing_screen_max=1.0,
                             gesture_low=0.0, negative_emotion_max=1.0, positive_emotion_min=0.0)  # fmt: skip
    s = session_summary(session, device="room-1", models=MODELS, feedback_cfg=lenient)
    validate_summary(s)
    assert s["feedback"] == []


# --- report ----------------------------------------------------------------------------------------


def test_report_puts_findings_first_then_numbers(summary):
    text = render_report(summary)
    assert text.isascii()
    lines = text.splitlines()
    fb = lines.index("Feedback")
    assert lines[fb + 1].lstrip().startswith("[") and summary["feedback"][0]["message"] in lines[fb + 1]
    facing = next(i for i, line in enumerate(lines) if line.strip().startswith("facing the audience"))
    assert facing > fb
    share = f"{summary['metrics']['facing_audience']['share'] * 100:.0f}%"
    assert share in lines[facing]
    assert "2025-03-01 09:30:00 UTC" in lines[1] and "1 min 43 s" in lines[1]
    emo = next(i for i, line in enumerate(lines) if line.startswith("Emotion (") and "positive" in line)
    assert lines[emo + 1].strip() == ("(the model reads a neutral face as negative 25% and as positive 9% of the "
                                      "time: shares near those are a calm face)")
    assert "wrist speed" in text and "sw/s" in text
    assert "(judged on 1030 frames, 100% of the time in view)" in text
    assert "hands in pockets" in text and "not judged: " in text
    assert max(len(line) for line in lines) <= 120


def test_report_survives_partial_and_empty_summaries(summary):
    assert "Nothing stood out" in render_report({})
    minimal = {k: summary[k] for k in ("session_id", "metrics")}
    minimal["metrics"] = {**summary["metrics"], "new_metric": {"kind": "share", "share": 0.5, "n": 3}}
    text = render_report(minimal)
    assert "Other metrics" in text and "new metric" in text


def test_sparkline():
    assert sparkline([0.0, 0.5, 1.0, None], 0.0, 1.0) == "_+@ "
    assert len(sparkline([0.1] * 500)) == 60
    assert sparkline([]) == "" and sparkline([None, None]) == "  "
    assert sparkline([2.0, 2.0]) == "__"  # flat series
