"""The collector's store changed by hand: `ppt-collect import` and `ppt-collect delete`.

`import` takes summary files (what `ppt-edge analyze --json` writes) by the listener's own rules
(`edge.collector.intake`). `delete` removes sessions: a rehearsal recorded by mistake, a test run, or
everything stored under one presenter's label when they ask for it. It deletes only what it listed,
all or nothing, and asks first (or needs `--yes` when no one is there to ask).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.collector.intake import import_files
from edge.collector.store import SessionRow, Store, StoreError, is_url
from edge.collector.tables import duration, text_table
from edge.untrusted import printable


def add_admin_commands(sub: Any) -> None:
    """The `import` and `delete` subcommands on `ppt-collect`'s subparsers."""
    im = sub.add_parser("import", help="store summary files (ppt-edge analyze --json) as if published")
    im.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="session summaries (schema v1)")
    im.set_defaults(func=cmd_import)

    de = sub.add_parser("delete", help="delete stored sessions (by id, or every session of a label)")
    de.add_argument("sessions", nargs="*", metavar="SESSION", help="session ids or unique prefixes of them")
    de.add_argument("--label", help="every session stored under this label (a presenter's name)")
    de.add_argument("--device", help="with --label: only this device's sessions")
    de.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    de.add_argument("--yes", action="store_true", help="do not ask (needed when stdin is not a terminal)")
    de.set_defaults(func=cmd_delete)


def open_store(db: str, *, existing: bool) -> Store | None:
    """The collector's store, or None after saying why not. `existing`: a SQLite file must be there
    already (every command but `listen` and `import` reads what those stored)."""
    if existing and not is_url(db) and not Path(db).exists():
        print(f"ppt-collect: no database at {db} yet (run `ppt-collect listen` first)", file=sys.stderr)
        return None
    try:
        return Store(db)
    except StoreError as exc:
        print(f"ppt-collect: {exc}", file=sys.stderr)
        return None


def cmd_import(args: argparse.Namespace) -> int:
    """Store summary files as the listener stores published ones; a refused file is named with its
    reasons and left on disk, the others are stored anyway. Exit status 1 when any was refused."""
    store = open_store(args.db, existing=False)
    if store is None:
        return 1
    with store:
        outcomes = import_files(store, args.files)
        name = store.name
    refused = 0
    for out in outcomes:
        shown = printable(str(out.path), limit=300)
        if out.kind in ("stored", "duplicate"):
            what = "stored" if out.kind == "stored" else "already stored"
            print(f"{shown}: {what} as session {printable(str(out.session_id))}")
            continue
        refused += 1
        print(f"ppt-collect: {shown}: refused: " + printable("; ".join(out.reasons[:10]), limit=2000), file=sys.stderr)
    stored = sum(out.kind == "stored" for out in outcomes)
    print(f"{stored} stored, {len(outcomes) - stored - refused} already there, {refused} refused, into {name}",
          file=sys.stderr)
    return 1 if refused else 0


def select_for_deletion(store: Store, keys: list[str], label: str | None, device: str | None
                        ) -> tuple[list[SessionRow], list[str]]:  # fmt: skip
    """The sessions `delete` would remove, and every problem that stops it (an unknown or ambiguous
    id, no selection at all): with a problem nothing is deleted, so a typo never costs a session."""
    problems: list[str] = []
    if not keys and label is None:
        return [], ["name the sessions to delete (ids or unique prefixes), or --label NAME"]
    if device is not None and label is None:
        problems.append("--device only narrows --label; name the sessions by id instead")
    chosen: dict[str, SessionRow] = {}
    for key in keys:
        matches = store.find_session(key)
        if len(matches) == 1:
            chosen[matches[0].session_id] = matches[0]
        elif not matches:
            problems.append(f"no session {key!r}")
        else:
            problems.append(f"{key!r} matches {len(matches)} sessions: "
                            + ", ".join(r.session_id for r in matches[:5]) + (" ..." if len(matches) > 5 else ""))
    if label is not None:
        rows = store.sessions(device=device, label=label)
        if not rows:
            problems.append(f"no session labelled {label!r}" + (f" on device {device!r}" if device else ""))
        chosen.update((r.session_id, r) for r in rows)
    return sorted(chosen.values(), key=lambda r: (r.started_at, r.session_id)), problems


def cmd_delete(args: argparse.Namespace, ask: Callable[[str], str] = input) -> int:
    store = open_store(args.db, existing=True)
    if store is None:
        return 1
    with store:
        rows, problems = select_for_deletion(store, list(args.sessions), args.label, args.device)
        if problems:
            for problem in problems:
                print(f"ppt-collect: {printable(problem, limit=500)}", file=sys.stderr)
            print("ppt-collect: nothing deleted", file=sys.stderr)
            return 1
        table = [[r.session_id, r.device, r.label or "", r.started_at, duration(r.duration_s)] for r in rows]
        print(printable(text_table(["session", "device", "label", "started", "duration"], table, right=(4,)),
                        keep_newlines=True))
        what = f"{len(rows)} session" + ("s" if len(rows) != 1 else "")
        if args.dry_run:
            print(f"{what} would be deleted from {store.name} (--dry-run: nothing deleted)", file=sys.stderr)
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                print(f"ppt-collect: not deleting {what} without --yes (no terminal to ask on)", file=sys.stderr)
                return 2
            if ask(f"Delete {what} from {store.name}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing deleted", file=sys.stderr)
                return 1
        sessions, quarantined = store.delete_sessions([r.session_id for r in rows])
    extra = f" and {quarantined} refused cop{'y' if quarantined == 1 else 'ies'} of them" if quarantined else ""
    print(f"deleted {sessions} session{'s' if sessions != 1 else ''}{extra}", file=sys.stderr)
    return 0
