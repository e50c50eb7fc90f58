"""Camera backends: the frame sources behind one small protocol (`FrameSource`), picked by `camera.backend`.

Backends (a plain dict registry, `BACKENDS`):
- `picamera2`: Raspberry Pi camera; a `lores` YUV420 stream sized from the model's input (`lores_size`),
  captured with a timeout. picamera2 comes from apt on Raspberry Pi OS and is imported only inside its backend.
- `v4l2`: a USB camera through OpenCV, by index ("0") or path ("/dev/video0").
- `gstreamer`: an OpenCV GStreamer pipeline ending in `appsink` (Jetson CSI camera); needs an OpenCV
  built with GStreamer (JetPack's, not the PyPI wheel).
- `file`: a recording played in real time (paced by its timestamps), optionally looping, so the
  daemon runs without a camera.

A source only opens, reads and closes; reopening after a failure or a stall is the reader's work
(`edge.device.capture.LatestFrameReader`), which makes a fresh source with `make_source` each time.
OpenCV and picamera2 are imported on first use, so importing this module touches no camera library.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.config import CameraConfig

logger = logging.getLogger(__name__)


class CameraError(RuntimeError):
    """A source could not be opened or read; the message is meant for the status topic and the log."""


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
# the lores stream (see `lores_size`): the tracker's smallest crop (edge.analysis.pose.MIN_CROP_FRACTION),
# so a far presenter, the one the tracker zooms in on, gets every pixel the model can use. Accuracy
# follows the presenter's pixels per shoulder width (docs/metrics.md, "Presenter size"); the larger
# frame costs a conversion and a full-frame shrink of a few milliseconds on a Pi (docs/speed.md).
LORES_CROP_FRACTION = 0.2
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


class TurnedSource:
    """Any source's frames turned upright (`camera.rotation`): a camera mounted upside down, which a
    ribbon cable often forces, or on its side. It runs on the reader's thread, beside the analysis,
    and makes a new array per frame as the backends do: the analysis may still hold the last frame
    while the next is turned.
    """

    def __init__(self, source: FrameSource, degrees: int) -> None:
        self.source, self.degrees = source, degrees
        self.name = f"{source.name} turned {degrees}"
        self._turn: Callable[[np.ndarray, int], np.ndarray] | None = None

    def open(self) -> None:
        from edge.analysis.imaging import turn  # OpenCV on first use, as the backends import it

        self._turn = turn
        self.source.open()
        logger.info("%s: frames turned %d degrees clockwise (camera.rotation)", self.source.name, self.degrees)

    def read(self, timeout: float) -> np.ndarray | None:
        if self._turn is None:
            raise CameraError(f"{self.name}: read before open")
        image = self.source.read(timeout)
        return None if image is None else self._turn(image, self.degrees)

    def close(self) -> None:
        self.source.close()


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
        source: FrameSource = Picamera2Source.from_config(cfg, model_input)
    else:
        source = factory(cfg)
    return TurnedSource(source, cfg.rotation) if cfg.rotation else source
