"""An in-process MQTT broker (amqtt) for a single room, so a laptop needs no mosquitto.

Why only for one room: amqtt speaks MQTT 3.1.1 (the device and collector fall back to it), keeps
its state in memory (a laptop restart forgets queued messages; the device's spool still holds
everything not acknowledged), and has no shared subscriptions. mosquitto, with TLS, password file
and ACL (see systemd/mosquitto-ppt.conf.example), stays the broker for production.

The broker runs its own asyncio loop on a named thread; `start()` returns once the port accepts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)


class EmbeddedBrokerError(RuntimeError):
    """amqtt is missing or the broker could not start (port in use, ...)."""


class EmbeddedBroker:
    """amqtt on `host:port`, anonymous access (a trusted room network), no TLS."""

    def __init__(self, host: str = "0.0.0.0", port: int = 1883) -> None:
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def connect_host(self) -> str:
        """Where a local client should connect (a wildcard bind is reachable on loopback)."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host

    def start(self, timeout: float = 10.0) -> None:
        try:
            from amqtt.broker import Broker  # noqa: F401  (optional dependency: the `broker` extra)
        except ImportError as exc:
            raise EmbeddedBrokerError(
                "--embedded-broker needs amqtt: pip install 'ppt-edge[broker]' (or use mosquitto)"
            ) from exc
        self._thread = threading.Thread(target=self._run, name="ppt-embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EmbeddedBrokerError(f"embedded broker did not start within {timeout}s")
        if self._error is not None:
            raise EmbeddedBrokerError(f"embedded broker on {self.host}:{self.port} failed: {self._error}")
        logger.info("embedded MQTT broker (amqtt, MQTT 3.1.1) listening on %s:%d", self.host, self.port)

    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._loop_exception)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        async def boot() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    @staticmethod
    def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """amqtt lets socket errors of clients that went away escape into asyncio; they are not ours
        to shout about."""
        if isinstance(context.get("exception"), OSError):
            logger.debug("embedded broker: %s: %s", context.get("message"), context.get("exception"))
        else:
            loop.default_exception_handler(context)

    def stop(self, timeout: float = 5.0) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(timeout)
        except Exception as exc:
            logger.warning("embedded broker shutdown: %s", exc or type(exc).__name__)
        # Whatever the shutdown did, close the listening sockets: a stopped loop with a socket still
        # listening accepts connections that are never answered, and keeps another broker off the port.
        for server in list(getattr(broker, "_servers", {}).values()):
            instance = getattr(server, "instance", None)
            if instance is not None:
                loop.call_soon_threadsafe(instance.close)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        logger.info("embedded MQTT broker stopped")
