"""Streaming statistics against a direct numpy computation on a long synthetic stream."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge.analysis.emotion import EMOTIONS7
from edge.analysis.features import METRIC_BY_NAME, FrameFeatures
from edge.session.stats import Histogram, SessionStats, Timeline, emotion_index

N = 100_000
FPS = 10.0


@pytest.fixture(scope="module")
def stream():
    """100k analysed frames (2.8 h at 10 fps): presence, two shares, three continuous metrics with
    gaps, as arrays (None = not measured)."""
    rng = np.random.default_rng(42)
    t = np.arange(N) / FPS + rng.uniform(0, 0.02, N)
    present = rng.random(N) < 0.9
    facing = rng.random(N) < 0.65
    facing_measured = rng.random(N) < 0.95
    gesturing = rng.random(N) < 0.2
    yaw = np.clip(rng.normal(5, 25, N), -89, 89)
    speed = rng.gamma(2.0, 0.4, N)
    speed_measured = rng.random(N) < 0.8
    sway = rng.uniform(0.0, 0.4, N)
    return {
        "t": t, "present": present, "facing": facing, "facing_measured": facing_measured,
        "gesturing": gesturing, "yaw": yaw, "speed": speed, "speed_measured": speed_measured, "sway": sway,
    }  # fmt: skip


def feed(stats: SessionStats, s: dict, lo: int = 0, hi: int = N) -> None:
    for i in range(lo, hi):
        stats.add_values(
            float(s["t"][i]),
            bool(s["present"][i]),
            {
                "facing_audience": bool(s["facing"][i]) if s["facing_measured"][i] else None,
                "gesturing": bool(s["gesturing"][i]),
                "head_yaw": float(s["yaw"][i]),
                "wrist_speed": float(s["speed"][i]) if s["speed_measured"][i] else None,
                "sway_amplitude": float(s["sway"][i]),
            },
        )


@pytest.fixture(scope="module")
def fed(stream):
    stats = SessionStats(t0=0.0, bin_s=5.0, max_bins=720)
    feed(stats, stream)
    return stats


def test_counters_and_shares_are_exact(fed, stream):
    p = stream["present"]
    assert fed.analysed == N and fed.with_person == int(p.sum())
    share, n = fed.share("facing_audience")
    m = p & stream["facing_measured"]
    assert n == int(m.sum())
    assert share == pytest.approx(stream["facing"][m].mean(), abs=1e-12)
    share, n = fed.share("gesturing")
    assert share == pytest.approx(stream["gesturing"][p].mean(), abs=1e-12)
    assert fed.share("arms_crossed") == (None, 0)  # never measured
    assert fed.analysed_fps() == pytest.approx((N - 1) / (stream["t"][-1] - stream["t"][0]))


@pytest.mark.parametrize(("name", "key", "mask_key"), [
    ("head_yaw", "yaw", None), ("wrist_speed", "speed", "speed_measured"), ("sway_amplitude", "sway", None),
])  # fmt: skip
def test_continuous_match_numpy_within_one_bin(fed, stream, name, key, mask_key):
    m = stream["present"].copy()
    if mask_key:
        m &= stream[mask_key]
    x = stream[key][m]
    got = fed.continuous(name)
    spec = METRIC_BY_NAME[name]
    tol = (spec.hi - spec.lo) / 1000  # one histogram bin
    assert got["n"] == len(x)
    assert got["mean"] == pytest.approx(x.mean(), rel=1e-9)
    for q in (10, 50, 90):
        assert got[f"p{q}"] == pytest.approx(np.percentile(x, q), abs=tol), q


def test_timeline_bins_equal_direct_means(fed, stream):
    tl = fed.timeline_series()
    bin_s = tl["bin_s"]
    assert bin_s == 20.0  # 10000 s at 5 s = 2000 bins > 720: doubled twice
    series = tl["series"]
    b = (stream["t"] // bin_s).astype(int)
    assert len(series["head_yaw"]) == b.max() + 1 <= 720
    p = stream["present"]
    for k in (0, 1, 17, b.max()):
        sel = (b == k) & p
        assert series["head_yaw"][k] == pytest.approx(stream["yaw"][sel].mean(), rel=1e-9)
        assert series["gesturing"][k] == pytest.approx(stream["gesturing"][sel].mean(), rel=1e-9)
        assert series["present"][k] == pytest.approx(p[b == k].mean(), rel=1e-9)
    assert all(v is None for v in series["arms_crossed"])


def test_memory_stays_fixed(fed):
    tl = fed.timeline
    assert all(len(row) == tl.max_bins for row in tl.sums + tl.counts)
    assert all(len(h.counts) == h.bins for h in fed.hists.values())
    assert len(json.dumps(fed.to_dict())) < 1_500_000


def test_timeline_merge_keeps_sums_and_alignment():
    tl = Timeline(["x"], bin_s=1.0, max_bins=5)  # odd on purpose: the last bin has no partner
    for t in range(5):
        tl.add(t + 0.5, {"x": float(t)})
    tl.add(5.5, {"x": 5.0})  # past the end: merge to [0,1] [2,3] [4] -> width 2
    assert tl.bin_s == 2.0
    assert tl.series()["x"] == [0.5, 2.5, 4.5]
    tl.add(30.0, {"x": 1.0})  # far past: merges twice more
    assert tl.bin_s == 8.0 and tl.series()["x"][:1] == [pytest.approx(sum(range(6)) / 6)]
    assert tl.series(until=7.9)["x"] == tl.series()["x"][:1]


def test_histogram_edges():
    h = Histogram(0.0, 1.0, 100)
    assert h.percentile(50) is None and h.mean is None
    for _ in range(7):
        h.add(0.333)
    assert h.percentile(10) == h.percentile(90) == pytest.approx(0.333)  # clamped to min/max
    h.add(5.0)  # outside the range: end bin; mean stays exact, percentiles never exceed the max
    assert h.mean == pytest.approx((7 * 0.333 + 5) / 8)
    assert h.percentile(100) <= 5.0
    assert Histogram.from_dict(json.loads(json.dumps(h.to_dict()))).to_dict() == h.to_dict()


def test_emotions_fold_to_three_classes():
    s = SessionStats()
    labels = [0, 1, 2, 3, 3, 4, 5, 6, 6, 6, "happy", "SURPRISE"]
    for i, lab in enumerate(labels):
        s.add_emotion(i * 0.1, lab)
    e = s.emotion_shares()
    assert e["frames"] == 12
    assert e["classes7"]["happy"] == pytest.approx(3 / 12)
    assert e["classes3"] == pytest.approx({"positive": 5 / 12, "negative": 4 / 12, "neutral": 3 / 12})
    assert sum(e["classes7"].values()) == pytest.approx(1.0)
    assert s.timeline_series()["series"]["emotion_positive"][0] == pytest.approx(5 / 12)
    assert EMOTIONS7 == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    with pytest.raises(ValueError):
        emotion_index(7)
    with pytest.raises(ValueError):
        emotion_index("bored")
    assert SessionStats().emotion_shares()["classes3"] == {"positive": 0.0, "negative": 0.0, "neutral": 0.0}


def test_checkpoint_round_trip_is_exact_and_continues_identically(stream):
    a = SessionStats(t0=0.0, bin_s=5.0, max_bins=64)
    feed(a, stream, 0, 3000)
    for i in range(0, 3000, 7):
        a.add_emotion(float(stream["t"][i]), i % 7)
        a.add_seen(3, t=float(stream["t"][i]))
    b = SessionStats.from_dict(json.loads(json.dumps(a.to_dict())))
    assert b.to_dict() == a.to_dict()
    feed(a, stream, 3000, 6000)
    feed(b, stream, 3000, 6000)
    assert b.to_dict() == a.to_dict()
    assert b.metric_summaries() == a.metric_summaries()
    assert b.timeline_series() == a.timeline_series()
    with pytest.raises(ValueError):
        SessionStats.from_dict({**a.to_dict(), "version": 99})


def test_add_frame_takes_frame_features_and_trims_trailing_absence():
    s = SessionStats(t0=10.0)
    for i in range(50):
        s.add_seen(1, t=10.0 + i * 0.1)
        s.add_frame(10.0 + i * 0.1, FrameFeatures(present=True, facing_audience=True, head_yaw=2.0))
    for i in range(50, 80):  # presenter gone: counted, then trimmed when the session ends by absence
        s.add_seen(1, t=10.0 + i * 0.1)
        s.add_frame(10.0 + i * 0.1, FrameFeatures(present=False))
    assert s.analysed == 80 and s.with_person == 50
    s.trim_to_last_presence()
    assert s.frames() == {"seen": 50, "analysed": 50, "with_person": 50, "emotion": 0}
    assert s.duration() == pytest.approx(4.9)
    assert s.analysed_fps() == pytest.approx(10.0) and s.source_fps() == pytest.approx(10.0)
    assert s.share("facing_audience") == (1.0, 50)
    assert math.isclose(s.continuous("head_yaw")["mean"], 2.0)
