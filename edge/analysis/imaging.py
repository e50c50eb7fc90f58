"""Image geometry shared by the runtime and the model tools: one definition of preprocessing.

The calibration set of the int8 models is prepared by these same functions, so the quantizer sees
exactly what the camera path feeds the model.

The rule (`crop_and_resize`), chosen by the scale s = model input / region side:
- s > 0.5 (a crop near or below the input size): one bilinear warp straight from the frame;
- s <= 0.5 (shrinking a large region, e.g. a 720p frame to 192 px): only the frame pixels under the
  region are halved k times with OpenCV's exact 2x2 box filter (`INTER_AREA` at scale exactly 1/2,
  its SIMD fast path, at memory speed), until the remaining scale r is in (0.5, 1]; a 3x3 Gaussian
  matched to r (`residual_sigma`) then gives the small image the blur of a box over each output
  pixel's whole footprint, and one bilinear warp places it. This is what `INTER_AREA` at the exact
  scale did (the rule the models were first calibrated with, 3-5x slower: its generic path); without
  the Gaussian the model saw slightly sharper pixels, enough to move a far eye by a model pixel;
- the warp also pads outside the frame with black (letterbox) and writes into the caller's buffer
  (the interpreter's input tensor on the hot path); BGR becomes RGB on those few output pixels only.

Coordinates are corner-aligned: the region's edges are the model input's edges, which is how
`edge.analysis.pose.crop_to_frame` maps keypoints back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class CropRegion:
    """A square region of the frame in pixels (may extend past the frame edges; padded black)."""

    x0: float
    y0: float
    size: float

    @staticmethod
    def full_frame(width: int, height: int) -> CropRegion:
        side = float(max(width, height))
        return CropRegion((width - side) / 2.0, (height - side) / 2.0, side)


class ShrinkBuffers:
    """Scratch memory for the halvings, grown on demand and then reused: a frame allocates nothing.

    One per analysing thread (not thread-safe); without one, `crop_and_resize` allocates per call.
    """

    def __init__(self) -> None:
        self._flat = [np.empty(0, np.uint8), np.empty(0, np.uint8)]

    def view(self, i: int, height: int, width: int, channels: int) -> np.ndarray:
        n = height * width * channels
        if self._flat[i].size < n:
            self._flat[i] = np.empty(n, np.uint8)
        return self._flat[i][:n].reshape(height, width, channels)


def halvings(scale: float) -> int:
    """How many exact 2x box halvings come before the bilinear warp: the remaining scale lands in
    (0.5, 1] (0 when `scale` > 0.5)."""
    k = 0
    while scale * (1 << (k + 1)) <= 1.0 + 1e-9:
        k += 1
    return k


def residual_sigma(r: float) -> float:
    """The Gaussian (in pixels of the halved image) that brings the blur of the 2x box halvings up to
    that of a box filter over the whole footprint of an output pixel (`INTER_AREA` at the exact
    scale, the rule the models were first calibrated with): a box of 1/r pixels has a variance of
    ((1/r)^2 - 1) / 12 beyond the one pixel already averaged. 0 when the residual scale r is near 1."""
    var = ((1.0 / r) ** 2 - 1.0) / 12.0
    return math.sqrt(var) if var > 0.01 else 0.0


def crop_and_resize(frame_bgr: np.ndarray, region: CropRegion, size: int, out: np.ndarray | None = None,
                    buffers: ShrinkBuffers | None = None) -> np.ndarray:
    """Cut `region` out of a BGR frame, pad outside the frame with black, resize to size x size RGB uint8.

    Aspect ratio is preserved because the region is square. `out` (size x size x 3 uint8, contiguous:
    may be a view of the interpreter's input tensor) and `buffers` let the hot path reuse memory.
    """
    if out is None:
        out = np.empty((size, size, 3), dtype=np.uint8)
    s = size / region.size
    k = halvings(s)
    if k == 0:
        src, step, px0, py0 = frame_bgr, 1, 0, 0
    else:
        step = 1 << k
        fh, fw = frame_bgr.shape[:2]
        # the frame pixels under the region, widened to whole step x step blocks
        px0 = max(0, math.floor(region.x0 / step) * step)
        py0 = max(0, math.floor(region.y0 / step) * step)
        px1 = min(fw, math.ceil((region.x0 + region.size) / step) * step)
        py1 = min(fh, math.ceil((region.y0 + region.size) / step) * step)
        # whole blocks only: a frame whose size is off the block grid loses its last < step pixels,
        # less than one output pixel (step * s <= 1)
        nw, nh = (px1 - px0) // step, (py1 - py0) // step
        if nw < 1 or nh < 1:
            out.fill(0)
            return out
        src = frame_bgr[py0:py0 + nh * step, px0:px0 + nw * step]  # a view: no copy
        for i in range(k):
            h, w = src.shape[:2]
            dst = buffers.view(i % 2, h // 2, w // 2, 3) if buffers is not None else None
            src = cv2.resize(src, (w // 2, h // 2), dst=dst, interpolation=cv2.INTER_AREA)
        sigma = residual_sigma(step * s)
        if sigma > 0.0:
            h, w = src.shape[:2]
            dst = buffers.view(k % 2, h, w, 3) if buffers is not None else None
            src = cv2.GaussianBlur(src, (3, 3), sigmaX=sigma, sigmaY=sigma, dst=dst)
    # source pixel j (centre) covers frame pixels [p0 + j*step, p0 + (j+1)*step); corner-aligned map
    # to the output: u = (X + 0.5 - region.x0) * s - 0.5 at the frame position X of that centre.
    r = step * s
    m = np.array([[r, 0.0, (px0 - region.x0 + 0.5 * step) * s - 0.5],
                  [0.0, r, (py0 - region.y0 + 0.5 * step) * s - 0.5]], dtype=np.float64)
    cv2.warpAffine(src, m, (size, size), dst=out, flags=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)
    return out


def letterbox(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    """The whole frame, aspect-preserved and centred on a black square, as size x size RGB uint8."""
    h, w = frame_bgr.shape[:2]
    return crop_and_resize(frame_bgr, CropRegion.full_frame(w, h), size)


# Degrees clockwise -> OpenCV's rotate code (config.QUARTER_TURNS lists the allowed values).
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def turn(image: np.ndarray, degrees: int, out: np.ndarray | None = None) -> np.ndarray:
    """`image` turned clockwise by a quarter-turn multiple, so that a camera mounted upside down or on
    its side hands the analysis an upright picture (every feature reads image-up as the presenter's
    up). Into `out` when it has the turned shape (a stream then allocates nothing); 0 returns `image`.
    """
    if degrees == 0:
        return image
    code = _TURNS.get(degrees)
    if code is None:
        raise ValueError(f"rotation must be one of 0, 90, 180, 270 degrees, got {degrees}")
    h, w = image.shape[:2]
    shape = (h, w) if degrees == 180 else (w, h)
    if out is not None and out.shape[:2] == shape and out.shape[2:] == image.shape[2:] and out.dtype == image.dtype:
        return cv2.rotate(image, code, dst=out)
    return cv2.rotate(image, code)
