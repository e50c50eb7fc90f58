"""Camera seam: frame sources behind one small protocol, and a reader thread that keeps only the newest frame.

Why: the models are slower than the camera, so a queue of frames would only grow and add latency;
the reader keeps the newest frame and counts the ones nobody took (dropped). Cameras also fail in the
field (a USB camera unplugged, a CSI camera stalling silently for hours), so the reader reopens a
failed or stalled source with exponential backoff and reports its state for the status topic instead
of raising into the daemon.

The camera backends (picamera2, v4l2, gstreamer, file) and `make_source` live in
`edge.device.camera_backends`; they are importable from here too.

Driving it from a main loop:

    reader = LatestFrameReader.from_config(cfg.camera)
    reader.start()
    last = -1
    while running:
        frame = reader.get(after=last, timeout=1.0)   # None: no new frame yet (see reader.state)
        if frame is None:
            continue
        last = frame.index
        ...analyse frame.image (BGR)...
    reader.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.config import CameraConfig
from edge.device.camera_backends import (
    BACKENDS,
    DEFAULT_MODEL_INPUT,
    LORES_CROP_FRACTION,
    CameraError,
    FileSource,
    FrameSource,
    GStreamerSource,
    Picamera2Source,
    V4L2Source,
    lores_size,
    make_source,
    yuv420_to_bgr,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL_INPUT",
    "LORES_CROP_FRACTION",
    "CameraError",
    "FileSource",
    "Frame",
    "FrameSource",
    "GStreamerSource",
    "LatestFrameReader",
    "Picamera2Source",
    "ReaderState",
    "V4L2Source",
    "lores_size",
    "make_source",
    "yuv420_to_bgr",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One captured frame: BGR uint8 image, `time.monotonic()` at capture, and a running index
    (counted by the reader across reopens, so a consumer can ask for "anything newer than N")."""

    image: np.ndarray
    timestamp: float
    index: int


@dataclass(frozen=True)
class ReaderState:
    """A snapshot for the status topic: `state` is starting | ok | reopening | ended | stopped."""

    state: str
    error: str | None
    frames: int
    dropped: int
    reopens: int
    source_fps: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "error": self.error,
            "frames": self.frames,
            "dropped": self.dropped,
            "reopens": self.reopens,
            "source_fps": None if self.source_fps is None else round(self.source_fps, 2),
        }


class LatestFrameReader:
    """Reads a source on its own thread and keeps only the newest frame.

    A supervisor thread opens the source and watches it; a reader thread per opened source calls
    `read()`. A failed open, a failed read, or no frame for `read_timeout_s` (a stall, even inside a
    blocking driver call) closes the source and reopens a fresh one after a backoff that doubles from
    `backoff_min_s` to `backoff_max_s` and resets once frames flow again. Never raises into the caller.
    """

    def __init__(
        self,
        factory: Callable[[], FrameSource],
        *,
        read_timeout_s: float = 2.0,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        name: str = "ppt-capture",
    ) -> None:
        self.factory = factory
        self.read_timeout_s = read_timeout_s
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.name = name
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._taken = -1  # index of the last frame handed out
        self._next_index = 0
        self._dropped = 0
        self._reopens = 0
        self._state = "starting"
        self._error: str | None = None
        self._last_frame_at = 0.0
        self._fps: float | None = None

    @classmethod
    def from_config(cls, cfg: CameraConfig, model_input: int | None = None, **kwargs: Any) -> LatestFrameReader:
        """`model_input`: the pose model's input size, for backends that scale in hardware (picamera2)."""
        make_source(cfg, model_input)  # fail fast on an unknown backend or a missing setting
        return cls(lambda: make_source(cfg, model_input), read_timeout_s=cfg.read_timeout_s, **kwargs)

    # -- consumer side -----------------------------------------------------------------------
    def get(self, after: int = -1, timeout: float | None = None) -> Frame | None:
        """The newest frame with an index above `after`, waiting up to `timeout`; None if none came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest.index <= after:
                if self._stop.is_set() or self._state == "ended":
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.5)
            frame = self._latest
            self._taken = max(self._taken, frame.index)
            return frame

    @property
    def state(self) -> ReaderState:
        with self._cond:
            return ReaderState(
                self._state, self._error, self._next_index, self._dropped, self._reopens, self._fps
            )

    def status(self) -> dict[str, Any]:
        """The camera part of the status topic."""
        return self.state.as_dict()

    @property
    def ended(self) -> bool:
        """A non-looping recording reached its end."""
        return self.state.state == "ended"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state("stopped", self._error)

    # -- internals ---------------------------------------------------------------------------
    def _set_state(self, state: str, error: str | None) -> None:
        with self._cond:
            changed = state != self._state or error != self._error
            self._state, self._error = state, error
            self._cond.notify_all()
        if changed:
            level = logging.WARNING if state == "reopening" else logging.INFO
            logger.log(level, "camera %s%s", state, f": {error}" if error else "")

    def _deliver(self, image: np.ndarray) -> None:
        now = time.monotonic()
        with self._cond:
            if self._latest is not None and self._latest.index > self._taken:
                self._dropped += 1
            if self._last_frame_at and self._state == "ok":
                inst = 1.0 / max(now - self._last_frame_at, 1e-6)
                self._fps = inst if self._fps is None else 0.9 * self._fps + 0.1 * inst
            self._latest = Frame(image=image, timestamp=now, index=self._next_index)
            self._next_index += 1
            self._last_frame_at = now
            self._cond.notify_all()

    def _read_loop(self, run: _Run) -> None:
        try:
            while not self._stop.is_set() and not run.abandoned:
                image = run.source.read(self.read_timeout_s)
                if run.abandoned:
                    return
                if image is None:
                    run.ended = True
                    return
                self._deliver(image)
                run.frames += 1
        except Exception as exc:
            run.error = f"{run.source.name}: read failed: {exc}"
        finally:
            run.finish()

    def _supervise(self) -> None:
        backoff = self.backoff_min_s
        first = True
        while not self._stop.is_set():
            if not first:
                with self._cond:
                    self._reopens += 1
            first = False
            run: _Run | None = None
            error: str | None = None
            try:
                source = self.factory()
                run = _Run(source)
                source.open()
            except Exception as exc:
                error = str(exc) if isinstance(exc, CameraError) else f"open failed: {exc!r}"
                if run is not None:
                    run.close()
                run = None
            if run is not None:
                error = self._watch(run)
                if run.frames:
                    backoff = self.backoff_min_s  # it worked for a while: a fresh failure starts small
            if self._stop.is_set():
                return
            if run is not None and run.ended and error is None:
                self._set_state("ended", None)
                return
            self._set_state("reopening", f"{error}; retry in {backoff:.1f}s")
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.backoff_max_s)

    def _watch(self, run: _Run) -> str | None:
        """Run one opened source until it fails, stalls, ends or the reader stops; the error text or None.

        The source is closed by whichever side finishes last: closing an OpenCV capture while another
        thread is blocked in its read() is not safe, so a stuck reader thread closes it when (if ever)
        its read returns, and is otherwise left behind as a daemon thread."""
        opened_at = time.monotonic()
        reader = threading.Thread(target=self._read_loop, args=(run,), name=f"{self.name}-read", daemon=True)
        reader.start()
        poll = min(0.1, self.read_timeout_s / 4)
        error: str | None = None
        while not self._stop.wait(poll):
            if not reader.is_alive():
                error = run.error
                break
            if run.frames and self._state != "ok":
                self._set_state("ok", None)
            last = max(self._last_frame_at, opened_at)
            if time.monotonic() - last > self.read_timeout_s:
                error = f"{run.source.name}: no frame for {self.read_timeout_s:.1f}s (stalled)"
                break
        if self._stop.is_set():
            reader.join(min(self.read_timeout_s, 2.0))
        run.abandon()
        return error


class _Run:
    """One opened source and what happened to it; closes the source exactly once, from the thread
    that is last to let go of it."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.frames = 0
        self.error: str | None = None
        self.ended = False
        self.abandoned = False
        self._done = False
        self._closed = False
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.source.close()
        except Exception as exc:
            logger.debug("closing %s failed: %s", getattr(self.source, "name", "source"), exc)

    def finish(self) -> None:
        """Called by the reader thread on exit."""
        with self._lock:
            self._done = True
            close = self.abandoned
        if close:
            self.close()

    def abandon(self) -> None:
        """Called by the supervisor when it stops watching this source."""
        with self._lock:
            self.abandoned = True
            close = self._done
        if close:
            self.close()
