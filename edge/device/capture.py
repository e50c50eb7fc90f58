"""Camera seam: frame sources behind one small protocol, and a reader thread that keeps only the newest frame.

Why: the models are slower than the camera, so a queue of frames would only grow and add latency;
the reader keeps the newest frame and counts the ones nobody took (dropped). Cameras also fail in the
field (a USB camera unplugged, a CSI camera stalling silently for hours), so the reader reopens a
failed or stalled source with exponential backoff and reports its state for the status topic instead
of raising into the daemon.

Backends (a plain dict registry, `BACKENDS`):
- `picamera2`: Raspberry Pi camera; a `lores` YUV420 stream sized from the model's input (`lores_size`),
  captured with a timeout. picamera2 comes from apt on Raspberry Pi OS and is imported only inside its backend.
- `v4l2`: a USB camera through OpenCV, by index ("0") or path ("/dev/video0").
- `gstreamer`: an OpenCV GStreamer pipeline ending in `appsink` (Jetson CSI camera); needs an OpenCV
  built with GStreamer (JetPack's, not the PyPI wheel).
- `file`: a recording played in real time (paced by its timestamps), optionally looping, so the
  daemon runs without a camera.

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
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.config import CameraConfig

logger = logging.getLogger(__name__)


class CameraError(RuntimeError):
    """A source could not be opened or read; the message is meant for the status topic and the log."""


@dataclass(frozen=True)
class Frame:
    """One captured frame: BGR uint8 image, `time.monotonic()` at capture, and a running index
    (counted by the reader across reopens, so a consumer can ask for "anything newer than N")."""

    image: np.ndarray
    timestamp: float
    index: int


class FrameSource(Protocol):
    """What the reader needs from a camera backend. `read` returns a BGR image, None at the end of a
    (non-looping) recording, and raises CameraError (or anything) on failure; it should return within
    `timeout` seconds where the backend allows it (the reader treats a longer silence as a stall)."""

    name: str

    def open(self) -> None: ...

    def read(self, timeout: float) -> np.ndarray | None: ...

    def close(self) -> None: ...


def _cv2() -> Any:
    import cv2  # imported on first use: keeps `import edge.device.capture` light

    return cv2


class _OpenCVSource:
    """Shared by the V4L2 and GStreamer backends: both are a cv2.VideoCapture."""

    name = "opencv"

    def __init__(self) -> None:
        self._cap: Any = None

    def _open_capture(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def open(self) -> None:
        self._cap = self._open_capture()

    def read(self, timeout: float) -> np.ndarray | None:
        if self._cap is None:
            raise CameraError(f"{self.name}: read before open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CameraError(f"{self.name}: no frame from the camera (unplugged or busy?)")
        return image

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class V4L2Source(_OpenCVSource):
    """USB camera through OpenCV's V4L2 backend, by index ("0") or device path ("/dev/video0")."""

    def __init__(self, device: str = "0", width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        super().__init__()
        self.device, self.width, self.height, self.fps = device, width, height, fps
        self.name = f"v4l2:{device}"

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> V4L2Source:
        return cls(cfg.device, cfg.width, cfg.height, cfg.fps)

    def _open_capture(self) -> Any:
        cv2 = _cv2()
        target: int | str = int(self.device) if self.device.isdigit() else self.device
        cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraError(
                f"cannot open V4L2 camera {self.device!r} "
                "(plugged in? user in group 'video'? used by another process?)"
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue would only add latency
        return cap


class GStreamerSource(_OpenCVSource):
    """An OpenCV GStreamer pipeline ending in appsink, e.g. on a Jetson CSI camera:

    nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! nvvidconv !
    video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1
    """

    def __init__(self, pipeline: str) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.name = "gstreamer"

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> GStreamerSource:
        return cls(cfg.pipeline)

    def _open_capture(self) -> Any:
        cv2 = _cv2()
        if not self.pipeline.strip():
            raise CameraError("gstreamer: camera.pipeline is empty")
        build = cv2.getBuildInformation()
        if not any(line.strip().startswith("GStreamer:") and "YES" in line for line in build.splitlines()):
            raise CameraError(
                "gstreamer: this OpenCV has no GStreamer support (the PyPI wheel has none; on a Jetson use "
                "JetPack's OpenCV through a venv made with --system-site-packages)"
            )
        cap = cv2.VideoCapture(self.pipeline, cv2.CAP_GSTREAMER)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"gstreamer: cannot open pipeline {self.pipeline!r}")
        return cap


class FileSource:
    """A recording played in real time, paced by the video's own timestamps; loops when asked.

    Real-time pacing makes it behave like a camera for the daemon (a slow model drops frames), unlike
    `analyze`, which reads every sampled frame as fast as it can.
    """

    def __init__(self, path: Path | str, loop: bool = False, fps_hint: float = 30.0) -> None:
        self.path = Path(path)
        self.loop = loop
        self.fps_hint = fps_hint
        self.name = f"file:{self.path.name}"
        self._cap: Any = None
        self._t0 = 0.0
        self._offset = 0.0  # seconds of video already played in earlier passes
        self._pos = 0.0  # timestamp of the last frame in this pass
        self._count = 0  # frames in this pass
        self._fps = fps_hint

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> FileSource:
        if cfg.path is None:
            raise CameraError("file: camera.path is not set")
        return cls(cfg.path, loop=cfg.loop, fps_hint=cfg.fps)

    def _open_capture(self) -> Any:
        cv2 = _cv2()
        if not self.path.is_file():
            raise CameraError(f"file: {self.path} does not exist")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"file: OpenCV cannot open {self.path}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = fps if fps and 0 < fps < 1000 else self.fps_hint
        return cap

    def open(self) -> None:
        self._cap = self._open_capture()
        self._t0 = time.monotonic()
        self._offset = self._pos = 0.0
        self._count = 0

    def read(self, timeout: float) -> np.ndarray | None:
        cv2 = _cv2()
        if self._cap is None:
            raise CameraError(f"{self.name}: read before open")
        ok, image = self._cap.read()
        if not ok:
            if not self.loop or self._count == 0:
                return None
            self._cap.release()
            self._cap = self._open_capture()
            self._offset += self._pos + 1.0 / self._fps
            self._pos, self._count = 0.0, 0
            ok, image = self._cap.read()
            if not ok:
                return None
        pos = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if self._count and pos <= self._pos:  # containers without usable timestamps
            pos = self._pos + 1.0 / self._fps
        self._pos = pos
        self._count += 1
        delay = self._t0 + self._offset + pos - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, timeout))
        return image

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


# A tracked crop at least this share of the frame's long side reaches the model at full detail from
# the lores stream (see `lores_size`); the tracker's smallest crop is 0.2 (edge.analysis.pose).
LORES_CROP_FRACTION = 0.4
DEFAULT_MODEL_INPUT = 192  # MoveNet Lightning; the daemon passes the loaded model's own input size


def lores_size(main: tuple[int, int], model_input: int = DEFAULT_MODEL_INPUT,
               crop_fraction: float = LORES_CROP_FRACTION) -> tuple[int, int]:
    """The picamera2 `lores` stream size for a `main` stream of (width, height).

    Why: the ISP scales for free, the CPU does not. The model sees a square crop of the frame
    (`crop_fraction` of its long side when tracking a presenter, the whole frame letterboxed
    otherwise) at `model_input` pixels, so a frame whose long side is `model_input / crop_fraction`
    already has every pixel such a crop needs; more would only be shrunk again on the CPU. The
    aspect ratio of `main` is kept (the ISP scales lores from the same field of view; another ratio
    would stretch people), the width is a multiple of 16 and the height even (YUV420 halves both for
    chroma), and lores is never larger than main.
    """
    w, h = int(main[0]), int(main[1])
    if w < 16 or h < 2 or model_input < 1 or not 0 < crop_fraction <= 1:
        raise ValueError(f"lores_size: bad main {main}, model input {model_input}, crop fraction {crop_fraction}")
    scale = min(1.0, model_input / crop_fraction / max(w, h))
    lw = max(16, min(w - w % 16, int(round(w * scale / 16.0)) * 16))
    lh = max(2, min(h - h % 2, int(round(lw * h / w / 2.0)) * 2))
    return lw, lh


def yuv420_to_bgr(yuv: np.ndarray, width: int, height: int) -> np.ndarray:
    """A planar YUV420 (I420) buffer as picamera2 returns it, (height * 3/2, stride) with rows padded
    to the stride, as a height x width BGR image.

    The chroma planes follow the luma plane with half the stride, so the whole buffer is a valid I420
    image `stride` pixels wide: it is converted as such and the padding columns are cut off (a view).
    BGR, not RGB, because every backend hands the analyser OpenCV's BGR; the model's RGB is made on
    its few input pixels (edge.analysis.imaging), which costs nothing here.
    """
    if yuv.ndim != 2 or yuv.shape[0] != height * 3 // 2 or yuv.shape[1] < width or height % 2:
        raise CameraError(f"picamera2: lores buffer of shape {yuv.shape} is not YUV420 {width}x{height}")
    bgr = _cv2().cvtColor(yuv, _cv2().COLOR_YUV2BGR_I420)
    return bgr if bgr.shape[1] == width else bgr[:, :width]


class Picamera2Source:
    """Raspberry Pi camera through picamera2 (libcamera): the model's frames come from a small
    `lores` YUV420 stream, captured with a timeout, because a silent multi-hour stall is a known field
    failure.

    The lores size comes from the model input (`lores_size`): the ISP does the shrinking a 720p or
    1080p frame would otherwise cost the CPU, and YUV420 is 1.5 bytes a pixel against 3 or 4. The
    main stream (camera.width x camera.height, also YUV420, the cheapest format) exists only because
    libcamera needs one and lores is scaled from the same field of view; it is never copied out.
    The price: faces for the emotion model are cut from the lores frame, so a face must be
    `analysis.min_face_px` wide there, not in the main stream.
    """

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0,
                 model_input: int = DEFAULT_MODEL_INPUT) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.lores = lores_size((width, height), model_input)
        self.name = "picamera2"
        self._cam: Any = None

    @classmethod
    def from_config(cls, cfg: CameraConfig, model_input: int | None = None) -> Picamera2Source:
        return cls(cfg.width, cfg.height, cfg.fps, model_input or DEFAULT_MODEL_INPUT)

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # only here: apt-only package on Raspberry Pi OS
        except ImportError as exc:
            raise CameraError(
                "picamera2 is not importable: on Raspberry Pi OS `apt install python3-picamera2` and make "
                f"the venv with --system-site-packages ({exc})"
            ) from exc
        cam = Picamera2()
        try:
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "YUV420"},
                lores={"size": self.lores, "format": "YUV420"},
                controls={"FrameRate": float(self.fps)},
                buffer_count=4,
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:
            cam.close()
            raise CameraError(f"picamera2: cannot start the camera: {exc}") from exc
        logger.info("picamera2: main %dx%d (not read), lores %dx%d YUV420 for the model",
                    self.width, self.height, *self.lores)
        self._cam = cam

    def read(self, timeout: float) -> np.ndarray | None:
        if self._cam is None:
            raise CameraError("picamera2: read before open")
        try:
            yuv = self._cam.capture_array("lores", wait=timeout)
        except TimeoutError as exc:
            raise CameraError(f"picamera2: no frame within {timeout:.1f}s (camera stalled)") from exc
        return yuv420_to_bgr(yuv, *self.lores)

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()


BACKENDS: dict[str, Callable[[CameraConfig], FrameSource]] = {
    "picamera2": Picamera2Source.from_config,
    "v4l2": V4L2Source.from_config,
    "gstreamer": GStreamerSource.from_config,
    "file": FileSource.from_config,
}


def make_source(cfg: CameraConfig, model_input: int | None = None) -> FrameSource:
    """A new, unopened source for `cfg.backend` (the reader makes a fresh one for every reopen).
    `model_input`: the pose model's input size, which sizes picamera2's lores stream."""
    try:
        factory = BACKENDS[cfg.backend]
    except KeyError:
        raise ValueError(f"camera.backend {cfg.backend!r} is not one of {', '.join(BACKENDS)}") from None
    if model_input is not None and cfg.backend == "picamera2":  # the one backend that scales in hardware
        return Picamera2Source.from_config(cfg, model_input)
    return factory(cfg)


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
