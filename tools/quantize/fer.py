"""FER2013 arrays: loading with checks, the 7 classes and their fold into 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tools.quantize.sources import SourceError, check_source

CLASSES7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CLASSES3 = ("positive", "negative", "neutral")
# positive = happy, surprise; negative = angry, disgust, fear, sad; neutral = neutral
FOLD3 = np.array([1, 1, 1, 0, 1, 0, 2], dtype=np.int64)


def load_fer(path: Path, *, limit: int | None = None, subset_ok: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (x uint8 N×48×48, y int64 0..6, sha256), checking shape, dtype and labels."""
    digest = check_source(path, subset_ok=subset_ok or limit is not None)
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise SourceError(f"{path}: expected an .npz with arrays x (N×48×48 uint8) and y (N, 0..6): {exc}") from exc
    if x.ndim != 3 or x.shape[1:] != (48, 48) or x.dtype != np.uint8:
        raise SourceError(f"{path}: x must be uint8 N×48×48, got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],) or y.size == 0 or y.min() < 0 or y.max() > 6:
        raise SourceError(f"{path}: y must hold one label 0..6 per image, got shape {y.shape}")
    if limit is not None and limit < len(x):
        # a stratified-ish deterministic subset: every k-th image keeps the class mix
        idx = np.linspace(0, len(x) - 1, limit).astype(np.int64)
        x, y = x[idx], y[idx]
    return x, y.astype(np.int64), digest
