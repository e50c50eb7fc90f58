"""A session summary taken in, from the broker or from a file: bounded JSON, then schema v1.

The listener and `ppt-collect import` / `ppt-collect report FILE.json` apply the same rules, so a
summary that `ppt-edge analyze` wrote to a file is stored, or refused, exactly as if a device had
published it. A refused file stays where it is (nothing is lost); the reasons name the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.collector.store import Store, TransientStoreError
from edge.schema import summary_errors
from edge.untrusted import UntrustedInput, load_json

MAX_SUMMARY_BYTES = 8 * 1024 * 1024  # as the broker example's max_packet_size


def check_summary(payload: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    """The summary in `payload`, or None and every reason it is refused. Never raises: whatever a
    payload holds must not stop the caller's queue."""
    try:
        summary = load_json(payload, max_bytes=MAX_SUMMARY_BYTES)
    except UntrustedInput as exc:
        reason = str(exc)
        return None, [reason if reason.startswith("not ") else f"refused at parse: {reason}"]
    try:
        errors = summary_errors(summary)
    except Exception as exc:  # a validator bug must not block the queue either
        errors = [f"could not be validated: {type(exc).__name__}: {exc}"]
    return (None, errors) if errors else (summary, [])


def read_summary_file(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """`check_summary` of a file's bytes; never more than the bound is read (a device file such as
    /dev/zero states no size)."""
    try:
        with path.open("rb") as f:
            payload = f.read(MAX_SUMMARY_BYTES + 1)
    except OSError as exc:
        return None, [f"cannot read it: {exc.strerror or exc}"]
    if len(payload) > MAX_SUMMARY_BYTES:
        return None, [f"refused at parse: more than {MAX_SUMMARY_BYTES} bytes"]
    return check_summary(payload)


@dataclass
class FileOutcome:
    """What happened to one file: stored | duplicate | conflict | refused."""

    path: Path
    kind: str
    session_id: str | None = None
    reasons: list[str] = field(default_factory=list)


def import_files(store: Store, paths: Iterable[Path]) -> list[FileOutcome]:
    """Store each summary file once, as the listener stores a published one. A refused file (not a
    summary, or a session id already stored with other content) comes back with its reasons for the
    caller to report, and stays on disk; the others are stored regardless. Raises
    TransientStoreError (database unavailable)."""
    outcomes = []
    for path in paths:
        summary, errors = read_summary_file(path)
        if summary is None:
            out = FileOutcome(path, "refused", reasons=errors)
        else:
            sid = summary["session_id"]
            try:
                result = store.insert_session(summary)
            except TransientStoreError:
                raise
            except Exception as exc:  # this summary cannot be stored (the database is fine)
                out = FileOutcome(path, "refused", sid, [f"the store cannot take it: {type(exc).__name__}: {exc}"])
            else:
                reasons = ([f"session {sid!r} is already stored with different content; the stored one is kept"]
                           if result == "conflict" else [])  # fmt: skip
                out = FileOutcome(path, result, sid, reasons)
        outcomes.append(out)
    return outcomes
