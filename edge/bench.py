"""`ppt-edge bench`: where the time of one analysed frame goes, set against the bare pose model.

One run measures, on the same interpreter (same threads, same model):
- the bare pose invoke rate: `invoke()` alone on a real frame's input, before and after the pipeline
  pass (so that a machine getting busier shows up as a difference between the two);
- the pipeline: every decoded frame of the video is analysed (no timestamp sampling: this is a
  throughput test), with per-stage milliseconds (decode, preprocess, pose invoke, features, emotion,
  statistics), end-to-end analysed frames per second, and the ratio to the bare invoke rate;
- CPU seconds per analysed frame (process time, all threads) and peak RSS; with `--loop-minutes` the
  video plays over and over, and RSS at start and end shows whether memory stays flat.

"End to end" is reported twice: without decode (a camera delivers decoded frames, in another thread)
and with it (a recording decoded on the same cores). Timing figures are printed, never asserted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.analysis.pipeline import FrameAnalyzer
from edge.analyze import VideoError, open_video
from edge.config import Config
from edge.session.stats import SessionStats

logger = logging.getLogger(__name__)

STAGES = ("decode", "preprocess", "pose", "face", "features", "emotion", "statistics")
KEEP = 4096  # recent samples per stage kept for percentiles: memory stays flat on long loops


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


@dataclass
class StageTimes:
    """Running sum and count of one stage, plus the latest `KEEP` samples for percentiles."""

    total_ms: float = 0.0
    n: int = 0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))

    def add(self, ms: float) -> None:
        self.total_ms += ms
        self.n += 1
        self.recent.append(ms)

    @property
    def mean(self) -> float:
        return self.total_ms / self.n if self.n else 0.0

    def pct(self, q: float) -> float:
        if not self.recent:
            return 0.0
        data = sorted(self.recent)
        return data[min(len(data) - 1, int(q / 100.0 * len(data)))]


@dataclass
class BenchResult:
    variant: str
    model: str
    threads: int
    video: str
    frame_size: tuple[int, int]
    frames: int
    loops: int
    wall_s: float
    stages: dict[str, StageTimes]
    per_frame_ms: StageTimes  # analysis (preprocess..statistics) per frame, without decode
    bare_invoke_ms: list[float]  # mean bare invoke ms of each bare block (before, after)
    cpu_s: float
    rss_start_mb: float | None
    rss_end_mb: float | None
    peak_rss_mb: float
    emotion_runs: int
    rss_per_minute: list[float] = field(default_factory=list)  # RSS at each whole minute of the run

    @property
    def bare_ms(self) -> float:
        return statistics.fmean(self.bare_invoke_ms)

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
        """Analysed frames per second of wall time, decode included."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def report(self) -> str:
        lines = [
            f"ppt-edge bench: {self.model} ({self.variant}), {self.threads} threads, {self.video} "
            f"{self.frame_size[0]}x{self.frame_size[1]}",
            f"  {self.frames} frames analysed ({self.loops} pass{'es' if self.loops != 1 else ''}) "
            f"in {self.wall_s:.1f} s; {self.emotion_runs} faces classified",
            "",
            f"  {'stage':<12} {'mean ms':>8} {'p50':>7} {'p90':>7}   (per analysed frame)",
        ]
        for name in STAGES:
            st = self.stages[name]
            per_frame = st.total_ms / self.frames if self.frames else 0.0
            note = f"   ({st.n} face checks, {st.mean:.2f} ms each)" if name in ("face", "emotion") and st.n else ""
            lines.append(f"  {name:<12} {per_frame:8.2f} {st.pct(50):7.2f} {st.pct(90):7.2f}{note}")
        lines += [
            f"  {'analysis':<12} {self.per_frame_ms.mean:8.2f} {self.per_frame_ms.pct(50):7.2f} "
            f"{self.per_frame_ms.pct(90):7.2f}   (preprocess..statistics)",
            "",
            f"  bare pose invoke     {self.bare_ms:7.2f} ms = {self.bare_fps:6.1f} /s   "
            f"(blocks before/after: {', '.join(f'{b:.2f}' for b in self.bare_invoke_ms)} ms)",
            f"  pipeline, no decode  {self.pipeline_fps:6.1f} fps   ratio to bare invoke "
            f"{self.pipeline_fps / self.bare_fps if self.bare_fps else 0:.2f}",
            f"  end to end, decode   {self.e2e_fps:6.1f} fps   ratio to bare invoke "
            f"{self.e2e_fps / self.bare_fps if self.bare_fps else 0:.2f}",
            f"  CPU per frame        {self.cpu_s / max(self.frames, 1) * 1000:7.2f} ms CPU "
            f"({self.cpu_s / max(self.wall_s, 1e-9):.2f} cores busy on average)",
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
    return statistics.fmean(times)


def bench_config(cfg: Config, variant: str | None = None, threads: int | None = None) -> Config:
    """The config with the bench's overrides of the pose variant and thread count."""
    models = cfg.models
    if variant is not None:
        models = dataclasses.replace(models, pose_variant=variant)  # type: ignore[arg-type]
    if threads is not None:
        models = dataclasses.replace(models, threads=int(threads))
    return dataclasses.replace(cfg, models=models)


def run_bench(
    cfg: Config,
    video: Path,
    loop_minutes: float = 0.0,
    bare_seconds: float = 3.0,
    max_frames: int | None = None,
) -> BenchResult:
    """Run the benchmark (see the module docstring); `max_frames` caps a single pass (tests)."""
    analyzer = FrameAnalyzer(cfg)
    cap, info = open_video(Path(video))
    ok, frame = cap.read()
    cap.release()
    if not ok or frame is None:
        raise VideoError(f"cannot read {video}: no frame could be decoded")
    period = 1.0 / info.fps if info.fps > 0 else 1.0 / 30.0
    for i in range(5):  # warm up: caches, XNNPACK packing, the features' first frames
        analyzer.analyze(frame, i * period)
    analyzer.reset()

    stages = {name: StageTimes() for name in STAGES}
    per_frame = StageTimes()
    stats = SessionStats(0.0, bin_s=cfg.session.bin_s, max_bins=cfg.session.max_bins)
    bare = [_bare_block(analyzer, bare_seconds)]
    rss_start = rss_mb()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    deadline = wall0 + loop_minutes * 60.0
    frames = loops = emotion_runs = 0
    t_offset = 0.0
    index = 0
    rss_trace: list[float] = []
    next_sample = wall0 + 60.0
    cap, _ = open_video(Path(video))
    buf = frame
    try:
        while True:
            t0 = time.perf_counter()
            ok, img = cap.read(buf)
            dec = (time.perf_counter() - t0) * 1000.0
            if not ok or img is None or (max_frames is not None and index >= max_frames):
                loops += 1
                if time.perf_counter() >= deadline or index == 0:
                    break
                t_offset += index * period  # video time keeps running across loops
                index = 0
                cap.release()
                cap, _ = open_video(Path(video))
                continue
            buf = img
            t = t_offset + index * period
            index += 1
            result = analyzer.analyze(img, t)
            t1 = time.perf_counter()
            stats.add_seen(1, t)
            stats.add_frame(t, result.features)
            if result.emotion is not None:
                stats.add_emotion(t, result.emotion)
            st_ms = (time.perf_counter() - t1) * 1000.0
            tm = result.timings_ms
            stages["decode"].add(dec)
            stages["preprocess"].add(tm["preprocess"])
            stages["pose"].add(tm["pose"])
            stages["features"].add(tm["features"])
            if tm.get("face", 0.0) > 0.0:
                stages["face"].add(tm["face"])
            if tm["emotion"] > 0.0:
                stages["emotion"].add(tm["emotion"])
            if result.emotion is not None:
                emotion_runs += 1
            stages["statistics"].add(st_ms)
            per_frame.add(tm["preprocess"] + tm["pose"] + tm.get("face", 0.0) + tm["features"] + tm["emotion"] + st_ms)
            frames += 1
            if t1 >= next_sample:
                rss = rss_mb()
                if rss is not None:
                    rss_trace.append(rss)
                next_sample += 60.0
    finally:
        cap.release()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    rss_end = rss_mb()
    bare.append(_bare_block(analyzer, bare_seconds))
    return BenchResult(
        variant=cfg.models.pose_variant,
        model=analyzer.models.pose.name,
        threads=cfg.models.threads,
        video=Path(video).name,
        frame_size=(info.width, info.height),
        frames=frames,
        loops=loops,
        wall_s=wall,
        stages=stages,
        per_frame_ms=per_frame,
        bare_invoke_ms=bare,
        cpu_s=cpu,
        rss_start_mb=rss_start,
        rss_end_mb=rss_end,
        peak_rss_mb=peak_rss_mb(),
        emotion_runs=emotion_runs,
        rss_per_minute=rss_trace,
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
        "stages_ms": {k: round(v.total_ms / max(result.frames, 1), 3) for k, v in result.stages.items()},
        "bare_invoke_fps": round(result.bare_fps, 2),
        "pipeline_fps": round(result.pipeline_fps, 2),
        "e2e_fps": round(result.e2e_fps, 2),
        "cpu_s_per_frame": round(result.cpu_s / max(result.frames, 1), 5),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "rss_start_mb": result.rss_start_mb,
        "rss_end_mb": result.rss_end_mb,
    }
