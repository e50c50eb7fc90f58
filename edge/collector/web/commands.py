"""`ppt-collect serve`, `ppt-collect report` and `ppt-collect listen --serve`: arguments and commands.

This module imports nothing of the web stack at import time, so `ppt-collect --help` and the other
subcommands work without the `web` extra; the commands say how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import webbrowser
from pathlib import Path
from typing import Any

from edge.untrusted import printable

logger = logging.getLogger(__name__)

WEB_EXTRA_HINT = "the dashboard needs the web extra: pip install 'ppt-edge[web]'"


class WebSetupError(RuntimeError):
    """Bad dashboard options (the message names the option)."""


def add_access_args(p: argparse.ArgumentParser, host_flag: str, port_flag: str) -> None:
    p.add_argument(host_flag, dest="http_host", metavar="HOST", default="127.0.0.1",
                   help="address to serve the dashboard on (default %(default)s: this computer only)")
    p.add_argument(port_flag, dest="http_port", metavar="PORT", type=int, default=8080,
                   help="port (default %(default)s)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow an address other than the loopback (then --token-file is required)")
    p.add_argument("--token-file", type=Path,
                   help="file whose first line is the dashboard's password (HTTP Basic, any user name)")
    p.add_argument("--https-cert", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--https-key", help="key of --https-cert (PEM)")
    p.add_argument("--lang", choices=("en", "ko"),
                   help="page language for everyone (default: each browser's Accept-Language)")
    p.add_argument("--page-size", type=int, default=50, metavar="N",
                   help="sessions per page of the session list (default %(default)s)")


def add_serve_args(p: argparse.ArgumentParser) -> None:
    add_access_args(p, "--host", "--port")
    p.add_argument("--broker", help="mqtt://HOST:PORT or mqtts://HOST:PORT for the live view (default: no live view)")
    p.add_argument("--prefix", default="ppt")
    p.add_argument("--username")
    p.add_argument("--password-file", type=Path)
    p.add_argument("--tls-ca", type=Path, help="CA file to verify the broker")
    p.add_argument("--tls-cert", type=Path, help="client certificate")
    p.add_argument("--tls-key", type=Path, help="client key")
    p.add_argument("--tls-insecure", action="store_true", help="skip the host-name check (test CAs only)")


def add_listen_serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--serve", action="store_true", help="also serve the dashboard (see `ppt-collect serve`)")
    add_access_args(p, "--http-host", "--http-port")


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", help="session id or a unique prefix of it, or a summary file (ppt-edge analyze --json)")
    p.add_argument("--html", type=Path, required=True, metavar="OUT.html", help="where to write the report")
    p.add_argument("--open", action="store_true", help="open it in the default browser")
    p.add_argument("--lang", choices=("en", "ko"), default="en", help="language (default %(default)s)")


def _first_line(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise WebSetupError(f"{what} {path}: {exc.strerror or exc}") from None
    return text.splitlines()[0].strip() if text else ""


def access_settings(args: argparse.Namespace, db: Any, hub: Any = None) -> tuple[Any, dict[str, Any]]:
    """(DashboardSettings, server keyword arguments) from the parsed options; WebSetupError names a bad
    option. Loopback needs nothing; any other address needs --allow-remote and a --token-file."""
    from edge.collector.web.app import DashboardSettings
    from edge.collector.web.live import LiveHub
    from edge.collector.web.security import LOOPBACK_NAMES, TokenError, is_loopback, read_token

    token = None
    if args.token_file is not None:
        try:
            token = read_token(args.token_file)
        except TokenError as exc:
            raise WebSetupError(str(exc)) from None
    loopback = is_loopback(args.http_host)
    if not loopback:
        if not args.allow_remote:
            raise WebSetupError(
                f"{args.http_host} is not this computer's loopback address: anyone who reaches it could read "
                "every session; pass --allow-remote and --token-file FILE to do it on purpose"
            )
        if token is None:
            raise WebSetupError("--allow-remote needs --token-file FILE (the password browsers must give)")
    if bool(args.https_cert) != bool(args.https_key):
        raise WebSetupError("--https-cert and --https-key go together")
    settings = DashboardSettings(
        db=db,
        lang=args.lang,
        token=token,
        allowed_hosts=[*LOOPBACK_NAMES] if loopback else None,
        hub=hub or LiveHub(),
        page_size=max(1, min(500, args.page_size)),
    )
    return settings, {"host": args.http_host, "port": args.http_port, "certfile": args.https_cert,
                      "keyfile": args.https_key}  # fmt: skip


def _announce(url: str) -> None:
    print(f"dashboard: {url}/sessions (Ctrl-C to stop)", file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from edge.collector.web.live import FeedSettings
        from edge.collector.web.server import DashboardServer, PortError, check_port
    except ImportError as exc:
        print(f"ppt-collect: {WEB_EXTRA_HINT} ({exc})", file=sys.stderr)
        return 2
    if not Path(str(args.db)).exists():
        print(f"ppt-collect: no database at {args.db} yet (run `ppt-collect listen` first)", file=sys.stderr)
        return 1
    try:
        settings, server_kw = access_settings(args, args.db)
        feed = None
        if args.broker:
            from edge.collector.listen import parse_broker_url

            try:
                host, port, tls = parse_broker_url(args.broker)
            except ValueError as exc:
                raise WebSetupError(str(exc)) from None
            feed = FeedSettings(
                host=host, port=port, prefix=args.prefix, username=args.username,
                password=_first_line(args.password_file, "--password-file") if args.password_file else None,
                tls=tls, tls_ca=str(args.tls_ca) if args.tls_ca else None,
                tls_cert=str(args.tls_cert) if args.tls_cert else None,
                tls_key=str(args.tls_key) if args.tls_key else None, tls_insecure=args.tls_insecure,
            )  # fmt: skip
        check_port(server_kw["host"], server_kw["port"])
        server = DashboardServer(settings, feed=feed, on_started=_announce, **server_kw)
    except (WebSetupError, PortError) as exc:
        print(f"ppt-collect: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. StoreError: not a collector database
        print(f"ppt-collect: {exc}", file=sys.stderr)
        return 1
    server.run()
    return 0


def start_beside_listener(args: argparse.Namespace, host: str, port: int, tls: Any, username: str | None,
                          password: str | None) -> Any:  # fmt: skip
    """`listen --serve`: the dashboard on a background thread, its live feed on the listener's broker.
    Returns the server (call `.stop()`), or raises WebSetupError/ImportError/PortError."""
    from edge.collector.web.live import FeedSettings
    from edge.collector.web.server import DashboardServer, check_port

    settings, server_kw = access_settings(args, args.db)
    feed = FeedSettings(
        host=host, port=port, prefix=args.prefix, username=username, password=password,
        tls=tls is not None,
        tls_ca=str(tls.ca_file) if tls is not None and tls.ca_file else None,
        tls_cert=str(tls.cert_file) if tls is not None and tls.cert_file else None,
        tls_key=str(tls.key_file) if tls is not None and tls.key_file else None,
        tls_insecure=bool(tls is not None and tls.insecure),
    )  # fmt: skip
    check_port(server_kw["host"], server_kw["port"])
    server = DashboardServer(settings, feed=feed, on_started=_announce, **server_kw)
    server.start()
    return server


def cmd_report(args: argparse.Namespace) -> int:
    try:
        from edge.collector.web.report import render_report
    except ImportError as exc:
        print(f"ppt-collect: {WEB_EXTRA_HINT} ({exc})", file=sys.stderr)
        return 2
    summary = _report_summary(args)
    if summary is None:
        return 1
    html = render_report(summary, args.lang)
    out: Path = args.html
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        print(f"ppt-collect: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"report of {summary['session_id']} written to {out} ({len(html.encode()) // 1024} KiB)", file=sys.stderr)
    if args.open:
        webbrowser.open(out.resolve().as_uri())
    return 0


def _is_summary_file(arg: str) -> bool:
    """A `report` argument that names a file rather than a session: an existing file, or a name ending
    in .json (the ids devices make never do; a missing file is then reported as such)."""
    return Path(arg).is_file() or arg.lower().endswith(".json")


def _report_summary(args: argparse.Namespace) -> dict[str, Any] | None:
    """The summary `report` renders: from a file (checked as the listener checks a published one), or
    the stored session the argument names; None after saying why not."""
    if _is_summary_file(args.session):
        from edge.collector.intake import read_summary_file

        summary, errors = read_summary_file(Path(args.session))
        if summary is None:
            print(f"ppt-collect: {printable(args.session, limit=300)}: not a session summary: "
                  + printable("; ".join(errors[:10]), limit=2000), file=sys.stderr)
        return summary
    from edge.collector.admin import open_store

    store = open_store(str(args.db), existing=True)
    if store is None:
        return None
    with store:
        matches = store.find_session(args.session)
    if len(matches) != 1:
        what = "no session" if not matches else f"{len(matches)} sessions match"
        print(f"ppt-collect: {what} {args.session!r}", file=sys.stderr)
        for r in matches[:10]:
            print(f"  {r.session_id}", file=sys.stderr)
        return None
    return matches[0].summary
