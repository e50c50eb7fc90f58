"""SQLite storage of session summaries and device status changes (one file, WAL, versioned schema).

Why SQLite: one file on a laptop, no server, safe under concurrent readers (`ppt-collect list`
while `listen` writes) thanks to WAL. The schema version lives in `PRAGMA user_version` and is moved
forward by the ordered `MIGRATIONS`; a database written by a newer collector is refused rather than
guessed at. Inserts are idempotent by session id: a summary re-sent after an outage is one row.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _v1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE sessions (
            session_id  TEXT PRIMARY KEY,
            device      TEXT NOT NULL,
            label       TEXT,
            started_at  TEXT NOT NULL,
            ended_at    TEXT,
            duration_s  REAL,
            status      TEXT NOT NULL,
            received_at TEXT NOT NULL,
            json        TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX sessions_device_started ON sessions(device, started_at)")
    db.execute("CREATE INDEX sessions_label ON sessions(label)")
    db.execute(
        """CREATE TABLE device_status (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            device      TEXT NOT NULL,
            state       TEXT NOT NULL,
            received_at TEXT NOT NULL,
            json        TEXT
        )"""
    )
    db.execute("CREATE INDEX device_status_device ON device_status(device, id)")


def _v2(db: sqlite3.Connection) -> None:
    # The dashboard lists every device's sessions newest first: without this index each page sorts the
    # whole table (190 ms instead of 50 ms for 10,000 sessions, tools/dashboard_bench.py).
    db.execute("CREATE INDEX sessions_started ON sessions(started_at, session_id)")


# Index i brings the database from user_version i to i+1. Append only; never edit a released step.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, not a collector database, ...)."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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


class Store:
    """The collector database. Use from one thread (the listener's main loop); readers open their own."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One writer (the listener loop) but possibly built on another thread: the caller serialises use.
        self.db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a stored summary survives a laptop power cut
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise StoreError(f"{path}: not a usable collector database: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._tx() as db:
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: database schema v{current} is newer than this collector "
                    f"(v{SCHEMA_VERSION}); upgrade ppt-edge"
                )
            for version in range(current, SCHEMA_VERSION):
                logger.info(
                    "collector database %s: migrating schema v%d -> v%d", self.path, version, version + 1
                )
                MIGRATIONS[version](db)
                db.execute(f"PRAGMA user_version = {version + 1}")

    # -- sessions ----------------------------------------------------------------------------
    def add_session(self, summary: Mapping[str, Any], received_at: str | None = None) -> bool:
        """Store a (validated) summary; False when that session id is already stored (a re-send)."""
        text = json.dumps(summary, sort_keys=True, separators=(",", ":"))
        with self._tx() as db:
            cur = db.execute(
                """INSERT INTO sessions (session_id, device, label, started_at, ended_at, duration_s, status,
                                         received_at, json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(session_id) DO NOTHING""",
                (
                    summary["session_id"],
                    summary["device"],
                    summary.get("label"),
                    summary["started_at"],
                    summary.get("ended_at"),
                    summary.get("duration_s"),
                    summary["status"],
                    received_at or utc_now(),
                    text,
                ),
            )
            if cur.rowcount == 1:
                return True
            old = db.execute(
                "SELECT json FROM sessions WHERE session_id = ?", (summary["session_id"],)
            ).fetchone()
        if old is not None and old["json"] != text:
            logger.warning(
                "session %s re-sent with different content; keeping the first one", summary["session_id"]
            )
        return False

    def _row(self, r: sqlite3.Row) -> SessionRow:
        return SessionRow(
            session_id=r["session_id"],
            device=r["device"],
            label=r["label"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            duration_s=r["duration_s"],
            status=r["status"],
            received_at=r["received_at"],
            summary=json.loads(r["json"]),
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
        sql = "SELECT * FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, session_id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = [self._row(r) for r in self.db.execute(sql, args)]
        return rows if newest_first else rows[::-1]

    def find_session(self, key: str) -> list[SessionRow]:
        """The session with this id, or every session whose id starts with `key`."""
        exact = self.db.execute("SELECT * FROM sessions WHERE session_id = ?", (key,)).fetchone()
        if exact is not None:
            return [self._row(exact)]
        pattern = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute(
            "SELECT * FROM sessions WHERE session_id LIKE ? ESCAPE '\\' ORDER BY started_at", (pattern,)
        )
        return [self._row(r) for r in rows]

    def count_sessions(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    # -- device status -----------------------------------------------------------------------
    def add_status(
        self, device: str, state: str, status: Mapping[str, Any] | None = None, received_at: str | None = None
    ) -> bool:
        """Record a status only when the device's state changed (online/offline); True if recorded."""
        with self._tx() as db:
            last = db.execute(
                "SELECT state FROM device_status WHERE device = ? ORDER BY id DESC LIMIT 1", (device,)
            ).fetchone()
            if last is not None and last["state"] == state:
                return False
            db.execute(
                "INSERT INTO device_status (device, state, received_at, json) VALUES (?, ?, ?, ?)",
                (device, state, received_at or utc_now(), None if status is None else json.dumps(status)),
            )
        return True

    def devices(self) -> list[StatusRow]:
        """The latest recorded state of every device."""
        rows = self.db.execute(
            """SELECT s.* FROM device_status s
               JOIN (SELECT device, MAX(id) AS id FROM device_status GROUP BY device) m ON s.id = m.id
               ORDER BY s.device"""
        )
        return [
            StatusRow(r["device"], r["state"], r["received_at"], json.loads(r["json"]) if r["json"] else None)
            for r in rows
        ]

    def status_history(self, device: str) -> list[StatusRow]:
        rows = self.db.execute("SELECT * FROM device_status WHERE device = ? ORDER BY id", (device,))
        return [
            StatusRow(r["device"], r["state"], r["received_at"], json.loads(r["json"]) if r["json"] else None)
            for r in rows
        ]

    # -- reading for the dashboard (edge.collector.web) ------------------------------------------
    # Plain portable SQL (`?` placeholders, no JSON functions): the same statements serve SQLite and
    # PostgreSQL. Every list is bounded (LIMIT) so that a page costs the same with 10 or 10,000 rows.

    def make_read_only(self) -> None:
        """Refuse every write on this connection from now on: the dashboard's guarantee that no page
        can change the database, whatever a bug in it would try."""
        self.db.execute("PRAGMA query_only = ON")

    @staticmethod
    def _session_filters(
        device: str | None, label: str | None, since: str | None, until: str | None
    ) -> tuple[str, list[Any]]:
        """` WHERE ...` and its arguments; `since`/`until` are RFC 3339 UTC bounds on started_at
        (inclusive, exclusive), compared as text like the stored values."""
        where: list[str] = []
        args: list[Any] = []
        for term, value in (("device = ?", device), ("label = ?", label), ("started_at >= ?", since),
                            ("started_at < ?", until)):  # fmt: skip
            if value:
                where.append(term)
                args.append(value)
        return (" WHERE " + " AND ".join(where)) if where else "", args

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
        this page's rows is read, however deep the page."""
        where, args = self._session_filters(device, label, since, until)
        order = " ORDER BY started_at DESC, session_id DESC"
        sql = (
            f"SELECT * FROM sessions WHERE session_id IN (SELECT session_id FROM sessions{where}{order} "
            f"LIMIT ? OFFSET ?){order}"
        )
        rows = self.db.execute(sql, [*args, max(1, int(limit)), max(0, int(offset))])
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
        where, args = self._session_filters(device, label, since, until)
        return int(self.db.execute(f"SELECT COUNT(*) AS n FROM sessions{where}", args).fetchone()["n"])

    def rooms(self) -> list[str]:
        """Every device (room) that sent a session or a status, sorted."""
        rows = self.db.execute(
            "SELECT device FROM sessions UNION SELECT device FROM device_status ORDER BY device"
        )
        return [r["device"] for r in rows]

    def labels(self, device: str | None = None, limit: int = 200) -> list[str]:
        """Session labels, the most recently used first (at most `limit`)."""
        where, args = self._session_filters(device, None, None, None)
        where += (" AND" if where else " WHERE") + " label IS NOT NULL"
        rows = self.db.execute(
            f"SELECT label, MAX(started_at) AS last FROM sessions{where} GROUP BY label ORDER BY last DESC LIMIT ?",
            [*args, max(1, int(limit))],
        )
        return [r["label"] for r in rows]

    def latest_session(self, device: str) -> SessionRow | None:
        """The device's most recent session (by start), or None."""
        r = self.db.execute(
            "SELECT * FROM sessions WHERE device = ? ORDER BY started_at DESC, session_id DESC LIMIT 1", (device,)
        ).fetchone()
        return None if r is None else self._row(r)

    def device_overview(self) -> list[DeviceOverview]:
        """Every device seen (by a session or a status), its latest status, session count and last
        session; without reading any summary JSON."""
        status = {s.device: s for s in self.devices()}
        counts = {
            r["device"]: int(r["n"])
            for r in self.db.execute("SELECT device, COUNT(*) AS n FROM sessions GROUP BY device")
        }
        last: dict[str, Any] = {}
        for r in self.db.execute(
            """SELECT s.device, s.session_id, s.label, s.started_at, s.duration_s, s.status FROM sessions s
               JOIN (SELECT device, MAX(started_at) AS m FROM sessions GROUP BY device) l
                 ON s.device = l.device AND s.started_at = l.m
               ORDER BY s.session_id"""
        ):
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
