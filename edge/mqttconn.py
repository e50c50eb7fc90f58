"""One logical MQTT connection, shared by the device's publisher and the collector.

Why it is built this way:
- paho reconnects with exponential backoff; this class decides what counts as connected (only a
  successful CONNACK), logs refusals with their reason, and says "connection lost" when it is one.
- MQTT 5 or 3.1.1 (`protocol = "auto"`) is decided only by the broker's answer to a CONNECT: a
  CONNACK "unsupported protocol version" means 3.1.1, a successful CONNACK means 5. A broker outage
  never changes the protocol. This matters: under 3.1.1 a publish the broker refuses (ACL) is
  acknowledged like any other, so a device that dropped to 3.1.1 after an outage would delete
  refused summaries from its spool. The answer is remembered per broker (host, port) for the
  process, and MQTT 5 is tried again after every lost 3.1.1 connection (the broker may have been
  upgraded or replaced meanwhile).
- One broker needs care: amqtt (the embedded broker) answers an MQTT 5 CONNECT without a Will with
  the refusal, but never answers one that carries a Will. So when a CONNECT with a Will gets no
  CONNACK on a connection that is still open after `connack_timeout_s` (the timer belongs to that
  one TCP connection and dies with it), the next attempt asks the same question without the Will (a
  "probe"); its CONNACK decides, and a successful probe is closed at once and followed by the real
  connection. `protocol = "3.1.1"` skips all of this (the demo's embedded broker).
- Each client built gets a new `generation`, passed to the hooks so that message ids of a replaced
  client are never confused with the new one's. Hooks run on paho's network thread: keep them tiny.

The settings a connection starts from (the protocol setting, the password) and the per-broker memory of
the protocol live in `edge.mqttsetup`; they are importable from here too.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import TlsConfig
from edge.mqttsetup import (
    PROTOCOL_SETTINGS,
    MqttSetupError,
    forget_protocols,
    known_protocol,
    protocol_setting,
    read_password,
    remember_protocol,
)

__all__ = [
    "PROTOCOL_SETTINGS",
    "UNSUPPORTED_PROTOCOL",
    "MqttConnection",
    "MqttSetupError",
    "forget_protocols",
    "known_protocol",
    "protocol_setting",
    "read_password",
    "reason_text",
]

logger = logging.getLogger(__name__)

UNSUPPORTED_PROTOCOL = 0x84  # CONNACK "Unsupported protocol version" (paho maps a v3 CONNACK rc 1 here)
_PROTOCOL_NAMES = {mqtt.MQTTv5: "5", mqtt.MQTTv311: "3.1.1", mqtt.MQTTv31: "3.1"}


def reason_text(rc: ReasonCode | int | None) -> str:
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
    """One logical MQTT connection that survives reconnects (see the module docstring).

    `protocol`: "auto" (MQTT 5, 3.1.1 when the broker's CONNACK refuses 5), "5" or "3.1.1".
    `log`: the logger that speaks for this connection (the publisher's or the collector's), so a
    log line says whose connection it is.
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
        receive_maximum: int | None = None,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 60,
        connack_timeout_s: float = 5.0,
        protocol: str | int = "auto",
        on_connected: Callable[[mqtt.Client, int], None] | None = None,
        on_message: Callable[[mqtt.MQTTMessage, int], None] | None = None,  # (message, epoch)
        on_publish: Callable[[int, int, ReasonCode], None] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.username, self.password, self.tls = username, password, tls
        self.keepalive_s, self.clean, self.session_expiry_s = keepalive_s, clean, session_expiry_s
        self.will, self.manual_ack = will, manual_ack
        self.receive_maximum = receive_maximum  # MQTT 5: messages in flight to us at once (unacked)
        self.reconnect_min_s = max(1, int(reconnect_min_s))
        self.reconnect_max_s = max(1, int(reconnect_max_s))
        self.connack_timeout_s = connack_timeout_s
        self.setting = protocol_setting(protocol)
        self.protocol: MQTTProtocolVersion = mqtt.MQTTv311 if self.setting == "3.1.1" else mqtt.MQTTv5
        self.on_connected, self.on_message, self.on_publish = on_connected, on_message, on_publish
        self.log = log or logger
        self.generation = 0
        self.epoch = 0  # successful connections so far: a received message can be acked only on its own
        self.last_error: str | None = None  # last refusal or failure, for the status topic and tests
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._closed = threading.Event()  # set by paho's on_disconnect: the socket is flushed and shut
        self._lock = threading.Lock()  # guards client replacement
        self._client: mqtt.Client | None = None
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._probe = False  # the current client asks MQTT 5 without the Will (see module docstring)
        self._attempt = 0  # TCP connections opened by the current client
        self._awaiting: int | None = None  # the attempt whose CONNACK is still due
        self._answered = 0  # the last attempt that got a CONNACK
        self._timer: threading.Timer | None = None

    # -- building ----------------------------------------------------------------------------
    def _build(self) -> mqtt.Client:
        self.generation += 1
        self._attempt = self._answered = 0
        self._awaiting = None
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
        client.enable_logger(cast(logging.Logger, _PahoLog(logging.getLogger(f"{self.log.name}.paho"), {})))
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
        if self.will is not None and not self._probe:
            topic, payload, qos, retain = self.will
            client.will_set(topic, payload, qos=qos, retain=retain)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _connect(self, client: mqtt.Client) -> None:
        props = None
        if self.protocol == mqtt.MQTTv5 and not self._probe and (self.session_expiry_s or self.receive_maximum):
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry_s:
                props.SessionExpiryInterval = self.session_expiry_s
            if self.receive_maximum:
                props.ReceiveMaximum = self.receive_maximum
        client.connect_async(
            self.host, self.port, keepalive=self.keepalive_s, clean_start=self.clean, properties=props
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
            self._stop.clear()
            if self.setting == "auto" and known_protocol(self.host, self.port) == mqtt.MQTTv311:
                # This broker refused MQTT 5 before: ask again, cheaply (a probe is refused at once).
                self._probe = self.will is not None
            self._client = self._build()
            self._connect(self._client)

    def stop(self) -> None:
        """Disconnect cleanly (no Last Will) and stop paho's thread."""
        with self._lock:
            self._stop.set()
            client, self._client = self._client, None
            self._cancel_timer()
        self._connected.clear()
        if client is not None:
            # paho writes queued packets (PUBACKs of stored summaries, the `offline` status) before
            # its DISCONNECT, but only while its loop runs: wait for on_disconnect, then stop it.
            self._closed.clear()
            if client.disconnect() == mqtt.MQTT_ERR_SUCCESS:
                self._closed.wait(2.0)
            client.loop_stop()

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo | None:
        """Publish on the current client; None when stopped or between connections of a probe."""
        client = self._client
        if client is None or self._probe:
            return None
        return client.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, mid: int, qos: int, epoch: int) -> bool:
        """Manual ack of a message received on connection `epoch` (collector: only after it is stored).

        A message received on an earlier connection is never acked on a later one: its packet id may
        by now name another message, and the broker redelivers it anyway (the store is idempotent).
        False when not acked for that reason."""
        client = self._client
        if client is None or qos == 0:
            return True
        if epoch != self.epoch or not self._connected.is_set():
            return False
        client.ack(mid, qos)
        return True

    # -- logging -----------------------------------------------------------------------------
    def _problem(self, level: int, text: str) -> None:
        """Log a connection problem; the same text again within 5 minutes goes to DEBUG only."""
        self.last_error = text
        last, when = self._last_logged
        now = time.monotonic()
        if text == last and now - when < 300:
            self.log.debug("%s", text)
            return
        self._last_logged = (text, now)
        self.log.log(level, "%s", text)

    @property
    def _broker(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the CONNACK deadline of one TCP connection -------------------------------------------
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        try:
            if userdata != self.generation:
                return
            self._attempt += 1
            self._awaiting = self._attempt
            self._cancel_timer()
            timer = threading.Timer(self.connack_timeout_s, self._connack_overdue, args=(userdata, self._attempt))
            timer.name, timer.daemon = "ppt-mqtt-connack", True
            self._timer = timer
            timer.start()
        except Exception:
            self.log.exception("error in on_socket_open")

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if userdata == self.generation:
            self._awaiting = None  # the deadline belonged to this connection: it ends with it
            self._cancel_timer()

    def _connack_overdue(self, generation: int, attempt: int) -> None:
        """The same TCP connection is still open and the broker has not answered its CONNECT."""
        if self._stop.is_set() or generation != self.generation or self._awaiting != attempt:
            return
        if self.setting == "auto" and self.protocol == mqtt.MQTTv5 and self.will is not None and not self._probe:
            self._problem(
                logging.WARNING,
                f"MQTT broker {self._broker} has not answered an MQTT 5 CONNECT with a Last Will within "
                f"{self.connack_timeout_s:g}s; asking again without the Will to learn which protocol it speaks",
            )
            self._rebuild_async(generation, mqtt.MQTTv5, probe=True)
        else:
            self._problem(
                logging.WARNING,
                f"MQTT broker {self._broker} has not answered the CONNECT within {self.connack_timeout_s:g}s; "
                "connecting again",
            )
            self._rebuild_async(generation, self.protocol, probe=self._probe, delay=self.reconnect_min_s)

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        try:
            if userdata != self.generation:
                return
            self._awaiting = None
            self._answered = self._attempt
            self._cancel_timer()
            if reason_code.is_failure:
                self._connected.clear()
                self._refused(userdata, reason_code)
                return
            if self._probe:
                remember_protocol(self.host, self.port, mqtt.MQTTv5)
                self.log.info("MQTT broker %s accepts MQTT 5; connecting again with the Last Will", self._broker)
                self._rebuild_async(userdata, mqtt.MQTTv5, probe=False)
                return
            if self.setting == "auto":
                remember_protocol(self.host, self.port, self.protocol)
            self.last_error = None
            self._last_logged = ("", 0.0)
            self.epoch += 1
            self._connected.set()
            self.log.info(
                "connected to MQTT broker %s as %r (MQTT %s, session present: %s)",
                self._broker,
                self.client_id,
                self.protocol_name,
                bool(getattr(flags, "session_present", False)),
            )
            if self.on_connected is not None:
                self.on_connected(client, userdata)
        except Exception:
            self.log.exception("error in on_connect")

    def _refused(self, generation: int, reason_code: ReasonCode) -> None:
        if reason_code.value == UNSUPPORTED_PROTOCOL and self.protocol == mqtt.MQTTv5:
            if self.setting == "auto":
                remember_protocol(self.host, self.port, mqtt.MQTTv311)
                self.log.info(
                    "MQTT broker %s refuses MQTT 5 (CONNACK: unsupported protocol version); using MQTT 3.1.1",
                    self._broker,
                )
                self._rebuild_async(generation, mqtt.MQTTv311, probe=False)
                return
            self._problem(
                logging.ERROR,
                f"MQTT broker {self._broker} refuses MQTT 5 (unsupported protocol version) and mqtt.protocol "
                'is "5"; set it to "auto" or "3.1.1" for this broker; retrying with backoff',
            )
            return
        self._problem(
            logging.ERROR,
            f"MQTT connection to {self._broker} as {self.client_id!r} REFUSED by the broker: "
            f"{reason_text(reason_code)}; retrying with backoff (check username, password, ACL)",
        )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            exc = sys.exc_info()[1]  # paho calls this inside its `except OSError`
            if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                self._problem(
                    logging.ERROR,
                    f"TLS handshake with {self._broker} failed: {exc}; "
                    "retrying with backoff (check the CA, client cert and key)",
                )
            else:
                self._problem(
                    logging.WARNING,
                    f"cannot reach MQTT broker {self._broker}: {exc or 'connection failed'}; retrying with backoff",
                )
        except Exception:
            self.log.exception("error in on_connect_fail")

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        try:
            self._closed.set()
            if userdata != self.generation:
                return
            was = self._connected.is_set()
            self._connected.clear()
            self._awaiting = None
            self._cancel_timer()
            if self._stop.is_set():
                return
            if was:
                if getattr(flags, "is_disconnect_packet_from_server", False):
                    text = f"MQTT broker {self._broker} closed the connection: {reason_text(reason_code)}"
                else:
                    text = f"connection to MQTT broker {self._broker} lost"
                self._problem(logging.WARNING, text + "; reconnecting")
                if self.setting == "auto" and self.protocol != mqtt.MQTTv5:
                    # The broker may have been upgraded or replaced while we were away: ask for 5 again.
                    self._rebuild_async(
                        userdata, mqtt.MQTTv5, probe=self.will is not None, delay=self.reconnect_min_s
                    )
            elif self._answered != self._attempt and self._attempt:
                self._problem(
                    logging.WARNING,
                    f"MQTT broker {self._broker} closed the connection before answering the CONNECT "
                    f"(MQTT {self.protocol_name}); retrying with backoff",
                )
                if (
                    self.setting == "auto"
                    and self.protocol == mqtt.MQTTv5
                    and self.will is not None
                    and not self._probe
                ):
                    self._rebuild_async(userdata, mqtt.MQTTv5, probe=True, delay=self.reconnect_min_s)
        except Exception:
            self.log.exception("error in on_disconnect")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if self.on_message is not None and not self._probe and userdata == self.generation:
                self.on_message(message, self.epoch)
        except Exception:
            self.log.exception("error in on_message")

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Any
    ) -> None:
        try:
            if self.on_publish is not None:
                self.on_publish(userdata, mid, reason_code)
        except Exception:
            self.log.exception("error in on_publish (mid %s)", mid)

    # -- replacing the client ----------------------------------------------------------------
    def _rebuild_async(
        self, generation: int, protocol: MQTTProtocolVersion, *, probe: bool, delay: float = 0.0
    ) -> None:
        threading.Thread(
            target=self._rebuild,
            args=(generation, protocol, probe, delay),
            name="ppt-mqtt-rebuild",
            daemon=True,
        ).start()

    def _rebuild(self, generation: int, protocol: MQTTProtocolVersion, probe: bool, delay: float) -> None:
        """Replace the client (own thread: paho's loop cannot be stopped from inside its callback).

        The old client is detached first (a new generation: its late callbacks are ignored), then,
        after `delay`, the new one connects."""
        try:
            with self._lock:
                if self._stop.is_set() or generation != self.generation or self._client is None:
                    return
                old, self._client = self._client, None
                self.generation += 1
                detached = self.generation
                self._cancel_timer()
            self._connected.clear()
            old.disconnect()
            old.loop_stop()
            if delay and self._stop.wait(delay):
                return
            with self._lock:
                if self._stop.is_set() or self.generation != detached:
                    return
                self.protocol, self._probe = protocol, probe
                self._client = self._build()
                new = self._client
            self._connect(new)
        except Exception:
            self.log.exception("MQTT reconnection with a new client failed")
