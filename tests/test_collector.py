"""The collector: SQLite store, validation rules, listening on a real broker, shared subscriptions, CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from broker_fixtures import Mosquitto, RunningCollector, Subscriber, free_port, make_summary, wait_until

from edge.collector import cli
from edge.collector.intake import MAX_SUMMARY_BYTES
from edge.collector.listen import Collector, parse_broker_url, session_filter
from edge.collector.store import Store, StoreError
from edge.config import MqttConfig
from edge.device.publish import Publisher
from edge.device.spool import Spool

REPO = Path(__file__).resolve().parent.parent
DEV = "room-1"


def topic(sid: str, device: str = DEV) -> str:
    return f"ppt/{device}/session/{sid}"


def payload(summary: dict) -> bytes:
    return json.dumps(summary).encode()


# -- validation rules (no broker) -------------------------------------------------------------
def test_collector_rules(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.collector.listen")
    seen = []
    with Store(tmp_path / "c.sqlite3") as store:
        col = Collector(store, on_session=seen.append)
        good = make_summary("sess-0001-good")
        assert col.handle(topic("sess-0001-good"), payload(good)).kind == "stored"
        assert col.handle(topic("sess-0001-good"), payload(good)).kind == "duplicate"
        assert [o.session_id for o in seen] == ["sess-0001-good"]

        out = col.handle(topic("sess-0002-junk"), b"{not json")
        assert out.kind == "rejected" and "not JSON" in out.reasons[0]
        bad = make_summary("sess-0003-bad")
        bad["status"] = "finished"
        del bad["frames"]
        out = col.handle(topic("sess-0003-bad"), payload(bad))
        assert out.kind == "rejected"
        assert any(r.startswith("status:") for r in out.reasons)
        assert any("frames" in r for r in out.reasons)
        out = col.handle(topic("sess-0004-xx", device="room-9"), payload(make_summary("sess-0004-xx")))
        assert out.kind == "rejected" and "topic device 'room-9'" in out.reasons[0]
        out = col.handle(topic("sess-0005-other"), payload(make_summary("sess-0005-xx")))
        assert out.kind == "rejected" and "does not match topic 'sess-0005-other'" in out.reasons[0]

        rejected = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(rejected) == 4
        assert "ppt/room-1/session/sess-0003-bad" in rejected[1].getMessage()
        assert "status:" in rejected[1].getMessage()
        assert store.count_sessions() == 1

        assert col.handle("ppt/room-1/status", b'{"state": "online"}').kind == "status"
        assert col.handle("ppt/room-1/status", b"").kind == "ignored"
        assert col.handle("ppt/room-1/status", b"[]").kind == "ignored"
        assert col.handle("ppt/room-1/live", b"{}").kind == "ignored"
        assert [d.state for d in store.devices()] == ["online"]


def test_broker_url_parsing():
    assert parse_broker_url("mqtt://10.0.0.5:1884") == ("10.0.0.5", 1884, False)
    assert parse_broker_url("mqtts://broker.lan") == ("broker.lan", 8883, True)
    assert parse_broker_url("localhost") == ("localhost", 1883, False)
    with pytest.raises(ValueError, match="scheme"):
        parse_broker_url("http://x")
    assert session_filter("ppt", "g1") == "$share/g1/ppt/+/session/+"


# -- on a real broker ---------------------------------------------------------------------------
def _publisher(broker: Mosquitto, tmp_path: Path, device: str = DEV, **kw) -> Publisher:
    cfg = MqttConfig(host=broker.host, port=broker.port, keepalive_s=10)
    pub = Publisher(
        cfg, device, Spool(tmp_path / f"spool-{device}"), reconnect_min_s=1, reconnect_max_s=1, **kw
    )
    pub.start()
    assert pub.wait_connected(5)
    return pub


def test_end_to_end_stored_once_even_when_resent_and_malformed_rejected(mosquitto, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.collector.listen")
    col = RunningCollector(mosquitto, tmp_path / "c.sqlite3")
    pub = _publisher(mosquitto, tmp_path)
    raw = Subscriber(mosquitto, [], client_id="raw-sender")
    try:
        s1 = make_summary("sess-0001-e2e")
        pub.publish_summary(s1)
        assert wait_until(lambda: col.sessions == ["sess-0001-e2e"], 5)
        pub.publish_summary(s1)  # the device re-sends (e.g. after a restart)
        raw.publish(topic("sess-0001-e2e"), payload(s1))  # and a duplicate straight on the wire
        raw.publish(topic("sess-0002-bad"), b'{"schema": 1, "session_id": "sess-0002-bad"}')
        raw.publish(topic("sess-0003-junk"), b"\xff\x00 garbage")
        pub.publish_summary(make_summary("sess-0004-e2e"))
        assert wait_until(lambda: col.sessions == ["sess-0001-e2e", "sess-0004-e2e"], 5)
        assert wait_until(lambda: sum(o.kind == "duplicate" for o in col.listener.outcomes) == 2, 3)
        assert pub.wait_spool_empty(3)
        with Store(tmp_path / "c.sqlite3") as reader:  # a second connection reads while listen writes
            assert [r.session_id for r in reader.sessions()] == ["sess-0001-e2e", "sess-0004-e2e"]
            assert [(d.device, d.state) for d in reader.devices()] == [(DEV, "online")]
        rejected = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("sess-0002-bad" in m and "required property" in m for m in rejected)
        assert any("sess-0003-junk" in m and "not JSON" in m for m in rejected)
    finally:
        raw.close()
        pub.close()
        col.close()
    with Store(tmp_path / "c.sqlite3") as store:
        assert store.devices()[0].state == "offline"


def test_summaries_sent_while_the_collector_is_away_are_queued_for_it(mosquitto, tmp_path):
    col = RunningCollector(mosquitto, tmp_path / "c.sqlite3")
    col.close()  # the laptop lid closes; its persistent session stays on the broker
    pub = _publisher(mosquitto, tmp_path)
    try:
        pub.publish_summary(make_summary("sess-0001-away"))
        assert pub.wait_spool_empty(3)
        mosquitto.restart()  # and the broker restarts meanwhile (persistence keeps the queue)
        col = RunningCollector(mosquitto, tmp_path / "c.sqlite3")
        assert wait_until(lambda: col.sessions == ["sess-0001-away"], 5)
    finally:
        pub.close()
        col.close()


def test_shared_subscription_splits_sessions_between_collectors(mosquitto, tmp_path):
    a = RunningCollector(mosquitto, tmp_path / "a.sqlite3", share="fleet", client_id="collector-a")
    b = RunningCollector(mosquitto, tmp_path / "b.sqlite3", share="fleet", client_id="collector-b")
    pubs = [_publisher(mosquitto, tmp_path, device=f"room-{i}") for i in (1, 2)]
    try:
        for n in range(4):
            for p in pubs:
                p.publish_summary(make_summary(f"sess-{n:04d}-{p.device_id}", device=p.device_id))
        assert wait_until(lambda: len(a.sessions) + len(b.sessions) == 8, 5)
        assert not set(a.sessions) & set(b.sessions)  # each summary went to exactly one collector
        assert a.sessions and b.sessions
    finally:
        for p in pubs:
            p.close()
        a.close()
        b.close()


# -- CLI ----------------------------------------------------------------------------------------
@pytest.fixture
def filled_db(tmp_path) -> Path:
    db = tmp_path / "c.sqlite3"
    with Store(db) as store:
        for i, (facing, neg) in enumerate([(0.5, 0.3), (0.6, 0.2), (0.8, 0.1)]):
            store.add_session(
                make_summary(
                    f"sess-{i:04d}-cli",
                    label="Ana",
                    started_at=f"2025-01-0{i + 1}T10:00:00Z",
                    facing=facing,
                    negative=neg,
                )
            )
        store.add_session(make_summary("other-0001-cli", device="room-2", label="Bo"))
        store.add_status("room-1", "online", {"state": "online", "version": "0.1.0"})
    return db


def test_cli_list_show_trend_devices(filled_db, capsys):
    assert cli.main(["--db", str(filled_db), "list"]) == 0
    out = capsys.readouterr().out
    assert "sess-0000-cli" in out and "other-0001-cli" in out and "5:00" in out

    assert cli.main(["--db", str(filled_db), "list", "--device", "room-2"]) == 0
    out = capsys.readouterr().out
    assert "other-0001-cli" in out and "sess-0000-cli" not in out

    assert cli.main(["--db", str(filled_db), "show", "sess-0002", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_id"] == "sess-0002-cli"

    assert cli.main(["--db", str(filled_db), "show", "sess-0002"]) == 0
    report = capsys.readouterr().out
    try:
        from edge.session.report import render_report
    except ImportError:
        assert json.loads(report)["session_id"] == "sess-0002-cli"
    else:
        with Store(filled_db) as store:
            stored = store.find_session("sess-0002-cli")[0].summary
        assert report == render_report(stored) + "\n"

    assert cli.main(["--db", str(filled_db), "show", "sess-"]) == 1
    assert "matches 3 sessions" in capsys.readouterr().err
    assert cli.main(["--db", str(filled_db), "show", "nope"]) == 1

    assert cli.main(["--db", str(filled_db), "trend", "--label", "Ana"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("facing_audience"))
    assert line.split()[2:] == ["50", "60", "80", "+30"]
    neg = next(ln for ln in out.splitlines() if ln.startswith("emotion_negative"))
    assert neg.split()[-1] == "-20"
    assert "#3  2025-01-03T10:00:00Z  sess-0002-cli" in out and "other-0001-cli" not in out

    assert cli.main(["--db", str(filled_db), "devices"]) == 0
    assert "room-1" in capsys.readouterr().out

    assert cli.main(["--db", str(filled_db.parent / "none.sqlite3"), "list"]) == 1


def test_import_stores_what_analyze_wrote_and_names_every_refused_file(tmp_path, capsys, videos_dir, models_dir):
    """`ppt-collect import` takes the files `ppt-edge analyze --json` writes, by the listener's rules:
    stored once, a re-import is "already stored", and a file that is not a summary (or the same session
    id with other numbers) is refused by name and reason, without stopping the others or touching disk."""
    from dashboard_fixtures import analyzed_files

    texts = analyzed_files(videos_dir, models_dir)
    files = []
    for i, text in enumerate(texts):
        files.append(tmp_path / f"recording-{i}.summary.json")
        files[-1].write_text(text)
    first = json.loads(texts[0])
    junk = tmp_path / "notes.json"
    junk.write_text("{not json")
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({k: v for k, v in first.items() if k != "frames"}))
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**first, "duration_s": first["duration_s"] + 60.0}))
    db = tmp_path / "import.sqlite3"

    args = ["--db", str(db), "import", str(files[0]), str(junk), str(partial), *map(str, files[1:])]
    assert cli.main(args) == 1
    out, err = capsys.readouterr()
    ids = [json.loads(t)["session_id"] for t in texts]
    for f, sid in zip(files, ids, strict=True):
        assert f"{f}: stored as session {sid}" in out
    assert f"{junk}: refused: not JSON" in err
    assert f"{partial}: refused: (root): 'frames' is a required property" in err
    assert "3 stored, 0 already there, 2 refused" in err
    with Store(db) as store:
        assert {r.session_id for r in store.sessions()} == set(ids)
        assert store.find_session(ids[0])[0].summary == first
    assert junk.read_text() == "{not json"  # a refused file stays as it was

    assert cli.main(["--db", str(db), "import", str(files[0]), str(changed)]) == 1
    out, err = capsys.readouterr()
    assert f"{files[0]}: already stored as session {ids[0]}" in out
    assert f"{changed}: refused: session {ids[0]!r} is already stored with different content" in err
    with Store(db) as store:
        assert store.find_session(ids[0])[0].summary == first and store.count_sessions() == 3
    assert cli.main(["--db", str(db), "import", str(files[1])]) == 0
    assert "0 stored, 1 already there, 0 refused" in capsys.readouterr().err

    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(MAX_SUMMARY_BYTES + 10)
    assert cli.main(["--db", str(db), "import", str(huge), str(tmp_path), "/dev/zero"]) == 1
    err = capsys.readouterr().err
    assert f"{huge}: refused: refused at parse: more than {MAX_SUMMARY_BYTES} bytes" in err
    assert f"{tmp_path}: refused: cannot read it: Is a directory" in err
    assert f"/dev/zero: refused: refused at parse: more than {MAX_SUMMARY_BYTES} bytes" in err  # no size to trust


def test_delete_removes_exactly_what_it_lists_and_asks_first(filled_db, capsys, monkeypatch):
    """`ppt-collect delete`: by id or unique prefix, or every session of a label (a presenter who asks
    to be forgotten), with the refused copies of those sessions the quarantine kept. A typo, an
    ambiguous prefix or a missing --yes without a terminal deletes nothing."""
    from edge.collector import admin

    db = str(filled_db)
    with Store(filled_db) as store:
        store.quarantine(topic("sess-0001-cli"), b'{"session_id": "sess-0001-cli"}', "conflict",
                         device=DEV, session_id="sess-0001-cli")
        store.quarantine(topic("sess-0009-x"), b"{}", "schema", device=DEV, session_id="sess-0009-x")

    def ids() -> list[str]:
        with Store(filled_db) as store:
            return [r.session_id for r in store.sessions()]

    before = ids()
    assert len(before) == 4
    for argv in (["sess-0000-cli", "nope"], ["sess-"], [], ["--device", "room-2", "other-0001-cli"],
                 ["--label", "Nobody"]):
        assert cli.main(["--db", db, "delete", "--yes", *argv]) == 1, argv
        assert "nothing deleted" in capsys.readouterr().err
    assert ids() == before

    assert cli.main(["--db", db, "delete", "--label", "Ana", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert all(f"sess-000{i}-cli" in out for i in range(3)) and "3 sessions would be deleted" in err
    assert ids() == before

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["--db", db, "delete", "sess-0002"]) == 2  # no terminal to ask on, no --yes
    assert "without --yes" in capsys.readouterr().err and ids() == before

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    args = cli.build_parser().parse_args(["--db", db, "delete", "sess-0002"])
    assert admin.cmd_delete(args, ask=lambda prompt: "n") == 1 and ids() == before
    asked = []
    assert admin.cmd_delete(args, ask=lambda prompt: asked.append(prompt) or "y") == 0
    assert asked == [f"Delete 1 session from {filled_db}? [y/N] "]
    assert "deleted 1 session" in capsys.readouterr().err
    assert ids() == [i for i in before if i != "sess-0002-cli"]

    assert cli.main(["--db", db, "delete", "--label", "Ana", "--device", "room-1", "--yes"]) == 0
    assert "deleted 2 sessions and 1 refused copy of them" in capsys.readouterr().err
    assert ids() == ["other-0001-cli"]
    with Store(filled_db) as store:
        assert [q.session_id for q in store.quarantined()] == ["sess-0009-x"]  # others' refusals stay
    assert cli.main(["--db", str(filled_db.parent / "none.sqlite3"), "delete", "x", "--yes"]) == 1


def test_export_csv_for_a_spreadsheet(filled_db, tmp_path, capsys):
    """`ppt-collect export --csv`: a row per session with the numbers `trend` prints, an empty cell
    where the session did not judge a measure, and no device text a spreadsheet would run as a formula."""
    import csv

    with Store(filled_db) as store:
        s = make_summary("sess-0009-csv", label='=HYPERLINK("http://x","y")', started_at="2025-01-05T10:00:00Z",
                         facing=0.4, negative=0.2)
        s["not_judged"] = [{"metric": "facing_audience", "reason": "judged on only 12 frames (at least 50 needed)"}]
        store.add_session(s)
    out = tmp_path / "out" / "sessions.csv"
    assert cli.main(["--db", str(filled_db), "export", "--csv", str(out), "--device", "room-1"]) == 0
    assert "4 sessions written to" in capsys.readouterr().err
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as spreadsheets expect
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [r["session"] for r in rows] == ["sess-0000-cli", "sess-0001-cli", "sess-0002-cli", "sess-0009-csv"]
    assert [r["facing_audience (%)"] for r in rows] == ["50.0", "60.0", "80.0", ""]  # not judged: no number
    assert rows[3]["not_judged"] == "facing_audience"
    assert rows[3]["label"] == "'" + '=HYPERLINK("http://x","y")'  # text, never a formula
    assert rows[0]["label"] == "Ana" and rows[0]["device"] == "room-1" and rows[0]["duration_s"] == "300.0"
    assert float(rows[1]["emotion_negative (%)"]) == pytest.approx(20.0)

    assert cli.main(["--db", str(filled_db), "export", "--csv", "-", "--label", "Bo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("other-0001-cli,room-2,Bo,")


def test_trend_leaves_out_what_a_session_could_not_judge(tmp_path, capsys):
    """A share the session itself lists as not judged (too few frames, too few faces) is a gap in the
    trend, not a point: it would be a guess there as much as in the session's report."""
    db = tmp_path / "nj.sqlite3"
    with Store(db) as store:
        for i, facing in enumerate((0.5, 0.1, 0.7)):
            s = make_summary(f"sess-{i:04d}-nj", label="Ana", started_at=f"2025-02-0{i + 1}T10:00:00Z",
                             facing=facing, negative=0.2)
            if i == 1:
                s["not_judged"] = [
                    {"metric": "facing_audience", "reason": "judged on only 12 frames (12% of the time in view)"},
                    {"metric": "emotion", "reason": "only 3 faces classified (at least 20 needed)"},
                ]
            store.add_session(s)
    assert cli.main(["--db", str(db), "trend"]) == 0
    out = capsys.readouterr().out
    facing = next(ln for ln in out.splitlines() if ln.startswith("facing_audience")).split()
    negative = next(ln for ln in out.splitlines() if ln.startswith("emotion_negative")).split()
    assert facing[2:] == ["50", "-", "70", "+20"], facing
    assert negative[2:5] == ["20", "-", "20"], negative


def test_default_db_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert cli.default_db_path() == tmp_path / "ppt-edge" / "collector.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert cli.default_db_path() == Path.home() / ".local/share/ppt-edge/collector.sqlite3"


class CliProcess:
    """`ppt-collect` in a subprocess; its stderr (the log) is collected by a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.collector.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def wait_log(self, text: str, timeout: float = 8.0) -> bool:
        return wait_until(lambda: any(text in ln for ln in self.log), timeout)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self._reader.join(2)
        assert self.proc.returncode == 0, "".join(self.log)
        return out


def _wait_rows(db: Path, n: int, timeout: float = 8.0) -> bool:
    def count() -> int:
        if not db.exists():
            return 0
        try:
            with Store(db) as s:
                return s.count_sessions()
        except (StoreError, sqlite3.Error):
            return 0

    return wait_until(lambda: count() >= n, timeout, interval=0.1)


def test_cli_listen_prints_one_line_per_session(mosquitto, tmp_path):
    db = tmp_path / "c.sqlite3"
    proc = CliProcess("--db", str(db), "listen", "--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}")
    pub = None
    try:
        assert proc.wait_log("subscribed to ppt/+/session/+"), "".join(proc.log)
        pub = _publisher(mosquitto, tmp_path)
        pub.publish_summary(make_summary("sess-0001-cli", label="Ana"))
        assert _wait_rows(db, 1)
        pub.publish_summary(make_summary("sess-0001-cli", label="Ana"))  # re-sent: no second line
        assert proc.wait_log("already stored")
    finally:
        if pub:
            pub.close()
        out = proc.stop()
    assert out.splitlines() == [
        "session sess-0001-cli from room-1 [Ana]: 2025-01-01T10:00:00Z, 5:00, complete; turned_to_screen"
    ]


def test_embedded_broker_single_room(tmp_path):
    pytest.importorskip("amqtt", reason="amqtt not installed (pip install 'ppt-edge[broker]')")
    db = tmp_path / "c.sqlite3"
    port = free_port()
    proc = CliProcess("--db", str(db), "listen", "--broker", f"mqtt://127.0.0.1:{port}", "--embedded-broker")
    pub = None
    try:
        assert proc.wait_log("subscribed to"), "".join(proc.log)
        cfg = MqttConfig(host="127.0.0.1", port=port, keepalive_s=10)
        pub = Publisher(
            cfg, DEV, Spool(tmp_path / "spool"), reconnect_min_s=1, reconnect_max_s=1, connack_timeout_s=1.5
        )
        pub.start()
        assert pub.wait_connected(8), pub.last_error  # amqtt: no MQTT 5, so 3.1.1
        pub.publish_summary(make_summary("sess-0001-emb"))
        assert _wait_rows(db, 1)
        assert pub.wait_spool_empty(3)
    finally:
        if pub:
            pub.close()
        out = proc.stop()
    assert "sess-0001-emb" in out
    with Store(db) as store:
        assert [d.state for d in store.status_history(DEV)] == ["online", "offline"]
