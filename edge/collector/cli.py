"""`ppt-collect`: listen for summaries, list them, show one, and see how the metrics moved over sessions.

    ppt-collect listen --broker mqtt://HOST:PORT [--tls-ca F --tls-cert F --tls-key F]
                       [--username U --password-file F] [--db PATH] [--share GROUP] [--prefix ppt]
                       [--embedded-broker]
    ppt-collect list [--device D] [--label L]
    ppt-collect show SESSION            (a unique prefix of the id is enough)
    ppt-collect import FILE.json ...    (summaries `ppt-edge analyze` wrote, checked as published ones)
    ppt-collect delete SESSION ... | --label NAME [--device D] [--dry-run] [--yes]
    ppt-collect trend [--device D] [--label L] [--last N]
    ppt-collect export --csv OUT.csv [--device D] [--label L] [--last N]   (one row per session)
    ppt-collect devices
    ppt-collect quarantine [--last N]   (refused messages kept for inspection)
    ppt-collect serve [--host 127.0.0.1] [--port 8080] [--broker URL]   (the web dashboard)
    ppt-collect report SESSION|FILE.json --html OUT.html [--open]      (one session as one HTML file)
    ppt-collect listen ... --serve                                     (listener and dashboard together)

`--db` (or $PPT_COLLECT_DB) is a SQLite file, default `$XDG_DATA_HOME/ppt-edge/collector.sqlite3`
(~/.local/share/...), or a PostgreSQL URL `postgresql://USER@HOST:PORT/DB` shared by several collectors.
Every text that came from a device is printed through `edge.untrusted.printable` (control characters
and bidi overrides escaped).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.collector.admin import add_admin_commands, open_store
from edge.collector.store import SessionRow, Store, StoreError
from edge.collector.tables import duration, session_line, sessions_csv, text_table, trend_table
from edge.collector.web.commands import (
    add_listen_serve_args,
    add_report_args,
    add_serve_args,
    cmd_report,
    cmd_serve,
)
from edge.untrusted import printable

logger = logging.getLogger(__name__)


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ppt-edge" / "collector.sqlite3"


def default_db() -> str:
    return os.environ.get("PPT_COLLECT_DB") or str(default_db_path())


def _setup_logging(verbose: int, default: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else default
    # Under journald (JOURNAL_STREAM set) the journal stamps each line: no timestamps of our own.
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    for noisy in ("amqtt", "transitions", "edge.device.publish.paho", "edge.collector.listen.paho"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    from edge.logs import quiet_third_party

    quiet_third_party(verbose=level <= logging.DEBUG)  # amqtt's warnings about clients: -vv shows them


# -- listen ----------------------------------------------------------------------------------
def cmd_listen(args: argparse.Namespace) -> int:
    from edge.collector.listen import Listener, parse_broker_url
    from edge.collector.store import TransientStoreError
    from edge.config import MqttConfig, TlsConfig
    from edge.mqttconn import MqttSetupError, read_password

    try:
        host, port, url_tls = parse_broker_url(args.broker)
    except ValueError as exc:
        print(f"ppt-collect: {exc}", file=sys.stderr)
        return 2
    tls = None
    if url_tls or args.tls_ca or args.tls_cert or args.tls_key:
        if bool(args.tls_cert) != bool(args.tls_key):
            print("ppt-collect: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        tls = TlsConfig(
            ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key, insecure=args.tls_insecure
        )
    try:
        password = read_password(
            MqttConfig(password_file=args.password_file, password_credential=args.password_credential)
        )
    except MqttSetupError as exc:
        print(f"ppt-collect: {exc}", file=sys.stderr)
        return 2

    mqtt_protocol = args.protocol  # "auto": MQTT 5, or 3.1.1 when the broker's CONNACK refuses 5
    embedded = None
    if args.embedded_broker:
        from edge.collector.broker import EmbeddedBroker, EmbeddedBrokerError

        if tls is not None or args.username:
            print(
                "ppt-collect: --embedded-broker is plain MQTT without logins (one trusted room); "
                "use mosquitto for TLS and passwords",
                file=sys.stderr,
            )
            return 2
        embedded = EmbeddedBroker(host, port)
        try:
            embedded.start()
        except EmbeddedBrokerError as exc:
            print(f"ppt-collect: {exc}", file=sys.stderr)
            return 1
        host = embedded.connect_host
        mqtt_protocol = "3.1.1"  # amqtt speaks MQTT 3.1.1 only: no MQTT 5 attempt at all
        if args.share:
            logger.warning("--share is ignored with --embedded-broker (no shared subscriptions in amqtt)")
            args.share = None

    store = None
    while store is None:
        try:
            store = Store(args.db)
        except TransientStoreError as exc:  # e.g. PostgreSQL still starting: wait, as for the broker
            logger.error("%s; retrying in 5s", exc)
            try:
                threading.Event().wait(5)
            except KeyboardInterrupt:
                return 1
        except StoreError as exc:
            print(f"ppt-collect: {exc}", file=sys.stderr)
            if embedded:
                embedded.stop()
            return 1
    dashboard = None
    if args.serve:
        from edge.collector.web.commands import WEB_EXTRA_HINT, WebSetupError, start_beside_listener

        try:
            dashboard = start_beside_listener(args, host, port, tls, args.username, password)
        except (ImportError, WebSetupError, OSError) as exc:
            hint = WEB_EXTRA_HINT if isinstance(exc, ImportError) else ""
            print(f"ppt-collect: {hint or exc}", file=sys.stderr)
            store.close()
            if embedded:
                embedded.stop()
            return 2
    stop = threading.Event()

    def on_session(outcome: Any) -> None:
        print(session_line(outcome.summary), flush=True)

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    listener = Listener(
        store,
        host=host,
        port=port,
        prefix=args.prefix,
        share=args.share,
        client_id=args.client_id,
        username=args.username,
        password=password,
        tls=tls,
        on_session=on_session,
        protocol=mqtt_protocol,
    )
    old = signal.signal(signal.SIGTERM, on_signal)
    print(
        f"listening on {host}:{port} (prefix {args.prefix!r}), storing into {store.name}",
        file=sys.stderr,
        flush=True,
    )
    try:
        listener.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        if dashboard is not None:
            dashboard.stop()
        store.close()
        if embedded:
            embedded.stop()
    return 0


# -- list / show / trend / devices -----------------------------------------------------------
def _sessions(args: argparse.Namespace, limit: int | None = None) -> list[SessionRow] | None:
    """The stored sessions that `--device` and `--label` select (the last `limit`), in start order;
    None after saying why the store could not be opened."""
    store = open_store(args.db, existing=True)
    if store is None:
        return None
    with store:
        return store.sessions(device=args.device, label=args.label, limit=limit)


def cmd_list(args: argparse.Namespace) -> int:
    rows = _sessions(args)
    if rows is None:
        return 1
    if not rows:
        print("no sessions stored")
        return 0
    table = [
        [
            r.session_id,
            r.device,
            r.label or "",
            r.started_at,
            duration(r.duration_s),
            r.status,
            str(len(r.summary.get("feedback", []))),
        ]
        for r in rows
    ]
    print(
        text_table(
            ["session", "device", "label", "started", "duration", "status", "findings"], table, right=(4, 6)
        )
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = open_store(args.db, existing=True)
    if store is None:
        return 1
    with store:
        matches = store.find_session(args.session)
    if not matches:
        print(f"ppt-collect: no session {args.session!r}", file=sys.stderr)
        return 1
    if len(matches) > 1:
        print(f"ppt-collect: {args.session!r} matches {len(matches)} sessions:", file=sys.stderr)
        for r in matches:
            print(f"  {r.session_id}", file=sys.stderr)
        return 1
    summary = matches[0].summary
    raw = printable(json.dumps(summary, indent=2, ensure_ascii=False), keep_newlines=True)
    if args.json:
        print(raw)
        return 0
    try:
        from edge.session.report import render_report
    except ImportError:
        print("ppt-collect: edge.session.report is not available; showing the raw summary", file=sys.stderr)
        print(raw)
        return 0
    try:
        report = render_report(summary)
    except Exception as exc:  # an old or odd row: show what is stored rather than a traceback
        print(f"ppt-collect: cannot render this session ({type(exc).__name__}: {exc}); the stored summary:",
              file=sys.stderr)
        print(raw)
        return 0
    print(printable(report, keep_newlines=True))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The stored sessions as CSV (`sessions_csv`), to a file or with `-` to stdout."""
    rows = _sessions(args, args.last)
    if rows is None:
        return 1
    text = sessions_csv(rows)
    if str(args.csv) == "-":
        sys.stdout.write(text)
        return 0
    try:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        args.csv.write_text(text, encoding="utf-8-sig")  # with a BOM: spreadsheets then read UTF-8 labels right
    except OSError as exc:
        print(f"ppt-collect: cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{len(rows)} session{'s' if len(rows) != 1 else ''} written to {args.csv}", file=sys.stderr)
    return 0


def cmd_trend(args: argparse.Namespace) -> int:
    rows = _sessions(args, args.last)
    if rows is None:
        return 1
    if not rows:
        print("no sessions stored" + (" for that filter" if args.device or args.label else ""))
        return 0
    print(trend_table(rows))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    store = open_store(args.db, existing=True)
    if store is None:
        return 1
    with store:
        rows = store.devices()
    if not rows:
        print("no device status recorded")
        return 0
    table = [[r.device, r.state, r.received_at, str((r.status or {}).get("version", ""))] for r in rows]
    print(text_table(["device", "state", "since", "version"], table))
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    """Refused messages, newest first: when, topic, size and why (the payload itself with --payload)."""
    store = open_store(args.db, existing=True)
    if store is None:
        return 1
    with store:
        rows = store.quarantined(limit=args.last)
        total = store.count_quarantined()
    if not rows:
        print("no refused messages")
        return 0
    table = [[str(r.id), r.received_at, r.topic, str(r.size), r.reason[:200]] for r in rows]
    print(text_table(["id", "received", "topic", "bytes", "reason"], table, right=(0, 3)))
    if args.payload:
        for r in rows:
            print(f"\n#{r.id} ({r.size} bytes, first {len(r.payload)} kept):")
            print(printable(r.payload.decode("utf-8", "backslashreplace"), limit=2000))
    print(f"\n{len(rows)} of {total} refused messages shown")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ppt-collect", description="Collect PPT Edge session summaries over MQTT."
    )
    p.add_argument(
        "--db",
        default=default_db(),
        help="SQLite file or postgresql://USER@HOST:PORT/DB (default: $PPT_COLLECT_DB or %(default)s)",
    )
    p.add_argument("-v", "--verbose", action="count", default=0)
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("listen", help="subscribe and store arriving summaries")
    ls.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://HOST:PORT or mqtts://HOST:PORT")
    ls.add_argument("--tls-ca", type=Path, help="CA file to verify the broker")
    ls.add_argument("--tls-cert", type=Path, help="client certificate")
    ls.add_argument("--tls-key", type=Path, help="client key")
    ls.add_argument("--tls-insecure", action="store_true", help="skip the host-name check (test CAs only)")
    ls.add_argument("--username")
    ls.add_argument("--password-file", type=Path)
    ls.add_argument("--password-credential", help="systemd credential name (LoadCredential=)")
    ls.add_argument(
        "--share", metavar="GROUP", help="MQTT 5 shared subscription group for several collectors"
    )
    ls.add_argument("--prefix", default="ppt")
    ls.add_argument("--client-id", help="default: ppt-collect-<hostname>[-<group>] (keep it stable)")
    ls.add_argument(
        "--embedded-broker",
        action="store_true",
        help="run an in-process broker (amqtt) bound to --broker's host and port",
    )
    ls.add_argument(
        "--protocol",
        choices=("auto", "5", "3.1.1"),
        default="auto",
        help="MQTT version: auto (5, or 3.1.1 when the broker refuses 5), 5 or 3.1.1 (default: %(default)s)",
    )
    add_listen_serve_args(ls)
    ls.set_defaults(func=cmd_listen, log_default=logging.INFO)

    li = sub.add_parser("list", help="list stored sessions")
    li.add_argument("--device")
    li.add_argument("--label")
    li.set_defaults(func=cmd_list)

    sh = sub.add_parser("show", help="the readable report of one session")
    sh.add_argument("session", help="session id or a unique prefix of it")
    sh.add_argument("--json", action="store_true", help="print the stored summary JSON instead")
    sh.set_defaults(func=cmd_show)

    add_admin_commands(sub)

    ex = sub.add_parser("export", help="stored sessions as CSV for a spreadsheet (one row each)")
    ex.add_argument("--csv", type=Path, required=True, metavar="OUT.csv", help="where to write it (- for stdout)")
    ex.add_argument("--device")
    ex.add_argument("--label")
    ex.add_argument("--last", type=int, help="only the most recent N sessions")
    ex.set_defaults(func=cmd_export)

    tr = sub.add_parser("trend", help="how each main metric moved across sessions")
    tr.add_argument("--device")
    tr.add_argument("--label")
    tr.add_argument("--last", type=int, default=10, help="the most recent N sessions (default %(default)s)")
    tr.set_defaults(func=cmd_trend)

    dv = sub.add_parser("devices", help="the latest recorded status of each device")
    dv.set_defaults(func=cmd_devices)

    qu = sub.add_parser("quarantine", help="refused messages kept for inspection, newest first")
    qu.add_argument("--last", type=int, default=20, help="how many (default %(default)s)")
    qu.add_argument("--payload", action="store_true", help="also print the kept payloads (escaped)")
    qu.set_defaults(func=cmd_quarantine)

    se = sub.add_parser("serve", help="the web dashboard over the database (read-only)")
    add_serve_args(se)
    se.set_defaults(func=cmd_serve, log_default=logging.INFO)

    rp = sub.add_parser("report", help="one session as a self-contained HTML file")
    add_report_args(rp)
    rp.set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose, getattr(args, "log_default", logging.WARNING))
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
