"""The handover of MQTT commands from the publisher's worker thread to the daemon's main loop.

Why: the main loop owns all session state, so a command is never executed on the thread it arrives
on. The worker queues it, wakes the loop and waits for the loop's answer, which becomes the ack. A
command the loop did not take within `COMMAND_TIMEOUT_S` is cancelled and refused, and then changes
nothing: either the loop claims it first (and the worker waits the short rest) or the worker cancels
it first (and the loop skips it), never both.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from edge.device.commands import Command

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 3.0  # a command the main loop did not take by then is refused and cancelled


class _Request:
    """A command handed from the publisher's worker thread to the main loop, answered once."""

    def __init__(self, cmd: Command) -> None:
        self.cmd = cmd
        self.error: str | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._state = "queued"  # queued -> running -> done, or queued -> cancelled

    def claim(self) -> bool:
        """Main loop: take it for execution (False: it timed out and was cancelled)."""
        return self._leave_queue("running")

    def cancel(self) -> bool:
        """Worker: give up waiting (False: the main loop is executing it right now)."""
        return self._leave_queue("cancelled")

    def _leave_queue(self, state: str) -> bool:
        """Queued -> `state`, atomically; False when it already left the queue."""
        with self._lock:
            if self._state != "queued":
                return False
            self._state = state
            return True

    def finish(self, error: str | None) -> None:
        self.error = error
        with self._lock:
            self._state = "done"
        self.done.set()


class CommandInbox:
    """Commands waiting for the main loop; `wake` is the event the main loop sleeps on."""

    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake
        self._queue: queue.Queue[_Request] = queue.Queue()

    def submit(self, cmd: Command) -> str | None:
        """Publisher worker thread: hand the command to the main loop and wait for its answer."""
        req = _Request(cmd)
        self._queue.put(req)
        self._wake.set()
        if not req.done.wait(COMMAND_TIMEOUT_S):
            if req.cancel():
                return f"device busy: not executed within {COMMAND_TIMEOUT_S:g}s"
            req.done.wait()  # the main loop is executing it right now: short
        return req.error

    def run_pending(self, execute: Callable[[Command], str | None]) -> None:
        """Main loop: execute every waiting command; `execute` returns None when done, else why not."""
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                return
            if not req.claim():
                continue
            try:
                error = execute(req.cmd)
            except Exception as exc:
                logger.exception("command %s (%s) failed", req.cmd.id, req.cmd.cmd)
                error = f"internal error: {exc}"
            req.finish(error)

    def refuse_all(self, reason: str) -> None:
        """Main loop, at shutdown: commands still waiting get a clear refusal."""
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            if req.claim():
                req.finish(reason)
