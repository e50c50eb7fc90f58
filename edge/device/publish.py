"""The device's MQTT side: retained status with a Last Will, spooled QoS 1 summaries, live metrics, commands.

Why it is built this way:
- A summary is written to the on-disk spool before anything is sent, and its file is deleted only
  when the broker's PUBACK for exactly that message id came back (paho's `on_publish`). A broker
  outage, a refused login or a power cut therefore loses nothing; on every (re)connect the spool is
  drained oldest first.
- MQTT 5 wherever the broker speaks it: only MQTT 5 tells a publisher that the broker refused a
  publish (a PUBACK reason code, e.g. "not authorized" by the ACL), and only then can the file stay
  in the spool. Under 3.1.1 a refused publish is acknowledged like any other; the log says so. The
  protocol choice (`mqtt.protocol`, decided by the broker's CONNACK, never by a timer) lives in
  `edge.mqttconn.MqttConnection`, shared with the collector.
- paho callbacks run on its network thread: they only set flags and put events on a queue; one
  named worker thread does the spool I/O, the publishing of summaries and the command handling, so
  that the mid -> spool-id bookkeeping has a single owner and needs no lock shared with paho's.

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
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge import __version__
from edge.config import Config, MqttConfig
from edge.device.commands import Command, CommandError, ack_payload, parse_command
from edge.device.spool import Spool, SpoolEntry
from edge.mqttconn import MqttConnection, MqttSetupError, read_password, reason_text
from edge.untrusted import printable

__all__ = ["MqttConnection", "MqttSetupError", "Publisher", "Topics", "read_password", "read_temperature_c"]

logger = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
MAX_INFLIGHT = 10  # spooled summaries handed to paho at once


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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
            protocol=self.cfg.protocol,
            on_connected=self._on_connected,
            on_message=self._on_message,
            on_publish=self._on_publish,
            log=logger,
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
        conn = self.conn
        if conn is not None and conn.protocol != mqtt.MQTTv5:
            why = "as configured (mqtt.protocol)" if conn.setting == "3.1.1" else "because the broker refused MQTT 5"
            logger.log(
                logging.INFO if conn.setting == "3.1.1" else logging.WARNING,
                "MQTT 3.1.1 %s: the broker cannot report a refused publish under 3.1.1, so a summary its ACL "
                "refuses would be acknowledged and leave the spool undelivered; use a broker that speaks "
                "MQTT 5 (mosquitto) to detect that",
                why,
            )
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
                    reason_text(reason_code),
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
            logger.warning("refused command on %s: %s", self.topics.cmd, printable(parsed.error, limit=300))
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
