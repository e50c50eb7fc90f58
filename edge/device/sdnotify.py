"""Minimal sd_notify(3) for `Type=notify` units: no dependency, a no-op outside systemd.

systemd passes `$NOTIFY_SOCKET` (a filesystem path, or an abstract socket written with a leading `@`)
and, with `WatchdogSec=`, `$WATCHDOG_USEC` (and `$WATCHDOG_PID`: the watchdog is ours only when it is
our pid). Each notification is one datagram of `KEY=VALUE` lines.

How the daemon uses it (edge/device/daemon_status.py):
- `READY=1` once the models are loaded, the camera delivered a frame that was analysed, and MQTT is
  connected, or once `READY_MQTT_GRACE_S` passed with the broker still down (a broker outage is
  covered by the spool, so it must not hold the service in "activating" until TimeoutStartSec kills
  it), or once `READY_TIMEOUT_S` passed without a camera (then STATUS= says the camera is down).
- `WATCHDOG=1` only from the main loop, at most every half `WatchdogSec`, and only after a frame was
  actually analysed since the last ping. A timer thread that pings regardless would make the watchdog
  useless. The one exception: while the camera reader reports that it is reopening a failed camera
  (a condition that is logged and on the status topic), the main loop pings to say "alive, waiting
  for the camera", so that an unplugged camera does not turn into a restart loop that ends in the
  unit's start limit. A wedged analyser or main loop sends nothing and gets restarted.
- `STATUS=` a one-line state for `systemctl status`; `STOPPING=1` when shutdown begins.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes | None:
    if not raw:
        return None
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()  # abstract namespace (Linux)
    if raw.startswith("/"):
        return raw
    return None  # vsock and others: not supported here


class SdNotifier:
    """Sends notifications to `$NOTIFY_SOCKET`; every method is a cheap no-op when it is not set.

    Never raises: a notification that cannot be sent is logged (once at WARNING, then DEBUG) and the
    method returns False.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.socket_path = env.get("NOTIFY_SOCKET", "")
        self._addr = _address(self.socket_path)
        if self.socket_path and self._addr is None:
            logger.warning("NOTIFY_SOCKET %r is not a unix socket path; sd_notify disabled", self.socket_path)
        self._sock: socket.socket | None = None
        self._warned = False
        self.watchdog_usec = self._watchdog_usec(env)

    @staticmethod
    def _watchdog_usec(env: Mapping[str, str]) -> int | None:
        try:
            usec = int(env.get("WATCHDOG_USEC", ""))
        except ValueError:
            return None
        pid = env.get("WATCHDOG_PID")
        if pid and pid.strip() != str(os.getpid()):
            return None  # meant for another process (e.g. our parent)
        return usec if usec > 0 else None

    @property
    def enabled(self) -> bool:
        return self._addr is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1 (half of WatchdogSec), or None when no watchdog is armed."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def notify(self, *lines: str) -> bool:
        """Send the lines as one datagram; True when it was sent."""
        if self._addr is None or not lines:
            return False
        data = "\n".join(lines).encode("utf-8", errors="replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(data, self._addr)
            return True
        except OSError as exc:
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            logger.log(level, "sd_notify to %s failed: %s", self.socket_path, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:400]
