"""The two databases the collector can use: a SQLite file (embedded default) or a PostgreSQL URL.

Why this seam: `Store` holds every rule (idempotency, migrations, filters) and the SQL lives in
`edge.collector.sql`; what differs is only how to connect, how a transaction starts, where the
schema version is kept, and which errors mean "the database is unavailable, try again" (a full disk,
a locked file, a PostgreSQL restart) rather than "this row cannot be stored". A URL is never taken
for a path: `postgresql://...` opens PostgreSQL, any other `scheme://` is refused.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PG_SCHEMES = ("postgresql", "postgres")
_PG_MIGRATION_LOCK = 0x70707445  # pg_advisory_xact_lock key: collectors starting together migrate once


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, not a collector database, unreachable, ...)."""


class TransientStoreError(StoreError):
    """The database is unavailable for now (disk full, locked, server restarting): retry later; the
    message being stored is not at fault and must not be dropped or acknowledged."""


def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and bool(_URL_RE.match(target))


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


class SqliteDatabase:
    """One SQLite file in WAL mode: `ppt-collect list` reads while `listen` writes."""

    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = str(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One writer (the listener loop) but possibly built on another thread: the caller serialises use.
        self.db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a stored summary survives a laptop power cut
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise StoreError(f"{path}: not a usable collector database: {exc}") from exc

    transient = (sqlite3.OperationalError,)  # locked, disk full, I/O error (our SQL is fixed and valid)
    unusable = (sqlite3.DatabaseError,)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, args)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def lock_schema(self) -> None:
        """BEGIN IMMEDIATE already holds the write lock."""

    def set_version(self, version: int) -> None:
        self.db.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self.db.close()


class PostgresDatabase:
    """A PostgreSQL connection (psycopg 3), reopened after the server went away."""

    dialect = "postgresql"

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise StoreError(
                "a postgresql:// database needs psycopg 3: pip install 'ppt-edge[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self._row_factory = dict_row
        self.url = url
        self.name = redact(url)
        self.connect_timeout_s = connect_timeout_s
        self.transient = (psycopg.OperationalError, psycopg.InterfaceError)
        self.unusable = (psycopg.Error,)
        self._conn: Any = None
        self._connect()

    def _connect(self) -> Any:
        try:
            self._conn = self._psycopg.connect(
                self.url, autocommit=True, row_factory=self._row_factory, connect_timeout=self.connect_timeout_s
            )
        except self._psycopg.OperationalError as exc:
            raise TransientStoreError(f"cannot connect to {self.name}: {str(exc).strip()}") from exc
        except self._psycopg.Error as exc:
            raise StoreError(f"{self.name}: {str(exc).strip()}") from exc
        return self._conn

    @property
    def db(self) -> Any:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
        return conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql.replace("?", "%s"), tuple(args))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.transaction():
            yield

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK,))
        self.execute("CREATE TABLE IF NOT EXISTS ppt_schema (version INTEGER NOT NULL)")

    def version(self) -> int:
        exists = self.execute("SELECT to_regclass('ppt_schema') IS NOT NULL AS present").fetchone()
        if not exists["present"]:
            return 0
        row = self.execute("SELECT MAX(version) AS v FROM ppt_schema").fetchone()
        return int(row["v"] or 0)

    def set_version(self, version: int) -> None:
        self.execute("DELETE FROM ppt_schema")
        self.execute("INSERT INTO ppt_schema (version) VALUES (?)", (int(version),))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def open_database(target: str | Path) -> SqliteDatabase | PostgresDatabase:
    """A path (or ':memory:') opens SQLite; `postgresql://` opens PostgreSQL; other URLs are refused."""
    if is_url(target):
        scheme = str(target).split("://", 1)[0].lower()
        if scheme not in _PG_SCHEMES:
            raise StoreError(
                f"database URL scheme {scheme!r} is not supported: use postgresql://USER@HOST:PORT/DB "
                "or a SQLite file path"
            )
        return PostgresDatabase(str(target))
    return SqliteDatabase(target)
