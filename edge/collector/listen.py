"""Subscribe to the devices, validate each summary, store it once, record status changes.

Why it is built this way:
- `Collector.handle(topic, payload)` is all the decision making and has no MQTT in it, so each rule
  (bounded JSON, schema v1, topic must match the payload's device and session id) is tested directly.
- No device can silence the collector: whatever a message holds, `handle` either stores it or refuses
  it; a refused summary (not JSON, too deep, too large a number, NaN, schema, anything the store
  raises for it) is logged with the reason, kept in the quarantine table and acknowledged, so the
  broker moves on. Only an unavailable database (`TransientStoreError`) holds a message back: then
  it is retried in place, unacknowledged, since no other message could be stored either.
- The subscriber keeps a persistent session (stable client id, clean start off, MQTT 5 session
  expiry), so the broker queues summaries while the collector is away; at most RECEIVE_MAXIMUM are
  in flight to it at once (MQTT 5 Receive Maximum); a message is acknowledged
  only after its row is committed (paho's manual ack), so a crash between receipt and commit loses
  nothing: the broker redelivers it, and the idempotent insert stores it once.
- paho's callbacks only put messages on a queue; `Listener.run` stores them on the caller's thread.
- `--share GROUP` subscribes the session topic as `$share/GROUP/...` so that several collectors split
  the summaries of a fleet; the status topic is not shared, every collector sees every device.
- Everything that came from the network is passed through `printable` before it reaches a log line.
"""

from __future__ import annotations

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

from edge.collector.intake import check_summary
from edge.collector.store import Store, TransientStoreError
from edge.config import TlsConfig
from edge.mqttconn import MqttConnection
from edge.untrusted import UntrustedInput, load_json, printable

logger = logging.getLogger(__name__)

MAX_STATUS_BYTES = 16 * 1024  # a status is a few hundred bytes
MAX_STATE_CHARS = 32
MAX_TOPIC_LEVEL_CHARS = 128
SESSION_EXPIRY_S = 7 * 24 * 3600  # how long the broker queues summaries for a collector that is away
# MQTT 5 Receive Maximum: summaries the broker hands a collector before the first is acknowledged.
# Small, because everything in flight is redelivered after a crash or a broker restart (work done
# twice), and because a share group balances better when no member hoards a long local queue.
RECEIVE_MAXIMUM = 32


@dataclass
class Outcome:
    """What happened to one message: stored | duplicate | conflict | rejected | status | ignored."""

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
            rf"^{re.escape(self.prefix)}/(?P<device>[^/]+)/session/(?P<session>[^/]+)$", re.DOTALL
        )
        self._status_re = re.compile(rf"^{re.escape(self.prefix)}/(?P<device>[^/]+)/status$", re.DOTALL)

    def handle(self, topic: str, payload: bytes) -> Outcome:
        """Store or refuse one message. Raises only TransientStoreError (database unavailable)."""
        m = self._session_re.match(topic)
        if m:
            return self._session(topic, m["device"], m["session"], payload)
        m = self._status_re.match(topic)
        if m:
            return self._status(topic, m["device"], payload)
        logger.debug("ignoring message on %s", printable(topic, limit=200))
        return Outcome("ignored", topic)

    # -- session summaries -------------------------------------------------------------------
    def _reject(self, out: Outcome, reasons: list[str], payload: bytes, kind: str = "rejected") -> Outcome:
        out.kind, out.reasons = kind, reasons
        shown = "; ".join(reasons[:10]) + (f"; ... ({len(reasons)} problems)" if len(reasons) > 10 else "")
        logger.error(
            "%s summary on %s: %s",
            "CONFLICTING" if kind == "conflict" else "REJECTED",
            printable(out.topic, limit=300),
            printable(shown, limit=2000),
        )
        try:
            self.store.quarantine(
                out.topic, payload, shown, device=out.device, session_id=out.session_id
            )
        except TransientStoreError:
            raise
        except Exception:  # the message is refused either way; its copy just could not be kept
            logger.exception("could not quarantine the refused message on %s", printable(out.topic, limit=300))
        return out

    def _session(self, topic: str, device: str, session_id: str, payload: bytes) -> Outcome:
        out = Outcome("rejected", topic, device=device, session_id=session_id)
        summary, errors = check_summary(payload)
        if summary is None:
            return self._reject(out, errors, payload)
        mismatch = []
        if summary["device"] != device:
            mismatch.append(f"payload device {summary['device']!r} does not match topic device {device!r}")
        if summary["session_id"] != session_id:
            mismatch.append(f"payload session_id {summary['session_id']!r} does not match topic {session_id!r}")
        if mismatch:
            return self._reject(out, mismatch, payload)
        try:
            result = self.store.insert_session(summary)
        except TransientStoreError:
            raise
        except Exception as exc:  # this summary cannot be stored (the database is fine): refuse it
            return self._reject(out, [f"the store cannot take it: {type(exc).__name__}: {exc}"], payload)
        out.summary = summary
        if result == "conflict":
            return self._reject(
                out,
                [f"session {session_id!r} is already stored with different content; the first one is kept"],
                payload,
                kind="conflict",
            )
        if result == "duplicate":
            out.kind = "duplicate"
            logger.info("session %s from %s already stored (re-send ignored)", session_id, device)
            return out
        out.kind = "stored"
        logger.info("stored session %s from %s", session_id, device)
        if self.on_session is not None:
            try:
                self.on_session(out)
            except Exception:
                logger.exception("on_session callback failed")
        return out

    # -- status ------------------------------------------------------------------------------
    def _status(self, topic: str, device: str, payload: bytes) -> Outcome:
        out = Outcome("status", topic, device=device)
        if not payload:
            out.kind = "ignored"  # a retained status being cleared
            return out
        try:
            if len(device) > MAX_TOPIC_LEVEL_CHARS:
                raise UntrustedInput(f"device name longer than {MAX_TOPIC_LEVEL_CHARS} characters")
            status = load_json(payload, max_bytes=MAX_STATUS_BYTES, max_depth=8)
            if not isinstance(status, dict):
                raise UntrustedInput("not a JSON object")
            state = status.get("state")
            if not isinstance(state, str) or not state or len(state) > MAX_STATE_CHARS:
                raise UntrustedInput(f"'state' is not a string of 1-{MAX_STATE_CHARS} characters")
        except UntrustedInput as exc:
            logger.warning(
                "ignoring malformed status on %s: %s", printable(topic, limit=200), printable(exc, limit=300)
            )
            out.kind, out.reasons = "ignored", [str(exc)]
            return out
        try:
            recorded = self.store.add_status(device, state, status)
        except TransientStoreError:
            raise
        except Exception as exc:
            logger.warning("status on %s not recorded: %s", printable(topic, limit=200), printable(exc, limit=300))
            out.kind, out.reasons = "ignored", [str(exc)]
            return out
        if recorded:
            logger.info("device %s is %s", printable(device), printable(state))
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
        protocol: str | int = "auto",
        session_expiry_s: int = SESSION_EXPIRY_S,
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
            session_expiry_s=session_expiry_s,
            manual_ack=True,
            receive_maximum=RECEIVE_MAXIMUM,
            reconnect_max_s=reconnect_max_s,
            on_connected=self._on_connected,
            on_message=self._on_message,
            protocol=protocol,
            log=logger,
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

    def _on_message(self, message: mqtt.MQTTMessage, epoch: int) -> None:
        self._messages.put((message, epoch))

    def _handle(self, message: mqtt.MQTTMessage, stop: threading.Event) -> bool:
        """Store or refuse one message; False only when stopping while the database was unavailable."""
        delay = 0.5
        while True:
            try:
                topic = message.topic
            except UnicodeDecodeError:  # brokers check topics are UTF-8; paho decodes them on access
                topic = bytes(message._topic).decode("utf-8", "backslashreplace")
            try:
                outcome = self.collector.handle(topic, bytes(message.payload))
            except TransientStoreError as exc:
                logger.error("database unavailable, message on %s kept unacknowledged; retrying in %.1fs: %s",
                             printable(topic, limit=200), delay, exc)
                if stop.wait(delay):
                    return False
                delay = min(delay * 2, 10.0)
                continue
            except Exception:  # a bug for this message: log, and never let it block the queue
                logger.exception("unexpected error handling the message on %s; acknowledged and dropped",
                                 printable(topic, limit=200))
                outcome = Outcome("rejected", topic, reasons=["internal error"])
            self.outcomes = [*self.outcomes[-99:], outcome]
            return True

    def run(self, stop: threading.Event) -> None:
        """Connect and store arriving messages until `stop` is set."""
        self.conn.start()
        try:
            while not stop.is_set():
                try:
                    message, epoch = self._messages.get(timeout=0.2)
                except queue.Empty:
                    continue
                if self._handle(message, stop) and not self.conn.ack(message.mid, message.qos, epoch):
                    logger.debug("message on %s came on an earlier connection: the broker redelivers it",
                                 printable(message.topic, limit=200))
        finally:
            self.conn.stop()
