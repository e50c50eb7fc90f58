"""The device's MQTT side: retained status with a Last Will, spooled QoS 1 summaries, live metrics, commands.

Why it is built this way:
- A summary is written to the on-disk spool before anything is sent, and its file is deleted only
  when the broker's PUBACK for exactly that message id came back (paho's `on_publish`). A broker
  outage, a refused login or a power cut therefore loses nothing; on every (re)connect the spool is
  drained oldest first.
- A refused connection (bad credentials, TLS mismatch, unsupported protocol) is never treated as
  connected: `reason_code.is_failure` is checked, the reason logged, and paho retries with backoff.
  A broker that refuses MQTT 5 (e.g. the embedded amqtt broker) gets MQTT 3.1.1 instead.
- paho callbacks run on its network thread: they only set flags and put events on a queue; one
  named worker thread does the spool I/O, the publishing of summaries and the command handling, so
  that the mid -> spool-id bookkeeping has a single owner and needs no lock shared with paho's.

`MqttConnection` (connection, fallback, TLS, auth, refusal logging) is shared with the collector.
Driving it from the daemon's main loop:

    pub = Publisher.from_config(cfg, models=..., status_provider=..., on_command=queue_command)
    pub.start()
    ...; pub.publish_live(metrics)          # call as often as you like: throttled to mqtt.live_hz
    ...; pub.publish_summary(summary)       # durable on return; sent when the broker is reachable
    ...; pub.publish_status()               # after the camera state or fps changed
    pub.close()                             # waits briefly for acks, then `offline` and disconnect
"""

from __future__ import annotations

import json
import logging
import os
import queue
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge import __version__
from edge.config import Config, MqttConfig, TlsConfig
from edge.device.commands import Command, CommandError, ack_payload, parse_command
from edge.device.spool import Spool, SpoolEntry

logger = logging.getLogger(__name__)

UNSUPPORTED_PROTOCOL = 0x84  # CONNACK "Unsupported protocol version" (a v3 CONNACK rc 1 maps here too)
_PROTOCOL_NAMES = {mqtt.MQTTv5: "5", mqtt.MQTTv311: "3.1.1", mqtt.MQTTv31: "3.1"}
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
MAX_INFLIGHT = 10  # spooled summaries handed to paho at once


class MqttSetupError(ValueError):
    """MQTT settings that cannot work (missing password file, credential without systemd, ...)."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_password(cfg: MqttConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The MQTT password from `password_file` or the systemd credential `password_credential`.

    Read at start, never at import; one trailing newline is dropped (editors add one).
    """
    environ = os.environ if environ is None else environ
    if cfg.password_file is not None:
        path = Path(cfg.password_file)
        source = f"mqtt.password_file {path}"
    elif cfg.password_credential:
        cred_dir = environ.get("CREDENTIALS_DIRECTORY")
        if not cred_dir:
            raise MqttSetupError(
                f"mqtt.password_credential is {cfg.password_credential!r} but $CREDENTIALS_DIRECTORY is not "
                "set (run under systemd with LoadCredential=, or use mqtt.password_file)"
            )
        path = Path(cred_dir) / cfg.password_credential
        source = f"systemd credential {cfg.password_credential!r} ({path})"
    else:
        return None
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise MqttSetupError(f"cannot read the MQTT password from {source}: {exc.strerror or exc}") from exc
    if not password:
        raise MqttSetupError(f"the MQTT password from {source} is empty")
    return password


def read_temperature_c(path: Path = THERMAL_ZONE) -> float | None:
    """SoC temperature for the status topic (Raspberry Pi, Jetson); None where there is no sensor."""
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Topics:
    """The MQTT contract of one device (see DESIGN.md)."""

    prefix: str
    device: str

    @property
    def status(self) -> str:
        return f"{self.prefix}/{self.device}/status"

    @property
    def live(self) -> str:
        return f"{self.prefix}/{self.device}/live"

    @property
    def cmd(self) -> str:
        return f"{self.prefix}/{self.device}/cmd"

    @property
    def ack(self) -> str:
        return f"{self.prefix}/{self.device}/cmd/ack"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}/{self.device}/session/{session_id}"


def _reason(rc: ReasonCode | int | None) -> str:
    if rc is None:
        return "unknown"
    if isinstance(rc, ReasonCode):
        return f"{rc.getName()} (0x{rc.value:02x})"
    return str(rc)


class _PahoLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """paho's own log lines at DEBUG: it reports an ordinary broker outage as ERROR ("failed to
    receive on socket"), which our callbacks already log once, with the reason, at the right level."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


class MqttConnection:
    """One logical MQTT connection that survives reconnects and a protocol downgrade.

    paho does the reconnecting with exponential backoff; this class decides what counts as
    connected (only a successful CONNACK), logs refusals with their reason, and rebuilds the client
    with MQTT 3.1.1 when a broker refuses MQTT 5 (a CONNACK saying so, or no CONNACK within
    `connack_timeout_s`, or two closes before any CONNACK; the last two alternate the protocol).
    Each client built gets a new `generation`, passed to the hooks so that message ids of a replaced
    client are never confused with the new one's. Hooks run on paho's network thread: keep them tiny
    (set a flag, put on a queue).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        tls: TlsConfig | None = None,
        keepalive_s: int = 30,
        clean: bool = True,
        session_expiry_s: int = 0,
        will: tuple[str, bytes, int, bool] | None = None,
        manual_ack: bool = False,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 60,
        connack_timeout_s: float = 5.0,
        protocol: MQTTProtocolVersion = mqtt.MQTTv5,
        on_connected: Callable[[mqtt.Client, int], None] | None = None,
        on_message: Callable[[mqtt.MQTTMessage, int], None] | None = None,
        on_publish: Callable[[int, int, ReasonCode], None] | None = None,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.username, self.password, self.tls = username, password, tls
        self.keepalive_s, self.clean, self.session_expiry_s = keepalive_s, clean, session_expiry_s
        self.will, self.manual_ack = will, manual_ack
        self.reconnect_min_s, self.reconnect_max_s = (
            max(1, int(reconnect_min_s)),
            max(1, int(reconnect_max_s)),
        )
        self.connack_timeout_s = connack_timeout_s
        self.protocol = protocol
        self.on_connected, self.on_message, self.on_publish = on_connected, on_message, on_publish
        self.generation = 0
        self.last_error: str | None = None  # last refusal or failure, for the status topic and tests
        self._connected = threading.Event()
        self._lock = threading.Lock()  # guards client replacement
        self._client: mqtt.Client | None = None
        self._stopping = False
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._connack_seen = False  # in the current connection attempt
        self._attempt = 0  # TCP connections opened, to match a CONNACK timeout to its attempt
        self._silent_closes = 0  # consecutive connections closed by the broker before any CONNACK

    # -- building ----------------------------------------------------------------------------
    def _build(self) -> mqtt.Client:
        self.generation += 1
        if self.protocol == mqtt.MQTTv5:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                clean_session=self.clean,
                protocol=self.protocol,
            )
        client.user_data_set(self.generation)
        client.enable_logger(cast(logging.Logger, _PahoLog(logging.getLogger(f"{__name__}.paho"), {})))
        client.reconnect_delay_set(self.reconnect_min_s, self.reconnect_max_s)
        if self.manual_ack:
            client.manual_ack_set(True)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls is not None:
            try:
                client.tls_set(
                    ca_certs=str(self.tls.ca_file) if self.tls.ca_file else None,
                    certfile=str(self.tls.cert_file) if self.tls.cert_file else None,
                    keyfile=str(self.tls.key_file) if self.tls.key_file else None,
                )
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise MqttSetupError(
                    f"TLS files unusable (ca {self.tls.ca_file}, cert {self.tls.cert_file}, "
                    f"key {self.tls.key_file}): {exc}"
                ) from exc
            if self.tls.insecure:
                client.tls_insecure_set(True)
        if self.will is not None:
            topic, payload, qos, retain = self.will
            client.will_set(topic, payload, qos=qos, retain=retain)
        client.on_socket_open = self._on_socket_open
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _connect(self, client: mqtt.Client) -> None:
        props = None
        clean_start: bool = self.clean
        if self.protocol == mqtt.MQTTv5 and self.session_expiry_s:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
        client.connect_async(
            self.host, self.port, keepalive=self.keepalive_s, clean_start=clean_start, properties=props
        )
        client.loop_start()

    @property
    def protocol_name(self) -> str:
        return _PROTOCOL_NAMES.get(self.protocol, str(self.protocol))

    @property
    def client(self) -> mqtt.Client | None:
        return self._client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Connect in the background; returns at once (the broker may well be down right now)."""
        with self._lock:
            self._stopping = False
            self._client = self._build()
            self._connect(self._client)

    def stop(self) -> None:
        """Disconnect cleanly (no Last Will) and stop paho's thread."""
        with self._lock:
            self._stopping = True
            client, self._client = self._client, None
        self._connected.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo | None:
        """Publish on the current client; None when stopped. Thread-safe (paho's publish is)."""
        client = self._client
        if client is None:
            return None
        return client.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, mid: int, qos: int, generation: int) -> None:
        """Manual ack of a received message (collector: only after it is stored)."""
        client = self._client
        if client is not None and generation == self.generation and qos > 0:
            client.ack(mid, qos)

    # -- logging -----------------------------------------------------------------------------
    def _problem(self, level: int, text: str) -> None:
        """Log a connection problem; the same text again within 5 minutes goes to DEBUG only."""
        self.last_error = text
        last, when = self._last_logged
        now = time.monotonic()
        if text == last and now - when < 300:
            logger.debug("%s", text)
            return
        self._last_logged = (text, now)
        logger.log(level, "%s", text)

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        try:
            if userdata != self.generation:
                return
            self._attempt += 1
            self._connack_seen = False
            timer = threading.Timer(
                self.connack_timeout_s, self._connack_timeout, args=(userdata, self._attempt)
            )
            timer.name, timer.daemon = "ppt-mqtt-connack", True
            timer.start()
        except Exception:
            logger.exception("error in on_socket_open")

    def _connack_timeout(self, generation: int, attempt: int) -> None:
        """No CONNACK at all: amqtt, for one, hangs on an MQTT 5 CONNECT that carries a Will."""
        if self._stopping or generation != self.generation or attempt != self._attempt or self._connack_seen:
            return
        other = mqtt.MQTTv311 if self.protocol == mqtt.MQTTv5 else mqtt.MQTTv5
        self._problem(
            logging.WARNING,
            f"MQTT broker {self.host}:{self.port} did not answer an MQTT {self.protocol_name} "
            f"CONNECT within {self.connack_timeout_s:.0f}s; trying MQTT {_PROTOCOL_NAMES[other]}",
        )
        self._switch_protocol(generation, other)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        try:
            if userdata != self.generation:
                return
            self._connack_seen = True
            self._silent_closes = 0
            if reason_code.is_failure:
                self._connected.clear()
                if reason_code.value == UNSUPPORTED_PROTOCOL and self.protocol == mqtt.MQTTv5:
                    logger.info(
                        "broker %s:%d refuses MQTT 5; falling back to MQTT 3.1.1", self.host, self.port
                    )
                    self._switch_protocol(userdata, mqtt.MQTTv311)
                    return
                self._problem(
                    logging.ERROR,
                    f"MQTT connection to {self.host}:{self.port} as {self.client_id!r} REFUSED by the broker:"
                    f" {_reason(reason_code)}; retrying with backoff (check username, password, ACL)",
                )
                return
            self.last_error = None
            self._last_logged = ("", 0.0)
            self._connected.set()
            logger.info(
                "connected to MQTT broker %s:%d as %r (MQTT %s, session present: %s)",
                self.host,
                self.port,
                self.client_id,
                self.protocol_name,
                bool(getattr(flags, "session_present", False)),
            )
            if self.on_connected is not None:
                self.on_connected(client, userdata)
        except Exception:
            logger.exception("error in on_connect")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            exc = sys.exc_info()[1]  # paho calls this inside its `except OSError`
            if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                self._problem(
                    logging.ERROR,
                    f"TLS handshake with {self.host}:{self.port} failed: {exc}; "
                    "retrying with backoff (check the CA, client cert and key)",
                )
            else:
                self._problem(
                    logging.WARNING,
                    f"cannot reach MQTT broker {self.host}:{self.port}: "
                    f"{exc or 'connection failed'}; retrying with backoff",
                )
        except Exception:
            logger.exception("error in on_connect_fail")

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        try:
            if userdata != self.generation:
                return
            was = self._connected.is_set()
            self._connected.clear()
            connack_seen, self._connack_seen = self._connack_seen, False
            if self._stopping:
                return
            if was:
                self._problem(
                    logging.WARNING,
                    f"disconnected from MQTT broker {self.host}:{self.port}: "
                    f"{_reason(reason_code)}; reconnecting",
                )
            elif not connack_seen:
                # Closed without any CONNACK: some brokers (amqtt) cannot even parse an MQTT 5 CONNECT
                # that carries a Will, and TLS client-certificate refusals look the same. Alternate the
                # protocol after two such closes in a row; a real CONNACK settles it.
                self._silent_closes += 1
                self._problem(
                    logging.WARNING,
                    f"MQTT broker {self.host}:{self.port} closed the connection "
                    f"before answering (MQTT {self.protocol_name})",
                )
                if self._silent_closes >= 2:
                    self._silent_closes = 0
                    other = mqtt.MQTTv311 if self.protocol == mqtt.MQTTv5 else mqtt.MQTTv5
                    logger.info(
                        "trying MQTT %s with %s:%d instead", _PROTOCOL_NAMES[other], self.host, self.port
                    )
                    self._switch_protocol(userdata, other)
        except Exception:
            logger.exception("error in on_disconnect")

    def _switch_protocol(self, generation: int, protocol: MQTTProtocolVersion) -> None:
        threading.Thread(
            target=self._rebuild, args=(generation, protocol), name="ppt-mqtt-protocol", daemon=True
        ).start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if self.on_message is not None:
                self.on_message(message, userdata)
        except Exception:
            logger.exception("error in on_message (topic %s)", getattr(message, "topic", "?"))

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Any
    ) -> None:
        try:
            if self.on_publish is not None:
                self.on_publish(userdata, mid, reason_code)
        except Exception:
            logger.exception("error in on_publish (mid %s)", mid)

    def _rebuild(self, generation: int, protocol: MQTTProtocolVersion) -> None:
        """Replace the client by one speaking `protocol` (own thread: paho's loop cannot be stopped
        from inside its own callback)."""
        try:
            with self._lock:
                if self._stopping or generation != self.generation or self._client is None:
                    return
                old = self._client
                self.protocol = protocol
                self._client = self._build()
                new = self._client
            old.disconnect()
            old.loop_stop()
            self._connect(new)
        except Exception:
            logger.exception("MQTT protocol fallback failed")


class Publisher:
    """Device side of the MQTT contract: status, spooled summaries, live metrics and commands.

    `models`: {role: {"name", "sha256"}} for the status topic. `status_provider()` returns extra
    status fields (fps, camera state, ...) and is called on each (re)connect and `publish_status()`.
    `on_command(cmd)` gets each valid command on the worker thread and returns None (ok) or an error
    text (refused; raising counts as refused); keep it quick, e.g. put the command on the main loop's
    queue. The publisher sends the ack.
    """

    def __init__(
        self,
        mqtt_cfg: MqttConfig,
        device_id: str,
        spool: Spool,
        *,
        models: Mapping[str, Mapping[str, str]] | None = None,
        status_provider: Callable[[], Mapping[str, Any]] | None = None,
        on_command: Callable[[Command], str | None] | None = None,
        password: str | None = None,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 60,
        connack_timeout_s: float = 5.0,
        validate: bool = True,
    ) -> None:
        self.cfg = mqtt_cfg
        self.device_id = device_id
        self.spool = spool
        self.topics = Topics(mqtt_cfg.prefix, device_id)
        self.models = {k: dict(v) for k, v in (models or {}).items()}
        self.status_provider = status_provider
        self.on_command = on_command
        self.validate = validate
        self._password = password
        self._reconnect = (reconnect_min_s, reconnect_max_s)
        self._connack_timeout_s = connack_timeout_s
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._inflight: dict[int, str] = {}  # mid -> spool id; worker thread only
        self._inflight_gen = 0
        self._refused: set[str] = set()  # spool ids the broker refused on this connection
        self._live_interval = 1.0 / mqtt_cfg.live_hz if mqtt_cfg.live_hz > 0 else None
        self._last_live = 0.0
        self._since = utc_now()
        self.conn: MqttConnection | None = None

    @classmethod
    def from_config(cls, cfg: Config, **kwargs: Any) -> Publisher:
        """Publisher with the spool of `cfg.storage` (default `<state_dir>/spool`)."""
        spool_dir = cfg.storage.spool_dir or (cfg.storage.state_dir / "spool")
        spool = Spool(spool_dir, max_files=cfg.storage.spool_max_files)
        return cls(cfg.mqtt, cfg.device.id, spool, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Resolve the password, start the worker and connect in the background (returns at once).

        Raises MqttSetupError for settings that can never work (e.g. a missing password file)."""
        password = self._password if self._password is not None else read_password(self.cfg)
        if self.cfg.username and password is None:
            logger.warning("mqtt.username is set but no password is configured")
        self.conn = MqttConnection(
            host=self.cfg.host,
            port=self.cfg.port,
            client_id=self.device_id,
            username=self.cfg.username,
            password=password,
            tls=self.cfg.tls,
            keepalive_s=self.cfg.keepalive_s,
            clean=True,  # commands are only meaningful live: no queued stale `start` after an outage
            will=(self.topics.status, self._status_payload("offline", reason="lost"), 1, True),
            reconnect_min_s=self._reconnect[0],
            reconnect_max_s=self._reconnect[1],
            connack_timeout_s=self._connack_timeout_s,
            on_connected=self._on_connected,
            on_message=self._on_message,
            on_publish=self._on_publish,
        )
        try:
            self.conn.start()
        except Exception:
            self.conn = None
            raise
        # Events that paho's thread queued meanwhile wait for the worker.
        self._worker = threading.Thread(target=self._work, name="ppt-mqtt-worker", daemon=True)
        self._worker.start()

    def close(self, timeout: float = 5.0) -> None:
        """Wait up to half of `timeout` for unacknowledged summaries, publish `offline`, disconnect.

        Anything still unacknowledged stays in the spool and goes out after the next start."""
        conn = self.conn
        if conn is None:
            return
        deadline = time.monotonic() + timeout
        if conn.connected:
            while len(self.spool) and time.monotonic() < deadline - timeout / 2:
                time.sleep(0.05)
            info = conn.publish(
                self.topics.status, self._status_payload("offline", reason="shutdown"), 1, True
            )
            if info is not None:
                try:
                    info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                except (RuntimeError, ValueError) as exc:
                    logger.warning("offline status not sent: %s", exc)
        self._events.put(("stop",))
        if self._worker is not None:
            self._worker.join(max(0.1, deadline - time.monotonic()))
        conn.stop()
        self.conn = None
        logger.info("MQTT publisher closed (%d summaries left in the spool)", len(self.spool))

    # -- state -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.connected

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self.conn is not None and self.conn.wait_connected(timeout)

    @property
    def last_error(self) -> str | None:
        """The last connection refusal or failure text (None once connected)."""
        return self.conn.last_error if self.conn else None

    def wait_spool_empty(self, timeout: float) -> bool:
        """True once every spooled summary was acknowledged by the broker."""
        deadline = time.monotonic() + timeout
        while len(self.spool):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    # -- publishing --------------------------------------------------------------------------
    def publish_summary(self, summary: Mapping[str, Any]) -> str:
        """Spool `summary` durably, then send it (QoS 1) when connected; returns the spool id.

        Raises SummaryError/ValueError for a summary that the collector would reject anyway."""
        if summary.get("device") != self.device_id:
            raise ValueError(
                f"summary device {summary.get('device')!r} is not this device {self.device_id!r}"
            )
        if self.validate:
            from edge.schema import validate_summary

            validate_summary(summary)
        spool_id = self.spool.put(summary)
        logger.info("summary %s spooled (%s)", summary.get("session_id"), spool_id)
        self._events.put(("send", spool_id))
        return spool_id

    def publish_live(self, metrics: Mapping[str, Any]) -> bool:
        """Current metrics on the live topic (QoS 0), throttled to `mqtt.live_hz`; False when skipped."""
        if self._live_interval is None or not self.connected:
            return False
        now = time.monotonic()
        if now - self._last_live < self._live_interval:
            return False
        self._last_live = now
        try:
            payload = json.dumps(metrics, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            logger.warning("live metrics not JSON-serialisable: %s", exc)
            return False
        info = self.conn.publish(self.topics.live, payload, qos=0) if self.conn else None
        return info is not None and info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def publish_status(self) -> bool:
        """Publish the retained `online` status again (after fps or camera state changed)."""
        if not self.connected or self.conn is None:
            return False
        info = self.conn.publish(self.topics.status, self._status_payload("online"), qos=1, retain=True)
        return info is not None and info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _status_payload(self, state: str, reason: str | None = None) -> bytes:
        status: dict[str, Any] = {"state": state, "device": self.device_id, "version": __version__}
        if state == "online":
            status.update(models=self.models, fps=None, since=self._since, at=utc_now())
            status["protocol"] = self.conn.protocol_name if self.conn else None
            temp = read_temperature_c()
            if temp is not None:
                status["temperature_c"] = temp
            if self.status_provider is not None:
                try:
                    status.update(self.status_provider())
                except Exception:
                    logger.exception("status_provider failed; publishing the basic status")
        else:
            status["reason"] = reason
            if reason != "lost":
                status["at"] = utc_now()
        return json.dumps(status, separators=(",", ":"), default=str).encode()

    # -- paho hooks (network thread: tiny) ---------------------------------------------------
    def _on_connected(self, client: mqtt.Client, generation: int) -> None:
        client.subscribe(self.topics.cmd, qos=1)
        client.publish(self.topics.status, self._status_payload("online"), qos=1, retain=True)
        self._events.put(("connected", generation))

    def _on_message(self, message: mqtt.MQTTMessage, generation: int) -> None:
        if message.topic == self.topics.cmd:
            self._events.put(("cmd", bytes(message.payload)))

    def _on_publish(self, generation: int, mid: int, reason_code: ReasonCode) -> None:
        self._events.put(("ack", generation, mid, reason_code))

    # -- worker thread -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            event = self._events.get()
            if event[0] == "stop":
                return
            try:
                self._handle(event)
            except Exception:
                logger.exception("MQTT worker: error handling %s", event[0])

    def _sync_generation(self) -> int:
        """Forget message ids of a replaced client: its unacked summaries are resent from the spool."""
        gen = self.conn.generation if self.conn else 0
        if gen != self._inflight_gen:
            self._inflight.clear()
            self._refused.clear()
            self._inflight_gen = gen
        return gen

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        gen = self._sync_generation()
        if kind == "connected":
            if event[1] == gen:
                self._refused.clear()
                pending = len(self.spool)
                if pending:
                    logger.info("draining %d spooled summaries, oldest first", pending)
                self._drain()
        elif kind == "send":
            if self.connected:
                self._drain()  # the new file is the newest: it goes out after any older ones
        elif kind == "ack":
            _, ack_gen, mid, reason_code = event
            if ack_gen != gen:
                return
            spool_id = self._inflight.pop(mid, None)
            if spool_id is None:
                return  # status, ack or live message
            if reason_code.is_failure:
                logger.error(
                    "broker refused summary %s: %s; kept in the spool, retried after reconnect",
                    spool_id,
                    _reason(reason_code),
                )
                self._refused.add(spool_id)
                return
            self.spool.remove(spool_id)
            logger.info("summary %s acknowledged by the broker", spool_id)
            if self.connected:
                self._drain()
        elif kind == "cmd":
            self._command(event[1])

    def _drain(self) -> None:
        """Send pending summaries not already in flight, oldest first, at most MAX_INFLIGHT at a time
        (each ack sends the next: a full spool never sits in memory at once)."""
        inflight = set(self._inflight.values())
        for spool_id in self.spool.pending_ids():
            if len(self._inflight) >= MAX_INFLIGHT or not self.connected:
                break
            if spool_id in inflight or spool_id in self._refused:
                continue
            entry = self.spool.get(spool_id)  # None: acknowledged meanwhile, or set aside as corrupt
            if entry is not None:
                self._send(entry)

    def _send(self, entry: SpoolEntry) -> None:
        info = (
            self.conn.publish(self.topics.session(entry.session_id), entry.payload, qos=1)
            if self.conn
            else None
        )
        if info is None:
            return
        # NO_CONN: paho keeps the message and sends it after the reconnect, so it is in flight too.
        if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._inflight[info.mid] = entry.id
        else:
            logger.warning(
                "summary %s not queued by paho (%s); retried after the next connect",
                entry.id,
                mqtt.error_string(info.rc),
            )

    def _command(self, payload: bytes) -> None:
        parsed = parse_command(payload)
        if isinstance(parsed, CommandError):
            logger.warning("refused command on %s: %s", self.topics.cmd, parsed.error)
            self._ack(parsed.id, False, parsed.error)
            return
        if self.on_command is None:
            self._ack(parsed.id, False, "this device does not take commands")
            return
        try:
            error = self.on_command(parsed)
        except Exception as exc:
            logger.exception("command %s (%s) failed", parsed.id, parsed.cmd)
            error = f"internal error: {exc}"
        if error:
            logger.warning("command %s (%s) refused: %s", parsed.id, parsed.cmd, error)
        else:
            logger.info("command %s (%s) accepted", parsed.id, parsed.cmd)
        self._ack(parsed.id, not error, error)

    def _ack(self, command_id: str | None, ok: bool, error: str | None) -> None:
        if self.conn is not None:
            self.conn.publish(self.topics.ack, ack_payload(command_id, ok, error), qos=1)
