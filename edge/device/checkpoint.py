"""Checkpoint of the running session: a power cut loses at most one checkpoint interval.

The daemon saves `SessionTracker.to_dict()` plus the session's metadata (session id, wall-clock start,
label, device, models) every `session.checkpoint_s` while a session runs. On its next start it finds
the file, restores the tracker, ends the session as `interrupted` (ended by `crash`), spools the
summary, and only then removes the checkpoint, so a second crash in between cannot lose it either.

Writes are atomic: a temporary file in the same folder is written and fsynced, renamed over the
checkpoint, and the folder is fsynced so that the rename itself survives a power cut. A reader
therefore sees the old checkpoint or the new one, never half of one. A checkpoint that cannot be
used anyway (not JSON, wrong version, missing keys, a tracker that does not restore) is moved into
`<state_dir>/corrupt/` with the reason logged, and the daemon starts clean.

File (JSON): {"version": 1, "saved_at": RFC 3339, "meta": {...}, "tracker": {...}}
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.device.durable import atomic_write, fsync_dir

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "session-checkpoint.json"
CORRUPT_DIR = "corrupt"
_TMP_SUFFIX = ".tmp"


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be used."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the tracker state (`SessionTracker.to_dict()`), the session metadata and
    when it was saved (RFC 3339, wall clock)."""

    tracker: dict[str, Any]
    meta: dict[str, Any]
    saved_at: str | None
    path: Path


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class CheckpointStore:
    """The one checkpoint file of a device in `state_dir` (created on first save)."""

    def __init__(self, state_dir: Path | str, name: str = CHECKPOINT_NAME) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / name
        self._tmp = self.dir / (name + _TMP_SUFFIX)

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, tracker_state: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        """Write the checkpoint atomically (tmp, fsync, rename, fsync dir). Raises OSError on a full
        or read-only disk: the caller logs it and carries on (the session itself is not affected)."""
        data = {
            "version": CHECKPOINT_VERSION,
            "saved_at": _utc_now(),
            "meta": dict(meta),
            "tracker": dict(tracker_state),
        }
        payload = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, payload, self._tmp)

    def load(self) -> Checkpoint | None:
        """The checkpoint, None when there is none; a corrupt one is set aside (logged) -> None."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.error("cannot read checkpoint %s: %s", self.path, exc.strerror or exc)
            return None
        try:
            return self._parse(raw)
        except CheckpointError as exc:
            self.set_aside(str(exc))
            return None

    def _parse(self, raw: bytes) -> Checkpoint:
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"not UTF-8 ({exc.reason})") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"not JSON ({exc.msg} at position {exc.pos}; truncated?)") from None
        if not isinstance(data, dict):
            raise CheckpointError("not a JSON object")
        if data.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"unsupported checkpoint version {data.get('version')!r}")
        tracker, meta = data.get("tracker"), data.get("meta")
        if not isinstance(tracker, dict):
            raise CheckpointError("'tracker' is missing or not an object")
        if not isinstance(meta, dict):
            raise CheckpointError("'meta' is missing or not an object")
        saved_at = data.get("saved_at")
        return Checkpoint(tracker, meta, saved_at if isinstance(saved_at, str) else None, self.path)

    def set_aside(self, reason: str) -> Path | None:
        """Move the checkpoint into `corrupt/` (never deleted: someone may want to look at it)."""
        if not self.path.exists():
            return None
        target_dir = self.dir / CORRUPT_DIR
        target = target_dir / f"{self.path.stem}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, target)
            fsync_dir(self.dir)
        except OSError as exc:
            logger.error("checkpoint %s is unusable (%s) and could not be moved aside: %s; deleting it",
                         self.path, reason, exc)
            self.remove()
            return None
        logger.error("checkpoint %s is unusable (%s): moved to %s", self.path, reason, target)
        return target

    def remove(self) -> bool:
        """Delete the checkpoint (after its session's summary is safely in the spool)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.dir)
        return True

    def remove_partial(self) -> None:
        """Delete a half-written temporary file left by a power cut mid-save (the checkpoint itself is
        intact: the rename never happened). Only the owner calls this, before its first save."""
        try:
            self._tmp.unlink()
            logger.info("removed a half-written checkpoint %s (the power went out mid-save)", self._tmp)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("cannot remove %s: %s", self._tmp, exc)
