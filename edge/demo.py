"""`ppt-edge-demo`: the whole system on one machine, end to end, in about half a minute.

    ppt-edge-demo [--video PATH] [--seconds N] [--broker mqtt://HOST:PORT] [--db PATH] [-v]

It starts an MQTT broker (the embedded amqtt broker, MQTT 3.1.1, on a free port of 127.0.0.1, unless
`--broker` names one), a collector storing into a SQLite database (a temporary one unless `--db`), and
the device daemon on a recording played in real time and looping, as if it were a camera, with short
session timings. The daemon starts a session by itself when it sees the presenter; after `--seconds`
the demo sends a `stop` command over MQTT (the video ending or the presenter leaving would end it
too), waits until the collector has stored the summary, and prints the report the collector received.

The recording defaults to the sample shipped in the package (edge/samples/, 13 s of one person in full
view; its source and licence are in the NOTICE beside it), so the demo runs on a fresh clone or a plain
wheel install with nothing else. Exit codes: 0 the report was printed; 1 something failed on the way
(the message says what); 2 bad arguments or no recording found.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEVICE_ID = "demo-room"
START_TIMEOUT_S = 90.0  # models, broker and the presenter's first seconds in view
SUMMARY_TIMEOUT_S = 60.0


class DemoError(RuntimeError):
    """A step of the demo failed; `exit_code` is what the command returns."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def find_video(explicit: Path | None) -> Path:
    """The recording to play: `--video`, else the sample shipped in the package (edge/samples/)."""
    from edge.samples import SAMPLE_VIDEO

    if explicit is not None:
        if not explicit.is_file():
            raise DemoError(f"--video {explicit}: file not found", 2)
        return explicit.resolve()
    if not SAMPLE_VIDEO.is_file():
        raise DemoError(f"no recording found: the sample {SAMPLE_VIDEO} is missing (a broken installation?); "
                        "pass --video PATH", 2)
    return SAMPLE_VIDEO


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _emotion_available(models_dir: Path) -> bool:
    from edge.analysis.inference import ModelError
    from edge.analysis.models import read_manifest, resolve_model

    try:
        resolve_model(models_dir, read_manifest(models_dir), "emotion", None, verify=False)
    except ModelError:
        return False
    return True


def demo_config(video: Path, host: str, port: int, state_dir: Path, emotion: bool) -> Any:
    """The daemon's config: the recording as a looping camera, short session timings (the sample is
    13 s: shorter than the default session.min_duration_s of 20 s, so the demo keeps sessions from 1 s)."""
    from edge.config import config_from_dict

    return config_from_dict(
        {
            "device": {"id": DEVICE_ID},
            "models": {"emotion": emotion},
            "analysis": {"fps": 5.0},
            "session": {
                "start_after_s": 1.0,
                "end_after_s": 4.0,
                "min_duration_s": 1.0,
                "checkpoint_s": 2.0,
                "bin_s": 2.0,
            },
            "mqtt": {"host": host, "port": port, "live_hz": 1.0},
            "camera": {"backend": "file", "path": str(video), "loop": True},
            "storage": {"state_dir": str(state_dir)},
        },
        base_dir=REPO,
    )


def _setup_logging(verbose: int) -> None:
    """Quiet by default (our warnings only); -v: DEBUG with the other libraries' own lines; -vv: amqtt's
    per-packet chatter too."""
    from edge.logs import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.WARNING, timestamps=False)
    if verbose == 0:
        # The daemon tries MQTT 5 first and falls back to 3.1.1 for the embedded broker: expected here.
        logging.getLogger("edge.device.publish").setLevel(logging.ERROR)
        logging.getLogger("asyncio").setLevel(logging.ERROR)
    elif verbose == 1:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.INFO)


def run_demo(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt

    from edge.collector.listen import Listener, Outcome, parse_broker_url
    from edge.collector.store import Store
    from edge.config import ModelsConfig
    from edge.device.daemon import Daemon
    from edge.session.report import render_report

    video = find_video(args.video)
    work = Path(tempfile.mkdtemp(prefix="ppt-edge-demo-"))
    db_path = args.db if args.db is not None else work / "collector.sqlite3"
    models_dir = ModelsConfig().dir  # the documented lookup (edge.config.default_models_dir)
    emotion = _emotion_available(models_dir)
    if not emotion:
        _say(f"no emotion model in {models_dir}: analysing pose only (docs/models.md says how to build it)")

    embedded = None
    if args.broker:
        try:
            host, port, tls = parse_broker_url(args.broker)
        except ValueError as exc:
            raise DemoError(str(exc), 2) from None
        if tls:
            raise DemoError("the demo speaks plain MQTT; use `ppt-edge run` with a config for TLS", 2)
        protocol = mqtt.MQTTv5
        _say(f"broker: {host}:{port}")
    else:
        from edge.collector.broker import EmbeddedBroker, EmbeddedBrokerError

        host, port = "127.0.0.1", _free_port()
        embedded = EmbeddedBroker(host, port)
        try:
            embedded.start()
        except EmbeddedBrokerError as exc:
            raise DemoError(str(exc)) from None
        protocol = mqtt.MQTTv311  # amqtt speaks MQTT 3.1.1 only
        _say(f"broker: embedded (amqtt) on {host}:{port}")

    stops: list[threading.Event] = []
    threads: list[threading.Thread] = []
    store: Store | None = None
    try:
        store = Store(db_path)
        stored: dict[str, dict[str, Any]] = {}
        stored_event = threading.Event()

        def on_session(outcome: Outcome) -> None:
            if outcome.session_id and outcome.summary is not None:
                stored[outcome.session_id] = outcome.summary
                stored_event.set()

        listener = Listener(
            store,
            host=host,
            port=port,
            client_id=f"ppt-demo-collector-{os.getpid()}",
            on_session=on_session,
            protocol=protocol,
        )
        collector_stop = threading.Event()
        stops.append(collector_stop)
        collector = threading.Thread(
            target=listener.run, args=(collector_stop,), name="ppt-demo-collector", daemon=True
        )
        collector.start()
        threads.append(collector)
        if not listener.ready.wait(15):
            raise DemoError(f"the collector could not subscribe at {host}:{port}: {listener.conn.last_error}")
        _say(f"collector: storing into {db_path}" + ("" if args.db else " (temporary)"))

        cfg = demo_config(video, host, port, work / "state", emotion)
        daemon = Daemon(cfg, publisher_options={"connack_timeout_s": 1.0})
        daemon_stop = threading.Event()
        stops.insert(0, daemon_stop)
        result: dict[str, int] = {}

        def run_daemon() -> None:
            result["rc"] = daemon.run(daemon_stop)

        daemon_thread = threading.Thread(target=run_daemon, name="ppt-demo-daemon", daemon=True)
        daemon_thread.start()
        threads.insert(0, daemon_thread)
        _say(f"daemon: analysing {video.name} (looping, in real time) as device {DEVICE_ID!r}")

        deadline = time.monotonic() + START_TIMEOUT_S
        session_id = None
        while session_id is None:
            if not daemon_thread.is_alive():
                raise DemoError(f"the daemon stopped (exit code {result.get('rc')}); see the messages above")
            if time.monotonic() > deadline:
                raise DemoError(f"no session started within {START_TIMEOUT_S:.0f}s: is a presenter in {video}?")
            session_id = daemon.session_id
            time.sleep(0.1)
        _say(f"session {session_id} started; sending `stop` in {args.seconds:g}s")

        stop_at = time.monotonic() + args.seconds
        while time.monotonic() < stop_at and daemon.session_id == session_id and daemon_thread.is_alive():
            time.sleep(0.1)
        if daemon.session_id == session_id:
            command = json.dumps({"id": "demo-stop", "cmd": "stop"}).encode()
            info = listener.conn.publish(f"{cfg.mqtt.prefix}/{DEVICE_ID}/cmd", command, qos=1)
            if info is None:
                raise DemoError("the collector's MQTT connection is gone; cannot send `stop`")
            _say("stop command sent")
        else:
            _say("the session ended by itself")

        if not stored_event.wait(SUMMARY_TIMEOUT_S) and session_id not in stored:
            raise DemoError(f"the collector did not receive session {session_id} within {SUMMARY_TIMEOUT_S:.0f}s")
        rows = store.find_session(session_id)
        if len(rows) != 1:
            raise DemoError(f"session {session_id} is not in the collector's database {db_path}")
        _say(f"the collector stored session {session_id}; its report:")
        print(render_report(rows[0].summary), flush=True)
        if args.db is not None:
            _say(f"again later: ppt-collect --db {db_path} show {session_id}")
        return 0
    finally:
        for ev in stops:
            ev.set()
        for th in threads:
            th.join(15)
        if store is not None:
            store.close()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(work, ignore_errors=True)  # state and spool; a --db given lives elsewhere


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ppt-edge-demo",
        description="Run broker, collector and device daemon on a recording and print the report.",
    )
    p.add_argument("--video", type=Path, help="recording to play (default: the sample shipped in edge/samples/)")
    p.add_argument("--seconds", type=float, default=15.0,
                   help="send `stop` this long after the session started (default %(default)s)")
    p.add_argument("--broker", help="use this broker (mqtt://HOST:PORT) instead of the embedded one")
    p.add_argument("--db", type=Path, help="collector database (default: a temporary file)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: debug log with the other libraries' own lines; -vv: also amqtt's packet log")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.seconds > 0:
        print("ppt-edge-demo: --seconds must be > 0", file=sys.stderr)
        return 2
    _setup_logging(args.verbose)
    # SIGTERM behaves like Ctrl-C: the finally blocks stop the daemon, collector and broker.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run_demo(args)
    except DemoError as exc:
        print(f"ppt-edge-demo: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ppt-edge-demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
