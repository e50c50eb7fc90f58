"""Issue 12: a whole school on one broker. The load tool's fleet against real collectors in one share
group, a real mosquitto and a real PostgreSQL, with faults: every summary stored exactly once.

The fault test is marked slow (about a minute): 200 simulated devices, 5,000 summaries, 3 collectors
(`ppt-collect listen` processes), one SIGKILLed and restarted mid-load, the broker restarted once.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from edge.schema import summary_errors
from tools.loadtest.fleet import make_load_summary
from tools.loadtest.run import CollectorProcess, run_load
from tools.loadtest.servers import ServerUnavailable, TempMosquitto


def test_load_summaries_are_valid_and_varied():
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    summaries = [make_load_summary("lt0", f"load-{i % 3:04d}", i, rng, now) for i in range(30)]
    for s in summaries:
        assert summary_errors(s) == [], s["session_id"]
    assert len({s["duration_s"] for s in summaries}) == 30
    assert len({len(s["feedback"]) for s in summaries}) > 1 and len({s["label"] for s in summaries}) > 2


@pytest.fixture
def fleet_broker(tmp_path):
    try:
        broker = TempMosquitto(tmp_path / "mosquitto").start()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    yield broker
    broker.kill()


@pytest.mark.slow
def test_fault_200_devices_5000_summaries_3_collectors_kill_and_broker_restart(fleet_broker, pg_url, tmp_path):
    collectors = [CollectorProcess(pg_url, fleet_broker.url, f"fleet-collector-{i}", tmp_path) for i in range(3)]
    try:
        for c in collectors:
            c.start()
        for c in collectors:
            assert c.wait_subscribed(), c.log.read_text()
        report = run_load(
            broker_host="127.0.0.1",
            broker_port=fleet_broker.port,
            db=pg_url,
            devices=200,
            summaries=5000,
            collectors=collectors,
            rate=0,
            live_hz=1.0,
            kill_collector_at=0.3,
            restart_broker=fleet_broker.restart,
            restart_broker_at=0.6,
            timeout_s=150,
        )
    finally:
        for c in collectors:
            c.stop()
    print("\n" + report.text())
    assert len(report.faults) == 2 and collectors[0].kills == 1
    assert report.published == 5000
    assert (report.stored, report.lost, report.duplicated, report.rejected) == (5000, 0, 0, 0)
    assert report.live_messages > 0
