"""Subscribe to the devices, validate each summary, store it once, record status changes.

Why it is built this way:
- `Collector.handle(topic, payload)` is all the decision making and has no MQTT in it, so each rule
  (schema v1, topic must match the payload's device and session id, size bound) is tested directly.
- The subscriber keeps a persistent session (MQTT 5 session expiry, or clean_session false), so the
  broker queues summaries while the laptop is closed; messages are acknowledged manually only after
  they are stored (or rejected), so a collector crash between receipt and commit loses nothing.
- paho's callbacks only put messages on a queue; `Listener.run` stores them on the caller's thread.
- `--share GROUP` subscribes the session topic as `$share/GROUP/...` so that several collectors split
  the summaries of a fleet; the status topic is not shared, every collector sees every device.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from edge.collector.store import Store
from edge.config import TlsConfig
from edge.device.publish import MqttConnection
from edge.schema import summary_errors

logger = logging.getLogger(__name__)

MAX_SUMMARY_BYTES = 8 * 1024 * 1024
SESSION_EXPIRY_S = 7 * 24 * 3600  # how long the broker queues summaries for a collector that is away


@dataclass
class Outcome:
    """What happened to one message: stored | duplicate | rejected | status | ignored."""

    kind: str
    topic: str
    device: str | None = None
    session_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """`mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]` -> (host, port, tls). Defaults 1883 / 8883."""
    if "://" not in url:
        url = "mqtt://" + url
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
    tls = parsed.scheme in ("mqtts", "ssl")
    if not parsed.hostname:
        raise ValueError(f"broker URL {url!r} has no host")
    try:
        port = parsed.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ValueError(f"broker URL {url!r}: {exc}") from None
    return parsed.hostname, port, tls


def session_filter(prefix: str, share: str | None = None) -> str:
    base = f"{prefix}/+/session/+"
    return f"$share/{share}/{base}" if share else base


def status_filter(prefix: str) -> str:
    return f"{prefix}/+/status"


class Collector:
    """Turns MQTT messages into rows. `on_session(outcome)` is called for each newly stored session."""

    def __init__(
        self, store: Store, prefix: str = "ppt", on_session: Callable[[Outcome], None] | None = None
    ) -> None:
        self.store = store
        self.prefix = prefix.rstrip("/")
        self.on_session = on_session
        self._session_re = re.compile(
            rf"^{re.escape(self.prefix)}/(?P<device>[^/]+)/session/(?P<session>[^/]+)$"
        )
        self._status_re = re.compile(rf"^{re.escape(self.prefix)}/(?P<device>[^/]+)/status$")

    def handle(self, topic: str, payload: bytes) -> Outcome:
        m = self._session_re.match(topic)
        if m:
            return self._session(topic, m["device"], m["session"], payload)
        m = self._status_re.match(topic)
        if m:
            return self._status(topic, m["device"], payload)
        logger.debug("ignoring message on %s", topic)
        return Outcome("ignored", topic)

    def _reject(self, out: Outcome, reasons: list[str]) -> Outcome:
        out.kind, out.reasons = "rejected", reasons
        shown = "; ".join(reasons[:10]) + (f"; ... ({len(reasons)} problems)" if len(reasons) > 10 else "")
        logger.error("REJECTED summary on %s: %s", out.topic, shown)
        return out

    def _session(self, topic: str, device: str, session_id: str, payload: bytes) -> Outcome:
        out = Outcome("rejected", topic, device=device, session_id=session_id)
        if len(payload) > MAX_SUMMARY_BYTES:
            return self._reject(out, [f"payload of {len(payload)} bytes exceeds {MAX_SUMMARY_BYTES}"])
        try:
            summary = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._reject(out, [f"not JSON: {exc}"])
        errors = summary_errors(summary)
        if errors:
            return self._reject(out, errors)
        mismatch = []
        if summary["device"] != device:
            mismatch.append(f"payload device {summary['device']!r} does not match topic device {device!r}")
        if summary["session_id"] != session_id:
            mismatch.append(
                f"payload session_id {summary['session_id']!r} does not match topic {session_id!r}"
            )
        if mismatch:
            return self._reject(out, mismatch)
        out.summary = summary
        if self.store.add_session(summary):
            out.kind = "stored"
            logger.info("stored session %s from %s", session_id, device)
            if self.on_session is not None:
                try:
                    self.on_session(out)
                except Exception:
                    logger.exception("on_session callback failed")
        else:
            out.kind = "duplicate"
            logger.info("session %s from %s already stored (re-send ignored)", session_id, device)
        return out

    def _status(self, topic: str, device: str, payload: bytes) -> Outcome:
        out = Outcome("status", topic, device=device)
        if not payload:
            out.kind = "ignored"  # a retained status being cleared
            return out
        try:
            status = json.loads(payload.decode("utf-8"))
            state = status["state"]
            if not isinstance(state, str) or not state:
                raise ValueError("state is not a non-empty string")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring malformed status on %s: %s", topic, exc)
            out.kind, out.reasons = "ignored", [str(exc)]
            return out
        if self.store.add_status(device, state, status):
            logger.info("device %s is %s", device, state)
        return out


class Listener:
    """The MQTT side of `ppt-collect listen`; `run()` blocks, storing on the calling thread."""

    def __init__(
        self,
        store: Store,
        *,
        host: str,
        port: int,
        prefix: str = "ppt",
        share: str | None = None,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: TlsConfig | None = None,
        on_session: Callable[[Outcome], None] | None = None,
        reconnect_max_s: int = 30,
        protocol: MQTTProtocolVersion = mqtt.MQTTv5,
    ) -> None:
        self.collector = Collector(store, prefix=prefix, on_session=on_session)
        self.prefix = prefix.rstrip("/")
        self.share = share
        host_id = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]
        self.client_id = client_id or f"ppt-collect-{host_id}" + (f"-{share}" if share else "")
        self._messages: queue.Queue[tuple[mqtt.MQTTMessage, int]] = queue.Queue()
        self.conn = MqttConnection(
            host=host,
            port=port,
            client_id=self.client_id,
            username=username,
            password=password,
            tls=tls,
            clean=False,
            session_expiry_s=SESSION_EXPIRY_S,
            manual_ack=True,
            reconnect_max_s=reconnect_max_s,
            on_connected=self._on_connected,
            on_message=self._on_message,
            protocol=protocol,
        )
        self.outcomes: list[Outcome] = []  # the last few, for tests and diagnostics
        self.ready = threading.Event()

    def _on_connected(self, client: mqtt.Client, generation: int) -> None:
        topics = [(session_filter(self.prefix, self.share), 1), (status_filter(self.prefix), 1)]
        if self.share and self.conn.protocol != mqtt.MQTTv5:
            logger.warning(
                "--share %s with an MQTT 3.1.1 broker: works on mosquitto, not on the embedded broker",
                self.share,
            )
        client.subscribe(topics)
        self.ready.set()
        logger.info("subscribed to %s", ", ".join(t for t, _ in topics))

    def _on_message(self, message: mqtt.MQTTMessage, generation: int) -> None:
        self._messages.put((message, generation))

    def run(self, stop: threading.Event) -> None:
        """Connect and store arriving messages until `stop` is set."""
        self.conn.start()
        try:
            while not stop.is_set():
                try:
                    message, generation = self._messages.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    outcome = self.collector.handle(message.topic, bytes(message.payload))
                    self.outcomes = [*self.outcomes[-99:], outcome]
                except Exception:
                    # e.g. the disk is full: do not ack, the broker redelivers after a reconnect
                    logger.exception(
                        "could not store the message on %s; it stays unacknowledged", message.topic
                    )
                    continue
                self.conn.ack(message.mid, message.qos, generation)
        finally:
            self.conn.stop()
