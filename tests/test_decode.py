"""Decoding on its own thread (edge.analyze.DecodeThread): every frame, in order, with bounded memory;
errors reach the analysing thread; leaving early or a broken recording stops the thread cleanly."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from broker_fixtures import wait_until

from edge.analyze import FrameSampler, VideoError, analyze_video, open_video
from edge.config import Config
from edge.decoding import BufferPool, DecodeThread

VIDEO = "slp_webcam_test_video.mp4"  # 58 frames, 540x720, 30 fps


@pytest.fixture
def video(videos_dir: Path) -> Path:
    return videos_dir / VIDEO


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ppt-decode")]


class _CountingPool(BufferPool):
    """Counts the buffers OpenCV had to allocate because none was free."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.misses = 0

    def take(self) -> np.ndarray | None:
        buf = super().take()
        self.misses += buf is None
        return buf


@pytest.mark.parametrize("depth", [1, 2])
def test_every_frame_in_order_with_a_slow_consumer(video: Path, depth: int) -> None:
    """A consumer slower than the decoder gets every frame the sampler picks, in order, each the same
    image a plain sequential read gives; at most depth + 1 frame buffers ever exist."""
    cap, info = open_video(video)
    expected = [(i, t, float(f.mean())) for i, t, f in FrameSampler(cap, info, fps=1000.0)]
    cap.release()
    assert len(expected) == 58

    cap, info = open_video(video)
    pool = _CountingPool(depth + 1)
    frames = DecodeThread(FrameSampler(cap, info, fps=1000.0, pool=pool).__iter__, depth,
                          release=lambda item: pool.give(item[2]))
    got = []
    for i, t, f in frames:
        got.append((i, t, float(f.mean())))
        time.sleep(0.002)  # the analysis: the decoder waits on the full queue, never drops
    cap.release()
    assert got == expected
    assert pool.misses <= depth + 1
    assert not frames.alive


def test_when_the_decoder_works() -> None:
    """"inline": an item is made only while the consumer waits (the bench times stages so); "ahead"
    (what `analyze` uses): as soon as a slot is free; and a switch between them mid-stream."""
    made: list[int] = []

    def produce() -> Iterator[int]:
        for i in range(10):
            made.append(i)
            yield i

    items = DecodeThread(produce, depth=2, mode="inline")
    for i in items:
        time.sleep(0.01)  # ahead, the producer would be two items further by now
        assert made[-1] == i

    made.clear()
    items = DecodeThread(produce, depth=2, mode="inline")
    got = []
    for i in items:  # in line for the first three, then ahead, as the bench's passes take turns
        got.append(i)
        if i == 2:
            items.mode = "ahead"
            assert wait_until(lambda: made[-1] >= 4, 2)  # two slots free: two items ahead
    assert got == list(range(10))

    made.clear()
    items = DecodeThread(produce, depth=2)
    for i in items:  # "ahead", the default: decoding runs ahead of a slow consumer
        if i == 3:
            assert wait_until(lambda: made[-1] > 3, 2)
            break


def test_a_decoder_error_reaches_the_analysis_where_it_happened(video: Path) -> None:
    """A frame that cannot be decoded (a real recording whose 6th retrieve fails) raises VideoError
    in the consumer after the 5 good frames, naming the frame and the file; the thread is gone."""

    class FailingRetrieve:
        def __init__(self, cap: Any) -> None:
            self.cap, self.n = cap, 0

        def grab(self) -> bool:
            return bool(self.cap.grab())

        def retrieve(self, buf: Any = None) -> tuple[bool, Any]:
            self.n += 1
            return (False, None) if self.n == 6 else self.cap.retrieve(buf)

        def get(self, prop: int) -> float:
            return float(self.cap.get(prop))

    cap, info = open_video(video)
    frames = DecodeThread(FrameSampler(FailingRetrieve(cap), info, fps=1000.0).__iter__, 1)
    seen = []
    with pytest.raises(VideoError, match=f"cannot decode frame 5 of .*{VIDEO}"):
        for i, _, _ in frames:
            seen.append(i)
    cap.release()
    assert seen == [0, 1, 2, 3, 4]
    assert not frames.alive


def test_leaving_early_stops_and_joins_the_decoder(video: Path) -> None:
    """An exception in the analysis (here after 3 frames) stops the decoder, which is blocked on a
    full queue, and joins its thread before the caller releases the capture."""
    cap, info = open_video(video)
    frames = DecodeThread(FrameSampler(cap, info, fps=1000.0).__iter__, 1)
    with pytest.raises(RuntimeError, match="analysis failed"):
        for i, _, _ in frames:
            if i == 2:
                time.sleep(0.05)  # let the decoder fill the queue and block
                raise RuntimeError("analysis failed")
    assert not frames.alive
    cap.release()


def test_truncated_recordings(video: Path, videos_dir: Path, tmp_path: Path) -> None:
    """A recording cut off mid-file (a copy that stopped at 60%; this MP4 keeps its index at the
    start) is analysed up to where its data ends, with no thread left behind; one cut before its
    index (an MP4 whose moov box is at the end) is refused with a one-line VideoError naming it."""
    cfg = Config()
    cfg = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, emotion=False))
    data = video.read_bytes()
    assert data.find(b"moov") < 100
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    result = analyze_video(cut, cfg, progress=False)
    assert 10 <= result.stats.seen < 58  # the frames before the cut, and no more
    assert result.stats.analysed >= 4 and result.summary["frames"]["seen"] == result.stats.seen
    assert not _decode_threads()

    squats = (videos_dir / "tfjs_pose_squats.mp4").read_bytes()
    assert squats.find(b"moov") > len(squats) // 2
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(squats[: len(squats) // 2])
    with pytest.raises(VideoError, match="cannot read .*broken.mp4"):
        analyze_video(broken, cfg, progress=False)
    assert not _decode_threads()
