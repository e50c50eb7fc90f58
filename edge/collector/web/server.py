"""Running the dashboard: uvicorn on the calling thread (`ppt-collect serve`) or on a background
thread beside the listener (`ppt-collect listen --serve`, `ppt-edge-demo --serve`).

uvicorn's own logging setup is switched off (`log_config=None`) so that the collector's logging
stays as configured; the access log is off (the pages are read-only and local).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from edge.collector.web.app import DashboardSettings, create_app
from edge.collector.web.live import FeedSettings, LiveFeed

logger = logging.getLogger(__name__)


class PortError(OSError):
    """The address cannot be bound (in use, or not an address of this machine)."""


def check_port(host: str, port: int) -> None:
    """Fail early with a clear message rather than uvicorn's exit from inside its startup."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)") from None


def url_of(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None], on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_exit = on_exit

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._on_exit()  # end the live event streams, or shutdown waits for them
        super().handle_exit(sig, frame)


class DashboardServer:
    def __init__(
        self,
        settings: DashboardSettings,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        feed: FeedSettings | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        on_started: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.url = url_of(host, port, certfile is not None)
        self.feed = LiveFeed(settings.hub, feed) if feed is not None else None
        self.ready = threading.Event()
        self._on_started = on_started
        config = uvicorn.Config(
            self.app, host=host, port=port, log_config=None, log_level="warning", access_log=False,
            lifespan="off", timeout_graceful_shutdown=2, server_header=False, proxy_headers=False,
            ssl_certfile=certfile, ssl_keyfile=keyfile,
        )  # fmt: skip
        self.server = _Server(config, self._started, settings.hub.closed.set)
        self._thread: threading.Thread | None = None

    def _started(self) -> None:
        self.ready.set()
        if self._on_started is not None:
            self._on_started(self.url)

    def run(self) -> None:
        """Serve on this thread until SIGINT/SIGTERM (uvicorn handles both on the main thread)."""
        if self.feed is not None:
            self.feed.start()
        try:
            self.server.run()
        finally:
            self.settings.hub.closed.set()
            if self.feed is not None:
                self.feed.stop()
            self.app.state.reader.close()

    def start(self) -> None:
        """Serve on a background thread; `stop()` ends it."""
        self._thread = threading.Thread(target=self.run, name="ppt-dashboard", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.settings.hub.closed.set()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
