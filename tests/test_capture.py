"""Capture: the file source on a real recording, the latest-frame reader, and failing/stalling cameras."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from broker_fixtures import wait_until

from edge.config import CameraConfig
from edge.device.camera_backends import TurnedSource
from edge.device.capture import (
    BACKENDS,
    LORES_CROP_FRACTION,
    CameraError,
    FileSource,
    GStreamerSource,
    LatestFrameReader,
    Picamera2Source,
    V4L2Source,
    lores_size,
    make_source,
    yuv420_to_bgr,
)

VIDEO = "slp_webcam_test_video.mp4"  # 30 fps, 58 frames, 540x720


@pytest.fixture
def video(videos_dir: Path) -> Path:
    path = videos_dir / VIDEO
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture
def short_clip(video: Path, tmp_path: Path) -> Path:
    """The first 6 frames of the real recording, re-encoded at 30 fps (0.2 s): an end comes quickly."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = [cap.read()[1] for _ in range(6)]
    cap.release()
    out = tmp_path / "clip.avi"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return out


def test_file_source_plays_in_real_time(video):
    src = FileSource(video)
    src.open()
    try:
        t0 = time.monotonic()
        images = [src.read(1.0) for _ in range(16)]
        elapsed = time.monotonic() - t0
    finally:
        src.close()
    assert all(isinstance(i, np.ndarray) and i.dtype == np.uint8 and i.shape == (720, 540, 3) for i in images)
    assert 0.40 <= elapsed <= 0.9, elapsed  # 15 frame intervals at 30 fps = 0.5 s


def test_file_source_without_loop_ends_and_reader_reports_it(short_clip):
    reader = LatestFrameReader(lambda: FileSource(short_clip), read_timeout_s=1.0)
    reader.start()
    try:
        frames = []
        last = -1
        while (f := reader.get(after=last, timeout=2.0)) is not None:
            frames.append(f)
            last = f.index
        assert reader.ended and reader.state.error is None
        assert 1 <= len(frames) <= 6 and frames[-1].index <= 5
        assert all(b.timestamp >= a.timestamp for a, b in zip(frames, frames[1:], strict=False))
        assert reader.get(after=last, timeout=0.1) is None
    finally:
        reader.stop()


def test_looping_file_keeps_only_the_newest_frame_and_counts_drops(short_clip):
    cfg = CameraConfig(backend="file", path=short_clip, loop=True, read_timeout_s=1.0)
    reader = LatestFrameReader.from_config(cfg)
    reader.start()
    try:
        got = []
        last = -1
        started = time.monotonic()
        give_up = started + 30.0  # a bound for a stuck reader only; the test waits for frames, not time
        while reader.state.frames <= 12 and time.monotonic() < give_up:
            f = reader.get(after=last, timeout=1.0)
            assert f is not None
            got.append(f.index)
            last = f.index
            time.sleep(0.1)  # a slow model: several frames arrive per take
        elapsed = time.monotonic() - started
        st = reader.state
        assert st.state == "ok" and st.frames > 12  # looped past the 6-frame clip
        assert st.dropped >= st.frames - len(got) - 2 and st.dropped > 0
        assert got == sorted(set(got)) and got[-1] - got[0] > len(got)  # skipped ahead, never backwards
        # paced to the clip's 30 fps: a loaded machine can only make it slower, never faster
        assert st.frames <= 30.0 * elapsed + 2
        assert st.source_fps is not None and st.source_fps > 0
        assert reader.status()["state"] == "ok"
    finally:
        reader.stop()
    assert reader.state.state == "stopped"


class _Scripted:
    """A fake camera: `fail_opens` failed opens in all, then `frames` frames per open, then fail or stall."""

    opens = 0
    closes = 0

    def __init__(self, fail_opens: int = 0, frames: int = 1000, then: str = "fail", gate=None) -> None:
        self.name = "fake"
        self.fail_opens, self.frames, self.then, self.gate = fail_opens, frames, then, gate
        self.n = 0

    def open(self) -> None:
        type(self).opens += 1
        if type(self).opens <= self.fail_opens:
            raise CameraError("fake: cannot open (unplugged)")

    def read(self, timeout: float):
        self.n += 1
        if self.n > self.frames:
            if self.then == "stall":
                self.gate.wait()  # a driver call that never returns
                return np.zeros((4, 4, 3), np.uint8)
            raise CameraError("fake: read failed")
        time.sleep(0.01)
        return np.full((4, 4, 3), self.n, np.uint8)

    def close(self) -> None:
        type(self).closes += 1


def _fresh_fake():
    class Fake(_Scripted):
        opens = 0
        closes = 0

    return Fake


def test_failing_camera_is_retried_with_backoff_never_crashing():
    fake = _fresh_fake()
    reader = LatestFrameReader(
        lambda: fake(fail_opens=10**6), read_timeout_s=0.3, backoff_min_s=0.05, backoff_max_s=0.2
    )
    reader.start()
    try:
        assert wait_until(lambda: reader.state.reopens >= 4, 3)
        st = reader.state
        assert st.state == "reopening" and "cannot open (unplugged)" in st.error and "retry in" in st.error
        assert reader.get(timeout=0.1) is None
        t0 = time.monotonic()
        n0 = reader.state.reopens
        time.sleep(0.6)
        assert reader.state.reopens - n0 <= 4  # backoff capped at 0.2 s: no busy loop
        assert time.monotonic() - t0 < 1
    finally:
        reader.stop()


def test_flaky_camera_recovers_and_read_errors_reopen():
    fake = _fresh_fake()
    reader = LatestFrameReader(
        lambda: fake(fail_opens=2, frames=20, then="fail"),
        read_timeout_s=0.3,
        backoff_min_s=0.05,
        backoff_max_s=0.2,
    )
    reader.start()
    try:
        assert reader.get(timeout=2) is not None
        assert wait_until(lambda: reader.state.state == "ok", 1)
        assert reader.state.error is None and fake.opens == 3
        assert wait_until(lambda: fake.opens >= 4, 2)  # 20 frames, a read error, a reopen
        assert wait_until(lambda: reader.state.state == "ok", 1)
        assert fake.closes >= 3
    finally:
        reader.stop()


def test_stalled_camera_is_detected_and_reopened():
    fake = _fresh_fake()
    gate = threading.Event()
    reader = LatestFrameReader(
        lambda: fake(frames=5, then="stall", gate=gate),
        read_timeout_s=0.3,
        backoff_min_s=0.05,
        backoff_max_s=0.2,
    )
    reader.start()
    try:
        assert wait_until(lambda: reader.state.error is not None and "stalled" in reader.state.error, 2)
        assert wait_until(lambda: fake.opens >= 2 and reader.state.frames > 5, 2)
        closes_before = fake.closes
        gate.set()  # the stuck driver calls return: each stuck reader closes its own source
        assert wait_until(lambda: fake.closes > closes_before, 1)
    finally:
        reader.stop()
        gate.set()


def test_a_turned_camera_hands_over_upright_frames(video):
    """`camera.rotation` wraps whichever backend: a camera mounted on its side (90) or upside down
    (180) gives the analysis the picture turned back, pixel for pixel what OpenCV's rotate makes."""
    import cv2

    plain = FileSource(video)
    plain.open()
    try:
        first = plain.read(1.0)
    finally:
        plain.close()
    assert first is not None
    for degrees, code in ((90, cv2.ROTATE_90_CLOCKWISE), (180, cv2.ROTATE_180), (270, cv2.ROTATE_90_COUNTERCLOCKWISE)):
        src = make_source(CameraConfig(backend="file", path=video, rotation=degrees))
        assert isinstance(src, TurnedSource) and src.name.endswith(f"turned {degrees}")
        src.open()
        try:
            image = src.read(1.0)
        finally:
            src.close()
        assert image is not None and np.array_equal(image, cv2.rotate(first, code)), degrees
    assert isinstance(make_source(CameraConfig(backend="file", path=video)), FileSource)  # 0: no wrapper


def test_registry_and_clear_errors(tmp_path):
    assert set(BACKENDS) == {"picamera2", "v4l2", "gstreamer", "file"}
    assert isinstance(make_source(CameraConfig(backend="file", path=tmp_path / "x.mp4")), FileSource)
    with pytest.raises(ValueError, match="camera.backend"):
        make_source(CameraConfig(backend="nope"))  # type: ignore[arg-type]
    with pytest.raises(CameraError, match="camera.path"):
        make_source(CameraConfig(backend="file"))
    with pytest.raises(CameraError, match="does not exist"):
        FileSource(tmp_path / "missing.mp4").open()
    with pytest.raises(CameraError, match="cannot open V4L2 camera"):
        V4L2Source("/dev/video-does-not-exist").open()
    with pytest.raises(CameraError, match="pipeline is empty"):
        GStreamerSource("").open()
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(CameraError, match="system-site-packages"):
            Picamera2Source().open()


def test_importing_capture_touches_no_camera_library():
    code = "import sys, edge.device.capture; print('picamera2' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.split() == ["False", "False"]


# --- picamera2's lores stream (no Pi here: the size arithmetic and the YUV420 conversion) ---------


@pytest.mark.parametrize("main,model_input,expected", [
    ((1280, 720), 192, (960, 540)),  # Lightning: a long side of 192 / 0.2
    ((1920, 1080), 256, (1280, 720)),  # Thunder
    ((1280, 720), 256, (1280, 720)),  # never larger than main
    ((640, 480), 192, (640, 480)),
    ((720, 1280), 192, (544, 968)),  # portrait
    ((3280, 2464), 192, (960, 722)),
])
def test_lores_size(main: tuple[int, int], model_input: int, expected: tuple[int, int]) -> None:
    lw, lh = lores_size(main, model_input)
    assert (lw, lh) == expected
    assert lw % 16 == 0 and lh % 2 == 0 and lw <= main[0] and lh <= main[1]
    assert abs(lw / lh - main[0] / main[1]) < 0.02 * main[0] / main[1]  # no stretched people
    # a tracked crop of LORES_CROP_FRACTION of the long side reaches the model without upscaling
    crop = LORES_CROP_FRACTION * max(lw, lh)
    assert crop >= model_input - 16 * LORES_CROP_FRACTION or (lw, lh) == main


def test_the_lores_stream_serves_the_trackers_smallest_crop() -> None:
    """A far presenter is where the pixels matter: the crop the tracker zooms in to at most must
    reach the model from lores without being enlarged."""
    from edge.analysis.pose import MIN_CROP_FRACTION

    assert LORES_CROP_FRACTION == MIN_CROP_FRACTION


def test_lores_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="lores_size"):
        lores_size((8, 8), 192)
    with pytest.raises(ValueError, match="lores_size"):
        lores_size((640, 480), 192, crop_fraction=0.0)


def _padded_i420(bgr: np.ndarray, stride: int) -> np.ndarray:
    """`bgr` as libcamera lays out YUV420 with rows padded to `stride`: Y rows of `stride` bytes, then
    U and V rows of stride/2 bytes, as one (h * 3/2, stride) array; padding bytes are 255 (garbage)."""
    import cv2

    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y = i420[: w * h].reshape(h, w)
    u = i420[w * h: w * h * 5 // 4].reshape(h // 2, w // 2)
    v = i420[w * h * 5 // 4:].reshape(h // 2, w // 2)
    out = np.full(h * 3 // 2 * stride, 255, np.uint8)
    out[: h * stride].reshape(h, stride)[:, :w] = y
    half = h // 2 * (stride // 2)
    out[h * stride: h * stride + half].reshape(h // 2, stride // 2)[:, : w // 2] = u
    out[h * stride + half:].reshape(h // 2, stride // 2)[:, : w // 2] = v
    return out.reshape(h * 3 // 2, stride)


@pytest.mark.parametrize("size,stride", [((960, 540), 1024), ((640, 480), 640), ((544, 968), 576)])
def test_yuv420_lores_to_bgr(size: tuple[int, int], stride: int) -> None:
    """A synthetic frame (colour ramps and blocks) through padded YUV420 comes back as the original
    within YUV rounding and chroma subsampling, and exactly as OpenCV converts the unpadded buffer."""
    import cv2

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    bgr = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], -1).astype(np.uint8)
    bgr[h // 4: h // 2, w // 4: w // 2] = (30, 200, 90)
    yuv = _padded_i420(bgr, stride)
    out = yuv420_to_bgr(yuv, w, h)
    assert out.shape == (h, w, 3)
    unpadded = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    assert np.array_equal(out, unpadded)
    assert np.abs(out.astype(int) - bgr).mean() < 3
    with pytest.raises(CameraError, match="not YUV420"):
        yuv420_to_bgr(yuv[:-2], w, h)


def test_picamera2_source_reads_lores_sized_from_the_model() -> None:
    """The backend asks for a lores stream sized from the model input, and hands over its frames as
    BGR of exactly that size (a stand-in camera returns padded YUV420 as picamera2 does)."""
    src = make_source(CameraConfig(backend="picamera2", width=1920, height=1080), model_input=256)
    assert isinstance(src, Picamera2Source) and src.lores == (1280, 720)
    assert Picamera2Source(1280, 720).lores == (960, 540)  # Lightning by default
    frame = np.full((540, 960, 3), (40, 120, 220), np.uint8)

    class Cam:
        def capture_array(self, stream: str, wait: float) -> np.ndarray:
            assert stream == "lores"
            return _padded_i420(frame, 1024)

    src = Picamera2Source(1280, 720)
    src._cam = Cam()
    out = src.read(1.0)
    assert out.shape == (540, 960, 3) and np.abs(out.astype(int) - frame).max() <= 3
