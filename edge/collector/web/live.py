"""The live view's feed: the devices' `live` and retained `status` messages, from MQTT to the pages.

Why it is built this way:
- `LiveFeed` is the collector's own small MQTT subscription for the dashboard (clean session, QoS 0
  for `live`, QoS 1 for the retained `status`): it never acknowledges or stores anything, so it
  cannot disturb `ppt-collect listen`'s persistent session, and it works the same beside `listen` or
  inside `listen --serve`. MQTT 3.1.1, which every broker here speaks (mosquitto, the embedded one).
- paho's callback thread only parses and hands the message to `LiveHub.publish`; the hub keeps the
  latest status and live message per device and wakes each page's event stream through its asyncio
  loop (`call_soon_threadsafe`), with a bounded queue per page so a stalled browser costs nothing.
- Everything from MQTT is untrusted: payloads are bounded, must be JSON objects, and reach the page
  as JSON data that the page puts into the DOM as text only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MAX_LIVE_BYTES = 16 * 1024
QUEUE_SIZE = 64


@dataclass(frozen=True)
class LiveEvent:
    device: str
    kind: str  # "live" | "status"
    data: dict[str, Any]
    at: float  # time.time() of arrival


def parse_payload(payload: bytes) -> dict[str, Any] | None:
    """A bounded JSON object, or None (logged at debug: the live view is a nicety)."""
    if len(payload) > MAX_LIVE_BYTES:
        return None
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


class LiveHub:
    """Latest live/status message per device, fanned out to the open event streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], LiveEvent] = {}
        self._subscribers: dict[int, tuple[str, asyncio.AbstractEventLoop, asyncio.Queue[LiveEvent]]] = {}
        self._next_id = 0
        self.connected = False  # whether the MQTT feed is up (shown on the live page)
        self.source: str | None = None  # "host:port" of the broker, or None without a feed
        self.closed = threading.Event()

    def publish(self, device: str, kind: str, data: dict[str, Any]) -> None:
        event = LiveEvent(device, kind, data, time.time())
        with self._lock:
            self._latest[(device, kind)] = event
            targets = [(loop, q) for dev, loop, q in self._subscribers.values() if dev == device]
        for loop, q in targets:
            try:
                loop.call_soon_threadsafe(_offer, q, event)
            except RuntimeError:  # that page's loop is closed
                pass

    def latest(self, device: str, kind: str) -> LiveEvent | None:
        with self._lock:
            return self._latest.get((device, kind))

    def statuses(self) -> dict[str, LiveEvent]:
        with self._lock:
            return {dev: ev for (dev, kind), ev in self._latest.items() if kind == "status"}

    def subscribe(self, device: str) -> tuple[int, asyncio.Queue[LiveEvent]]:
        """A queue of this device's events for the calling asyncio task; `unsubscribe` when done."""
        q: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._next_id += 1
            self._subscribers[self._next_id] = (device, asyncio.get_running_loop(), q)
            return self._next_id, q

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _offer(q: asyncio.Queue[LiveEvent], event: LiveEvent) -> None:
    """Put, dropping the oldest event when a slow page's queue is full (the newest matters)."""
    if q.full():
        try:
            q.get_nowait()
        except asyncio.QueueEmpty:
            pass
    q.put_nowait(event)


@dataclass(frozen=True)
class FeedSettings:
    """How the dashboard reaches the broker (the same settings as `ppt-collect listen`)."""

    host: str
    port: int
    prefix: str = "ppt"
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_insecure: bool = False
    tls: bool = False


class LiveFeed:
    """The dashboard's MQTT subscription to `<prefix>/+/live` and `<prefix>/+/status`."""

    def __init__(self, hub: LiveHub, settings: FeedSettings, client_id: str | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.hub = hub
        self.settings = settings
        self.prefix = settings.prefix.rstrip("/")
        self._topic_re = re.compile(rf"^{re.escape(self.prefix)}/(?P<device>[^/]+)/(?P<kind>live|status)$")
        host_id = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"ppt-dashboard-{host_id}-{int(time.time() * 1000) % 10**8}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 10)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls or settings.tls_ca or settings.tls_cert:
            self.client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert, keyfile=settings.tls_key)
            if settings.tls_insecure:
                self.client.tls_insecure_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        hub.source = f"{settings.host}:{settings.port}"

    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
            self.hub.connected = False

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                logger.warning("dashboard live feed: broker refused the connection: %s", reason)
                return
            client.subscribe([(f"{self.prefix}/+/live", 0), (f"{self.prefix}/+/status", 1)])
            self.hub.connected = True
            logger.info("dashboard live feed subscribed at %s", self.hub.source)
        except Exception:  # never let a callback wedge paho's thread
            logger.exception("dashboard live feed: on_connect failed")

    def _on_disconnect(self, *args: Any) -> None:
        self.hub.connected = False

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            m = self._topic_re.match(message.topic)
            if m is None:
                return
            data = parse_payload(bytes(message.payload))
            if data is None:
                logger.debug("dashboard live feed: ignoring a malformed message on %s", message.topic)
                return
            self.hub.publish(m["device"], m["kind"], data)
        except Exception:
            logger.exception("dashboard live feed: message on %s failed", getattr(message, "topic", "?"))


def status_text(state: Any, reason: Any, gettext: Callable[[str], str]) -> tuple[str, str]:
    """(css class, words) for a device state: online, offline after a clean stop, or offline
    because the connection was lost (the broker sent the device's Last Will)."""
    if state == "online":
        return "online", gettext("Online")
    if state == "offline":
        if reason == "shutdown":
            return "offline", gettext("Offline (stopped cleanly)")
        return "lost", gettext("Offline: connection lost without a clean stop")
    if state is None:
        return "unknown", gettext("No status received")
    return "unknown", str(state)
