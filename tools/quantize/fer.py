"""FER2013 arrays: loading with checks, the 7 classes and their fold into 3; and any other labelled
faces, as a folder of images in class subfolders (how FER2013, FER+ and most face sets are shared as
images), for measuring the emotion model on faces it was not trained on."""

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


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")


def load_face_folder(path: Path, *, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(x uint8 N×48×48, y 0..6, sha256 over the files) from `path/<class>/*.png|jpg|...`, the class
    folders named as `CLASSES7` (case-insensitive; "happiness", "sadness", "surprised" and "anger" are
    read as their FER name). Each image is read grey and shrunk (area filter) or grown (bilinear) to
    48×48 as it is: crop the faces as FER2013 does (the face filling the square) before measuring."""
    import hashlib

    import cv2

    aliases = {"happiness": "happy", "sadness": "sad", "surprised": "surprise", "anger": "angry",
               "disgusted": "disgust", "fearful": "fear"}
    folders = {}
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        name = aliases.get(sub.name.lower(), sub.name.lower())
        if name not in CLASSES7:
            raise SourceError(f"{sub}: not an emotion class folder; name the folders {', '.join(CLASSES7)}")
        folders[sub] = CLASSES7.index(name)
    files = [(f, k) for sub, k in folders.items() for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise SourceError(f"{path}: no face images found in class subfolders ({', '.join(CLASSES7)})")
    if limit is not None and limit < len(files):
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).astype(np.int64)]
    x = np.empty((len(files), 48, 48), dtype=np.uint8)
    digest = hashlib.sha256()
    for i, (f, _) in enumerate(files):
        raw = f.read_bytes()
        digest.update(raw)
        img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise SourceError(f"{f}: not an image OpenCV can read")
        area = img.shape[0] * img.shape[1] > 48 * 48
        x[i] = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)
    y = np.array([k for _, k in files], dtype=np.int64)
    return x, y, digest.hexdigest()


def load_faces(path: Path, *, limit: int | None = None, check: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """Labelled faces from a FER2013-style .npz (`load_fer`) or a folder of class subfolders
    (`load_face_folder`). `check` False measures any file, also one named like a shared split but
    holding other faces (its hash is returned, not checked)."""
    if path.is_dir():
        return load_face_folder(path, limit=limit)
    return load_fer(path, limit=limit, subset_ok=not check)
