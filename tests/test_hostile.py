"""Issue 13: no device can silence the collector, and no protocol corner loses a summary.

Each numbered case of the issue has a test here, against the real mosquitto (and the real amqtt for
the protocol choice): (1) MQTT 5 vs 3.1.1 decided by the broker's CONNACK, never by an outage;
(2) poison summaries refused, quarantined and acknowledged, plus the flood test; (3) no NaN/Infinity,
and readers survive an old row; (4) date-time checked; (5) control and bidi characters escaped in
CLI output and logs; (6) the deep-array command gets an error ack; (7) bounded status, the ACL's
service accounts, "connection lost".
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from broker_fixtures import Mosquitto, RunningCollector, Subscriber, make_summary, wait_until

from edge.collector import cli
from edge.collector.listen import Collector, Outcome
from edge.collector.store import Store, TransientStoreError
from edge.config import MqttConfig
from edge.device.commands import CommandError, parse_command
from edge.device.publish import Publisher
from edge.device.spool import Spool
from edge.mqttconn import forget_protocols
from edge.schema import SummaryError

REPO = Path(__file__).resolve().parent.parent
ESC_LABEL = "Ana\x1b[2J\x07\u202eexe.txt"  # clears the screen, rings, reverses the rest


@pytest.fixture(autouse=True)
def _fresh_protocol_memory():
    forget_protocols()
    yield
    forget_protocols()


def publisher(broker: Mosquitto, spool_dir: Path, device: str = "room-1", **cfg) -> Publisher:
    password = cfg.pop("password", None)
    timeout = cfg.pop("connack_timeout_s", 5.0)
    mcfg = MqttConfig(host=broker.host, port=broker.port, keepalive_s=10, **cfg)
    return Publisher(
        mcfg, device, Spool(spool_dir), password=password, reconnect_min_s=1, reconnect_max_s=1,
        connack_timeout_s=timeout,
    )


def passwd_acl_broker(tmp_path: Path, users: list[str]) -> Mosquitto:
    work = tmp_path / "mosquitto-acl"
    work.mkdir()
    passwd = work / "passwd"
    for i, user in enumerate(users):
        args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [str(passwd), user, f"pw-{user}"]
        subprocess.run(args, check=True, capture_output=True)
    acl = work / "acl"
    acl.write_text((REPO / "systemd" / "mosquitto-ppt-acl.example").read_text())
    broker = Mosquitto(work, password_file=passwd, acl_file=acl)
    broker.start()
    return broker


# -- (1) the protocol choice ------------------------------------------------------------------
def test_1_broker_outages_never_downgrade_and_a_refused_summary_stays_spooled(tmp_path, caplog):
    """Two broker kills right after a connect (inside the old 5 s timer, here 1 s): the device stays on
    MQTT 5, so the broker's ACL refusal is seen and the summary stays in the spool."""
    caplog.set_level(logging.INFO, logger="edge.device.publish")
    broker = passwd_acl_broker(tmp_path, ["room-1"])
    # room-1's login publishing as room-2: every summary is refused by the ACL (PUBACK 0x87)
    pub = publisher(broker, tmp_path / "spool", device="room-2", username="room-1", password="pw-room-1",
                    connack_timeout_s=1.0)
    pub.start()
    try:
        for _ in range(2):
            assert pub.wait_connected(8), pub.last_error
            broker.kill()
            assert wait_until(lambda: not pub.connected, 3)
            time.sleep(1.6)  # longer than the CONNACK deadline, while the broker is down
            broker.start()
        assert pub.wait_connected(8), pub.last_error
        assert pub.conn is not None and pub.conn.protocol_name == "5"
        pub.publish_summary(make_summary("sess-0001-refused", device="room-2"))
        assert wait_until(lambda: "broker refused summary" in caplog.text, 5)
        time.sleep(0.3)
        assert len(pub.spool) == 1  # refused, so kept
        assert "3.1.1" not in caplog.text
        assert "connection to MQTT broker" in caplog.text and "lost" in caplog.text  # (7) said as it is
    finally:
        pub.close(timeout=1)
        broker.kill()


def test_1_protocol_311_configured_goes_straight_to_the_embedded_broker(tmp_path, caplog):
    pytest.importorskip("amqtt", reason="amqtt not installed (pip install 'ppt-edge[broker]')")
    from edge.collector.broker import EmbeddedBroker

    caplog.set_level(logging.INFO)
    port_holder = Mosquitto(tmp_path / "unused")  # just a free port
    amqtt = EmbeddedBroker("127.0.0.1", port_holder.port)
    amqtt.start()
    pub = publisher(port_holder, tmp_path / "spool", protocol="3.1.1")
    pub.start()
    try:
        assert pub.wait_connected(5), pub.last_error
        assert pub.conn is not None and pub.conn.protocol_name == "3.1.1"
        assert wait_until(lambda: "MQTT 3.1.1 as configured" in caplog.text, 2)  # refusals go unseen ...
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("edge")]
        assert warnings == []  # ... at INFO: no warning, and no MQTT 5 attempt at all
        assert "Invalid protocol" not in caplog.text  # amqtt never saw an MQTT 5 CONNECT
    finally:
        pub.close(timeout=1)
        amqtt.stop()


def test_1_auto_learns_311_from_the_connack_and_asks_for_5_again_after_a_reconnect(tmp_path, caplog):
    """amqtt answers 3.1.1 only (decided by its CONNACK refusal); then the broker is replaced by
    mosquitto on the same port, and the device is back on MQTT 5 after the reconnect."""
    pytest.importorskip("amqtt", reason="amqtt not installed (pip install 'ppt-edge[broker]')")
    from edge.collector.broker import EmbeddedBroker

    caplog.set_level(logging.INFO, logger="edge.device.publish")
    broker = Mosquitto(tmp_path / "mosquitto")
    amqtt = EmbeddedBroker("127.0.0.1", broker.port)
    amqtt.start()
    pub = publisher(broker, tmp_path / "spool", connack_timeout_s=3.0)
    pub.start()
    try:
        assert pub.wait_connected(10), pub.last_error
        assert pub.conn is not None and pub.conn.protocol_name == "3.1.1"
        assert "CONNACK: unsupported protocol version" in caplog.text
        assert wait_until(
            lambda: any(
                r.levelno == logging.WARNING and "cannot report a refused publish" in r.getMessage()
                for r in caplog.records
            ),
            2,
        )
        amqtt.stop()
        broker.start()
        assert wait_until(lambda: pub.connected and pub.conn is not None and pub.conn.protocol_name == "5", 40)
    finally:
        pub.close(timeout=1)
        broker.kill()


# -- (2) poison never blocks, (3) no NaN/Infinity, (4) date-time -------------------------------------
def _poisons() -> dict[str, bytes]:
    s = make_summary("sess-0002-poison")
    text = json.dumps(s)
    return {
        "2**63": text.replace('"duration_s": 300.0', f'"duration_s": {2**63}').encode(),
        "400 digits": text.replace('"duration_s": 300.0', '"duration_s": ' + "9" * 400).encode(),
        "deep": ("[" * 100_000 + "]" * 100_000).encode(),
        "NaN": text.replace('"duration_s": 300.0', '"duration_s": NaN').encode(),
        "Infinity": text.replace('"share": 0.7', '"share": Infinity').encode(),
        "1e999": text.replace('"duration_s": 300.0', '"duration_s": 1e999').encode(),
        "surrogate": text.replace('"label": null', '"label": "\\ud800"').encode(),
        "date-time": text.replace("2025-01-01T10:00:00Z", "yesterday'; DROP TABLE sessions;--").encode(),
    }


def test_2_3_4_every_poison_is_refused_quarantined_and_the_next_summary_stored(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="edge.collector.listen")
    with Store(tmp_path / "c.sqlite3") as store:
        col = Collector(store)
        poisons = _poisons()
        for name, payload in poisons.items():
            out = col.handle("ppt/room-1/session/sess-0002-poison", payload)
            assert out.kind == "rejected", name
        reasons = "\n".join(r.reason for r in store.quarantined())
        for fragment in ("out of range", "nesting deeper", "NaN", "Infinity", "not finite", "surrogate",
                         "date-time"):
            assert fragment in reasons
        assert store.count_quarantined() == len(poisons) and store.count_sessions() == 0
        deep = next(r for r in store.quarantined(100) if "nesting" in r.reason)
        assert deep.size == 200_000 and len(deep.payload) == 64 * 1024  # kept, within bounds

        # a store that raises for one summary (anything but "database unavailable") refuses it too
        real = store.insert_session
        store.insert_session = lambda s, *a: (_ for _ in ()).throw(OverflowError("Python int too large"))  # type: ignore[method-assign]
        out = col.handle("ppt/room-1/session/sess-0003-odd", json.dumps(make_summary("sess-0003-odd")).encode())
        assert out.kind == "rejected" and "OverflowError" in out.reasons[0]
        store.insert_session = lambda s, *a: (_ for _ in ()).throw(TransientStoreError("disk full"))  # type: ignore[method-assign]
        with pytest.raises(TransientStoreError):  # held back, unacknowledged, retried by the listener
            col.handle("ppt/room-1/session/sess-0003-odd", json.dumps(make_summary("sess-0003-odd")).encode())
        store.insert_session = real  # type: ignore[method-assign]
        assert col.handle("ppt/room-1/session/sess-0003-odd",
                          json.dumps(make_summary("sess-0003-odd")).encode()).kind == "stored"
    with pytest.raises(SummaryError, match="date-time"):  # (4) the device refuses it before its spool
        pub = Publisher(MqttConfig(), "room-1", Spool(tmp_path / "spool"))
        pub.publish_summary(make_summary("sess-0004-date", started_at="yesterday"))


def test_2_a_flood_of_poison_from_one_device_does_not_delay_another(mosquitto, tmp_path):
    """100 poison summaries under room-1's prefix, then one valid summary from room-2: stored within a
    second of its publish. The poisons were acknowledged: with 32 in flight at most, the valid summary
    behind 100 of them could not arrive otherwise, and a restarted collector gets (almost) none back."""
    col = RunningCollector(mosquitto, tmp_path / "c.sqlite3", client_id="collector-flood")
    flood = Subscriber(mosquitto, [], client_id="room-1-flooder")
    honest = Subscriber(mosquitto, [], client_id="room-2")
    try:
        poisons = list(_poisons().values())
        infos = [
            flood.client.publish(f"ppt/room-1/session/sess-{i:04d}-poison", poisons[i % len(poisons)], qos=1)
            for i in range(100)
        ]
        for info in infos:
            info.wait_for_publish(10)
        t0 = time.monotonic()
        honest.publish("ppt/room-2/session/sess-0001-honest",
                       json.dumps(make_summary("sess-0001-honest", device="room-2")).encode())
        assert wait_until(lambda: "sess-0001-honest" in col.sessions, 1.0, interval=0.01), (
            f"not stored within 1 s ({len(col.listener.outcomes)} messages handled)"
        )
        print(f"\nvalid summary stored {time.monotonic() - t0:.3f} s after its publish, behind 100 poisons")
        assert wait_until(lambda: col.store.count_quarantined() == 100, 10)
    finally:
        flood.close()
        honest.close()
        col.close()
    again = RunningCollector(mosquitto, tmp_path / "c.sqlite3", client_id="collector-flood")
    try:
        time.sleep(1.0)
        # The poisons were acknowledged: at most the few whose PUBACK was still on the wire when the
        # first collector stopped come back (fewer than the 32 in flight), refused again.
        back = [o for o in again.listener.outcomes if o.kind == "rejected"]
        assert len(back) < 32, len(back)
    finally:
        again.close()


def test_3_readers_survive_old_rows_with_nan_infinity_and_junk(tmp_path, capsys):
    db = tmp_path / "c.sqlite3"
    with Store(db) as store:
        store.add_session(make_summary("sess-0001-fine", label="Ana"))
        old = json.dumps(make_summary("sess-0002-nan", label="Ana")).replace('"share": 0.7', '"share": Infinity')
        old = old.replace('"duration_s": 300.0', '"duration_s": NaN')
        store.db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("sess-0002-nan", "room-1", "Ana", "2025-01-02T10:00:00Z", None, float("inf"), "complete",
             "2025-01-02T10:05:00Z", old),
        )
        store.db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("sess-0003-junk", "room-1", None, "2025-01-03T10:00:00Z", None, None, "complete",
             "2025-01-03T10:05:00Z", "{not json"),
        )
        row = store.find_session("sess-0002-nan")[0]
        assert row.duration_s is None and row.summary["duration_s"] is None
        assert row.summary["metrics"]["facing_audience"]["share"] is None
    for argv in (["list"], ["show", "sess-0002-nan"], ["show", "sess-0003-junk"], ["trend"], ["show", "sess-0002",
                 "--json"]):
        assert cli.main(["--db", str(db), *argv]) == 0, argv
    out = capsys.readouterr().out
    assert "sess-0002-nan" in out and "NaN" not in out and "Infinity" not in out


# -- (5) escaping ------------------------------------------------------------------------------
def test_5_control_and_bidi_characters_are_escaped_in_cli_output_and_logs(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="edge.collector.listen")
    db = tmp_path / "c.sqlite3"
    arrived: list[Outcome] = []
    with Store(db) as store:
        col = Collector(store, on_session=arrived.append)
        s = make_summary("sess-0001-esc", label=ESC_LABEL)
        assert col.handle("ppt/room-1/session/sess-0001-esc", json.dumps(s).encode()).kind == "stored"
        col.handle("ppt/room\x1b]0;pwned\x07/status", json.dumps({"state": "on\u202eline"}).encode())
        bad = dict(s, status="\x1b[31mfinished")
        col.handle("ppt/room-1/session/sess-0001-esc", json.dumps(bad).encode())  # rejected; logs the value
    lines = [cli.session_line(arrived[0].summary)]
    for argv in (["list"], ["show", "sess-0001-esc"], ["show", "sess-0001-esc", "--json"], ["trend"],
                 ["devices"], ["quarantine", "--payload"]):
        assert cli.main(["--db", str(db), *argv]) == 0
        lines.append(capsys.readouterr().out)
    lines += [r.getMessage() for r in caplog.records]
    text = "\n".join(lines)
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in text
    assert "\\u001b[2J" in text and "\\u202e" in text and "room\\u001b]0;pwned\\u0007" in text


# -- (6) commands --------------------------------------------------------------------------------
def test_6_deep_array_and_huge_numbers_in_a_command_get_an_error_ack(mosquitto, tmp_path):
    deep = b"[" * 1500 + b"]" * 1500
    result = parse_command(deep)
    assert isinstance(result, CommandError) and "nesting" in result.error
    assert isinstance(parse_command(b'{"id": "c1", "cmd": "start", "label": NaN}'), CommandError)
    pub = publisher(mosquitto, tmp_path / "spool")
    sub = Subscriber(mosquitto, ["ppt/room-1/cmd/ack"], client_id="operator")
    pub.start()
    try:
        assert pub.wait_connected(5)
        time.sleep(0.2)
        sub.publish("ppt/room-1/cmd", deep)
        sub.publish("ppt/room-1/cmd", b'{"id": "c2", "cmd": "start", "n": ' + b"9" * 400 + b"}")
        acks = sub.wait_for("ppt/room-1/cmd/ack", count=2)
        assert [a["ok"] for a in acks] == [False, False]
        assert "nesting" in acks[0]["error"] and "out of range" in acks[1]["error"]
    finally:
        sub.close()
        pub.close(timeout=1)


# -- (7) status bounds, the ACL's service accounts -----------------------------------------------
def test_7_status_payloads_are_bounded_and_logged_short(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.collector.listen")
    with Store(tmp_path / "c.sqlite3") as store:
        col = Collector(store)
        huge = json.dumps({"state": "online", "junk": "x" * 1_000_000}).encode()
        assert col.handle("ppt/room-1/status", huge).kind == "ignored"
        assert col.handle("ppt/room-1/status", json.dumps({"state": "x" * 1000}).encode()).kind == "ignored"
        assert col.handle("ppt/room-1/status", b'{"state": "online", "fps": NaN}').kind == "ignored"
        assert col.handle("ppt/room-1/status", b'{"state": "online"}').kind == "status"
        assert [d.state for d in store.devices()] == ["online"]
    assert max(len(r.getMessage()) for r in caplog.records) < 600


def test_7_example_acl_keeps_service_accounts_out_of_device_topics(tmp_path, caplog):
    """The collector and operator logins cannot publish as a device named after them."""
    caplog.set_level(logging.INFO, logger="edge.device.publish")
    broker = passwd_acl_broker(tmp_path, ["room-1", "collector", "operator"])
    col = Subscriber(broker, ["ppt/+/session/+"], client_id="watcher", username="operator",
                     password="pw-operator")
    pubs = [
        publisher(broker, tmp_path / user, device=user, username=user, password=f"pw-{user}")
        for user in ("collector", "operator", "room-1")
    ]
    try:
        for p in pubs:
            p.start()
        for p in pubs:
            assert p.wait_connected(5), p.last_error
            p.publish_summary(make_summary(f"sess-0001-{p.device_id}", device=p.device_id))
        assert pubs[2].wait_spool_empty(5)
        assert wait_until(lambda: caplog.text.count("broker refused summary") == 2, 5)
        assert len(pubs[0].spool) == 1 and len(pubs[1].spool) == 1
        assert [m.topic for m in col.messages] == ["ppt/room-1/session/sess-0001-room-1"]
    finally:
        for p in pubs:
            p.close(timeout=1)
        col.close()
        broker.kill()


def test_7_status_of_an_unknown_protocol_value_is_a_clear_error():
    from edge.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match="mqtt.protocol"):
        config_from_dict({"mqtt": {"protocol": "4"}})
    assert config_from_dict({"mqtt": {"protocol": "3.1.1"}}).mqtt.protocol == "3.1.1"
    assert mqtt.MQTTv5 == 5  # the "5" setting maps to paho's MQTTv5
