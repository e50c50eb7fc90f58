"""`ppt-edge analyze`: a recording in, one session summary out, as fast as the models allow.

Frames are picked by their own timestamps at `analysis.fps` (not by wall-clock time), so a recording
is analysed the same way however fast the machine is; frames in between are only grabbed (demuxed and
decoded as little as the codec allows), never converted. A recording is one session: every analysed
frame feeds one `SessionStats`, from the first frame to the last (no automatic start/stop, which is
the live camera's business), and the summary ends "end_of_video". A recording that stops before the
length its container states (a cut or half-copied file) still gives its summary, with a
`recording_cut_short` warning in it, because the numbers describe only the part that decodes.

Decoding runs on its own thread (`edge.decoding.DecodeThread`), a frame ahead of the analysis, so
that it overlaps the single-threaded parts of a frame (preprocessing, features, the face stage)
instead of adding to them. Unlike the daemon's camera reader, which keeps only the newest frame and
counts drops, the decoder waits when the analysis is behind: a recording is analysed completely,
never a frame dropped.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from edge.analysis.imaging import turn
from edge.analysis.pipeline import FrameAnalyzer
from edge.config import Config
from edge.decoding import DECODE_DEPTH, DECODE_THREADS, BufferPool, DecodeThread
from edge.schema import validate_summary
from edge.session.stats import SessionStats
from edge.session.summary import build_summary, new_session_id

logger = logging.getLogger(__name__)




class VideoError(RuntimeError):
    """A recording that cannot be analysed; the message is one line meant for the user."""


class NoPersonError(VideoError):
    """The recording was read, but no presenter was found in any analysed frame."""


@dataclass
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float  # as the container says (0 when unknown)
    frames: int  # as the container says (0 when unknown)


# Files people pass that OpenCV cannot read, and what to do instead.
HINTS = {
    ".heic": "(an iPhone's HEIC photo: export it as JPEG first)",
    ".heif": "(a HEIF photo: export it as JPEG first)",
    ".gif": "(an animated GIF: OpenCV reads only some; convert it to MP4 first)",
}


def open_video(path: Path, decode_threads: int | None = DECODE_THREADS) -> tuple[Any, VideoInfo]:
    """Open a recording with OpenCV; VideoError when it is missing or not a video OpenCV can read.

    `decode_threads` caps the decoder's own threads (None: OpenCV's default, one per core), for a
    backend that takes the setting; one that refuses it opens with its default."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    if not path.is_file():
        raise VideoError(f"not a file: {path}")
    cap = None
    if decode_threads is not None:
        cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, int(decode_threads)])
        if not cap.isOpened():
            cap.release()
            cap = None
    if cap is None:
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        hint = HINTS.get(path.suffix.lower(), "(or a cut, incomplete file)")
        raise VideoError(f"cannot read {path}: not a video format OpenCV can decode {hint}")
    # A phone stores its picture sideways with a rotation flag; every feature reads the picture's up
    # as the presenter's, so the flag is applied (OpenCV's FFmpeg default, made explicit for builds
    # where it is not; a backend without the setting ignores it).
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    info = VideoInfo(
        path=path,
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
        frames=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
    )
    if info.frames <= 1 and cv2.haveImageReader(str(path)):
        upright = turned_photo(path)
        if upright is not None:
            cap.release()
            h, w = upright.shape[:2]
            return StillImage(upright, info.fps), VideoInfo(path, w, h, info.fps, 1)
    return cap, info


def turned_photo(path: Path) -> np.ndarray | None:
    """A photo turned upright by its EXIF orientation, or None when the flag changes nothing.

    A phone stores a portrait photo sideways with an orientation flag, which `cv2.imread` applies and
    OpenCV's video reader (how `open_video` reads a photo, as a one-frame recording) does not: every
    feature would read the picture's up as the presenter's and measure a lying-down presenter. Photos
    without the flag keep the video reader's decoding."""
    upright = cv2.imread(str(path), cv2.IMREAD_COLOR)
    stored = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if upright is None or stored is None:
        return None
    if upright.shape == stored.shape and np.array_equal(upright, stored):
        return None
    return upright


class StillImage:
    """One decoded picture behind the part of `cv2.VideoCapture`'s interface the readers use
    (`FrameSampler`, the bench): one frame, then the end."""

    def __init__(self, image: np.ndarray, fps: float = 0.0) -> None:
        self._image = image
        self._fps = fps
        self._pos = 0  # frames grabbed

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def grab(self) -> bool:
        if self._pos >= 1:
            return False
        self._pos += 1
        return True

    def retrieve(self, image: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        if self._pos != 1:
            return False, None
        if image is not None and image.shape == self._image.shape and image.dtype == self._image.dtype:
            np.copyto(image, self._image)
            return True, image
        return True, self._image.copy()

    def read(self, image: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        return self.retrieve(image) if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        h, w = self._image.shape[:2]
        values = {cv2.CAP_PROP_FRAME_WIDTH: w, cv2.CAP_PROP_FRAME_HEIGHT: h, cv2.CAP_PROP_FPS: self._fps,
                  cv2.CAP_PROP_FRAME_COUNT: 1, cv2.CAP_PROP_POS_FRAMES: self._pos, cv2.CAP_PROP_POS_MSEC: 0.0}
        return float(values.get(prop, 0.0))

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES and value in (0, 1):
            self._pos = int(value)
            return True
        return False

    def release(self) -> None:
        pass


class FrameSampler:
    """Walks a recording and yields `(index, t, frame)` for the frames picked at `fps` by timestamp.

    A frame is picked when its timestamp reaches the next slot of a regular grid (k / fps seconds);
    the others are only grabbed. Timestamps come from the container (CAP_PROP_POS_MSEC); should they
    not advance (some backends), the frame index over the container's frame rate stands in.
    `grabbed` counts every frame read, `decode_s` the time spent reading them. `index + 1` is the
    number of frames grabbed up to a yielded frame. Without a `pool` one buffer is reused: a yielded
    frame is valid until the next is asked for; with one, until its buffer is given back.
    """

    def __init__(self, cap: Any, info: VideoInfo, fps: float, pool: BufferPool | None = None,
                 rotation: int = 0) -> None:
        self.cap = cap
        self.rotation = rotation  # turned upright after decoding (edge.analysis.imaging.turn)
        self._decoded: np.ndarray | None = None  # the decoder's own buffer when frames are turned
        self.info = info
        self.period = 1.0 / fps
        self.pool = pool
        self.grabbed = 0
        self.last_t: float | None = None
        self.decode_s = 0.0
        self._frame: np.ndarray | None = None

    def _timestamp(self, index: int) -> float:
        t = float(self.cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
        if index > 0 and (self.last_t is None or not math.isfinite(t) or t <= self.last_t):
            fps = self.info.fps if self.info.fps > 0 else 30.0
            t = index / fps
        return t

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        next_t = 0.0
        index = 0
        while True:
            t0 = time.perf_counter()
            ok = self.cap.grab()
            if not ok:
                self.decode_s += time.perf_counter() - t0
                return
            t = self._timestamp(index)
            picked = t + 1e-6 >= next_t
            frame = None
            if picked:
                buf = self.pool.take() if self.pool is not None else self._frame
                ok, frame = self.cap.retrieve(buf if not self.rotation else self._decoded)
                if not ok or frame is None:
                    self.decode_s += time.perf_counter() - t0
                    raise VideoError(f"cannot decode frame {index} of {self.info.path}")
                if self.rotation:
                    self._decoded = frame
                    frame = turn(frame, self.rotation, out=buf)
                if self.pool is None:
                    self._frame = frame
            self.decode_s += time.perf_counter() - t0
            self.grabbed += 1
            self.last_t = t
            if picked:
                while next_t <= t + 1e-6:
                    next_t += self.period
                assert frame is not None
                yield index, t, frame
            index += 1


class ProgressBar:
    """A one-line progress bar on a terminal (stderr), redrawn at most 5 times a second."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(0, total)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, done: int, analysed: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        rate = analysed / max(now - self._start, 1e-6)
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * self.width)
            text = (f"\r[{bar:<{self.width}}] {frac * 100:3.0f}%  {done}/{self.total} frames, "
                    f"{rate:.1f} analysed/s")
        else:
            text = f"\r{done} frames, {rate:.1f} analysed/s"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


# A recording counts as cut short when it decodes fewer frames than its container states AND stops
# early in time: both, because some containers only estimate the frame count (duration x fps).
CUT_SHORT_MIN_FRAMES = 2
CUT_SHORT_SHARE = 0.05


def cut_short_warning(info: VideoInfo, decoded: int, last_t: float | None) -> dict[str, str] | None:
    """The summary warning for a recording that ends before its stated length, else None."""
    if info.frames <= 0 or info.fps <= 0 or last_t is None:
        return None
    missing = info.frames - decoded
    stated_s = info.frames / info.fps
    decoded_s = last_t + 1.0 / info.fps
    if missing <= max(CUT_SHORT_MIN_FRAMES, CUT_SHORT_SHARE * info.frames):
        return None
    if decoded_s >= stated_s * (1.0 - CUT_SHORT_SHARE):
        return None
    return {
        "code": "recording_cut_short",
        "message": (f"the recording stops at {decoded_s:.1f} s of the {stated_s:.1f} s its file states "
                    f"({decoded} of {info.frames} frames decode): it is cut short, and this report covers "
                    "only the part that plays"),
    }


@dataclass
class AnalysisResult:
    summary: dict[str, Any]
    stats: SessionStats
    video: VideoInfo
    wall_s: float  # time the analysis took


def analyze_video(
    path: Path,
    cfg: Config,
    analyzer: FrameAnalyzer | None = None,
    progress: bool | None = None,
    on_frame: Callable[[int, float], None] | None = None,
    rotation: int = 0,
) -> AnalysisResult:
    """Analyse a whole recording as one session; returns its validated summary.

    `progress` None shows a bar when stderr is a terminal. `rotation`: degrees clockwise that turn the
    recording's picture upright (0, 90, 180, 270), for a camera that was mounted turned and wrote no
    rotation into the file (FFmpeg already applies the one a phone writes). Raises VideoError
    (missing, unreadable, empty video), NoPersonError (nobody in view), ModelError (from loading the
    models).
    The summary's clock: it starts when the analysis started and lasts as long as the recording (a
    file carries no trustworthy wall-clock time of its own); the label is the file's name.
    """
    path = Path(path)
    cap, info = open_video(path)
    started_wall = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    frames: DecodeThread[tuple[int, float, np.ndarray]] | None = None
    try:
        if analyzer is None:
            analyzer = FrameAnalyzer(cfg)
        else:
            analyzer.reset()
        stats = SessionStats(0.0, bin_s=cfg.session.bin_s, max_bins=cfg.session.max_bins)
        pool = BufferPool(DECODE_DEPTH + 1)  # one analysed, DECODE_DEPTH decoding or queued
        sampler = FrameSampler(cap, info, cfg.analysis.fps, pool=pool, rotation=rotation)
        frames = DecodeThread(sampler.__iter__, DECODE_DEPTH, release=lambda item: pool.give(item[2]))
        show = sys.stderr.isatty() if progress is None else progress
        bar = ProgressBar(info.frames) if show else None
        first_t: float | None = None
        for index, t, frame in frames:
            if first_t is None:
                first_t = t
                stats.t0 = t
            # frames grabbed since the last analysed one count as seen, at this frame's time
            stats.add_seen(index + 1 - stats.seen, t)
            result = analyzer.analyze(frame, t)
            stats.add_frame(t, result.features)
            if result.emotion is not None:
                stats.add_emotion(t, result.emotion)
            if bar is not None:
                bar.update(index + 1, stats.analysed)
            if on_frame is not None:
                on_frame(index, t)
        if sampler.grabbed > stats.seen and sampler.last_t is not None:
            stats.add_seen(sampler.grabbed - stats.seen, sampler.last_t)
        if bar is not None:
            bar.update(sampler.grabbed, stats.analysed, force=True)
            bar.close()
    finally:
        if frames is None or frames.close():
            cap.release()  # never while the decode thread may still be inside it
    if stats.analysed == 0:
        raise VideoError(f"cannot read {path}: no frame could be decoded")
    if stats.with_person == 0:
        raise NoPersonError(f"no person found in {path} ({stats.analysed} frames analysed); the pose model "
                            "finds a presenter by the joints (a face alone is not enough) and needs them to "
                            "fill enough of the picture: for a wide view set analysis.stage")
    duration = max(stats.duration(), 0.0)
    cut = cut_short_warning(info, sampler.grabbed, sampler.last_t)
    if cut is not None:
        logger.warning("%s: %s", path.name, cut["message"])
    summary = build_summary(
        stats,
        session_id=new_session_id(cfg.device.id, started_wall),
        device=cfg.device.id,
        started_at=started_wall,
        ended_at=started_wall + timedelta(seconds=duration),
        models=analyzer.models_info,
        status="complete",
        ended_by="end_of_video",
        label=path.name[:200],
        feedback_cfg=cfg.feedback,
        warnings=[cut] if cut is not None else None,
    )
    validate_summary(summary)
    wall = time.perf_counter() - t_start
    logger.info("%s: %d frames read, %d analysed (%d with the presenter, %d faces classified) in %.1f s",
                path.name, stats.seen, stats.analysed, stats.with_person, stats.emotion_frames, wall)
    return AnalysisResult(summary, stats, info, wall)
