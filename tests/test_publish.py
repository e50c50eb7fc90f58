"""The publisher against a real mosquitto: delivery, spool, outages, Last Will, TLS, passwords, commands."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from broker_fixtures import MQTT_PASSWORD, MQTT_USER, Mosquitto, Subscriber, make_summary, wait_until

from edge.config import MqttConfig, TlsConfig
from edge.device.commands import Command
from edge.device.publish import MqttSetupError, Publisher, read_password
from edge.device.spool import Spool
from edge.schema import SummaryError

REPO = Path(__file__).resolve().parent.parent
MODELS = {"pose": {"name": "movenet_lightning_int8", "sha256": "ab" * 32}}
DEV = "room-1"
SESSION_TOPIC = f"ppt/{DEV}/session/+"
STATUS = f"ppt/{DEV}/status"


def topic_of(sid: str) -> str:
    return f"ppt/{DEV}/session/{sid}"


def make_publisher(broker: Mosquitto, tmp_path: Path, **kwargs) -> Publisher:
    cfg_kwargs = kwargs.pop("cfg", {})
    cfg = MqttConfig(host=broker.host, port=broker.port, keepalive_s=10, **cfg_kwargs)
    spool = kwargs.pop("spool", None) or Spool(tmp_path / "spool", max_files=50)
    pub = Publisher(cfg, DEV, spool, models=MODELS, reconnect_min_s=1, reconnect_max_s=1, **kwargs)
    return pub


@pytest.fixture
def sub(mosquitto: Mosquitto):
    s = Subscriber(
        mosquitto,
        [SESSION_TOPIC, STATUS, f"ppt/{DEV}/cmd/ack", f"ppt/{DEV}/live"],
        client_id="test-sub",
        persistent=True,
    )
    yield s
    s.close()


def test_summary_delivered_once_and_spool_emptied_with_online_status(mosquitto, sub, tmp_path):
    pub = make_publisher(mosquitto, tmp_path, status_provider=lambda: {"fps": 9.5, "camera": {"state": "ok"}})
    pub.start()
    try:
        assert pub.wait_connected(5)
        status = sub.wait_for(STATUS)
        assert status[-1]["state"] == "online"
        assert status[-1]["models"] == MODELS and status[-1]["fps"] == 9.5
        assert status[-1]["version"] and status[-1]["camera"] == {"state": "ok"}
        summary = make_summary("sess-0001-aaaa")
        pub.publish_summary(summary)
        got = sub.wait_for(topic_of("sess-0001-aaaa"))
        assert got == [summary]
        assert pub.wait_spool_empty(3)
        assert pub.publish_live({"facing": 1}) is True
        assert pub.publish_live({"facing": 0}) is False  # throttled to live_hz
        assert sub.wait_for(f"ppt/{DEV}/live") == [{"facing": 1}]
    finally:
        pub.close()
    # a clean close says so, retained
    late = Subscriber(mosquitto, [STATUS], client_id="late")
    try:
        st = late.wait_for(STATUS)
        assert st[-1]["state"] == "offline" and st[-1]["reason"] == "shutdown"
        assert late.on(STATUS)[-1].retain
    finally:
        late.close()


def test_invalid_summary_or_wrong_device_is_refused_before_the_spool(mosquitto, tmp_path):
    pub = make_publisher(mosquitto, tmp_path)
    bad = make_summary("sess-0002-bbbb")
    bad["status"] = "meh"
    with pytest.raises(SummaryError, match="status"):
        pub.publish_summary(bad)
    with pytest.raises(ValueError, match="not this device"):
        pub.publish_summary(make_summary("sess-0002-cccc", device="room-2"))
    assert len(pub.spool) == 0


def test_summary_spooled_while_broker_down_arrives_exactly_once(mosquitto, sub, tmp_path):
    pub = make_publisher(mosquitto, tmp_path)
    pub.start()
    try:
        assert pub.wait_connected(5)
        mosquitto.kill()
        assert wait_until(lambda: not pub.connected, 3)
        pub.publish_summary(make_summary("sess-0003-down"))
        time.sleep(0.3)
        assert len(pub.spool) == 1  # durable, waiting for the broker
        mosquitto.start()
        assert pub.wait_spool_empty(8), pub.last_error
        assert len(sub.wait_for(topic_of("sess-0003-down"), timeout=5)) == 1
        time.sleep(0.5)
        assert len(sub.on(topic_of("sess-0003-down"))) == 1
    finally:
        pub.close()


def test_unacknowledged_summary_survives_broker_kill_and_arrives_once(mosquitto, sub, tmp_path):
    """The broker freezes with the PUBLISH in its socket and dies: no PUBACK, so the spool keeps the
    file; after the restart paho resends it and only then is the file removed."""
    pub = make_publisher(mosquitto, tmp_path)
    pub.start()
    try:
        assert pub.wait_connected(5)
        mosquitto.pause()
        pub.publish_summary(make_summary("sess-0004-kill"))
        time.sleep(0.5)
        assert len(pub.spool) == 1
        mosquitto.kill()
        mosquitto.start()
        assert pub.wait_spool_empty(8), pub.last_error
        assert len(sub.wait_for(topic_of("sess-0004-kill"), timeout=5)) == 1
        time.sleep(0.5)
        assert len(sub.on(topic_of("sess-0004-kill"))) == 1
    finally:
        pub.close()


def test_a_long_spool_drains_in_order_exactly_once(mosquitto, sub, tmp_path):
    spool = Spool(tmp_path / "spool")
    sids = [f"sess-long-{i:04d}" for i in range(25)]  # more than MAX_INFLIGHT: acks pull the rest
    for sid in sids:
        spool.put(make_summary(sid))
    pub = make_publisher(mosquitto, tmp_path, spool=spool)
    pub.start()
    try:
        assert pub.wait_spool_empty(5)
        assert wait_until(lambda: len([m for m in sub.messages if "/session/" in m.topic]) >= 25, 3)
        time.sleep(0.2)
        got = [json.loads(m.payload)["session_id"] for m in sub.messages if "/session/" in m.topic]
        assert got == sids
    finally:
        pub.close()


def test_leftover_spool_drains_oldest_first_and_corrupt_file_is_set_aside(mosquitto, sub, tmp_path, caplog):
    spool = Spool(tmp_path / "spool")
    ids = [spool.put(make_summary(f"sess-0005-{i:04d}")) for i in range(3)]
    corrupt = spool.directory / ids[1].replace("sess-0005-0001", "sess-0005-junk")
    corrupt = corrupt.with_suffix(".json")
    corrupt.write_bytes(b'{"session_id": "sess-0005-junk", ')  # torn write of an older version
    caplog.set_level(logging.ERROR, logger="edge.device.spool")
    pub = make_publisher(mosquitto, tmp_path, spool=spool)
    pub.start()
    try:
        assert pub.wait_spool_empty(5)
        got = [json.loads(m.payload)["session_id"] for m in sub.messages if "/session/" in m.topic]
        assert got == ["sess-0005-0000", "sess-0005-0001", "sess-0005-0002"]
        assert (spool.directory / "corrupt" / corrupt.name).exists()
        assert "not JSON" in caplog.text
    finally:
        pub.close()


PUBLISHER_SCRIPT = textwrap.dedent(
    """
    import logging, sys, time
    from pathlib import Path
    from edge.config import MqttConfig
    from edge.device.publish import Publisher
    from edge.device.spool import Spool
    logging.basicConfig(level=logging.INFO)
    port, spool_dir = int(sys.argv[1]), Path(sys.argv[2])
    pub = Publisher(MqttConfig(host="127.0.0.1", port=port, keepalive_s=5), "room-1", Spool(spool_dir),
                    reconnect_min_s=1, reconnect_max_s=1)
    pub.start()
    if not pub.wait_connected(10):
        sys.exit(3)
    print("ready", flush=True)
    time.sleep(60)
    """
)


def _spawn_publisher(broker: Mosquitto, tmp_path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_SCRIPT, str(broker.port), str(tmp_path / "spool")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", "publisher subprocess did not connect"
    return proc


def test_last_will_offline_on_sigkill_and_online_when_back(mosquitto, sub, tmp_path):
    proc = _spawn_publisher(mosquitto, tmp_path)
    try:
        assert sub.wait_for(STATUS)[-1]["state"] == "online"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert wait_until(lambda: sub.json_on(STATUS)[-1]["state"] == "offline", 5)
        assert sub.json_on(STATUS)[-1]["reason"] == "lost"
        late = Subscriber(mosquitto, [STATUS], client_id="late")  # retained: a newcomer sees it too
        try:
            assert late.wait_for(STATUS)[-1]["state"] == "offline" and late.on(STATUS)[-1].retain
        finally:
            late.close()
        proc = _spawn_publisher(mosquitto, tmp_path)
        assert wait_until(lambda: sub.json_on(STATUS)[-1]["state"] == "online", 5)
    finally:
        proc.kill()
        proc.wait(5)


def _tls_cfg(broker: Mosquitto, **over) -> dict:
    tls = broker.tls
    assert tls is not None
    return {
        "tls": TlsConfig(ca_file=over.pop("ca", tls.ca), cert_file=tls.client_cert, key_file=tls.client_key),
        "username": MQTT_USER,
        **over,
    }


def test_tls_and_password_right_credentials_deliver(mosquitto_tls, tmp_path):
    pwfile = tmp_path / "pw"
    pwfile.write_text(MQTT_PASSWORD + "\n")
    sub = Subscriber(
        mosquitto_tls, [SESSION_TOPIC], client_id="tls-sub", username=MQTT_USER, password=MQTT_PASSWORD
    )
    pub = make_publisher(mosquitto_tls, tmp_path, cfg=_tls_cfg(mosquitto_tls, password_file=pwfile))
    pub.start()
    try:
        assert pub.wait_connected(5), pub.last_error
        pub.publish_summary(make_summary("sess-0006-tlsok"))
        assert pub.wait_spool_empty(5)
        assert len(sub.wait_for(topic_of("sess-0006-tlsok"))) == 1
    finally:
        pub.close()
        sub.close()


def test_wrong_password_is_a_clear_refusal_never_connected(mosquitto_tls, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.device.publish")
    pub = make_publisher(mosquitto_tls, tmp_path, cfg=_tls_cfg(mosquitto_tls), password="wrong")
    pub.start()
    try:
        assert not pub.wait_connected(1.5)
        assert wait_until(lambda: pub.last_error is not None, 2)
        refusals = [r for r in caplog.records if r.levelno == logging.ERROR and "REFUSED" in r.getMessage()]
        assert refusals, caplog.text
        assert (
            "not authorized" in refusals[0].getMessage().lower()
            or "bad user" in refusals[0].getMessage().lower()
        )
        assert "connected to MQTT broker" not in caplog.text
    finally:
        pub.close()


def test_tls_with_wrong_ca_is_a_clear_error(mosquitto_tls, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.device.publish")
    cfg = _tls_cfg(mosquitto_tls, ca=mosquitto_tls.tls.wrong_ca)
    pub = make_publisher(mosquitto_tls, tmp_path, cfg=cfg, password=MQTT_PASSWORD)
    pub.start()
    try:
        assert not pub.wait_connected(1)
        assert "certificate verify failed" in caplog.text
        assert any(r.levelno == logging.ERROR and "TLS handshake" in r.getMessage() for r in caplog.records)
    finally:
        pub.close()


def test_commands_get_acks_and_bad_ones_change_nothing(mosquitto, sub, tmp_path):
    seen: list[Command] = []

    def on_command(cmd: Command) -> str | None:
        if cmd.label == "boom":
            raise RuntimeError("boom")
        seen.append(cmd)
        return "no session running" if cmd.cmd == "stop" else None

    pub = make_publisher(mosquitto, tmp_path, on_command=on_command)
    pub.start()
    try:
        assert pub.wait_connected(5)
        time.sleep(0.2)  # subscription in place
        cmd_topic, ack_topic = f"ppt/{DEV}/cmd", f"ppt/{DEV}/cmd/ack"
        for payload in [
            b"not json",
            b'["start"]',
            b'{"id": "c1", "cmd": "dance"}',
            b'{"id": "c2", "cmd": "label"}',
            b'{"id": "c3", "cmd": "start", "extra": 1}',
            b'{"id": "c4", "cmd": "start", "label": "Ana"}',
            b'{"id": "c5", "cmd": "stop"}',
            b'{"id": "c6", "cmd": "label", "label": "boom"}',
        ]:
            sub.publish(cmd_topic, payload)
        acks = sub.wait_for(ack_topic, count=8)
        assert len(acks) == 8
        by_id = {a["id"]: a for a in acks if a["id"]}
        assert [a["ok"] for a in acks if a["id"] is None] == [False, False]
        assert by_id["c1"]["ok"] is False and "unknown command" in by_id["c1"]["error"]
        assert by_id["c2"]["ok"] is False and "label" in by_id["c2"]["error"]
        assert by_id["c3"]["ok"] is False and "extra" in by_id["c3"]["error"]
        assert by_id["c4"] == {"id": "c4", "ok": True, "error": None}
        assert by_id["c5"] == {"id": "c5", "ok": False, "error": "no session running"}
        assert by_id["c6"]["ok"] is False and "internal error" in by_id["c6"]["error"]
        assert [c.id for c in seen] == ["c4", "c5"]  # refused commands never reach the daemon
        assert seen[0] == Command(id="c4", cmd="start", label="Ana")
    finally:
        pub.close()


def test_unusable_tls_files_fail_at_start(tmp_path):
    cfg = MqttConfig(tls=TlsConfig(ca_file=tmp_path / "missing-ca.crt"))
    pub = Publisher(cfg, DEV, Spool(tmp_path / "spool"))
    with pytest.raises(MqttSetupError, match="missing-ca.crt"):
        pub.start()
    pub.close()


def test_read_password_file_credential_and_errors(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    assert read_password(MqttConfig(password_file=tmp_path / "pw")) == "s3cret"
    assert read_password(MqttConfig()) is None
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("fromsystemd")
    cfg = MqttConfig(password_credential="mqtt-password")
    assert read_password(cfg, {"CREDENTIALS_DIRECTORY": str(creds)}) == "fromsystemd"
    with pytest.raises(MqttSetupError, match="CREDENTIALS_DIRECTORY"):
        read_password(cfg, {})
    with pytest.raises(MqttSetupError, match="password_file"):
        read_password(MqttConfig(password_file=tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(MqttSetupError, match="empty"):
        read_password(MqttConfig(password_file=tmp_path / "empty"))


@pytest.fixture
def mosquitto_acl(tmp_path):
    """Password file + the example ACL from systemd/, verbatim."""
    import shutil

    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    work = tmp_path / "mosquitto-acl"
    work.mkdir()
    passwd = work / "passwd"
    for i, user in enumerate(["room-1", "room-2", "collector"]):
        args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [str(passwd), user, f"pw-{user}"]
        subprocess.run(args, check=True, capture_output=True)
    acl = work / "acl"
    acl.write_text((REPO / "systemd" / "mosquitto-ppt-acl.example").read_text())
    broker = Mosquitto(work, password_file=passwd, acl_file=acl)
    broker.start()
    yield broker
    broker.kill()


def test_example_acl_confines_each_device_to_its_prefix(mosquitto_acl, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.device.publish")
    col = Subscriber(
        mosquitto_acl,
        ["ppt/+/session/+", "ppt/+/status"],
        client_id="collector",
        username="collector",
        password="pw-collector",
    )
    honest = make_publisher(mosquitto_acl, tmp_path / "a", cfg={"username": "room-1"}, password="pw-room-1")
    # room-1's login pretending to be room-2: connects, but nothing it sends under ppt/room-2/ passes
    cfg = MqttConfig(host=mosquitto_acl.host, port=mosquitto_acl.port, username="room-1")
    impostor = Publisher(
        cfg,
        "room-2",
        Spool(tmp_path / "b" / "spool"),
        password="pw-room-1",
        reconnect_min_s=1,
        reconnect_max_s=1,
    )
    honest.start()
    impostor.start()
    try:
        assert honest.wait_connected(5) and impostor.wait_connected(5)
        honest.publish_summary(make_summary("sess-0007-acl"))
        impostor.publish_summary(make_summary("sess-0008-acl", device="room-2"))
        assert honest.wait_spool_empty(3)
        assert col.wait_for(topic_of("sess-0007-acl"))
        assert wait_until(lambda: "broker refused summary" in caplog.text, 3)
        assert "Not authorized" in caplog.text
        assert len(impostor.spool) == 1  # refused, so kept: nothing is lost by a misconfiguration
        impostor.publish_summary(make_summary("sess-0009-acl", device="room-2"))
        assert wait_until(lambda: caplog.text.count("broker refused summary") >= 2, 3)
        time.sleep(0.3)
        assert caplog.text.count("broker refused summary") == 2  # no retry storm on this connection
        assert col.on("ppt/room-2/session/sess-0008-acl") == [] and col.on("ppt/room-2/status") == []
        assert col.json_on(STATUS)[-1]["state"] == "online"
    finally:
        honest.close()
        impostor.close(timeout=1)
        col.close()


def test_summary_published_before_start_goes_out_on_connect(mosquitto, sub, tmp_path):
    """The daemon publishes an `interrupted` summary at start-up, before MQTT is up."""
    pub = make_publisher(mosquitto, tmp_path)
    pub.publish_summary(make_summary("sess-0009-early"))
    assert len(pub.spool) == 1
    pub.start()
    try:
        assert pub.wait_spool_empty(5)
        assert len(sub.wait_for(topic_of("sess-0009-early"))) == 1
    finally:
        pub.close()
