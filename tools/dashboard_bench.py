"""How fast the dashboard answers over a large collector database: `python -m tools.dashboard_bench`.

    for v in tfjs_pose_squats slp_webcam_test_video seated/raga_3people_seated; do
      ppt-edge analyze --quiet --json /tmp/$(basename $v).json $PPT_EDGE_SHARED/data/videos/$v.mp4
    done
    python -m tools.dashboard_bench /tmp/tfjs_pose_squats.json /tmp/slp_webcam_test_video.json \\
        /tmp/raga_3people_seated.json [--sessions 10000] [--minutes 10] [--db PATH] [--repeat 15]

Builds a database of `--sessions` sessions from real `ppt-edge analyze` summaries (their timelines
tiled to `--minutes` so that each row is as big as a real rehearsal's; 12 rooms, 40 labels, one
session every ~50 minutes), serves it with the real dashboard (uvicorn on a free loopback port) and
prints the median and 95th percentile of the time to answer each page over HTTP, plus the database
size. Prints figures; asserts nothing (the tests never time anything).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOMS = 12
LABELS = 40


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def stretched(summary: dict[str, Any], minutes: float) -> dict[str, Any]:
    """The summary with its timeline tiled to `minutes` (the statistics are unchanged)."""
    s = copy.deepcopy(summary)
    bin_s = float(s["timeline"]["bin_s"])
    bins = max(1, int(math.ceil(minutes * 60 / bin_s)))
    for name, series in s["timeline"]["series"].items():
        if series:
            s["timeline"]["series"][name] = [series[i % len(series)] for i in range(bins)]
    s["duration_s"] = bins * bin_s
    return s


def build(db: Path, sources: Sequence[dict[str, Any]], n: int, minutes: float) -> tuple[float, list[str]]:
    from edge.collector.store import Store

    rnd = random.Random(11)
    bases = [stretched(s, minutes) for s in sources]
    t0 = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
    ids = []
    started = time.perf_counter()
    with Store(db) as store:
        store.db.execute("BEGIN")
        for i in range(n):
            s = copy.deepcopy(bases[i % len(bases)])
            room = f"room-{i % ROOMS + 1}"
            start = t0 + timedelta(minutes=50 * i + rnd.randint(0, 20))
            s["device"] = room
            s["session_id"] = f"{room}-{start:%Y%m%dT%H%M%SZ}-{i:06x}"
            s["label"] = f"presenter {i % LABELS + 1}"
            s["started_at"] = _stamp(start)
            s["ended_at"] = _stamp(start + timedelta(seconds=s["duration_s"]))
            store.db.execute(
                "INSERT INTO sessions (session_id, device, label, started_at, ended_at, duration_s, status, "
                "received_at, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s["session_id"], room, s["label"], s["started_at"], s["ended_at"], s["duration_s"], s["status"],
                 s["ended_at"], json.dumps(s, sort_keys=True, separators=(",", ":"))),
            )  # fmt: skip
            ids.append(s["session_id"])
        store.db.execute("COMMIT")
        for r in range(ROOMS):
            store.add_status(f"room-{r + 1}", "online", {"state": "online", "version": "bench"})
    return time.perf_counter() - started, ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(url: str, repeat: int) -> tuple[float, float, int]:
    """(median ms, p95 ms, bytes) of GET url, after one warm-up request."""
    times = []
    size = 0
    for i in range(repeat + 1):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as r:
            size = len(r.read())
        if i:
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], size


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.dashboard_bench", description=__doc__.split("\n")[0])
    p.add_argument("summaries", nargs="+", type=Path, help="summary JSON files written by `ppt-edge analyze`")
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--minutes", type=float, default=10.0, help="length each session's timeline is tiled to")
    p.add_argument("--db", type=Path, help="where to build the database (default: a temporary file)")
    p.add_argument("--repeat", type=int, default=15, help="timed requests per page")
    args = p.parse_args(argv)

    from edge.collector.web.app import DashboardSettings
    from edge.collector.web.server import DashboardServer

    sources = [json.loads(f.read_text()) for f in args.summaries]
    db = args.db or Path(tempfile.mkdtemp(prefix="ppt-dashboard-bench-")) / "collector.sqlite3"
    if db.exists():
        print(f"{db} exists: give a new --db path", file=sys.stderr)
        return 2
    took, ids = build(db, sources, args.sessions, args.minutes)
    size_mb = db.stat().st_size / 1e6
    print(f"database: {args.sessions} sessions of {args.minutes:g} min timelines from {len(sources)} real summaries, "
          f"{size_mb:.0f} MB, built in {took:.1f} s ({db})")  # fmt: skip

    port = _free_port()
    server = DashboardServer(DashboardSettings(db=db), "127.0.0.1", port)
    server.start()
    if not server.ready.wait(30):
        print("the dashboard did not start", file=sys.stderr)
        return 1
    last_page = math.ceil(args.sessions / 50)
    room_pages = math.ceil(args.sessions / ROOMS / 50)
    pages = [
        ("sessions, page 1", "/sessions"),
        (f"sessions, page {last_page // 2}", f"/sessions?page={last_page // 2}"),
        (f"sessions, last page ({last_page})", f"/sessions?page={last_page}"),
        ("sessions of one room, page 1", "/sessions?room=room-3"),
        (f"sessions of one room, last page ({room_pages})", f"/sessions?room=room-3&page={room_pages}"),
        ("sessions of one month", "/sessions?from=2025-06-01&to=2025-06-30"),
        ("trends of one room, last 20", "/trends?by=room&key=room-3&last=20"),
        ("trends of one label, last 100", "/trends?by=label&key=presenter%207&last=100"),
        ("devices", "/devices"),
        ("one session", f"/session/{ids[len(ids) // 2]}"),
    ]
    print(f"{'page':<40} {'median ms':>10} {'p95 ms':>8} {'KiB':>6}")
    try:
        for name, path in pages:
            median, p95, size = measure(f"http://127.0.0.1:{port}{path}", args.repeat)
            print(f"{name:<40} {median:>10.1f} {p95:>8.1f} {size / 1024:>6.0f}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
