"""One load run: real collectors (`ppt-collect listen` processes in one share group), a simulated
fleet, optional faults, and the figures read back from the database.

Why the database is the judge: "lost" and "duplicated" are counted from the rows the collectors
committed, not from what any client believes it sent or received. Latency is the row's
`received_at` (set by the collector just before its commit) minus the summary's `ended_at` (its
first publish); both clocks are this machine's.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from edge.collector.store import Store, TransientStoreError
from tools.loadtest.fleet import Fleet

REPO = Path(__file__).resolve().parents[2]


class CollectorProcess:
    """`python -m edge.collector.cli --db DB listen ...` with a stable client id; its log in a file."""

    def __init__(self, db: str, broker_url: str, client_id: str, logdir: Path, share: str | None = "fleet") -> None:
        self.db, self.broker_url, self.client_id, self.share = db, broker_url, client_id, share
        self.log = logdir / f"{client_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        argv = [sys.executable, "-m", "edge.collector.cli", "--db", self.db, "listen", "--broker", self.broker_url,
                "--client-id", self.client_id]
        if self.share:
            argv += ["--share", self.share]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)

    def wait_subscribed(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.exists() and "subscribed to" in self.log.read_text(errors="replace"):
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """SIGKILL: no goodbye, whatever was received but not committed is the broker's to resend."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text) if self.log.exists() else 0


@dataclass
class Report:
    devices: int
    collectors: int
    summaries: int
    published: int
    acked_by_broker: int
    stored: int
    lost: int
    duplicated: int
    redelivered: int  # deliveries a collector recognised as already stored (absorbed by the store)
    rejected: int
    seconds: float  # first publish -> last commit
    ingest_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    live_messages: int
    faults: list[str] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)  # the first few, to look for in the logs

    def text(self) -> str:
        return (
            f"{self.devices} devices, {self.collectors} collector(s), {self.summaries} summaries"
            + (f", faults: {'; '.join(self.faults)}" if self.faults else "")
            + f"\n  stored {self.stored}, lost {self.lost}, duplicated {self.duplicated} "
            + (f"(lost e.g. {', '.join(self.lost_ids[:5])}) " if self.lost_ids else "")
            + ""
            f"(redeliveries absorbed: {self.redelivered}, rejected: {self.rejected})"
            f"\n  ingest {self.ingest_per_s:.1f} summaries/s over {self.seconds:.1f} s"
            f"\n  end-to-end latency p50 {self.latency_p50_ms:.0f} ms, p99 {self.latency_p99_ms:.0f} ms, "
            f"max {self.latency_max_ms:.0f} ms"
            f"\n  broker acks {self.acked_by_broker}/{self.published}, live messages {self.live_messages}"
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(q * 1000) - 1))]


def run_load(
    *,
    broker_host: str,
    broker_port: int,
    db: str,
    devices: int,
    summaries: int,
    collectors: list[CollectorProcess],
    rate: float = 0.0,
    live_hz: float = 1.0,
    kill_collector_at: float | None = None,
    restart_broker: Callable[[], None] | None = None,
    restart_broker_at: float | None = None,
    timeout_s: float = 120.0,
    log: Callable[[str], None] = print,
) -> Report:
    """Publish `summaries` from `devices` simulated devices and wait until all are stored (or timeout)."""
    run = "lt" + uuid.uuid4().hex[:8]
    faults: list[str] = []
    threads: list[threading.Thread] = []
    fleet = Fleet(broker_host, broker_port, devices=devices, run=run, live_hz=live_hz)
    fleet.connect()
    log(f"{devices} devices connected; publishing {summaries} summaries (run {run})")

    def kill_and_restart(c: CollectorProcess) -> None:
        c.kill()
        time.sleep(1.0)
        c.start()

    def on_progress(n: int) -> None:
        if kill_collector_at is not None and collectors and n == int(summaries * kill_collector_at):
            faults.append(f"collector {collectors[0].client_id} SIGKILLed after {n} summaries, restarted 1 s later")
            threads.append(threading.Thread(target=kill_and_restart, args=(collectors[0],), daemon=True))
            threads[-1].start()
        if restart_broker is not None and restart_broker_at is not None and n == int(summaries * restart_broker_at):
            faults.append(f"broker restarted after {n} summaries")
            threads.append(threading.Thread(target=restart_broker, daemon=True))
            threads[-1].start()

    t0 = time.time()
    try:
        fleet.publish(summaries, rate, on_progress)
        for t in threads:
            t.join(60)
        deadline = time.monotonic() + timeout_s
        stored = 0
        while time.monotonic() < deadline:
            try:
                with Store(db) as store:
                    stored = store.count_sessions(prefix=run + "-")
            except TransientStoreError:
                stored = stored
            if stored >= summaries:
                break
            time.sleep(0.25)
        fleet.wait_acked(5)
        totals = fleet.totals()
    finally:
        fleet.close()
    with Store(db) as store:
        rows = store.find_session(run + "-")
    ids = [r.session_id for r in rows]
    expected = set(fleet.sent)
    latencies = sorted((_ts(r.received_at) - fleet.sent[r.session_id]) * 1000 for r in rows if r.session_id in expected)
    last = max((_ts(r.received_at) for r in rows), default=t0)
    seconds = max(1e-3, last - t0)
    return Report(
        devices=devices,
        collectors=len(collectors),
        summaries=summaries,
        published=totals.published,
        acked_by_broker=totals.acked,
        stored=len(set(ids) & expected),
        lost=len(expected - set(ids)),
        duplicated=len(ids) - len(set(ids)),
        redelivered=sum(c.count("already stored") for c in collectors),
        rejected=sum(c.count("REJECTED") for c in collectors),
        seconds=seconds,
        ingest_per_s=len(set(ids)) / seconds,
        latency_p50_ms=_percentile(latencies, 0.50),
        latency_p99_ms=_percentile(latencies, 0.99),
        latency_max_ms=latencies[-1] if latencies else float("nan"),
        live_messages=totals.live,
        faults=faults,
        lost_ids=sorted(expected - set(ids))[:20],
    )
