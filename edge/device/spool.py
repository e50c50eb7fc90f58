"""On-disk spool of session summaries: written before publishing, removed only after the broker's ack.

Why: a broker outage, a network cut or a power cut between "summary ready" and "broker has it" must
lose nothing. A summary is therefore made durable here first (tmp file, fsync, rename, fsync of the
directory), and its file is deleted only when the QoS 1 PUBACK for it came back.

File names sort oldest first: `<stamp:020d>-<session_id>.json`, where the stamp is wall-clock
nanoseconds forced to grow past every stamp already in the spool (a Raspberry Pi has no RTC and its
clock can jump back at boot; the order must not). A file that cannot be read is moved aside into
`<spool>/corrupt/` with a logged reason and never blocks the others.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.device.durable import atomic_write, fsync_dir

logger = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{8,80}$")  # same as schema v1: safe in file names and topics
_NAME_RE = re.compile(r"^(?P<stamp>\d{20})-(?P<session>[A-Za-z0-9_.-]{8,80})\.json$")
_TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class SpoolEntry:
    """One pending summary: `id` is the file stem (what `remove` takes), `payload` the bytes to publish."""

    id: str
    session_id: str
    payload: bytes
    path: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads(self.payload)


def encode_summary(summary: Mapping[str, Any]) -> bytes:
    """The exact bytes that are spooled and published (compact UTF-8 JSON, no NaN: strict JSON only)."""
    return json.dumps(summary, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


class Spool:
    """A directory of pending summaries, bounded by `max_files`; safe to use from several threads."""

    def __init__(self, directory: Path | str, max_files: int = 1000) -> None:
        if max_files < 1:
            raise ValueError(f"spool max_files must be >= 1, got {max_files}")
        self.directory = Path(directory)
        self.corrupt_dir = self.directory / "corrupt"
        self.max_files = max_files
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._last_stamp = 0
        self._clean_tmp()
        for path in self._files():
            m = _NAME_RE.match(path.name)
            if m:
                self._last_stamp = max(self._last_stamp, int(m["stamp"]))

    # -- internals ---------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        """Spool files, oldest first (names sort by stamp)."""
        return sorted(p for p in self.directory.iterdir() if p.suffix == ".json" and p.is_file())

    def _clean_tmp(self) -> None:
        """A tmp file is a write that never completed (crash before rename): its caller never got an id."""
        for p in self.directory.glob(f"*{_TMP_SUFFIX}"):
            logger.warning("spool: removing unfinished write %s", p.name)
            p.unlink(missing_ok=True)

    def _next_stamp(self) -> int:
        self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
        return self._last_stamp

    def _set_aside(self, path: Path, reason: str) -> None:
        """Move an unreadable file out of the way, keeping it for a human to look at."""
        try:
            self.corrupt_dir.mkdir(exist_ok=True)
            target = self.corrupt_dir / path.name
            if target.exists():
                target = self.corrupt_dir / f"{path.stem}.{time.time_ns()}{path.suffix}"
            os.replace(path, target)
            fsync_dir(self.directory)
            logger.error("spool: corrupt file %s moved to %s: %s", path.name, target, reason)
        except OSError as exc:
            logger.error("spool: corrupt file %s (%s) could not be moved aside: %s", path.name, reason, exc)

    def _read(self, path: Path) -> SpoolEntry | None:
        m = _NAME_RE.match(path.name)
        if m is None:
            self._set_aside(path, "file name is not <stamp>-<session_id>.json")
            return None
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            return None  # removed meanwhile (acknowledged)
        except OSError as exc:
            self._set_aside(path, f"unreadable: {exc}")
            return None
        try:
            summary = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._set_aside(path, f"not JSON: {exc}")
            return None
        if not isinstance(summary, dict):
            self._set_aside(path, "not a JSON object")
            return None
        if summary.get("session_id") != m["session"]:
            self._set_aside(path, f"session_id {summary.get('session_id')!r} does not match the file name")
            return None
        return SpoolEntry(id=path.stem, session_id=m["session"], payload=payload, path=path)

    def _enforce_bound(self, keep: str) -> None:
        files = self._files()
        excess = len(files) - self.max_files
        for path in files:
            if excess <= 0:
                break
            if path.stem == keep:
                continue
            m = _NAME_RE.match(path.name)
            session = m["session"] if m else path.name
            logger.error(
                "spool full (max_files=%d): DROPPING the oldest unsent summary, session %s (%s)",
                self.max_files,
                session,
                path.name,
            )
            path.unlink(missing_ok=True)
            excess -= 1

    # -- API ---------------------------------------------------------------------------------
    def put(self, summary: Mapping[str, Any]) -> str:
        """Write `summary` durably and return its spool id. A summary with the same session id that is
        still pending is replaced in place (a re-sent session stays one file, in its original order).

        Raises ValueError when the summary has no usable session id or is not strict JSON.
        """
        session_id = summary.get("session_id")
        if not isinstance(session_id, str) or not SESSION_ID_RE.match(session_id):
            raise ValueError(f"summary session_id {session_id!r} does not match {SESSION_ID_RE.pattern}")
        payload = encode_summary(summary)
        with self._lock:
            existing = [
                p for p in self._files() if (m := _NAME_RE.match(p.name)) and m["session"] == session_id
            ]
            spool_id = existing[0].stem if existing else f"{self._next_stamp():020d}-{session_id}"
            final = self.directory / f"{spool_id}.json"
            tmp = self.directory / f"{spool_id}{_TMP_SUFFIX}"
            atomic_write(final, payload, tmp)
            for extra in existing[1:]:
                extra.unlink(missing_ok=True)
            self._enforce_bound(keep=spool_id)
        logger.debug("spool: wrote %s (%d bytes)", final.name, len(payload))
        return spool_id

    def pending(self) -> list[SpoolEntry]:
        """Every readable pending summary, oldest first; unreadable files are moved aside."""
        with self._lock:
            out = []
            for path in self._files():
                entry = self._read(path)
                if entry is not None:
                    out.append(entry)
            return out

    def pending_ids(self) -> list[str]:
        """Ids of the pending files, oldest first, without reading them (a full spool can be large)."""
        with self._lock:
            return [p.stem for p in self._files()]

    def get(self, spool_id: str) -> SpoolEntry | None:
        """One pending entry, or None when it is gone (acknowledged) or was set aside as corrupt."""
        with self._lock:
            path = self.directory / f"{spool_id}.json"
            if not path.exists():
                return None
            return self._read(path)

    def remove(self, spool_id: str) -> bool:
        """Forget a summary: call only once the broker acknowledged it. True if a file was removed."""
        with self._lock:
            path = self.directory / f"{spool_id}.json"
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            fsync_dir(self.directory)
        logger.debug("spool: removed %s", spool_id)
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._files())
