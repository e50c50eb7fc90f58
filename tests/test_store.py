"""The collector's store, one suite run on both backends: a SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from broker_fixtures import make_summary

from edge.collector import cli, sql
from edge.collector import store as store_mod
from edge.collector.store import SCHEMA_VERSION, Store, StoreError, TransientStoreError


def test_versioned_idempotent_and_a_conflicting_resend_is_refused(store_target):
    with Store(store_target) as store:
        assert store.version == SCHEMA_VERSION == 3
        s = make_summary("sess-0001-aaaa", label="Ana")
        assert store.insert_session(s) == "stored"
        assert store.insert_session(s) == "duplicate"
        assert store.insert_session(dict(s, duration_s=1.0)) == "conflict"  # first one kept
        assert store.add_session(s) is False
        assert store.count_sessions() == 1
    with Store(store_target) as store:  # reopening does not migrate again
        rows = store.sessions()
        assert [r.session_id for r in rows] == ["sess-0001-aaaa"]
        assert rows[0].summary == s and rows[0].label == "Ana" and rows[0].status == "complete"
        assert rows[0].duration_s == 300.0
        assert rows[0].received_at.endswith("Z") and "." in rows[0].received_at  # milliseconds


def test_filters_prefix_lookup_and_status_changes(store_target):
    with Store(store_target) as store:
        store.add_session(make_summary("sess-a-0001", label="Ana", started_at="2025-01-01T10:00:00Z"))
        store.add_session(make_summary("sess-a-0002", label="Bo", started_at="2025-01-02T10:00:00Z"))
        store.add_session(make_summary("sess-b-0001", device="room-2", started_at="2025-01-03T10:00:00Z"))
        assert [r.session_id for r in store.sessions()] == ["sess-a-0001", "sess-a-0002", "sess-b-0001"]
        assert [r.session_id for r in store.sessions(newest_first=True)][0] == "sess-b-0001"
        assert [r.session_id for r in store.sessions(device="room-2")] == ["sess-b-0001"]
        assert [r.session_id for r in store.sessions(label="Bo")] == ["sess-a-0002"]
        assert [r.session_id for r in store.sessions(limit=2)] == ["sess-a-0002", "sess-b-0001"]
        assert len(store.find_session("sess-a")) == 2
        assert [r.session_id for r in store.find_session("sess-b")] == ["sess-b-0001"]
        assert store.find_session("sess_") == [] and store.find_session("sess%") == []  # wildcards literal
        assert store.add_status("room-1", "online", {"state": "online"}) is True
        assert store.add_status("room-1", "online", {"state": "online", "fps": 9}) is False
        assert store.add_status("room-1", "offline", {"state": "offline"}) is True
        assert store.add_status("room-2", "online", None) is True
        assert [s.state for s in store.status_history("room-1")] == ["online", "offline"]
        assert [(d.device, d.state) for d in store.devices()] == [("room-1", "offline"), ("room-2", "online")]
        assert store.devices()[0].status == {"state": "offline"}


def test_deleting_sessions_takes_their_quarantined_copies_in_one_transaction(store_target):
    with Store(store_target) as store:
        for sid in ("sess-d-0001", "sess-d-0002", "sess-d-0003"):
            store.add_session(make_summary(sid, label="Ana"))
        store.quarantine("ppt/room-1/session/sess-d-0002", b"{}", "conflict", session_id="sess-d-0002")
        store.quarantine("ppt/room-1/session/sess-x", b"{}", "schema", session_id="sess-x")
        assert store.delete_sessions(["sess-d-0002", "sess-d-0003", "sess-never"]) == (2, 1)
        assert [r.session_id for r in store.sessions()] == ["sess-d-0001"]
        assert [q.session_id for q in store.quarantined()] == ["sess-x"]
        assert store.delete_sessions([]) == (0, 0)
        # deleted means gone: the same summary published again is a new session, not a duplicate
        assert store.insert_session(make_summary("sess-d-0002", label="Ana")) == "stored"


def test_quarantine_keeps_the_start_of_each_refused_message_and_stays_bounded(store_target, monkeypatch):
    monkeypatch.setattr(store_mod, "QUARANTINE_MAX_ROWS", 3)
    with Store(store_target) as store:
        for i in range(5):
            store.quarantine(f"ppt/room-1/session/s{i}", b"\x00\xff" + b"x" * 100_000, f"reason {i}\x1b",
                             device="room-1", session_id=f"s{i}")
        rows = store.quarantined()
        assert [r.reason for r in rows] == ["reason 4\\u001b", "reason 3\\u001b", "reason 2\\u001b"]
        assert rows[0].size == 100_002 and len(rows[0].payload) == 64 * 1024 and rows[0].payload[:2] == b"\x00\xff"
        assert store.count_quarantined() == 3


def test_concurrent_inserts_of_one_session_store_it_once(store_target):
    """Collectors of one share group may both get a redelivered summary: exactly one row, one "stored"."""
    Store(store_target).close()  # migrate once
    s = make_summary("sess-0001-race")
    results: list[str] = []
    barrier = threading.Barrier(4)

    def insert() -> None:
        with Store(store_target) as st:
            barrier.wait()
            results.append(st.insert_session(s))

    threads = [threading.Thread(target=insert) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["duplicate", "duplicate", "duplicate", "stored"]
    with Store(store_target) as st:
        assert st.count_sessions() == 1


def test_a_newer_schema_is_refused(store_target):
    with Store(store_target) as store:
        if store.dialect == "sqlite":
            store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
        else:
            store.db.execute("UPDATE ppt_schema SET version = %s", (SCHEMA_VERSION + 7,))
    with pytest.raises(StoreError, match="newer than this collector"):
        Store(store_target)


def test_a_v1_database_is_migrated_and_keeps_its_rows(store_target):
    """A database written by the first release (schema v1, no quarantine table) moves to v2."""
    summary = make_summary("sess-0001-v1")
    if store_target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(store_target, autocommit=True) as conn:
            for stmt in sql.migration(0, "postgresql"):
                conn.execute(stmt)
            conn.execute("CREATE TABLE ppt_schema (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO ppt_schema VALUES (1)")
            conn.execute("INSERT INTO sessions VALUES (%s, 'room-1', NULL, '2025-01-01T10:00:00Z', NULL, 300, "
                         "'complete', '2025-01-01T10:05:00Z', %s)", ("sess-0001-v1", json.dumps(summary)))
    else:
        con = sqlite3.connect(store_target)
        for stmt in sql.migration(0, "sqlite"):
            con.execute(stmt)
        con.execute("INSERT INTO sessions VALUES (?, 'room-1', NULL, '2025-01-01T10:00:00Z', NULL, 300, "
                    "'complete', '2025-01-01T10:05:00Z', ?)", ("sess-0001-v1", json.dumps(summary)))
        con.execute("PRAGMA user_version = 1")
        con.commit()
        con.close()
    with Store(store_target) as store:
        assert store.version == SCHEMA_VERSION == 3
        assert [r.summary for r in store.sessions()] == [summary]
        assert store.count_quarantined() == 0


def test_sqlite_refuses_foreign_files_and_is_wal(tmp_path):
    with Store(tmp_path / "c.sqlite3") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable collector database"):
        Store(junk)


def test_a_url_is_never_taken_for_a_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TransientStoreError, match="cannot connect"):
        Store("postgresql://nobody@127.0.0.1:1/db")
    with pytest.raises(StoreError, match="scheme 'mysql' is not supported"):
        Store("mysql://user@host/db")
    assert cli.main(["--db", "postgresql://nobody:secret@127.0.0.1:1/db", "list"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect" in err and "secret" not in err  # the password never reaches a message
    assert list(tmp_path.iterdir()) == []  # no folder named "postgresql:" (the old behaviour)


def test_postgres_outage_is_transient_and_the_store_reconnects(pg_cluster, pg_url):
    with Store(pg_url) as store:
        store.add_session(make_summary("sess-0001-pg"))
        pg_cluster.stop()
        try:
            with pytest.raises(TransientStoreError):
                store.insert_session(make_summary("sess-0002-pg"))
        finally:
            pg_cluster.start()
        assert store.insert_session(make_summary("sess-0002-pg")) == "stored"
        assert store.count_sessions() == 2


def test_cli_reads_postgres_through_the_environment(pg_url, monkeypatch, capsys):
    with Store(pg_url) as store:
        store.add_session(make_summary("sess-0001-env", label="Ana"))
        store.add_status("room-1", "online", {"state": "online", "version": "0.1.0"})
    monkeypatch.setenv("PPT_COLLECT_DB", pg_url)
    for argv in (["list"], ["show", "sess-0001"], ["trend"], ["devices"], ["quarantine"]):
        assert cli.main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "sess-0001-env" in out and "room-1" in out
    assert cli.default_db() == pg_url
    monkeypatch.delenv("PPT_COLLECT_DB")
    assert cli.default_db() == str(cli.default_db_path())
    assert os.environ.get("PPT_COLLECT_DB") is None and Path(cli.default_db()).name == "collector.sqlite3"
