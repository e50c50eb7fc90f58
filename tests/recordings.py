"""Altered copies of real recordings for the tests: the same frames, each changed the same way and
coded again, as another camera (smaller, turned, stored sideways) would have recorded them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np


def rewrite(src: Path, dst: Path, fourcc: str, alter: Callable[[np.ndarray], np.ndarray] = lambda f: f) -> int:
    """Write every frame of `src`, changed by `alter`, to `dst` with codec `fourcc` at `src`'s frame
    rate (the size is the altered frames'); the number of frames written."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out: cv2.VideoWriter | None = None
    n = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frame = alter(frame)
            if out is None:
                out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*fourcc), fps, frame.shape[1::-1])
            out.write(frame)
            n += 1
    finally:
        cap.release()
        if out is not None:
            out.release()
    assert n, f"no frame decoded from {src}"
    return n
