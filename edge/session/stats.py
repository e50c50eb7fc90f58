"""Streaming session statistics in constant memory: no per-frame list is ever kept.

- yes/no features: a share counter (frames where it held / frames where it was measured);
- continuous features: exact mean (running sum) and p10/p50/p90 from a fixed-bin histogram over the
  metric's declared range (`MetricSpec.lo..hi`, 1000 bins by default). A percentile is within one
  bin width of numpy's linear-interpolation percentile for values inside the range, and is clamped
  to the exact observed min/max; values outside the range fall into the end bins (so percentiles
  saturate there, the mean stays exact);
- a timeline of fixed-width bins (default 5 s) per metric holding the mean in each bin. At most
  `max_bins` bins: past that, neighbouring pairs merge and the bin width doubles, so a session of any
  length fits (720 bins of 5 s = 1 h before the first doubling);
- emotion counts over the 7 FER classes, folded into 3 (positive, negative, neutral);
- frame counters (seen, analysed, with a person, with an emotion) and analysed/source fps.

`to_dict()`/`from_dict()` give an exact JSON-able checkpoint of all of it.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from edge.analysis.emotion import EMOTION3_OF, EMOTIONS3, EMOTIONS7
from edge.analysis.features import METRICS, FrameFeatures, MetricSpec

logger = logging.getLogger(__name__)

# Timeline series that are not frame-feature metrics.
PRESENT_SERIES = "present"  # share of analysed frames with the presenter in view
EMOTION_SERIES = ("emotion_positive", "emotion_negative")  # share of classified faces per bin

DEFAULT_HIST_BINS = 1000
STATS_VERSION = 1


class Histogram:
    """Fixed-bin histogram of one continuous metric plus its exact count, sum, min and max."""

    def __init__(self, lo: float, hi: float, bins: int = DEFAULT_HIST_BINS) -> None:
        if not hi > lo or bins < 1:
            raise ValueError(f"bad histogram range {lo}..{hi} with {bins} bins")
        self.lo = float(lo)
        self.hi = float(hi)
        self.bins = int(bins)
        self.width = (self.hi - self.lo) / self.bins
        self.counts = [0] * self.bins
        self.n = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, v: float) -> None:
        if v <= self.lo:
            i = 0
        else:
            i = int((v - self.lo) / self.width)
            if i >= self.bins:
                i = self.bins - 1
        self.counts[i] += 1
        self.n += 1
        self.total += v
        if v < self.min:
            self.min = v
        if v > self.max:
            self.max = v

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100), estimated like numpy's default linear interpolation.

        The rank q/100*(n-1) is located in the cumulative counts; inside a bin its members are taken
        as evenly spread. Error <= one bin width for values inside the range.
        """
        if self.n == 0:
            return None
        rank = q / 100.0 * (self.n - 1)
        cum = list(itertools.accumulate(self.counts))
        b = bisect.bisect_right(cum, rank)
        b = min(b, self.bins - 1)
        before = cum[b - 1] if b > 0 else 0
        count = self.counts[b]
        frac = (rank - before + 0.5) / count if count else 0.5
        value = self.lo + (b + frac) * self.width
        return min(max(value, self.min), self.max)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "bins": self.bins,
            "nonzero": [[i, c] for i, c in enumerate(self.counts) if c],
            "n": self.n,
            "total": self.total,
            "min": self.min if self.n else None,
            "max": self.max if self.n else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Histogram:
        h = cls(d["lo"], d["hi"], d["bins"])
        for i, c in d["nonzero"]:
            h.counts[int(i)] = int(c)
        h.n = int(d["n"])
        h.total = float(d["total"])
        h.min = math.inf if d["min"] is None else float(d["min"])
        h.max = -math.inf if d["max"] is None else float(d["max"])
        if sum(h.counts) != h.n:
            raise ValueError("histogram counts do not add up to n")
        return h


class Timeline:
    """Per-series means in fixed-width time bins from the session start, at most `max_bins` bins.

    When a time falls past the last bin, neighbouring bins merge pairwise (sums and counts add) and
    the width doubles, as often as needed: memory stays `len(names) x max_bins`, and the bins stay
    aligned to the session start.
    """

    def __init__(self, names: Iterable[str], bin_s: float = 5.0, max_bins: int = 720) -> None:
        if not bin_s > 0 or max_bins < 2:
            raise ValueError("timeline needs bin_s > 0 and max_bins >= 2")
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.bin_s = float(bin_s)
        self.max_bins = int(max_bins)
        self.sums = [[0.0] * self.max_bins for _ in self.names]
        self.counts = [[0] * self.max_bins for _ in self.names]
        self.used = 0  # bins in use: 1 + the highest bin index written

    def bin_of(self, t_rel: float) -> int:
        b = int(t_rel // self.bin_s) if t_rel > 0.0 else 0
        while b >= self.max_bins:
            self._merge()
            b = int(max(t_rel, 0.0) // self.bin_s)
        return b

    def _merge(self) -> None:
        self.sums = [self._merged(row, 0.0) for row in self.sums]
        self.counts = [self._merged(row, 0) for row in self.counts]
        self.bin_s *= 2.0
        self.used = (self.used + 1) // 2
        logger.debug("timeline full: bin width doubled to %.1f s", self.bin_s)

    def _merged(self, row: list[Any], zero: Any) -> list[Any]:
        """Neighbour pairs added; an odd last bin kept on its own; zero-padded to max_bins."""
        merged = [a + b for a, b in zip(row[0::2], row[1::2], strict=False)]
        if len(row) % 2:
            merged.append(row[-1])
        return merged + [zero] * (self.max_bins - len(merged))

    def add(self, t_rel: float, values: Mapping[str, float]) -> None:
        index = self.index
        self.add_indexed(t_rel, [(index[name], v) for name, v in values.items()])

    def add_indexed(self, t_rel: float, values: Iterable[tuple[int, float]]) -> None:
        """`add` with series given by their index in `names` (the per-frame path: no name lookups)."""
        b = self.bin_of(t_rel)
        if b >= self.used:
            self.used = b + 1
        sums, counts = self.sums, self.counts
        for i, v in values:
            sums[i][b] += v
            counts[i][b] += 1

    def series(self, until: float | None = None) -> dict[str, list[float | None]]:
        """Mean per bin for each series (None for an empty bin), up to the bin holding `until`."""
        n = self.used
        if until is not None:
            n = min(n, int(max(until, 0.0) // self.bin_s) + 1)
        out: dict[str, list[float | None]] = {}
        for name, i in self.index.items():
            s, c = self.sums[i], self.counts[i]
            out[name] = [s[b] / c[b] if c[b] else None for b in range(n)]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "bin_s": self.bin_s,
            "max_bins": self.max_bins,
            "used": self.used,
            "sums": [row[: self.used] for row in self.sums],
            "counts": [row[: self.used] for row in self.counts],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Timeline:
        tl = cls(d["names"], d["bin_s"], d["max_bins"])
        tl.used = int(d["used"])
        for i in range(len(tl.names)):
            tl.sums[i][: tl.used] = [float(v) for v in d["sums"][i]]
            tl.counts[i][: tl.used] = [int(v) for v in d["counts"][i]]
        return tl


def emotion_index(label: int | str) -> int:
    """Class index (0..6, FER order) of an emotion given by index or name."""
    if isinstance(label, str):
        try:
            return EMOTIONS7.index(label.lower())
        except ValueError:
            raise ValueError(f"unknown emotion {label!r}; expected one of {', '.join(EMOTIONS7)}") from None
    i = int(label)
    if not 0 <= i < len(EMOTIONS7):
        raise ValueError(f"emotion index {i} out of range 0..6")
    return i


class SessionStats:
    """All statistics of one session, updated frame by frame in constant memory.

    Times are seconds on any monotonic clock (video time for `analyze`); `t0` is the session start.
    """

    def __init__(
        self,
        t0: float = 0.0,
        bin_s: float = 5.0,
        max_bins: int = 720,
        metrics: Iterable[MetricSpec] = METRICS,
        hist_bins: int = DEFAULT_HIST_BINS,
    ) -> None:
        self.t0 = float(t0)
        self.metrics: tuple[MetricSpec, ...] = tuple(metrics)
        self.specs = {m.name: m for m in self.metrics}
        self.shares: dict[str, list[int]] = {m.name: [0, 0] for m in self.metrics if m.kind == "share"}
        self.hists: dict[str, Histogram] = {
            m.name: Histogram(m.lo, m.hi, hist_bins) for m in self.metrics if m.kind == "continuous"
        }
        names = [PRESENT_SERIES, *self.specs, *EMOTION_SERIES]
        self.timeline = Timeline(names, bin_s, max_bins)
        self._index_slots()
        self.emotions = [0] * len(EMOTIONS7)
        self.seen = 0
        self.analysed = 0
        self.with_person = 0
        self.first_t: float | None = None  # first and last analysed frame
        self.last_t: float | None = None
        self.seen_first_t: float | None = None
        self.seen_last_t: float | None = None
        self.last_present_t: float | None = None
        # Counters as they were at the last frame with the presenter: a session that ends by absence
        # is cut back to that moment (`trim_to_last_presence`).
        self._at_last_present: tuple[int, int, float | None] = (0, 0, None)

    def _index_slots(self) -> None:
        """Per metric name: its share counter or histogram and its timeline series, looked up once
        here instead of on every frame. Rebuilt whenever `shares`, `hists` or `timeline` are replaced."""
        index = self.timeline.index
        self._slots: dict[str, tuple[list[int] | None, Histogram | None, int]] = {
            name: (self.shares.get(name), self.hists.get(name), index[name]) for name in self.specs}
        self._present_i = index[PRESENT_SERIES]
        self._emotion_i = (index[EMOTION_SERIES[0]], index[EMOTION_SERIES[1]])

    # --- updates ----------------------------------------------------------------------------------

    def add_seen(self, n: int = 1, t: float | None = None) -> None:
        """Count camera/video frames seen (analysed or not); `t` feeds the source fps."""
        self.seen += n
        if t is not None:
            if self.seen_first_t is None:
                self.seen_first_t = t
            self.seen_last_t = t

    def add_frame(self, t: float, features: FrameFeatures) -> None:
        """Add one analysed frame's features."""
        self.add_values(t, features.present, features.metric_values())

    def add_values(self, t: float, present: bool, values: Mapping[str, bool | float | None]) -> None:
        """Add one analysed frame given as metric name -> value (None = not measured).

        Frames without the presenter count as analysed but feed no metric: shares and percentiles are
        over frames with the presenter in view.
        """
        self.analysed += 1
        if self.first_t is None:
            self.first_t = t
        self.last_t = t
        tl: list[tuple[int, float]] = [(self._present_i, 1.0 if present else 0.0)]
        if present:
            self.with_person += 1
            self.last_present_t = t
            self._at_last_present = (self.seen, self.analysed, self.seen_last_t)
            slots = self._slots
            isfinite = math.isfinite
            for name, v in values.items():
                if v is None:
                    continue
                slot = slots.get(name)
                if slot is None:
                    raise KeyError(f"unknown metric {name!r}")
                share, hist, i = slot
                if share is not None:
                    yes = 1 if v else 0
                    share[0] += yes
                    share[1] += 1
                    tl.append((i, float(yes)))
                elif hist is not None:
                    fv = float(v)
                    if isfinite(fv):
                        hist.add(fv)
                        tl.append((i, fv))
        self.timeline.add_indexed(t - self.t0, tl)

    def add_emotion(self, t: float, label: int | str) -> None:
        """Count one classified face (FER class index 0..6 or name)."""
        i = emotion_index(label)
        self.emotions[i] += 1
        cls3 = EMOTION3_OF[EMOTIONS7[i]]
        pos, neg = self._emotion_i
        self.timeline.add_indexed(
            t - self.t0, ((pos, float(cls3 == "positive")), (neg, float(cls3 == "negative"))))

    def trim_to_last_presence(self) -> None:
        """Forget the frames counted after the presenter was last seen (the trailing absence that
        ended the session), so that frame counts and fps cover the session itself."""
        if self.last_present_t is None:
            return
        self.seen, self.analysed, self.seen_last_t = self._at_last_present
        self.last_t = self.last_present_t

    # --- results ----------------------------------------------------------------------------------

    @property
    def emotion_frames(self) -> int:
        return sum(self.emotions)

    def duration(self) -> float:
        """Seconds from the session start to the last analysed frame."""
        return 0.0 if self.last_t is None else max(0.0, self.last_t - self.t0)

    def analysed_fps(self) -> float:
        """Analysed frames per second of session time (0 with fewer than two frames)."""
        if self.analysed < 2 or self.first_t is None or self.last_t is None or self.last_t <= self.first_t:
            return 0.0
        return (self.analysed - 1) / (self.last_t - self.first_t)

    def source_fps(self) -> float | None:
        """Frames seen per second, when `add_seen` was given timestamps."""
        if self.seen_first_t is None or self.seen_last_t is None or self.seen_last_t <= self.seen_first_t:
            return None
        return (self.seen - 1) / (self.seen_last_t - self.seen_first_t)

    def share(self, name: str) -> tuple[float | None, int]:
        yes, n = self.shares[name]
        return (yes / n if n else None), n

    def continuous(self, name: str) -> dict[str, float | int | None]:
        h = self.hists[name]
        return {
            "mean": h.mean,
            "p10": h.percentile(10),
            "p50": h.percentile(50),
            "p90": h.percentile(90),
            "n": h.n,
        }

    def metric_summaries(self) -> dict[str, dict[str, Any]]:
        """Every metric in the summary's `metrics` form (schema v1)."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.metrics:
            if m.kind == "share":
                share, n = self.share(m.name)
                out[m.name] = {"kind": "share", "share": 0.0 if share is None else share, "n": n}
            else:
                out[m.name] = {"kind": "continuous", "unit": m.unit, **self.continuous(m.name)}
        return out

    def emotion_shares(self) -> dict[str, Any]:
        """Emotion counts as shares of classified faces, 7 classes and folded to 3."""
        total = self.emotion_frames
        c7 = {name: (c / total if total else 0.0) for name, c in zip(EMOTIONS7, self.emotions, strict=True)}
        c3 = dict.fromkeys(EMOTIONS3, 0.0)
        for name, c in zip(EMOTIONS7, self.emotions, strict=True):
            c3[EMOTION3_OF[name]] += c / total if total else 0.0
        return {"frames": total, "classes7": c7, "classes3": c3}

    def timeline_series(self, until: float | None = None) -> dict[str, Any]:
        """`{"bin_s": ..., "series": {...}}` up to `until` seconds after the start (default: all)."""
        return {"bin_s": self.timeline.bin_s, "series": self.timeline.series(until)}

    def frames(self) -> dict[str, int]:
        """Frame counters for the summary; `seen` is at least `analysed` (a caller that never counts
        seen frames, like a test, still gets a consistent pair)."""
        return {
            "seen": max(self.seen, self.analysed),
            "analysed": self.analysed,
            "with_person": self.with_person,
            "emotion": self.emotion_frames,
        }

    # --- checkpoint -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this left off, as JSON-able data."""
        return {
            "version": STATS_VERSION,
            "t0": self.t0,
            "metrics": [[m.name, m.kind, m.unit, m.label, m.lo, m.hi] for m in self.metrics],
            "shares": {k: list(v) for k, v in self.shares.items()},
            "hists": {k: h.to_dict() for k, h in self.hists.items()},
            "timeline": self.timeline.to_dict(),
            "emotions": list(self.emotions),
            "seen": self.seen,
            "analysed": self.analysed,
            "with_person": self.with_person,
            "first_t": self.first_t,
            "last_t": self.last_t,
            "seen_first_t": self.seen_first_t,
            "seen_last_t": self.seen_last_t,
            "last_present_t": self.last_present_t,
            "at_last_present": list(self._at_last_present),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SessionStats:
        """Restore a checkpoint written by `to_dict` (raises ValueError on a foreign one)."""
        if d.get("version") != STATS_VERSION:
            raise ValueError(f"unsupported statistics checkpoint version {d.get('version')!r}")
        metrics = [MetricSpec(n, k, u, lab, lo, hi) for n, k, u, lab, lo, hi in d["metrics"]]  # type: ignore[arg-type]
        s = cls(d["t0"], metrics=metrics)
        s.shares = {k: [int(v[0]), int(v[1])] for k, v in d["shares"].items()}
        s.hists = {k: Histogram.from_dict(v) for k, v in d["hists"].items()}
        if set(s.shares) | set(s.hists) != set(s.specs):
            raise ValueError("statistics checkpoint does not match its metric list")
        s.timeline = Timeline.from_dict(d["timeline"])
        s._index_slots()
        s.emotions = [int(c) for c in d["emotions"]]
        s.seen, s.analysed, s.with_person = int(d["seen"]), int(d["analysed"]), int(d["with_person"])
        s.first_t, s.last_t = d["first_t"], d["last_t"]
        s.seen_first_t, s.seen_last_t = d["seen_first_t"], d["seen_last_t"]
        s.last_present_t = d["last_present_t"]
        a = d["at_last_present"]
        s._at_last_present = (int(a[0]), int(a[1]), a[2])
        return s
