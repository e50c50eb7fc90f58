"""The on-disk spool: durable, ordered, bounded, and never stopped by one bad file."""

from __future__ import annotations

import json
import logging

import pytest
from broker_fixtures import make_summary

from edge.device import spool as spool_mod
from edge.device.spool import Spool


def test_put_is_atomic_and_pending_is_oldest_first(tmp_path):
    sp = Spool(tmp_path / "spool")
    ids = [sp.put(make_summary(f"sess-{i:04d}-abcd")) for i in range(5)]
    assert [e.id for e in sp.pending()] == ids
    assert [e.session_id for e in sp.pending()] == [f"sess-{i:04d}-abcd" for i in range(5)]
    assert not list(sp.directory.glob("*.tmp"))
    entry = sp.get(ids[2])
    assert entry is not None and entry.summary == make_summary("sess-0002-abcd")
    assert json.loads(entry.path.read_bytes()) == entry.summary


def test_order_survives_a_clock_jumping_back(tmp_path, monkeypatch):
    clock = iter([5_000_000_000_000_000_000, 1_000, 2_000])
    monkeypatch.setattr(spool_mod.time, "time_ns", lambda: next(clock))
    sp = Spool(tmp_path / "spool")
    a = sp.put(make_summary("sess-late-aaaa"))
    b = sp.put(make_summary("sess-aaaa-bbbb"))  # clock went back (Pi without RTC): still after a
    assert [e.id for e in sp.pending()] == [a, b]
    again = Spool(tmp_path / "spool")  # a restart remembers the highest stamp
    c = again.put(make_summary("sess-aaaa-cccc"))
    assert [e.id for e in again.pending()] == [a, b, c]


def test_remove_and_persistence_across_instances(tmp_path):
    sp = Spool(tmp_path / "spool")
    a = sp.put(make_summary("sess-0001-aaaa"))
    b = sp.put(make_summary("sess-0002-bbbb"))
    assert sp.remove(a) is True
    assert sp.remove(a) is False
    assert [e.id for e in Spool(tmp_path / "spool").pending()] == [b]
    assert len(sp) == 1


def test_same_session_is_one_file_in_its_place(tmp_path):
    sp = Spool(tmp_path / "spool")
    a = sp.put(make_summary("sess-0001-aaaa", label="x"))
    b = sp.put(make_summary("sess-0002-bbbb"))
    a2 = sp.put(make_summary("sess-0001-aaaa", label="y"))
    assert a2 == a
    assert [e.id for e in sp.pending()] == [a, b]
    assert sp.get(a).summary["label"] == "y"


def test_bound_drops_oldest_loudly(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="edge.device.spool")
    sp = Spool(tmp_path / "spool", max_files=3)
    for i in range(5):
        sp.put(make_summary(f"sess-{i:04d}-abcd"))
    assert [e.session_id for e in sp.pending()] == ["sess-0002-abcd", "sess-0003-abcd", "sess-0004-abcd"]
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(dropped) == 2
    assert "sess-0000-abcd" in dropped[0] and "sess-0001-abcd" in dropped[1]


def test_corrupt_files_are_set_aside_and_never_block_the_others(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="edge.device.spool")
    sp = Spool(tmp_path / "spool")
    a = sp.put(make_summary("sess-0001-aaaa"))
    d = sp.directory
    (d / "00000000000000000001-sess-torn-write.json").write_bytes(b'{"schema": 1, "sess')
    (d / "00000000000000000002-sess-not-object.json").write_text("[1, 2]")
    (d / "00000000000000000003-sess-mismatch1.json").write_text('{"session_id": "sess-other-xx"}')
    (d / "00000000000000000004-sess-binary-xx.json").write_bytes(b"\xff\xfe\x00garbage")
    (d / "stray-name.json").write_text("{}")
    b = sp.put(make_summary("sess-0002-bbbb"))
    assert [e.id for e in sp.pending()] == [a, b]
    aside = sorted(p.name for p in (d / "corrupt").iterdir())
    assert len(aside) == 5
    text = caplog.text
    assert "not JSON" in text and "not a JSON object" in text and "does not match" in text
    assert "file name" in text
    assert [e.id for e in sp.pending()] == [a, b]  # nothing left to complain about


def test_unfinished_tmp_write_is_cleaned_on_start(tmp_path):
    d = tmp_path / "spool"
    d.mkdir()
    (d / "00000000000000000001-sess-0001-aaaa.tmp").write_text('{"half')
    sp = Spool(d)
    assert not list(d.glob("*.tmp")) and sp.pending() == []


def test_bad_session_id_or_non_json_is_refused(tmp_path):
    sp = Spool(tmp_path / "spool")
    with pytest.raises(ValueError, match="session_id"):
        sp.put(make_summary("../../etc/passwd"))
    with pytest.raises(ValueError, match="session_id"):
        sp.put({"x": 1})
    bad = make_summary("sess-0001-aaaa")
    bad["duration_s"] = float("nan")
    with pytest.raises(ValueError):
        sp.put(bad)
    assert len(sp) == 0 and not list(sp.directory.glob("*.tmp"))
    with pytest.raises(ValueError):
        Spool(tmp_path / "x", max_files=0)
