"""A real PostgreSQL for the tests: one throw-away cluster per test run, one fresh database per test.

Why a real server: the PostgreSQL store must behave exactly like the SQLite one (idempotent insert
under concurrency, migrations, the same queries); only the real server shows that. The cluster runs
on a free port of 127.0.0.1 in a temporary folder (as the `postgres` user when the tests run as
root), never the system service. Tests skip with a clear reason when PostgreSQL is not installed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.loadtest.servers import ServerUnavailable, TempPostgres

__all__ = ["pg_cluster", "pg_url", "store_target"]

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempPostgres]:
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'ppt-edge[postgres]')")
    try:
        cluster = TempPostgres(durable=False).start()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def pg_url(pg_cluster: TempPostgres) -> str:
    """A fresh, empty database on the test cluster."""
    return pg_cluster.create_db(f"t{next(_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What `Store(...)` opens: a SQLite file path or a postgresql:// URL (the suite runs on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "c.sqlite3")
    return str(request.getfixturevalue("pg_url"))
