"""Movement over time: keypoint smoothing, joint speeds and hip sway.

Keypoints jitter from frame to frame even on a still body: MoveNet's output wanders by a few pixels
on near-identical frames, more on small, blurred or half-hidden joints. Speeds taken from raw
keypoints measure that jitter as movement (a hand resting on a knee read as "gesturing" in a third
of its frames). So positions are smoothed first with a One Euro filter (Casiez, Roussel and Vogel,
CHI 2012), the adaptive low-pass filter pose trackers use: heavy smoothing while a joint is still,
little while it moves fast. It runs on all 17 keypoints at once (numpy, fixed-size state):

    per keypoint, with dt the time since its last update:
        v_raw  = (x - x_hat) / dt                      pixels/s
        v_hat += a(d_cutoff, dt) * w * (v_raw - v_hat)
        cutoff = min_cutoff + beta * |v_hat| / scale   Hz, scale = pixels per shoulder width
        x_hat += a(cutoff, dt) * w * (x - x_hat)
        a(fc, dt) = 1 / (1 + 1 / (2 pi fc dt))

The weight `w` = min(1, score / 0.6) is the keypoint's confidence: a keypoint scoring 0.6 or more
(a clearly seen joint) updates in full, a keypoint at the 0.3 threshold half as much, like a Kalman
gain that shrinks as the measurement noise grows; an unseen keypoint does not update at all and is
forgotten after `max_gap_s`. Speeds are then measured on the smoothed positions, relative to the
smoothed shoulder midpoint (walking is not gesturing), in shoulder widths per second.
"""

from __future__ import annotations

import math

import numpy as np

from edge.analysis.body import L_EL, L_SH, L_WR, R_EL, R_SH, R_WR

SCORE_FULL = 0.6  # a keypoint scoring this much or more updates the filter in full
D_CUTOFF_HZ = 1.0  # cutoff of the filter's speed estimate (the One Euro paper's default)
SWAY_GRID = 64  # samples of the resampled hip track analysed by FFT
SWAY_MIN_SAMPLES = 16
SWAY_MIN_COVERAGE = 0.8  # fraction of the sway window that must hold samples

# Contiguous in COCO order: slices are views, no fancy-index copy.
_ARMS = slice(L_EL, R_WR + 1)  # left elbow, right elbow, left wrist, right wrist
_SHOULDERS = slice(L_SH, R_SH + 1)
assert (L_EL, R_EL, L_WR, R_WR) == (7, 8, 9, 10) and (L_SH, R_SH) == (5, 6)


class KeypointSmoother:
    """One Euro filter over the 17 keypoints (see the module docstring); constant memory.

    Every step runs on all 17 rows at once (a keypoint not used this frame changes by 0): about
    twenty small numpy calls per frame, no Python loop over keypoints.
    """

    def __init__(self, min_cutoff_hz: float, beta: float, max_gap_s: float, n: int = 17) -> None:
        self.min_cutoff = float(min_cutoff_hz)
        self.beta = float(beta)
        self.max_gap_s = float(max_gap_s)
        self.x = np.zeros((n, 2))  # smoothed positions, pixels
        self._v = np.zeros((n, 2))  # smoothed velocities, pixels/s
        self._t = np.zeros(n)  # time of each keypoint's last update
        self.alive = np.zeros(n, dtype=bool)  # has a state not older than max_gap_s
        self.fresh = np.zeros(n, dtype=bool)  # updated on the latest frame

    def reset(self) -> None:
        self.alive[:] = False
        self.fresh[:] = False

    def update(self, xy: np.ndarray, scores: np.ndarray, seen: np.ndarray, t: float, scale: float | None) -> None:
        """Feed one frame: `seen` (bool, 17) marks the keypoints to use; `scale` is pixels per
        shoulder width (None: the speed-dependent part of the cutoff is left out)."""
        dt = t - self._t
        recent = dt <= self.max_gap_s
        self.alive &= recent
        step = seen & self.alive & (dt > 0.0)
        start = seen > step
        if start.any():  # a (re)started keypoint takes its measurement as it is
            self.x[start] = xy[start]
            self._v[start] = 0.0
        if step.any():
            # Rows not stepped get weight 0 and a harmless dt of 1 s; their xy (maybe NaN) is not read.
            # a(fc, dt) = k / (1 + k) with k = 2 pi fc dt.
            dt = np.where(step, dt, 1.0)[:, None]
            w = np.minimum(scores * step, SCORE_FULL)[:, None] * (1.0 / SCORE_FULL)
            d = np.where(step[:, None], xy, self.x) - self.x
            k = dt * (2.0 * math.pi * D_CUTOFF_HZ)
            v = self._v
            v += (w * k / (1.0 + k)) * (d / dt - v)
            k = dt * (2.0 * math.pi * self.min_cutoff)
            if scale:
                k += dt * np.hypot(v[:, :1], v[:, 1:]) * (2.0 * math.pi * self.beta / scale)
            self.x += (w * k / (1.0 + k)) * d
        self._t[seen] = t
        self.alive |= seen
        self.fresh[:] = seen


SPEED_BASE_S = 0.1  # speeds are taken over at least this long (the frame interval at the default 10 fps)
_SPEED_HISTORY = 8  # frames kept for that: enough for 0.1 s up to 70 fps


class JointSpeeds:
    """Wrist and elbow speeds from smoothed keypoints, relative to the shoulder midpoint.

    A speed compares the joint with where it was at least SPEED_BASE_S earlier (the previous frame
    at 10 fps, three frames back at 30 fps): over a shorter interval the same few pixels of residual
    jitter would read as a higher speed, and the gesture threshold, measured at 10 fps, would not
    hold at other frame rates. A joint's speed is known only when it (and both shoulders) was seen
    on both frames. Keeps the last few frames' positions in a fixed ring.
    """

    def __init__(self) -> None:
        self._rel = np.zeros((_SPEED_HISTORY, 4, 2))
        self._ok: list[list[bool]] = [[False] * 4 for _ in range(_SPEED_HISTORY)]
        self._t = [-math.inf] * _SPEED_HISTORY
        self._head = 0  # next slot to write

    def reset(self) -> None:
        self._t = [-math.inf] * _SPEED_HISTORY

    def update(self, sm: KeypointSmoother, t: float, scale: float | None,
               max_gap_s: float) -> tuple[list[float | None], list[float | None]]:  # fmt: skip
        """([left, right] wrist speed, [left, right] elbow speed) in shoulder widths per second."""
        fresh = sm.fresh.tolist()
        shoulders_ok = fresh[L_SH] and fresh[R_SH] and scale is not None and scale > 0
        ok = [f and shoulders_ok for f in fresh[_ARMS]]  # left elbow, right elbow, left wrist, right wrist
        rel = sm.x[_ARMS] - sm.x[_SHOULDERS].mean(axis=0)
        speeds: list[float | None] = [None, None, None, None]
        if scale and any(ok):
            ref = None
            for k in range(1, _SPEED_HISTORY + 1):  # newest first: the latest frame old enough
                i = (self._head - k) % _SPEED_HISTORY
                age = t - self._t[i]
                if age >= SPEED_BASE_S - 1e-6:
                    ref = i if age <= max_gap_s else None
                    break
                if not age > 0:
                    break  # the clock went back or the ring holds nothing older
            if ref is not None:
                d = rel - self._rel[ref]
                v = (np.hypot(d[:, 0], d[:, 1]) * (1.0 / (scale * (t - self._t[ref])))).tolist()
                speeds = [v[i] if a and b else None for i, (a, b) in enumerate(zip(ok, self._ok[ref], strict=True))]
        self._rel[self._head] = rel
        self._ok[self._head] = ok
        self._t[self._head] = t
        self._head = (self._head + 1) % _SPEED_HISTORY
        return speeds[2:], speeds[:2]


def sway_from_samples(
    t: np.ndarray, x: np.ndarray, scale: float, grid: int = SWAY_GRID
) -> tuple[float, float] | None:
    """(amplitude in shoulder widths, dominant frequency in Hz) of a lateral hip track.

    Definition: the track (hip-midpoint x in pixels at times t) is resampled to a uniform grid,
    divided by `scale` (pixels per shoulder width), and its straight-line trend (walking) removed.
    Amplitude = sqrt(2) x standard deviation of the rest (the amplitude of an equivalent sine);
    frequency = the peak of its Hann-windowed spectrum, refined by parabolic interpolation.
    None when there are fewer than 4 samples or no time span.
    """
    if len(t) < 4 or scale <= 0:
        return None
    span = float(t[-1] - t[0])
    if not span > 0:
        return None
    g = np.linspace(t[0], t[-1], grid)
    xs = np.interp(g, t, x) / scale
    gc = g - g.mean()
    xc = xs - xs.mean()
    slope = float(gc @ xc) / float(gc @ gc)
    res = xc - slope * gc
    amp = math.sqrt(2.0 * float(res @ res) / grid)
    spec = np.abs(np.fft.rfft(res * _hann(grid)))
    k = int(np.argmax(spec[1:])) + 1
    df = (grid - 1) / (grid * span)  # rfftfreq spacing for samples span/(grid-1) apart
    delta = 0.0
    if 1 <= k < len(spec) - 1:
        a, b, c = spec[k - 1], spec[k], spec[k + 1]
        den = a - 2 * b + c
        if abs(den) > 1e-12:
            delta = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return amp, (k + delta) * df


_HANN: dict[int, np.ndarray] = {}


def _hann(n: int) -> np.ndarray:
    w = _HANN.get(n)
    if w is None:
        w = _HANN[n] = np.hanning(n)
    return w


class SwayWindow:
    """A fixed-size ring buffer of (t, hip x, scale) over the last `window_s` seconds."""

    def __init__(self, window_s: float, capacity: int) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._t = np.zeros(capacity)
        self._x = np.zeros(capacity)
        self._s = np.zeros(capacity)
        self._head = 0  # next write position
        self._count = 0

    def clear(self) -> None:
        self._head = 0
        self._count = 0

    def push(self, t: float, x: float, scale: float) -> None:
        self._t[self._head] = t
        self._x[self._head] = x
        self._s[self._head] = scale
        self._head = (self._head + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    @property
    def last_t(self) -> float | None:
        return None if self._count == 0 else float(self._t[(self._head - 1) % self.capacity])

    def samples(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Time-ordered samples no older than `window_s` before `now`."""
        idx = (self._head - self._count + np.arange(self._count)) % self.capacity
        t = self._t[idx]
        keep = t >= now - self.window_s
        return t[keep], self._x[idx][keep], self._s[idx][keep]
