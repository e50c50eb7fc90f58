"""`ppt-edge bench`: where the time of one analysed frame goes, set against the bare pose model.

One run measures, on the same interpreter (same threads, same model):
- the bare pose invoke rate: `invoke()` alone on a real frame's input, in short blocks interleaved
  with the passes over the video (before the first, between passes, after the last), so that a
  machine whose load changes during the run weighs on both sides of the ratio alike;
- the pipeline: every decoded frame of the video is analysed (no timestamp sampling: this is a
  throughput test), pass after pass until at least `min_seconds` of pipeline time, with per-stage
  milliseconds (decode on its reader thread, then every stage of `edge.analysis.pipeline.STAGES`,
  then statistics), end-to-end analysed frames per second, and the ratio to the bare invoke rate;
- CPU seconds per analysed frame (all threads; and, on Linux, those of the analysing threads alone,
  without the decoder's), the share of one core that analysing at `analysis.fps` leaves idle, and
  peak RSS; with `--loop-minutes` the video plays over and over, and RSS per minute shows whether
  memory stays flat.

"End to end" is reported twice: without decode (a camera delivers decoded frames, in another thread)
and with it (a recording decoded on its own thread, as `ppt-edge analyze` does, on the same cores).
Timing figures are printed, never asserted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.analysis import pipeline
from edge.analysis.pipeline import FrameAnalyzer
from edge.analyze import VideoError, VideoInfo, open_video
from edge.config import Config
from edge.decoding import DECODE_DEPTH, BufferPool, DecodeThread
from edge.session.stats import SessionStats

logger = logging.getLogger(__name__)

KEEP = 4096  # recent samples per stage kept for percentiles: memory stays flat on long loops


def stage_names() -> tuple[str, ...]:
    """Decode, the analyser's own stages (whatever `pipeline.STAGES` lists), statistics."""
    return ("decode", *pipeline.STAGES, "statistics")


STAGES = stage_names()


def rss_mb() -> float | None:
    """Current resident set size in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float:
    """Peak resident set size in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def thread_cpu_s() -> dict[int, float] | None:
    """CPU seconds (user + system) of each live thread of this process (Linux /proc; None elsewhere)."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[int, float] = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return out
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class StageTimes:
    """Running sum and count of one stage, plus the latest `KEEP` samples for percentiles, in a ring
    allocated up front: the bench's own bookkeeping does not grow while `--loop-minutes` watches RSS."""

    total_ms: float = 0.0
    n: int = 0
    recent: np.ndarray = field(default_factory=lambda: np.zeros(KEEP))

    def add(self, ms: float) -> None:
        self.recent[self.n % KEEP] = ms
        self.total_ms += ms
        self.n += 1

    @property
    def mean(self) -> float:
        return self.total_ms / self.n if self.n else 0.0

    def pct(self, q: float) -> float:
        k = min(self.n, KEEP)
        if not k:
            return 0.0
        data = np.sort(self.recent[:k])
        return float(data[min(k - 1, int(q / 100.0 * k))])


@dataclass
class BenchResult:
    variant: str
    model: str
    threads: int
    video: str
    frame_size: tuple[int, int]
    frames: int  # analysed, in all passes
    loops: int
    wall_s: float  # pipeline time of all passes (the bare blocks in between are not in it)
    stages: dict[str, StageTimes]  # timed in the in-line passes (decode never overlaps a stage)
    per_frame_ms: StageTimes  # analysis (the pipeline's stages and statistics) per frame, without decode
    bare_invoke_ms: list[float]  # mean bare invoke ms of each bare block, in the order they ran
    cpu_s: float  # process CPU over the pipeline time, every thread
    rss_start_mb: float | None
    rss_end_mb: float | None
    peak_rss_mb: float
    emotion_runs: int
    rss_per_minute: list[float] = field(default_factory=list)  # RSS at each whole minute of the run
    analysis_cpu_s: float | None = None  # CPU of the analysing threads alone (no decoder), Linux only
    decode_wait_ms: float = 0.0  # time the analysis waited for decoded frames, threaded passes
    analysis_fps: float = 10.0  # the config's analysis.fps, for the headroom line
    inline_frames: int = 0  # passes with decode in line (lock-step), which time the stages
    inline_wall_s: float = 0.0
    threaded_frames: int = 0  # passes with decode on its own thread (as `analyze` runs)
    threaded_wall_s: float = 0.0

    @property
    def bare_ms(self) -> float:
        return _mean(self.bare_invoke_ms)

    @property
    def bare_fps(self) -> float:
        return 1000.0 / self.bare_ms if self.bare_ms > 0 else 0.0

    @property
    def pipeline_fps(self) -> float:
        """Analysed frames per second without decode (camera frames arrive decoded)."""
        ms = self.per_frame_ms.mean
        return 1000.0 / ms if ms > 0 else 0.0

    @property
    def e2e_fps(self) -> float:
        """Analysed frames per second of wall time, decoding on its own thread (as `analyze` does)."""
        if self.threaded_wall_s > 0:
            return self.threaded_frames / self.threaded_wall_s
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def inline_fps(self) -> float:
        """Analysed frames per second of wall time, decoding in line before each frame."""
        return self.inline_frames / self.inline_wall_s if self.inline_wall_s > 0 else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        return self.cpu_s / max(self.frames, 1) * 1000.0

    @property
    def analysis_cpu_ms_per_frame(self) -> float | None:
        return None if self.analysis_cpu_s is None else self.analysis_cpu_s / max(self.frames, 1) * 1000.0

    @property
    def idle_share(self) -> float:
        """Share of one core left idle when analysing `analysis_fps` frames a second (a camera
        delivers decoded frames: the analysing threads' CPU when known, else all of it)."""
        ms = self.analysis_cpu_ms_per_frame
        ms = self.cpu_ms_per_frame if ms is None else ms
        return max(0.0, 1.0 - ms / 1000.0 * self.analysis_fps)

    def report(self) -> str:
        lines = [
            f"ppt-edge bench: {self.model} ({self.variant}), {self.threads} threads, {self.video} "
            f"{self.frame_size[0]}x{self.frame_size[1]}",
            f"  {self.frames} frames analysed ({self.loops} pass{'es' if self.loops != 1 else ''}, decode in "
            f"line and on its own thread in turn) in {self.wall_s:.1f} s; {self.emotion_runs} faces classified",
            "",
            f"  {'stage':<12} {'mean ms':>8} {'p50':>7} {'p90':>7}   (per analysed frame)",
        ]
        timed = self.inline_frames or self.frames
        for name in self.stages:
            st = self.stages[name]
            per_frame = st.total_ms / timed if timed else 0.0
            note = ""
            if name == "decode" and self.threaded_frames:
                note = (f"   (on its own thread, the analysis waited "
                        f"{self.decode_wait_ms / self.threaded_frames:.2f} ms/frame for it)")
            elif st.n and st.n < timed:
                note = f"   ({st.n} runs, {st.mean:.2f} ms each)"
            lines.append(f"  {name:<12} {per_frame:8.2f} {st.pct(50):7.2f} {st.pct(90):7.2f}{note}")
        analysed = [n for n in self.stages if n != "decode"]
        lines += [
            f"  {'analysis':<12} {self.per_frame_ms.mean:8.2f} {self.per_frame_ms.pct(50):7.2f} "
            f"{self.per_frame_ms.pct(90):7.2f}   ({analysed[0]}..{analysed[-1]})",
            "",
            f"  bare pose invoke     {self.bare_ms:7.2f} ms = {self.bare_fps:6.1f} /s   "
            f"({len(self.bare_invoke_ms)} blocks: {min(self.bare_invoke_ms):.2f}..{max(self.bare_invoke_ms):.2f} ms)",
            f"  pipeline, no decode  {self.pipeline_fps:6.1f} fps   ratio to bare invoke "
            f"{self.pipeline_fps / self.bare_fps if self.bare_fps else 0:.2f}",
            f"  end to end, decode   {self.e2e_fps:6.1f} fps   ratio to bare invoke "
            f"{self.e2e_fps / self.bare_fps if self.bare_fps else 0:.2f}   (decoding on its own thread, "
            "ahead of the analysis)",
            f"  decode in line       {self.inline_fps:6.1f} fps   ratio to bare invoke "
            f"{self.inline_fps / self.bare_fps if self.bare_fps else 0:.2f}   (decode, then analyse, one thread)",
            f"  CPU per frame        {self.cpu_ms_per_frame:7.2f} ms CPU, all threads "
            f"({self.cpu_s / max(self.wall_s, 1e-9):.2f} cores busy on average)",
        ]
        a_ms = self.analysis_cpu_ms_per_frame
        if a_ms is not None:
            lines.append(f"  CPU per frame        {a_ms:7.2f} ms CPU, analysing threads (without the decoder)")
        busy = 1.0 - self.idle_share
        lines += [
            f"  headroom             at analysis.fps = {self.analysis_fps:g}: {busy * 100:.1f}% of one core busy, "
            f"{self.idle_share * 100:.1f}% idle",
            f"  memory               RSS start {_mb(self.rss_start_mb)}, end {_mb(self.rss_end_mb)}, "
            f"peak {self.peak_rss_mb:.1f} MiB",
        ]
        if self.rss_per_minute:
            trace = self.rss_per_minute
            step = max(1, len(trace) // 12)
            shown = ", ".join(f"{i + 1} min {trace[i]:.1f}" for i in range(0, len(trace), step))
            lines.append(f"  RSS during the run   {shown} MiB")
            if len(trace) >= 2:
                growth = trace[-1] - trace[0]
                lines.append(f"  RSS minute 1 -> end  {growth:+.1f} MiB (max {max(trace):.1f} MiB)")
        return "\n".join(lines)


def _mean(values: list[float]) -> float:
    """`statistics.fmean` without importing `statistics` (0.7 MiB with `fractions` and `decimal`) into
    the process whose memory is measured."""
    return math.fsum(values) / len(values)


def _mb(v: float | None) -> str:
    return "?" if v is None else f"{v:.1f} MiB"


def _bare_block(analyzer: FrameAnalyzer, seconds: float, min_runs: int = 20) -> float:
    """Mean ms of the bare pose invoke (input already set by the last analysed frame)."""
    est = analyzer.pose_estimator
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < end:
        t0 = time.perf_counter()
        est.invoke()
        times.append((time.perf_counter() - t0) * 1000.0)
    return _mean(times)


def bench_config(cfg: Config, variant: str | None = None, threads: int | None = None) -> Config:
    """The config with the bench's overrides of the pose variant and thread count."""
    models = cfg.models
    if variant is not None:
        models = dataclasses.replace(models, pose_variant=variant)  # type: ignore[arg-type]
    if threads is not None:
        models = dataclasses.replace(models, threads=int(threads))
    return dataclasses.replace(cfg, models=models)


Decoded = tuple[int, np.ndarray | None, float]  # frame index (-1: a pass ended), frame, decode ms


class _Passes:
    """Every frame of the video, pass after pass, with its decode time; (-1, None, 0) after each pass.
    Runs on the decode thread (the capture is opened, read and released there); the consumer decides
    when to stop. `info` is set before the first frame is handed over."""

    def __init__(self, video: Path, pool: BufferPool, max_frames: int | None) -> None:
        self.video, self.pool, self.max_frames = video, pool, max_frames
        self.info: VideoInfo | None = None

    def __call__(self) -> Iterator[Decoded]:
        cap, self.info = open_video(self.video)
        try:
            while True:
                index = 0
                while self.max_frames is None or index < self.max_frames:
                    t0 = time.perf_counter()
                    ok, img = cap.read(self.pool.take())
                    ms = (time.perf_counter() - t0) * 1000.0
                    if not ok or img is None:
                        break
                    yield index, img, ms
                    index += 1
                if index == 0:
                    raise VideoError(f"cannot read {self.video}: no frame could be decoded")
                yield -1, None, 0.0
                # back to the start: a seek keeps the decoder's memory, a reopen would fragment it
                if not cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    cap.release()
                    cap, self.info = open_video(self.video)
        finally:
            cap.release()


def _sum_cpu(tids: set[int], base: dict[int, float]) -> float:
    """CPU seconds the threads `tids` used since `base` was read."""
    now = thread_cpu_s() or {}
    return sum(now.get(t, base.get(t, 0.0)) - base.get(t, 0.0) for t in tids)


def run_bench(
    cfg: Config,
    video: Path,
    loop_minutes: float = 0.0,
    bare_seconds: float = 0.5,
    max_frames: int | None = None,
    min_seconds: float = 5.0,
) -> BenchResult:
    """Run the benchmark (see the module docstring); `max_frames` caps each pass (tests), passes
    repeat until `min_seconds` of pipeline time (and `loop_minutes`) have gone by."""
    video = Path(video)
    if not video.is_file():  # fail before the models load; an unreadable file fails on the decode thread
        raise VideoError(f"video not found: {video}")
    analyzer = FrameAnalyzer(cfg)
    black = np.zeros((480, 640, 3), np.uint8)
    analyzer.analyze(black, 0.0)  # starts every worker thread the analysis uses (interpreters, OpenCV)
    analyzer.reset()
    base = thread_cpu_s()  # the analysing threads: those alive before the decoder starts
    tids = set(base) if base is not None else set()
    analysis_cpu: float | None = 0.0 if base is not None else None

    pool = BufferPool(DECODE_DEPTH + 1)
    passes = _Passes(video, pool, max_frames)
    decoded = DecodeThread(passes, DECODE_DEPTH, name="ppt-bench-decode", mode="inline",
                           release=lambda item: pool.give(item[1]) if item[1] is not None else None)
    stages = {name: StageTimes() for name in stage_names()}
    per_frame = StageTimes()
    stats = SessionStats(0.0, bin_s=cfg.session.bin_s, max_bins=cfg.session.max_bins)
    bare: list[float] = []
    frames = loops = emotion_runs = 0
    n_mode = [0, 0]  # frames of the in-line (0) and threaded (1) passes
    w_mode = [0.0, 0.0]  # their wall time
    cpu = wait = 0.0
    period = t_offset = 0.0
    last_index = 0
    rss_start: float | None = None
    rss_trace: list[float] = []
    seg_wall = seg_cpu = seg_wait = next_sample = deadline = 0.0

    def start_segment() -> None:
        nonlocal seg_wall, seg_cpu, seg_wait, base
        if base is not None:
            now = thread_cpu_s() or {}
            base = {t: now[t] for t in tids if t in now}
        seg_wall, seg_cpu, seg_wait = time.perf_counter(), time.process_time(), decoded.wait_s

    try:
        for index, img, dec_ms in decoded:
            mode = 0 if decoded.mode == "inline" else 1
            if index < 0:  # a pass ended: close the segment, run a bare block, open the next one
                w_mode[mode] += time.perf_counter() - seg_wall
                cpu += time.process_time() - seg_cpu
                if mode:
                    wait += decoded.wait_s - seg_wait
                if base is not None and analysis_cpu is not None:
                    analysis_cpu += _sum_cpu(tids, base)
                loops += 1
                t_offset += last_index * period  # video time keeps running across passes
                bare.append(_bare_block(analyzer, bare_seconds))
                done = sum(w_mode) >= min_seconds and time.perf_counter() >= deadline
                if done and loops >= 2:
                    break
                decoded.mode = "ahead" if mode == 0 else "inline"  # in line and threaded passes take turns
                start_segment()
                continue
            assert img is not None
            if not bare:  # the first frame: warm up on it (caches, XNNPACK packing), then start timing
                info = passes.info
                period = 1.0 / info.fps if info is not None and info.fps > 0 else 1.0 / 30.0
                for i in range(5):
                    analyzer.analyze(img, i * period)
                analyzer.reset()
                bare.append(_bare_block(analyzer, bare_seconds))
                rss_start = rss_mb()
                deadline = time.perf_counter() + loop_minutes * 60.0
                next_sample = time.perf_counter() + 60.0
                start_segment()
            last_index = index + 1
            t = t_offset + index * period
            result = analyzer.analyze(img, t)
            t1 = time.perf_counter()
            stats.add_seen(1, t)
            stats.add_frame(t, result.features)
            if result.emotion is not None:
                stats.add_emotion(t, result.emotion)
            st_ms = (time.perf_counter() - t1) * 1000.0
            if mode == 0:  # stage times from the in-line passes only: nothing else runs meanwhile
                tm = result.timings_ms
                stages["decode"].add(dec_ms)
                total = st_ms
                for name in pipeline.STAGES:
                    ms = tm.get(name, 0.0)
                    total += ms
                    if ms > 0.0:
                        stages[name].add(ms)
                stages["statistics"].add(st_ms)
                per_frame.add(total)
            if result.emotion is not None:
                emotion_runs += 1
            frames += 1
            n_mode[mode] += 1
            if t1 >= next_sample:
                rss = rss_mb()
                if rss is not None:
                    rss_trace.append(rss)
                next_sample += 60.0
    finally:
        decoded.close()
    info = passes.info
    assert info is not None
    return BenchResult(
        variant=cfg.models.pose_variant,
        model=analyzer.models.pose.name,
        threads=cfg.models.threads,
        video=video.name,
        frame_size=(info.width, info.height),
        frames=frames,
        loops=loops,
        wall_s=sum(w_mode),
        stages=stages,
        per_frame_ms=per_frame,
        bare_invoke_ms=bare,
        cpu_s=cpu,
        rss_start_mb=rss_start,
        rss_end_mb=rss_mb(),
        peak_rss_mb=peak_rss_mb(),
        emotion_runs=emotion_runs,
        rss_per_minute=rss_trace,
        analysis_cpu_s=analysis_cpu,
        decode_wait_ms=wait * 1000.0,
        analysis_fps=cfg.analysis.fps,
        inline_frames=n_mode[0],
        inline_wall_s=w_mode[0],
        threaded_frames=n_mode[1],
        threaded_wall_s=w_mode[1],
    )


def default_video(cfg: Config) -> Path | None:
    """The bench's video when none is given: the configured file camera's recording, if any."""
    if cfg.camera.backend == "file" and cfg.camera.path is not None:
        return cfg.camera.path
    return None


def describe(result: BenchResult) -> dict[str, Any]:
    """The figures as a dict (for logs or a JSON dump)."""
    return {
        "model": result.model,
        "threads": result.threads,
        "frames": result.frames,
        "stages_ms": {k: round(v.total_ms / max(result.inline_frames or result.frames, 1), 3)
                      for k, v in result.stages.items()},
        "bare_invoke_fps": round(result.bare_fps, 2),
        "pipeline_fps": round(result.pipeline_fps, 2),
        "e2e_fps": round(result.e2e_fps, 2),
        "inline_fps": round(result.inline_fps, 2),
        "cpu_s_per_frame": round(result.cpu_s / max(result.frames, 1), 5),
        "analysis_cpu_s_per_frame": (None if result.analysis_cpu_s is None
                                     else round(result.analysis_cpu_s / max(result.frames, 1), 5)),
        "idle_share_at_analysis_fps": round(result.idle_share, 4),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "rss_start_mb": result.rss_start_mb,
        "rss_end_mb": result.rss_end_mb,
    }
