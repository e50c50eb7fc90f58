"""Session tracker timings: auto start and end, drops, commands, labels, checkpoint."""

from __future__ import annotations

import json

import pytest

from edge.analysis.features import FrameFeatures
from edge.config import SessionConfig
from edge.session.tracker import SessionTracker

CFG = SessionConfig(start_after_s=3.0, end_after_s=10.0, min_duration_s=20.0, start_gap_s=1.0)
DT = 0.1


def run(tr: SessionTracker, start: float, stop: float, present: bool) -> list:
    """Feed frames every 0.1 s in [start, stop); returns the events."""
    events = []
    n = round((stop - start) / DT)
    for i in range(n):
        t = round(start + i * DT, 6)
        events += tr.observe(t, FrameFeatures(present=present, facing_audience=present or None))
    return events


def test_starts_after_presence_and_ends_at_the_last_presence():
    tr = SessionTracker(CFG)
    assert run(tr, 0, 5, False) == []
    ev = run(tr, 5, 7.9, True)
    assert ev == [] and tr.state == "pending" and tr.stats is not None  # counting down, recording
    ev = run(tr, 7.9, 60, True)
    assert [e.kind for e in ev] == ["started"]
    assert ev[0].t == 5.0 and ev[0].session.start_t == 5.0
    ev = run(tr, 60, 69.9, False)
    assert ev == [] and tr.active is not None  # 9.9 s away: not yet
    ev = run(tr, 69.9, 75, False)
    assert [(e.kind, e.reason) for e in ev] == [("ended", "absence")]
    session = ev[0].session
    assert ev[0].t == pytest.approx(59.9) and session.end_t == pytest.approx(59.9)  # last presence
    assert session.duration == pytest.approx(54.9)
    assert session.ended_by == "absence"
    # the countdown frames are in the stats; the trailing absence is trimmed away
    assert session.stats.frames()["analysed"] == session.stats.with_person == 550
    assert tr.state == "idle" and tr.stats is None


def test_detection_happens_when_end_after_s_has_passed():
    tr = SessionTracker(CFG)
    run(tr, 0, 30, True)
    assert tr.update(39.8, False) == []
    ev = tr.update(39.9, False)  # last presence 29.9 + 10 s
    assert ev and ev[0].kind == "ended" and ev[0].t == pytest.approx(29.9)


def test_short_presence_flicker_does_not_restart_the_countdown():
    tr = SessionTracker(CFG)
    run(tr, 0, 2, True)
    run(tr, 2, 2.5, False)  # 0.5 s gap < start_gap_s
    ev = run(tr, 2.5, 4, True)
    assert [e.kind for e in ev] == ["started"] and ev[0].t == 0.0


def test_long_gap_restarts_the_countdown():
    tr = SessionTracker(CFG)
    run(tr, 0, 2, True)
    run(tr, 2, 4, False)  # 2 s gap > start_gap_s: countdown lost
    assert tr.state == "idle"
    ev = run(tr, 4, 8, True)
    assert [e.kind for e in ev] == ["started"] and ev[0].t == 4.0


def test_brief_absence_during_a_session_does_not_end_it():
    tr = SessionTracker(CFG)
    run(tr, 0, 30, True)
    assert run(tr, 30, 38, False) == []
    assert run(tr, 38, 60, True) == []
    ev = tr.finish("end_of_video")
    assert [(e.kind, e.reason) for e in ev] == [("ended", "end_of_video")]
    assert ev[0].t == pytest.approx(59.9)


def test_short_sessions_are_dropped():
    tr = SessionTracker(CFG)
    run(tr, 0, 10, True)  # started at 3 s, 9.9 s long
    ev = run(tr, 10, 25, False)
    assert [(e.kind, e.reason) for e in ev] == [("dropped", "absence")]
    assert ev[0].session.duration == pytest.approx(9.9)


def test_command_start_and_stop():
    tr = SessionTracker(CFG)
    ev = tr.command_start(1.0)
    assert [e.kind for e in ev] == ["started"] and ev[0].session.commanded
    assert tr.command_start(2.0) == []  # already running
    # nobody in view yet: a commanded session does not end by absence before the presenter came
    assert run(tr, 1, 30, False) == []
    run(tr, 30, 50, True)
    ev = tr.command_stop(50.05)
    assert [(e.kind, e.reason) for e in ev] == [("ended", "command")]
    assert ev[0].session.end_t == 50.05 and ev[0].session.duration == pytest.approx(49.05)
    # the presenter is still there: no auto start until they have been away for end_after_s
    assert run(tr, 50.1, 80, True) == [] and tr.state == "cooldown"
    run(tr, 80, 90, False)
    ev = run(tr, 90, 95, True)
    assert [e.kind for e in ev] == ["started"] and ev[0].t == 90.0


def test_command_start_during_countdown_keeps_its_frames():
    tr = SessionTracker(CFG)
    run(tr, 0, 1.5, True)
    ev = tr.command_start(1.5)
    assert ev[0].session.start_t == 0.0 and ev[0].session.stats.analysed == 15


def test_command_stop_cancels_a_countdown_and_is_a_no_op_when_idle():
    tr = SessionTracker(CFG)
    assert tr.command_stop(0.0) == [] and tr.state == "idle"
    run(tr, 0, 2, True)
    assert tr.command_stop(2.0) == [] and tr.state == "cooldown" and tr.stats is None


def test_labels_attach_to_the_running_or_next_session():
    tr = SessionTracker(CFG)
    tr.set_label("Alice, pitch v2")
    ev = run(tr, 0, 5, True)
    assert ev[0].session.label == "Alice, pitch v2" and tr.next_label is None
    tr.set_label("Bob")
    assert tr.active.label == "Bob"


def test_time_going_backwards_is_ignored():
    tr = SessionTracker(CFG)
    run(tr, 0, 5, True)
    n = tr.stats.analysed
    assert tr.observe(1.0, FrameFeatures(present=True)) == []
    assert tr.stats.analysed == n


def test_finish_without_a_session_and_bad_reason():
    tr = SessionTracker(CFG)
    assert tr.finish("shutdown") == []
    with pytest.raises(ValueError):
        tr.finish("bored")  # type: ignore[arg-type]


def test_checkpoint_round_trip_mid_session():
    a = SessionTracker(CFG)
    run(a, 0, 40, True)
    a.active.meta.update(session_id="room-1-20250301T090000Z-abcdef", started_at="2025-03-01T09:00:00Z")
    a.set_label("dry run")
    saved = json.loads(json.dumps(a.to_dict()))
    b = SessionTracker.from_dict(saved, CFG)
    assert b.to_dict() == a.to_dict()
    ev_a = run(a, 40, 45, True) + run(a, 45, 60, False)
    ev_b = run(b, 40, 45, True) + run(b, 45, 60, False)
    assert [(e.kind, e.t, e.reason) for e in ev_a] == [(e.kind, e.t, e.reason) for e in ev_b]
    assert ev_b[0].session.meta["session_id"] == "room-1-20250301T090000Z-abcdef"
    assert ev_b[0].session.label == "dry run"
    assert ev_a[0].session.stats.to_dict() == ev_b[0].session.stats.to_dict()


def test_restore_after_a_crash_finishes_as_crash():
    a = SessionTracker(CFG)
    run(a, 0, 40, True)
    b = SessionTracker.from_dict(json.loads(json.dumps(a.to_dict())), CFG)
    ev = b.finish("crash")
    assert [(e.kind, e.reason) for e in ev] == [("ended", "crash")] and ev[0].t == pytest.approx(39.9)
    with pytest.raises(ValueError):
        SessionTracker.from_dict({**a.to_dict(), "version": 2}, CFG)


def test_zero_start_delay_starts_on_the_first_frame():
    tr = SessionTracker(SessionConfig(start_after_s=0.0, min_duration_s=0.0))
    ev = tr.observe(3.0, FrameFeatures(present=True))
    assert [e.kind for e in ev] == ["started"] and tr.stats.analysed == 1
