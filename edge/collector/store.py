"""Storage of session summaries, device status changes and refused messages: SQLite or PostgreSQL.

Why it is built this way:
- `Store(target)`: a path is a SQLite file (one laptop, no server, WAL so that `ppt-collect list`
  reads while `listen` writes); `postgresql://USER@HOST:PORT/DB` is a school's shared database that
  several collectors write at once. The SQL is the same for both (`edge.collector.sql`).
- The schema version moves forward by ordered migrations (SQLite: `PRAGMA user_version`; PostgreSQL:
  table `ppt_schema`, under an advisory lock so collectors starting together migrate once); a
  database written by a newer collector is refused rather than guessed at.
- Inserts are idempotent by session id: a summary re-sent after an outage (or redelivered to another
  collector of the share group) is one row; a *different* payload under an existing id is refused
  (`insert_session` says "conflict") and the first one kept.
- Readers never crash on an old row: a stored NaN/Infinity (accepted before schema checks were
  tightened) reads back as None, an unreadable JSON text as an empty summary.
- Errors that mean "the database is unavailable" (disk full, locked, server restart) are raised as
  `TransientStoreError`: the listener retries without acknowledging. Anything else a row raises is
  the row's fault: the listener quarantines that message and moves on.

One `Store` is used from one thread at a time; a reader (CLI, web page) opens its own.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from edge.collector import sql
from edge.collector.database import (
    PostgresDatabase,
    SqliteDatabase,
    StoreError,
    TransientStoreError,
    is_url,
    open_database,
    redact,
)
from edge.untrusted import printable

logger = logging.getLogger(__name__)

SCHEMA_VERSION = sql.SCHEMA_VERSION
QUARANTINE_PAYLOAD_BYTES = 64 * 1024  # kept per refused message (its full size is recorded)
QUARANTINE_MAX_ROWS = 10_000  # the oldest go first: a flooding device cannot fill the disk

__all__ = [
    "SCHEMA_VERSION",
    "DeviceOverview",
    "InsertResult",
    "QuarantineRow",
    "SessionRow",
    "StatusRow",
    "Store",
    "StoreError",
    "TransientStoreError",
    "is_url",
    "redact",
    "utc_now",
]

InsertResult = Literal["stored", "duplicate", "conflict"]


def utc_now() -> str:
    """Arrival time, to the millisecond (end-to-end latency is measured from it)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    device: str
    label: str | None
    started_at: str
    ended_at: str | None
    duration_s: float | None
    status: str
    received_at: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class StatusRow:
    device: str
    state: str
    received_at: str
    status: dict[str, Any] | None


@dataclass(frozen=True)
class QuarantineRow:
    id: int
    received_at: str
    topic: str
    device: str | None
    session_id: str | None
    reason: str
    size: int
    payload: bytes


def _finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (old rows may hold NaN/Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json_object(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {}
    return _finite(value) if isinstance(value, dict) else {}


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern for "starts with `prefix`", its wildcards taken literally (ESCAPE '\\')."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _canonical(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True, separators=(",", ":"), allow_nan=False)


class Store:
    """The collector database (see the module docstring). `target`: a SQLite path or a postgresql:// URL."""

    def __init__(self, target: Path | str) -> None:
        self.target = target
        self._db: SqliteDatabase | PostgresDatabase = open_database(target)
        self.name = self._db.name  # for messages (a URL without its password)
        self.dialect = self._db.dialect
        self.path = Path(target) if self.dialect == "sqlite" else None
        try:
            self._migrate()
        except StoreError:
            self._db.close()
            raise
        except self._db.transient as exc:
            self._db.close()
            raise TransientStoreError(f"{self.name}: {exc}") from exc
        except self._db.unusable as exc:
            self._db.close()
            raise StoreError(f"{self.name}: not a usable collector database: {exc}") from exc

    @property
    def db(self) -> Any:
        """The driver connection (sqlite3 or psycopg), for diagnostics and tests."""
        return self._db.db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self._db.version()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Database unavailability becomes TransientStoreError; everything else passes unchanged."""
        try:
            yield
        except self._db.transient as exc:
            raise TransientStoreError(f"{self.name}: {str(exc).strip()}") from exc

    def _migrate(self) -> None:
        with self._db.transaction():
            self._db.lock_schema()
            current = self._db.version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.name}: database schema v{current} is newer than this collector "
                    f"(v{SCHEMA_VERSION}); upgrade ppt-edge"
                )
            for version in range(current, SCHEMA_VERSION):
                logger.info("collector database %s: migrating schema v%d -> v%d", self.name, version, version + 1)
                for stmt in sql.migration(version, self.dialect):
                    self._db.execute(stmt)
                self._db.set_version(version + 1)

    # -- sessions ----------------------------------------------------------------------------
    def insert_session(self, summary: Mapping[str, Any], received_at: str | None = None) -> InsertResult:
        """Store a validated summary once: "stored", "duplicate" (same id and content, a re-send) or
        "conflict" (same id, different content: refused, the first one kept).

        Raises TransientStoreError when the database is unavailable; any other exception means this
        summary cannot be stored (the caller quarantines it)."""
        text = _canonical(summary)
        duration = summary.get("duration_s")
        row = (
            summary["session_id"],
            summary["device"],
            summary.get("label"),
            summary["started_at"],
            summary.get("ended_at"),
            float(duration) if duration is not None else None,
            summary["status"],
            received_at or utc_now(),
            text,
        )
        with self._guard(), self._db.transaction():
            cur = self._db.execute(sql.INSERT_SESSION, row)
            if cur.rowcount == 1:
                return "stored"
            old = self._db.execute(sql.SESSION_JSON, (summary["session_id"],)).fetchone()
        if old is not None and old["json"] != text:
            return "conflict"
        return "duplicate"

    def add_session(self, summary: Mapping[str, Any], received_at: str | None = None) -> bool:
        """Store a (validated) summary; False when that session id is already stored (a re-send)."""
        result = self.insert_session(summary, received_at)
        if result == "conflict":
            logger.warning(
                "session %s re-sent with different content; keeping the first one",
                printable(summary["session_id"]),
            )
        return result == "stored"

    def _row(self, r: Any) -> SessionRow:
        duration = r["duration_s"]
        return SessionRow(
            session_id=r["session_id"],
            device=r["device"],
            label=r["label"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            duration_s=float(duration) if duration is not None and math.isfinite(duration) else None,
            status=r["status"],
            received_at=r["received_at"],
            summary=_json_object(r["json"]),
        )

    def sessions(
        self,
        device: str | None = None,
        label: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[SessionRow]:
        """Stored sessions in start order, optionally filtered; `limit` keeps the most recent ones."""
        where, args = [], []
        if device:
            where.append("device = ?")
            args.append(device)
        if label:
            where.append("label = ?")
            args.append(label)
        with self._guard():
            rows = [self._row(r) for r in self._db.execute(sql.select_sessions(where, limit), args)]
        return rows if newest_first else rows[::-1]

    def find_session(self, key: str) -> list[SessionRow]:
        """The session with this id, or every session whose id starts with `key`."""
        with self._guard():
            exact = self._db.execute(sql.SESSION_BY_ID, (key,)).fetchone()
            if exact is not None:
                return [self._row(exact)]
            return [self._row(r) for r in self._db.execute(sql.SESSIONS_BY_PREFIX, (_like_prefix(key),))]

    def count_sessions(self, prefix: str | None = None) -> int:
        """How many sessions are stored (only those whose id starts with `prefix`, when given)."""
        with self._guard():
            if prefix is None:
                return int(self._db.execute(sql.COUNT_SESSIONS).fetchone()["n"])
            return int(self._db.execute(sql.COUNT_SESSIONS_BY_PREFIX, (_like_prefix(prefix),)).fetchone()["n"])

    def delete_sessions(self, session_ids: Sequence[str]) -> tuple[int, int]:
        """Delete these sessions and the refused copies of them the quarantine keeps, all in one
        transaction: (sessions deleted, quarantined messages deleted). A summary a device publishes
        again later (one it never saw acknowledged) is stored again, as any new one."""
        sessions = quarantined = 0
        with self._guard(), self._db.transaction():
            for sid in session_ids:
                sessions += max(0, self._db.execute(sql.DELETE_SESSION, (sid,)).rowcount)
                quarantined += max(0, self._db.execute(sql.DELETE_QUARANTINED_SESSION, (sid,)).rowcount)
        return sessions, quarantined

    # -- device status -----------------------------------------------------------------------
    def add_status(
        self, device: str, state: str, status: Mapping[str, Any] | None = None, received_at: str | None = None
    ) -> bool:
        """Record a status only when the device's state changed (online/offline); True if recorded."""
        text = None if status is None else json.dumps(status, allow_nan=False, ensure_ascii=False)
        with self._guard(), self._db.transaction():
            last = self._db.execute(sql.LAST_STATE, (device,)).fetchone()
            if last is not None and last["state"] == state:
                return False
            self._db.execute(sql.INSERT_STATUS, (device, state, received_at or utc_now(), text))
        return True

    @staticmethod
    def _status_row(r: Any) -> StatusRow:
        return StatusRow(r["device"], r["state"], r["received_at"], _json_object(r["json"]) if r["json"] else None)

    def devices(self) -> list[StatusRow]:
        """The latest recorded state of every device."""
        with self._guard():
            return [self._status_row(r) for r in self._db.execute(sql.LATEST_STATUS)]

    def status_history(self, device: str) -> list[StatusRow]:
        with self._guard():
            return [self._status_row(r) for r in self._db.execute(sql.STATUS_HISTORY, (device,))]

    # -- quarantine --------------------------------------------------------------------------
    def quarantine(
        self,
        topic: str,
        payload: bytes,
        reason: str,
        *,
        device: str | None = None,
        session_id: str | None = None,
        received_at: str | None = None,
    ) -> None:
        """Keep a refused message for inspection (its first QUARANTINE_PAYLOAD_BYTES). Text columns get
        escaped text only, so that whatever the message held, this insert cannot fail because of it."""
        row = (
            received_at or utc_now(),
            printable(topic, limit=512),
            None if device is None else printable(device, limit=128),
            None if session_id is None else printable(session_id, limit=128),
            printable(reason, limit=4000),
            len(payload),
            bytes(payload[:QUARANTINE_PAYLOAD_BYTES]),
        )
        with self._guard(), self._db.transaction():
            self._db.execute(sql.INSERT_QUARANTINE, row)
            self._db.execute(sql.PRUNE_QUARANTINE, (QUARANTINE_MAX_ROWS,))

    def quarantined(self, limit: int = 100) -> list[QuarantineRow]:
        """The most recent refused messages, newest first."""
        with self._guard():
            rows = self._db.execute(sql.SELECT_QUARANTINE, (int(limit),))
            return [
                QuarantineRow(
                    int(r["id"]),
                    r["received_at"],
                    r["topic"],
                    r["device"],
                    r["session_id"],
                    r["reason"],
                    int(r["size"]),
                    bytes(r["payload"]),
                )
                for r in rows
            ]

    def count_quarantined(self) -> int:
        with self._guard():
            return int(self._db.execute(sql.COUNT_QUARANTINE).fetchone()["n"])

    # -- reading for the dashboard (edge.collector.web) ------------------------------------------
    # Every list is bounded (LIMIT) so that a page costs the same with 10 or 10,000 rows.

    def make_read_only(self) -> None:
        """Refuse every write on this connection from now on: the dashboard's guarantee that no page
        can change the database, whatever a bug in it would try."""
        self._db.make_read_only()

    def session_page(
        self,
        *,
        device: str | None = None,
        label: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SessionRow]:
        """One page of sessions, newest first. The inner query orders only ids, so the JSON of just
        this page's rows is read, however deep the page. `since`/`until`: RFC 3339 UTC bounds on
        started_at (inclusive, exclusive), compared as text like the stored values."""
        where, args = sql.session_filters(device, label, since, until)
        with self._guard():
            rows = self._db.execute(sql.session_page(where), [*args, max(1, int(limit)), max(0, int(offset))])
            return [self._row(r) for r in rows]

    def count_session_page(
        self,
        *,
        device: str | None = None,
        label: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> int:
        """How many sessions `session_page` pages through with these filters."""
        where, args = sql.session_filters(device, label, since, until)
        with self._guard():
            return int(self._db.execute(sql.count_session_page(where), args).fetchone()["n"])

    def rooms(self) -> list[str]:
        """Every device (room) that sent a session or a status, sorted."""
        with self._guard():
            return [r["device"] for r in self._db.execute(sql.ROOMS)]

    def labels(self, device: str | None = None, limit: int = 200) -> list[str]:
        """Session labels, the most recently used first (at most `limit`)."""
        where, args = sql.session_filters(device, None, None, None)
        with self._guard():
            rows = self._db.execute(sql.labels(where), [*args, max(1, int(limit))])
            return [r["label"] for r in rows]

    def latest_session(self, device: str) -> SessionRow | None:
        """The device's most recent session (by start), or None."""
        with self._guard():
            r = self._db.execute(sql.LATEST_SESSION, (device,)).fetchone()
        return None if r is None else self._row(r)

    def device_overview(self) -> list[DeviceOverview]:
        """Every device seen (by a session or a status), its latest status, session count and last
        session; without reading any summary JSON."""
        status = {s.device: s for s in self.devices()}
        with self._guard():
            counts = {r["device"]: int(r["n"]) for r in self._db.execute(sql.SESSIONS_PER_DEVICE)}
            last: dict[str, Any] = {}
            for r in self._db.execute(sql.LAST_SESSION_PER_DEVICE):
                last.setdefault(r["device"], r)
        out = []
        for device in sorted(set(status) | set(counts)):
            r = last.get(device)
            out.append(
                DeviceOverview(
                    device=device,
                    status=status.get(device),
                    sessions=counts.get(device, 0),
                    last_session_id=None if r is None else r["session_id"],
                    last_label=None if r is None else r["label"],
                    last_started_at=None if r is None else r["started_at"],
                )
            )
        return out


@dataclass(frozen=True)
class DeviceOverview:
    """One line of the dashboard's device list."""

    device: str
    status: StatusRow | None  # the latest recorded state change; None if the device never sent one
    sessions: int
    last_session_id: str | None
    last_label: str | None
    last_started_at: str | None
