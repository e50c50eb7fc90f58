"""`python -m tools.loadtest`: a simulated fleet against real collectors, a real broker and a real database.

    python -m tools.loadtest --devices 200 --summaries 5000 --collectors 3
    python -m tools.loadtest --collectors 3 --kill-collector-at 0.4 --restart-broker-at 0.6
    python -m tools.loadtest --broker mqtt://127.0.0.1:1883 --db postgresql://ppt@127.0.0.1/ppt --collectors 0
    python -m tools.loadtest bench        (1 then 3 collectors, the figures for docs/fleet.md)

Without --broker it starts its own mosquitto (docs/fleet.md settings) on a free port of 127.0.0.1;
without --db its own PostgreSQL cluster (durable defaults: fsync on) in a temporary folder. It
starts --collectors `ppt-collect listen` processes in one share group, or, with 0, relies on
collectors already listening to --broker and writing --db. Traffic goes to 127.0.0.1 only unless
you point --broker elsewhere; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tools.loadtest.run import CollectorProcess, Report, run_load
from tools.loadtest.servers import ServerUnavailable, TempMosquitto, TempPostgres


def _one(args: argparse.Namespace, collectors: int, logdir: Path) -> Report:
    broker = None if args.broker else TempMosquitto(logdir / f"mosquitto-{collectors}").start()
    if args.broker:
        from edge.collector.listen import parse_broker_url

        host, port, _ = parse_broker_url(args.broker)
        url = args.broker
    else:
        assert broker is not None
        host, port, url = "127.0.0.1", broker.port, broker.url
    pg = None
    if args.db:
        db = args.db
    else:
        pg = TempPostgres(durable=True).start()
        db = pg.create_db("ppt")
    procs = [CollectorProcess(db, url, f"load-collector-{i}", logdir) for i in range(collectors)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            if not p.wait_subscribed():
                raise RuntimeError(f"collector {p.client_id} did not subscribe; see {p.log}")
        return run_load(
            broker_host=host,
            broker_port=port,
            db=db,
            devices=args.devices,
            summaries=args.summaries,
            collectors=procs,
            rate=args.rate,
            live_hz=args.live_hz,
            kill_collector_at=args.kill_collector_at,
            restart_broker=broker.restart if broker is not None else None,
            restart_broker_at=args.restart_broker_at,
            timeout_s=args.timeout,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    finally:
        for p in procs:
            p.stop()
        if broker is not None:
            broker.kill()
        if pg is not None:
            pg.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.loadtest", description=__doc__.split("\n")[0])
    p.add_argument("mode", nargs="?", choices=("run", "bench"), default="run")
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--summaries", type=int, default=5000)
    p.add_argument("--collectors", type=int, default=1, help="collectors to start (0: use running ones)")
    p.add_argument("--rate", type=float, default=0.0, help="summaries/s over the fleet (0: as fast as possible)")
    p.add_argument("--live-hz", type=float, default=1.0, help="live messages per device per second")
    p.add_argument("--broker", help="mqtt://HOST:PORT of a running broker (default: start one)")
    p.add_argument("--db", help="database the collectors write (default: start a PostgreSQL)")
    p.add_argument("--kill-collector-at", type=float, help="SIGKILL collector 0 after this fraction, restart it")
    p.add_argument("--restart-broker-at", type=float, help="restart the broker after this fraction (own broker)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the last summary")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.devices < 1 or args.summaries < 1 or args.collectors < 0:
        p.error("--devices and --summaries must be >= 1, --collectors >= 0")
    if args.collectors == 0 and not (args.broker and args.db):
        p.error("--collectors 0 needs --broker and --db of the collectors already running")
    counts = [1, 3] if args.mode == "bench" else [args.collectors]
    reports = []
    try:
        with tempfile.TemporaryDirectory(prefix="ppt-loadtest-") as tmp:
            for n in counts:
                report = _one(args, n, Path(tmp))
                reports.append(report)
                print(json.dumps(report.as_dict()) if args.json else report.text(), flush=True)
    except ServerUnavailable as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.lost == 0 and r.duplicated == 0 for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
