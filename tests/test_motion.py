"""Keypoint smoothing, joint speeds and hip sway on synthetic streams."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from keypoint_poses import FRONTAL, POSES, make_pose

from edge.analysis import motion as M
from edge.analysis.body import seen_masks
from edge.analysis.features import FeatureExtractor
from edge.analysis.keypoints import BodyPart as B
from edge.config import FeaturesConfig

CFG = FeaturesConfig()


def wrist_stream(offsets: list[tuple[float, float]], fps: float = 10.0, score: float = 0.9, seed: int = 0,
                 jitter_px: float = 0.0) -> list:  # fmt: skip
    """Features of a stream where the left wrist moves by `offsets` (px) from its frontal place."""
    rng = np.random.default_rng(seed)
    ex = FeatureExtractor()
    out = []
    base = make_pose(score=score)
    for i, (dx, dy) in enumerate(offsets):
        xy = base.xy.copy()
        xy[B.LEFT_WRIST] += (dx, dy)
        xy += rng.normal(0.0, jitter_px, xy.shape).astype(np.float32)
        out.append(ex.update(replace(base, xy=xy), i / fps))
    return out


def test_one_euro_filter_holds_a_still_point_and_follows_a_moving_one():
    sm = M.KeypointSmoother(min_cutoff_hz=0.5, beta=2.0, max_gap_s=1.0)
    rng = np.random.default_rng(1)
    xy0 = np.tile([100.0, 100.0], (17, 1))
    scores = np.full(17, 0.9)
    seen = np.ones(17, dtype=bool)
    raw, smooth = [], []
    for i in range(100):
        xy = xy0 + rng.normal(0, 3.0, xy0.shape)
        sm.update(xy, scores, seen, i * 0.1, scale=100.0)
        raw.append(xy[0, 0])
        smooth.append(sm.x[0, 0])
    assert np.std(smooth[10:]) < 0.6 * np.std(raw[10:])  # jitter damped
    for i in range(100, 130):  # then a steady 2 sw/s movement: the filter keeps up
        xy = xy0 + np.array([200.0 * (i - 100) * 0.1, 0.0])
        sm.update(xy, scores, seen, i * 0.1, scale=100.0)
    assert sm.x[0, 0] == pytest.approx(xy[0, 0], abs=25.0)  # lag under a quarter of a shoulder width


def test_unseen_keypoints_do_not_update_and_are_forgotten_after_a_gap():
    sm = M.KeypointSmoother(0.5, 2.0, max_gap_s=1.0)
    xy = np.full((17, 2), 50.0)
    seen = np.ones(17, dtype=bool)
    sm.update(xy, np.full(17, 0.9), seen, 0.0, 100.0)
    seen[3] = False
    sm.update(xy + 40.0, np.full(17, 0.9), seen, 0.1, 100.0)
    assert sm.x[3, 0] == 50.0 and not sm.fresh[3] and sm.alive[3]
    seen[:] = False
    sm.update(xy, np.full(17, 0.9), seen, 2.0, 100.0)
    assert not sm.alive.any()
    sm.update(xy + 7.0, np.full(17, 0.9), np.ones(17, dtype=bool), 2.1, 100.0)
    assert sm.x[0, 0] == 57.0  # a new start takes the measurement as it is


def test_speeds_are_relative_to_the_torso_and_in_shoulder_widths_per_second():
    feats = wrist_stream([(0.0, -20.0 * i) for i in range(15)])  # 20 px per frame = 2 sw/s
    assert feats[0].wrist_speed is None  # no previous frame yet
    assert feats[-1].wrist_speed == pytest.approx(2.0, rel=0.1)  # the filter has caught up
    ex = FeatureExtractor()
    for i in range(15):  # the whole body walks: nothing moves relative to the torso
        f = ex.update(make_pose(base={p: (x + 10 * i, y) for p, (x, y) in FRONTAL.items()}), i * 0.1)
    assert f.wrist_speed == pytest.approx(0.0, abs=1e-6) and f.gesturing is False


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_a_resting_hand_is_not_gesturing_and_a_waving_one_is(fps):
    """Jitter as MoveNet shows it on still frames (p95 0.13 sw per frame for keypoints scoring 0.6+;
    `python -m tools.jitter`) must stay under the gesture threshold; waving must pass it; at 10 fps
    (the default) and at 30 (speeds are taken over at least 0.1 s)."""
    n = int(10 * fps)
    still = wrist_stream([(0.0, 0.0)] * n, fps=fps, jitter_px=4.0)
    gesturing = [f.gesturing for f in still[int(fps * 0.2):]]
    assert None not in gesturing and sum(gesturing) / len(gesturing) < 0.05
    wave = [(40.0 * math.sin(2 * math.pi * 1.5 * i / fps), -60.0) for i in range(int(6 * fps))]  # 1.5 Hz, 0.4 sw
    waving = wrist_stream(wave, fps=fps, jitter_px=4.0)
    g = [f.gesturing for f in waving[int(fps * 0.5):]]
    assert sum(g) / len(g) > 0.6


def test_speeds_are_taken_over_at_least_a_tenth_of_a_second():
    for fps in (10.0, 30.0, 60.0):
        feats = wrist_stream([(0.0, -200.0 / fps * i) for i in range(int(fps * 1.5))], fps=fps)  # 2 sw/s
        assert feats[-1].wrist_speed == pytest.approx(2.0, rel=0.1), fps
        assert feats[1].wrist_speed is None or fps == 10.0  # at 30 fps the second frame is too close


def test_low_score_keypoints_are_left_out_of_speeds():
    """Wrists scoring under features.motion_min_score (0.5) jump by a shoulder width between frames."""
    feats = wrist_stream([(0.0, -20.0 * i) for i in range(10)], score=0.45)
    assert all(f.wrist_speed is None and f.gesturing is None for f in feats)
    assert feats[-1].hands_in_view is True  # seen (>= 0.3), only not sharp enough to time


def test_extractor_gap_handling():
    ex = FeatureExtractor()
    ex.update(POSES["frontal"], 0.0)
    assert ex.update(POSES["frontal"], 0.1).wrist_speed == pytest.approx(0.0)
    assert ex.update(make_pose({B.LEFT_WRIST: (385, 250)}), 5.0).wrist_speed is None  # after a long gap
    ex.update(None, 5.1)  # presenter lost: no speed across it
    assert ex.update(POSES["frontal"], 5.2).wrist_speed is None


def _sway_stream(ex, amp_sw, freq, seconds=8.0, fps=10.0, drift_px_s=0.0):
    out = None
    for i in range(int(seconds * fps)):
        t = i / fps
        dx = amp_sw * 100 * math.sin(2 * math.pi * freq * t) + drift_px_s * t
        out = ex.update(make_pose(base={p: (x + dx, y) for p, (x, y) in FRONTAL.items()}), t)
    return out


def test_hip_sway_amplitude_and_frequency():
    f = _sway_stream(FeatureExtractor(), 0.2, 0.5)
    assert f.sway_amplitude == pytest.approx(0.2, rel=0.15)
    assert f.sway_frequency == pytest.approx(0.5, abs=0.08)
    assert f.swaying is True
    still = _sway_stream(FeatureExtractor(), 0.0, 0.5)
    assert still.sway_amplitude == pytest.approx(0.0, abs=1e-6)
    assert still.sway_frequency is None and still.swaying is False
    walking = _sway_stream(FeatureExtractor(), 0.0, 0.5, drift_px_s=15.0)  # steady walk: trend removed
    assert walking.swaying is False
    fast = _sway_stream(FeatureExtractor(), 0.2, 1.2)
    assert fast.sway_frequency == pytest.approx(1.2, abs=0.1)


def test_sway_is_a_standing_measure():
    ex = FeatureExtractor()
    for i in range(80):
        dx = 20 * math.sin(2 * math.pi * 0.5 * i / 10)
        f = ex.update(make_pose(base={p: (x + dx, y) for p, (x, y) in POSES_SEATED.items()}), i / 10)
    assert f.posture == "seated" and f.swaying is None and f.sway_amplitude is None


POSES_SEATED = {p: (float(x), float(y)) for p, (x, y) in zip(B, POSES["seated"].xy.tolist(), strict=True)}


def test_sway_ring_buffer_is_fixed_size():
    ex = FeatureExtractor()
    cap = ex._sway.capacity
    _sway_stream(ex, 0.2, 0.5, seconds=60.0)
    assert ex._sway.capacity == cap and len(ex._sway._t) == cap
    t, _x, _s = ex._sway.samples(59.9)
    assert len(t) <= cap and t[-1] - t[0] <= CFG.sway_window_s + 1e-9


def test_sway_from_samples_on_irregular_timestamps():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 6, 50))
    x = 300 + 30 * np.sin(2 * np.pi * 0.7 * t)
    amp, freq = M.sway_from_samples(t, x, 100.0)
    assert amp == pytest.approx(0.3, rel=0.15) and freq == pytest.approx(0.7, abs=0.1)
    assert M.sway_from_samples(t[:3], x[:3], 100.0) is None


def test_seen_masks_drop_border_and_non_finite_points():
    pose = make_pose({B.LEFT_HIP: (355, 479), B.NOSE: (-20, 104)})
    xy = pose.xy.copy()
    xy[B.RIGHT_EYE] = np.nan
    seen, weak = seen_masks(replace(pose, xy=xy), 0.3)
    assert not seen[B.LEFT_HIP] and not seen[B.NOSE] and not seen[B.RIGHT_EYE] and seen[B.LEFT_SHOULDER]
    assert not weak[B.LEFT_HIP]
