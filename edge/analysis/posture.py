"""Standing or seated, and the torso measures that depend on it: frontal view, sideways lean, slouch.

Posture geometry (per frame, from hips and knees; `posture_cue`):

    torso axis  u = (shoulder midpoint - hip midpoint) / T,   T = its length in pixels
    thigh       d = knee - hip, per side whose hip and knee are seen
    along       = -(d . u) / T     how far the knee lies down the torso line, in torso lengths
    angle       = atan2(|d x u| / T, along)   the thigh's angle from the torso line

A standing presenter's thigh continues the torso line: the knee lies about 0.85 torso lengths further
down (adult proportions: shoulder to hip joint about 0.29 of the body height, hip to knee about 0.25;
measured 0.80..0.96 on the standing frames of the squats clip) at an angle under 25 degrees. A seated
presenter's thigh folds forward, 90 degrees from the torso: seen from the front it points at the
camera and shrinks to a short stub near the hip, seen from the side it lies across the torso line;
either way the knee comes no further down the torso line than about 0.45 torso lengths, and for a
camera at or below the hips the knees show at or above the hips (along <= 0). The worst case for
telling them apart is a camera mounted high looking down (a ceiling camera 2.2 m up, 3 m away): a
seated thigh pointing at it then shows along ~0.45, a standing one ~0.8. Hence: standing when
along >= 0.65 and angle <= 30 degrees, seated when along <= 0.45, neither in between (a bend, a
squat, a wide stance). Judged per side: standing when one thigh continues the torso line (the leg
that carries the body; a knee lifted or a foot on a step is still standing), seated when every seen
thigh is folded.

Per-frame cues flicker (keypoints, a squat, a bend to pick something up), a posture does not:
`PostureTracker` adopts the first cue at once and changes posture only when the other cue has held
for `features.posture_hold_s` seconds (default 2 s: sitting down or standing up takes about 1-2 s
and then lasts minutes; a squat or a bend is over sooner). Without any cue for that long (hips or
knees out of view) the posture is None: unknown.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from edge.analysis.body import L_HIP, L_KNEE, R_HIP, R_KNEE, Body, Points

logger = logging.getLogger(__name__)

STANDING = "standing"
SEATED = "seated"
POSTURES: tuple[str, ...] = (STANDING, SEATED)

THIGH_STAND_ALONG = 0.65  # knee at least this many torso lengths down the torso line: standing...
THIGH_STAND_MAX_DEG = 30.0  # ...with the thigh within this angle of the torso line
THIGH_SEAT_ALONG = 0.45  # knee at most this far down the torso line: seated
# The torso counts as seen from the front when its shoulder width is at least this share of its
# shoulder-to-hip length. Frontal adults measure 0.7..0.9 (seated presenter of the raga clip: median
# 0.79; frontal photos in ../shared/data/images 0.71..0.86; the same presenter turned about 35 degrees
# in the squats clip: 0.55..0.73). 0.7 = 0.8 x cos(29 deg) admits turns of up to about 30 degrees for a
# typical build, where a forward bend of 20 degrees shows as at most ~10 degrees of apparent lean;
# a narrow-shouldered presenter is admitted at smaller turns only, and gets "not judged" rather than
# a lean read off a turned body.
TORSO_FRONTAL_MIN = 0.7
# A real sideways lean tilts the shoulder line with the torso; a forward bend seen at an angle tilts
# the torso line in the image but leaves the shoulders level. The two tilts must agree within this.
# (Keypoint noise: they differ by up to ~9 degrees on the frontal seated clip.)
LEAN_AGREE_DEG = 9.0
UPRIGHT_LEAN_MAX_DEG = 10.0  # frames that may set the upright baseline lean no more than this
BASELINE_MIN_SCORE = 0.5  # ...and their shoulder and hip keypoints score at least this


Fold = tuple[tuple[float, float], ...]  # (along, angle in degrees) per side whose hip and knee are seen


def thigh_fold(pts: Points, body: Body | None) -> Fold | None:
    """(along, angle in degrees) of each thigh against the torso line (see the module docstring), for
    the sides whose hip and knee are seen; None without hips, torso or a knee."""
    if body is None or body.hip_mid is None or body.torso_len is None:
        return None
    t = body.torso_len
    ux = (body.sh_mid[0] - body.hip_mid[0]) / t
    uy = (body.sh_mid[1] - body.hip_mid[1]) / t
    out = []
    for hip_i, knee_i in ((L_HIP, L_KNEE), (R_HIP, R_KNEE)):
        hip, knee = pts[hip_i], pts[knee_i]
        if hip is None or knee is None:
            continue
        dx, dy = knee[0] - hip[0], knee[1] - hip[1]
        along = -(dx * ux + dy * uy) / t
        across = abs(dx * uy - dy * ux) / t
        out.append((along, math.degrees(math.atan2(across, along))))
    return tuple(out) or None


def posture_cue(pts: Points, body: Body | None) -> str | None:
    """This frame's posture geometry alone: "standing", "seated" or None (ambiguous or not seen)."""
    return cue_of(thigh_fold(pts, body))


def cue_of(fold: Fold | None) -> str | None:
    """The posture the thighs show: standing when a thigh continues the torso line (the leg that
    carries the body), seated when every seen thigh is folded; None otherwise (a lunge, a squat
    half-way, a wide stance)."""
    if not fold:
        return None
    if any(along >= THIGH_STAND_ALONG and angle <= THIGH_STAND_MAX_DEG for along, angle in fold):
        return STANDING
    if all(along <= THIGH_SEAT_ALONG for along, _angle in fold):
        return SEATED
    return None


class PostureTracker:
    """The presenter's posture over time from per-frame cues (see the module docstring)."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.state: str | None = None
        self._pending: str | None = None
        self._since = 0.0
        self._last_cue_t: float | None = None

    def reset(self) -> None:
        self.state = self._pending = self._last_cue_t = None

    def update(self, t: float, cue: str | None) -> str | None:
        if cue is None:
            if self._last_cue_t is not None and not t - self._last_cue_t <= self.hold_s:
                self.state = self._pending = self._last_cue_t = None  # not seen for too long: unknown
            return self.state
        self._last_cue_t = t
        if self.state is None or cue == self.state:
            if self.state is None:
                logger.debug("posture %s at t=%.2f", cue, t)
            self.state, self._pending = cue, None
        elif cue != self._pending:
            self._pending, self._since = cue, t
        elif t - self._since >= self.hold_s:
            logger.debug("posture %s -> %s at t=%.2f", self.state, cue, t)
            self.state, self._pending = cue, None
        return self.state


def torso_frontal(body: Body | None) -> bool | None:
    """The torso faces the camera (see TORSO_FRONTAL_MIN); None without shoulders and hips."""
    if body is None or body.torso_len is None:
        return None
    return body.sh_width >= TORSO_FRONTAL_MIN * body.torso_len


def raw_lean(body: Body | None) -> float | None:
    """Angle in degrees between the image vertical and the hip-to-shoulder midpoint line, + toward
    the presenter's own left; no check that the view allows reading it as a sideways lean."""
    if body is None or body.hip_mid is None:
        return None
    vx = body.sh_mid[0] - body.hip_mid[0]
    vy = body.sh_mid[1] - body.hip_mid[1]
    return math.degrees(math.atan2(body.left_sign * vx, -vy))


def shoulder_drop(body: Body) -> float:
    """Tilt of the shoulder line in degrees, + when the presenter's own left shoulder is lower."""
    dx = body.sh_left[0] - body.sh_right[0]
    dy = body.sh_left[1] - body.sh_right[1]
    return math.degrees(math.atan2(dy, body.left_sign * dx))


def torso_lean(body: Body | None) -> float | None:
    """Sideways torso lean in degrees, + toward the presenter's own left; None unless it can be read.

    Definition: `raw_lean`, reported only when the torso is seen from the front (`torso_frontal`) and
    the shoulder line tilts with it (within LEAN_AGREE_DEG): a forward bend seen at an angle tilts the
    torso line in the image but not the shoulders, and is not a sideways lean.
    """
    if not torso_frontal(body):
        return None
    assert body is not None
    lean = raw_lean(body)
    if lean is None or abs(lean - shoulder_drop(body)) > LEAN_AGREE_DEG:
        return None
    return lean


def torso_height(body: Body | None) -> float | None:
    """The upright measure slouch compares with its baseline: shoulder-mid to hip-mid length over the
    shoulder distance. Slouching shortens it (the shoulders round forward and drop). Needs the hips:
    without them, the nose-to-shoulder height it once fell back to moves as much with a nod as with a
    slouch."""
    if body is None or body.torso_len is None or body.sh_width < 1e-6:
        return None
    return body.torso_len / body.sh_width


def slouch_from(height: float, baseline: float | None) -> float | None:
    """Slouch as the fraction the upright measure is below its baseline: 1 - height / baseline.

    0 = as upright as the presenter's own baseline, 0.1 = 10% shorter, negative = taller.
    """
    if baseline is None or baseline <= 1e-9:
        return None
    return 1.0 - height / baseline


class UprightBaseline:
    """The presenter's own upright measure: a high percentile over a warm-up, then a running update.

    During the first `warmup_s` seconds of qualifying frames the values are kept in a fixed-size
    buffer; at the end of the warm-up the baseline is their 90th percentile (upright is the tallest a
    presenter stands; a high percentile rather than the max ignores a few keypoint glitches). After
    that it only moves up, slowly (a presenter who stands up straighter later raises it), never down
    (slouching must not become the new normal).
    """

    PERCENTILE = 90.0
    ALPHA = 0.02
    MIN_SAMPLES = 5

    def __init__(self, warmup_s: float, capacity: int = 512) -> None:
        self.warmup_s = warmup_s
        self._buf = np.zeros(capacity)
        self._n = 0
        self._t0: float | None = None
        self.value: float | None = None

    def update(self, t: float, v: float) -> None:
        if not math.isfinite(v):
            return
        if self.value is not None:
            if v > self.value:
                self.value += self.ALPHA * (v - self.value)
            return
        if self._t0 is None:
            self._t0 = t
        if self._n < len(self._buf):
            self._buf[self._n] = v
            self._n += 1
        if (t - self._t0 >= self.warmup_s or self._n == len(self._buf)) and self._n >= self.MIN_SAMPLES:
            self.value = float(np.percentile(self._buf[: self._n], self.PERCENTILE))
            logger.debug("upright baseline set to %.3f from %d samples", self.value, self._n)
