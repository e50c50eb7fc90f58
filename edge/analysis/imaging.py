"""Image geometry shared by the runtime and the model tools: one definition of preprocessing.

The calibration set of the int8 models is prepared by these same functions, so the quantizer sees
exactly what the camera path feeds the model.
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


def crop_and_resize(frame_bgr: np.ndarray, region: CropRegion, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Cut `region` out of a BGR frame, pad outside the frame with black, resize to size×size RGB uint8.

    Aspect ratio is preserved because the region is square; `out` lets the hot path reuse one buffer.
    """
    s = size / region.size
    if out is None:
        out = np.empty((size, size, 3), dtype=np.uint8)
    if s < 0.5:
        # warpAffine has no area filter: shrink with INTER_AREA first so that small models see no
        # aliasing; only the part of the frame inside the region (a view, no copy) is shrunk.
        fh, fw = frame_bgr.shape[:2]
        x0, y0 = max(0, int(math.floor(region.x0))), max(0, int(math.floor(region.y0)))
        x1, y1 = min(fw, int(math.ceil(region.x0 + region.size))), min(fh, int(math.ceil(region.y0 + region.size)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            out.fill(0)
            return out
        part = frame_bgr[y0:y1, x0:x1]
        h, w = part.shape[:2]
        src = cv2.resize(part, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        sx, sy = src.shape[1] / w, src.shape[0] / h
        ox, oy = region.x0 - x0, region.y0 - y0
    else:
        src, sx, sy, ox, oy = frame_bgr, 1.0, 1.0, region.x0, region.y0
    # affine map from `src` pixels to model-input pixels: x' = (x / sx - ox) * s
    m = np.array([[s / sx, 0.0, -ox * s], [0.0, s / sy, -oy * s]], dtype=np.float64)
    cv2.warpAffine(src, m, (size, size), dst=out, flags=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)
    return out


def letterbox(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    """The whole frame, aspect-preserved and centred on a black square, as size×size RGB uint8."""
    h, w = frame_bgr.shape[:2]
    return crop_and_resize(frame_bgr, CropRegion.full_frame(w, h), size)
