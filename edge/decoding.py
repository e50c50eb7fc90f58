"""Decoding a recording on its own thread, beside the analysis: bounded, in order, never a frame dropped.

Used by `ppt-edge analyze` and `ppt-edge bench` (the daemon's camera reader keeps only the newest
frame instead, and counts drops: a camera does not wait). Why a thread: decoding a 720p frame costs
about as much CPU as the pose model's invoke, and most of a frame's other work (preprocessing,
features, the face stage) runs on one core; a decoder beside it uses the other.

When to decode (`DecodeThread.mode`):
- "ahead": as far ahead as the queue allows, also while the interpreter's threads fill every core.
  The pose invoke's thread pool steals work from a thread the decoder holds up, so the invoke slows
  by less than the decoder gains: measured on 2 cores with 2 interpreter threads, end to end 184-192
  fps against 135-152 when decoding waited for the invoke to end, and 117-126 against 103-104 fps
  with the face stage (docs/speed.md, "Decoder beside the invoke").
- "inline": only while the analysis waits for it (nothing overlaps: the bench times stages so).

Frame buffers go round a small pool (`BufferPool`): a steady stream allocates nothing, and with the
slots below at most `depth + 1` frame buffers exist.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, Literal, TypeVar

import numpy as np

logger = logging.getLogger(__name__)

DECODE_DEPTH = 1  # frames queued ahead of the analysis (bounded: memory stays flat; one more is decoding)
# The decode thread is the decoder's parallelism: FFmpeg's own frame threads (one per core by default)
# on top of it and the interpreter's threads oversubscribe a small board's cores and hold more frames
# (measured on 2 cores: docs/speed.md).
DECODE_THREADS = 1

Mode = Literal["ahead", "inline"]
T = TypeVar("T")


class BufferPool:
    """Frame buffers handed back by the consumer and reused by the decoder (OpenCV decodes into a
    buffer of the right shape in place). A 720p BGR frame is 2.7 MB: allocating one per frame costs
    page faults on every frame. Thread-safe (deque appends and pops are atomic)."""

    def __init__(self, capacity: int) -> None:
        self._free: deque[np.ndarray] = deque(maxlen=capacity)

    def take(self) -> np.ndarray | None:
        """A free buffer, or None (OpenCV then allocates one, which comes back here later)."""
        try:
            return self._free.pop()
        except IndexError:
            return None

    def give(self, buf: np.ndarray) -> None:
        self._free.append(buf)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class DecodeThread(Generic[T]):
    """Runs a frame producer on its own thread, at most `depth` items ahead of the consumer.

    Iterating yields the producer's items in order, none dropped: the producer starts an item only
    while fewer than `depth + 1` are out (decoding, queued, or held by the consumer), so at most
    that many frame buffers exist. `release(item)` is called once the consumer asks for the next
    item (it is done with the last one), to give its buffer back. An exception in the producer is
    raised in the consumer, at the point in the stream where it happened. Leaving the loop early
    (break, an exception in the analysis) stops the producer and joins its thread; the producer's
    own `finally` runs on its thread. `wait_s` is the time the consumer spent waiting for items
    (decoding not hidden behind the analysis).
    """

    def __init__(self, produce: Callable[[], Iterator[T]], depth: int = DECODE_DEPTH,
                 release: Callable[[T], None] | None = None, name: str = "ppt-decode",
                 mode: Mode = "ahead") -> None:
        if not 1 <= depth <= 8:
            raise ValueError(f"decode queue depth must be 1..8, got {depth}")
        self._produce = produce
        self._release = release
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth + 1)
        self._slots = threading.Semaphore(depth + 1)  # items out: decoding, queued, held
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._go = threading.Semaphore(0)  # permits to start an item, outside "ahead"
        self._granted = False  # a permit is out that the producer has not taken yet
        self._busy = False  # the producer is making an item (it will be in the queue soon)
        self._lock = threading.Lock()
        self._mode: Mode = mode
        self.wait_s = 0.0

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, value: Mode) -> None:
        if value == self._mode:
            return
        self._mode = value
        if value == "ahead":
            self._go.release()  # a producer waiting for a permit goes on, and then runs ahead
        else:
            with self._lock:
                while self._go.acquire(blocking=False):  # no stale permit from here on
                    pass
                self._granted = False

    def _grant(self) -> None:
        """Let the producer make one item, unless one is already allowed or being made."""
        with self._lock:
            if self._granted or self._busy:
                return
            self._granted = True
            self._go.release()

    def _permit(self) -> bool:
        """Wait for a free slot and, outside "ahead", for a permit (False when stopping)."""
        while not self._slots.acquire(timeout=0.1):
            if self._stop.is_set():
                return False
        while self._mode != "ahead" and not self._stop.is_set():
            if self._go.acquire(timeout=0.1):
                with self._lock:
                    self._granted = False
                    self._busy = True
                return True
        return not self._stop.is_set()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        items = self._produce()
        try:
            while self._permit():
                try:
                    item = next(items)
                except StopIteration:
                    self._put(_END)
                    return
                ok = self._put(item)
                with self._lock:
                    self._busy = False
                if not ok:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        self._thread.start()
        held: Any = None
        try:
            while True:
                if held is not None:  # asked for the next item: done with the last one
                    if self._release is not None:
                        self._release(held)
                    self._slots.release()
                held = None
                t0 = time.perf_counter()
                if self._mode != "ahead" and self._q.empty():
                    self._grant()  # in line: the consumer waits for it now
                item = self._q.get()
                self.wait_s += time.perf_counter() - t0
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                held = item
                yield item
        finally:
            self.close()

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the producer and join its thread; False if it is still stuck in a decoder call."""
        self._stop.set()
        if not self._thread.is_alive():
            return True
        while True:  # unblock a producer waiting on a full queue
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("decode thread %s did not stop within %.0f s", self._thread.name, timeout)
            return False
        return True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
