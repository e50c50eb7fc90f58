"""A real mosquitto for the tests: free port on 127.0.0.1, generated config, stop/kill/start on the same port.

Why a real broker: the things that matter (QoS 1 acknowledgements, retained Last Will, persistent
sessions across a broker restart, TLS and password refusals) are broker behaviour that a fake would
only imitate. Tests skip with a clear reason when mosquitto is not installed (`.ci/run` installs it).

Also here: `make_summary`, a hand-built summary that follows schema v1, shared by the MQTT tests.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "Mosquitto",
    "TlsMaterial",
    "free_port",
    "make_summary",
    "mosquitto",
    "mosquitto_tls",
    "tls_material",
    "wait_until",
    "MQTT_USER",
    "MQTT_PASSWORD",
    "Subscriber",
    "RunningCollector",
]

MQTT_USER = "room-1"
MQTT_PASSWORD = "correct horse battery staple"


def _mosquitto_bin() -> str:
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if path is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
    return path


def free_port() -> int:
    """A TCP port that was free a moment ago (the broker binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (tests never wait unbounded)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass(frozen=True)
class TlsMaterial:
    """A throw-away CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
    second unrelated CA to provoke a verification failure."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path


class Mosquitto:
    """One mosquitto process with a generated config; keeps its port across stop()/kill()/start()."""

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        tls: TlsMaterial | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
    ) -> None:
        self.binary = _mosquitto_bin()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.password_file = password_file
        self.acl_file = acl_file
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_conf()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def _write_conf(self) -> None:
        user = pwd.getpwuid(os.getuid()).pw_name
        lines = [
            f"user {user}",  # as root mosquitto would otherwise switch to `mosquitto` and lose tmp_path
            "persistence true",
            f"persistence_location {self.workdir}/",
            # Save after every change: a SIGKILLed broker must still remember queued QoS 1 messages.
            "autosave_on_changes true",
            "autosave_interval 1",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
        ]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                "require_certificate true",
                "tls_version tlsv1.2",
            ]
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines += ["allow_anonymous true"]
        if self.acl_file is not None:
            lines += [f"acl_file {self.acl_file}"]
        self.conf.write_text("\n".join(lines) + "\n")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        """Start (again) on the same port and return once the port accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        deadline = time.monotonic() + timeout
        while True:  # the port may linger for a moment after a kill
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._accepts():
                    return
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.kill()
                raise RuntimeError(f"mosquitto did not accept on port {self.port} within {timeout}s")
            if time.monotonic() >= deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}\n{self.log_text()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful stop (SIGTERM): mosquitto writes its persistence file."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Hard stop (SIGKILL), as in a power cut of the broker host."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.send_signal(signal.SIGCONT)  # a paused process dies only once continued
        self.proc.wait(5)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): it accepts bytes into the socket but answers nothing."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> tuple[Path, Path]:
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key.name,
        "-out",
        crt.name,
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    return crt, key


def _make_leaf(d: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr, crt, extf = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / f"{name}.ext"
    extf.write_text(ext)
    _openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key.name,
        "-out",
        csr.name,
        "-subj",
        f"/CN={name}",
        cwd=d,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        csr.name,
        "-CA",
        ca[0].name,
        "-CAkey",
        ca[1].name,
        "-CAcreateserial",
        "-out",
        crt.name,
        "-days",
        "2",
        "-extfile",
        extf.name,
        cwd=d,
    )
    return crt, key


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """A test CA made with openssl once per test run (EC keys: fast)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    ca = _make_ca(d, "ppt-test-ca")
    server = _make_leaf(
        d,
        "localhost",
        ca,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    client = _make_leaf(
        d,
        "room-1",
        ca,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    wrong_ca, _ = _make_ca(d, "some-other-ca")
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return TlsMaterial(ca[0], server[0], server[1], client[0], client[1], wrong_ca)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A plain listener without auth, persistence on; stopped at the end of the test."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def mosquitto_tls(tmp_path: Path, tls_material: TlsMaterial) -> Iterator[Mosquitto]:
    """TLS listener (client certificate required) with a password file: user MQTT_USER / MQTT_PASSWORD."""
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
    work = tmp_path / "mosquitto-tls"
    work.mkdir()
    passwd = work / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), MQTT_USER, MQTT_PASSWORD],
        check=True,
        capture_output=True,
    )
    passwd.chmod(0o600)
    broker = Mosquitto(work, tls=tls_material, password_file=passwd)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


class Subscriber:
    """A plain paho client that records what arrives (the test's eyes on the broker).

    `persistent=True` keeps a broker-side session (clean_session false), so QoS 1 messages published
    while it is reconnecting after a broker restart are queued for it, as for the real collector.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: list[str],
        *,
        client_id: str = "test-subscriber",
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[Any] = []
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.topics = topics
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls is not None:
            self.client.tls_set(
                ca_certs=str(broker.tls.ca),
                certfile=str(broker.tls.client_cert),
                keyfile=str(broker.tls.client_key),
            )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.connect_async(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(5):
            raise RuntimeError("test subscriber could not connect")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            for t in self.topics:
                client.subscribe(t, qos=1)
            self.connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append(msg)

    def on(self, topic: str) -> list[Any]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def json_on(self, topic: str) -> list[Any]:
        return [json.loads(m.payload) for m in self.on(topic)]

    def wait_for(self, topic: str, count: int = 1, timeout: float = 5.0) -> list[Any]:
        wait_until(lambda: len(self.on(topic)) >= count, timeout)
        return self.json_on(topic)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


_SHA = "0123456789abcdef" * 4


def make_summary(
    session_id: str = "20250101T100000Z-room-1-0001",
    device: str = "room-1",
    *,
    label: str | None = None,
    started_at: str = "2025-01-01T10:00:00Z",
    facing: float = 0.7,
    gesture: float = 0.4,
    negative: float = 0.1,
) -> dict[str, Any]:
    """A complete, valid schema-v1 summary built by hand (no pipeline needed)."""
    return {
        "schema": 1,
        "session_id": session_id,
        "device": device,
        "label": label,
        "started_at": started_at,
        "ended_at": "2025-01-01T10:05:00Z",
        "duration_s": 300.0,
        "status": "complete",
        "ended_by": "absence",
        "frames": {"seen": 9000, "analysed": 3000, "with_person": 2900, "dropped": 12, "emotion": 1000},
        "fps": {"analysed": 10.0, "source": 30.0},
        "models": {
            "pose": {"name": "movenet_lightning_int8", "sha256": _SHA},
            "emotion": {"name": "fer_pruned_int8", "sha256": _SHA},
        },
        "metrics": {
            "facing_audience": {"kind": "share", "share": facing, "n": 2900},
            "turned_to_screen": {"kind": "share", "share": round(1 - facing, 3), "n": 2900},
            "gesturing": {"kind": "share", "share": gesture, "n": 2900},
            "head_pitch": {
                "kind": "continuous",
                "unit": "sw",
                "mean": 0.1,
                "p10": 0.0,
                "p50": 0.1,
                "p90": 0.2,
                "n": 2900,
            },
        },
        "emotion": {
            "frames": 1000,
            "classes7": {
                "angry": 0.02,
                "disgust": 0.01,
                "fear": 0.03,
                "happy": 0.2,
                "sad": 0.04,
                "surprise": 0.05,
                "neutral": 0.65,
            },
            "classes3": {"positive": 0.25, "negative": negative, "neutral": 0.65},
        },
        "timeline": {"bin_s": 5.0, "series": {"facing_audience": [0.5, 0.7, None, 0.9]}},
        "feedback": [
            {
                "code": "turned_to_screen",
                "severity": "warning",
                "metric": "turned_to_screen",
                "value": 0.3,
                "threshold": 0.25,
                "message": "You turned to the screen for 30% of the time.",
            },
        ],
    }


class RunningCollector:
    """The real collector (`edge.collector.listen.Listener`) on a thread, storing into `db`."""

    def __init__(self, broker: Mosquitto, db: Path, **kwargs: Any) -> None:
        from edge.collector.listen import Listener
        from edge.collector.store import Store

        self.db = db
        self.store = Store(db)
        self.sessions: list[str] = []
        self.stop = threading.Event()
        self.listener = Listener(
            self.store,
            host=broker.host,
            port=broker.port,
            reconnect_max_s=1,
            on_session=lambda o: self.sessions.append(o.session_id),
            **kwargs,
        )
        self.thread = threading.Thread(target=self.listener.run, args=(self.stop,), name="test-collector")
        self.thread.start()
        assert self.listener.ready.wait(10), "collector did not subscribe"

    def summary(self, session_id: str) -> dict[str, Any]:
        rows = self.store.find_session(session_id)
        assert len(rows) == 1, rows
        return rows[0].summary

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.store.close()
