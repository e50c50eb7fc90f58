"""Real faces through the device's own path, and how their framing compares with FER2013's.

`python -m tools.quantize emotion-crops` runs `edge.analysis.pipeline.FrameAnalyzer` (pose, face box,
crop, emotion model: the code the daemon runs) on photos and video frames, and keeps every face the
emotion model really read (`EmotionClassifier.last_face`), so the sheet follows whatever crop code the
runtime has. Why: the device cuts faces from pose keypoints, not as FER2013 was cropped, and a model
is only as good as the match between its training framing and what it is shown.

The framing is measured the same way on both sides with an independent landmark model (MediaPipe Face
Mesh, run through the LiteRT interpreter): eye-line height, eye spacing (face scale) and tilt, each as
a fraction of the crop side (degrees for the tilt). Face Mesh expects a face with some margin, so each
48×48 face is padded by a quarter of its side (border repeated) before it is scaled to 192×192.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tools.quantize.calibration import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)

# Face Mesh landmark indices of the eye corners (subject's right eye: outer 33, inner 133; left eye:
# inner 362, outer 263); an eye centre is the mean of its two corners.
_RIGHT_EYE = (33, 133)
_LEFT_EYE = (362, 263)
_MESH_SIZE = 192
_PAD = 0.25


@dataclass
class RuntimeFace:
    source: str  # file name, with #frame for a video
    face: np.ndarray  # the 48×48 grey crop the model read
    probs: np.ndarray  # its 7 FER probabilities


@dataclass
class Framing:
    """Per-face framing, fractions of the crop side; NaN where Face Mesh found no face."""

    eye_y: np.ndarray  # eye line's height from the top
    eye_x: np.ndarray  # eye midpoint across
    eye_dist: np.ndarray  # eye-centre spacing (face scale)
    roll_deg: np.ndarray  # eye line's tilt, clockwise positive in image coordinates

    def summary(self) -> dict[str, Any]:
        ok = np.isfinite(self.eye_y)
        out: dict[str, Any] = {"faces": int(len(ok)), "measured": int(ok.sum())}
        for name in ("eye_y", "eye_x", "eye_dist", "roll_deg"):
            v = getattr(self, name)[ok]
            if len(v):
                q1, med, q3 = np.percentile(v, [25, 50, 75])
                out[name] = {"median": round(float(med), 3), "iqr": [round(float(q1), 3), round(float(q3), 3)],
                             "abs_median": round(float(np.median(np.abs(v))), 3)}
        return out


def _video_frames(path: Path, every: int) -> Any:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"{path}: OpenCV cannot open this video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield i, i / fps, frame
            i += 1
    finally:
        cap.release()


def _media(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    videos: list[Path] = []
    for p in paths:
        if p.is_dir():
            sub = _media(sorted(q for q in p.iterdir()))
            images += sub[0]
            videos += sub[1]
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        elif p.suffix.lower() in VIDEO_SUFFIXES:
            videos.append(p)
        elif not p.exists():
            raise SourceError(f"{p}: image or video not found")
    return images, videos


def runtime_faces(paths: list[Path], *, video_every: int = 3, models_dir: Path | None = None) -> list[RuntimeFace]:
    """Every face the runtime classifies in these photos/videos (emotion on every analysed frame)."""
    from edge.analysis.pipeline import FrameAnalyzer
    from edge.config import Config

    cfg = Config()
    cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, emotion_every=1))
    if models_dir is not None:
        cfg = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, dir=models_dir))
    analyzer = FrameAnalyzer(cfg)
    classifier = analyzer.emotion_classifier
    if classifier is None:
        raise SourceError("the emotion model is switched off in the configuration")
    images, videos = _media(paths)
    out: list[RuntimeFace] = []

    def keep(name: str, frame: np.ndarray, t: float) -> None:
        r = analyzer.analyze(frame, t)
        if r.emotion is not None and r.emotion_probs is not None:
            out.append(RuntimeFace(name, classifier.last_face.copy(), r.emotion_probs.copy()))

    for path in images:
        analyzer.reset()
        keep(path.name, read_image(path), 0.0)
    for path in videos:
        analyzer.reset()
        for i, t, frame in _video_frames(path, video_every):
            keep(f"{path.name}#{i}", frame, t)
    logger.info("emotion-crops: %d faces from %d photos and %d videos", len(out), len(images), len(videos))
    return out


class FaceMesh:
    """MediaPipe Face Mesh through the LiteRT interpreter: eye centres in a 48×48 grey face."""

    def __init__(self, path: Path) -> None:
        from edge.analysis.inference import load_interpreter

        self._interp = load_interpreter(path, threads=2)
        self._in = self._interp.get_input_details()[0]
        outs = self._interp.get_output_details()
        self._points = next(o for o in outs if int(np.prod(o["shape"])) == 468 * 3)
        self._flag = next(o for o in outs if int(np.prod(o["shape"])) == 1)

    def eyes(self, face: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(right eye, left eye) centres in face pixels, or None when the mesh sees no face."""
        side = face.shape[0]
        pad = int(round(side * _PAD))
        big = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        img = cv2.resize(big, (_MESH_SIZE, _MESH_SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        self._interp.set_tensor(self._in["index"], np.repeat(img[None, :, :, None], 3, axis=3))
        self._interp.invoke()
        if float(self._interp.get_tensor(self._flag["index"]).reshape(-1)[0]) < 0.0:  # logit: p < 0.5
            return None
        pts = self._interp.get_tensor(self._points["index"]).reshape(468, 3)[:, :2]
        to_face = (side + 2 * pad) / _MESH_SIZE
        right = pts[list(_RIGHT_EYE)].mean(axis=0) * to_face - pad
        left = pts[list(_LEFT_EYE)].mean(axis=0) * to_face - pad
        return right, left

    def framing(self, faces: np.ndarray) -> Framing:
        n = len(faces)
        cols = {k: np.full(n, np.nan) for k in ("eye_y", "eye_x", "eye_dist", "roll_deg")}
        for i, face in enumerate(faces):
            found = self.eyes(face)
            if found is None:
                continue
            right, left = found
            side = face.shape[0]
            axis = left - right  # image left → image right for a frontal face
            cols["eye_y"][i] = (right[1] + left[1]) / 2 / side
            cols["eye_x"][i] = (right[0] + left[0]) / 2 / side
            cols["eye_dist"][i] = float(np.hypot(*axis)) / side
            cols["roll_deg"][i] = math.degrees(math.atan2(float(axis[1]), float(axis[0])))
        return Framing(**cols)


def framing_gap(fer: dict[str, Any], runtime: dict[str, Any]) -> dict[str, float]:
    """Runtime median minus FER median, per measure (same units as the measures)."""
    return {k: round(runtime[k]["median"] - fer[k]["median"], 3)
            for k in ("eye_y", "eye_x", "eye_dist", "roll_deg") if k in fer and k in runtime}


def _label(tile: np.ndarray, lines: list[str]) -> np.ndarray:
    h, w = tile.shape[:2]
    band = np.full((14 * len(lines) + 2, w, 3), 255, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(band, text, (2, 11 + 14 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([tile, band])


Mark = tuple[float, float, tuple[int, int, int]]  # x, y (fractions of the side), BGR colour


def _tile(face: np.ndarray, scale: int, eyes: list[Mark] | None = None) -> np.ndarray:
    big = cv2.resize(face, (face.shape[1] * scale, face.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    tile = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    for ex, ey, colour in eyes or []:
        cv2.drawMarker(tile, (int(ex * tile.shape[1]), int(ey * tile.shape[0])), colour, cv2.MARKER_CROSS, 8, 1)
    return tile


def _spread(faces: list[RuntimeFace], n: int) -> list[int]:
    """Up to n indices, shared fairly between the sources and evenly spaced within each."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(faces):
        groups.setdefault(f.source.partition("#")[0], []).append(i)
    quota = {k: 0 for k in groups}
    left = min(n, len(faces))
    while left > 0:  # one more face per source in turn, as long as the source has some left
        for k, idx in groups.items():
            if left > 0 and quota[k] < len(idx):
                quota[k] += 1
                left -= 1
    picked: list[int] = []
    for k, idx in groups.items():
        if quota[k]:
            picked += [idx[j] for j in np.linspace(0, len(idx) - 1, quota[k]).round().astype(int)]
    return picked


def contact_sheet(faces: list[RuntimeFace], fer_mean: np.ndarray, fer_framing: dict[str, Any],
                  run_framing: dict[str, Any], classes: tuple[str, ...], *, max_faces: int = 40,
                  columns: int = 8, scale: int = 2) -> np.ndarray:
    """A BGR sheet: the mean FER2013 face and the mean runtime crop (eye medians marked: green FER,
    red runtime), then up to `max_faces` runtime crops evenly spread over the sources, each with its
    predicted class and probability."""
    side = 48 * scale
    pick = _spread(faces, max_faces)
    tiles = []
    marks = []
    for fr, colour in ((fer_framing, (0, 170, 0)), (run_framing, (0, 0, 230))):
        if "eye_y" in fr:
            half = fr["eye_dist"]["median"] / 2
            marks += [(fr["eye_x"]["median"] - half, fr["eye_y"]["median"], colour),
                      (fr["eye_x"]["median"] + half, fr["eye_y"]["median"], colour)]
    tiles.append(_label(_tile(fer_mean, scale, marks), ["mean FER2013", "eyes: green FER"]))
    if faces:
        run_mean = np.mean([f.face for f in faces], axis=0).round().astype(np.uint8)
        tiles.append(_label(_tile(run_mean, scale, marks), [f"mean {len(faces)} crops", "red: runtime"]))
    for i in pick:
        f = faces[i]
        k = int(np.argmax(f.probs))
        name, _, frame = f.source.partition("#")
        src = Path(name).stem[:12 - len(frame)] + (f"#{frame}" if frame else "")
        tiles.append(_label(_tile(f.face, scale), [f"{classes[k]} {f.probs[k]:.2f}", src]))
    rows = []
    blank = np.full_like(tiles[0], 255)
    for r in range(0, len(tiles), columns):
        row = tiles[r:r + columns] + [blank] * (columns - len(tiles[r:r + columns]))
        rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in row]))
    sheet = np.vstack(rows)
    assert sheet.shape[1] >= side
    return sheet


def run_emotion_crops(args: Any, command: str) -> int:
    """`python -m tools.quantize emotion-crops`: the sheet, the framing figures, and the manifest record."""
    from edge.analysis.emotion import EMOTIONS7
    from tools.quantize.fer import load_fer
    from tools.quantize.manifest import update_entry

    faces = runtime_faces([*(args.images or []), *(args.videos or [])], video_every=args.every)
    if not faces:
        raise SourceError("no frontal face was classified in the given photos and videos")
    mesh = FaceMesh(args.landmarks)
    fer_x, _, _ = load_fer(args.fer, limit=args.fer_faces)
    fer = mesh.framing(fer_x).summary()
    run = mesh.framing(np.stack([f.face for f in faces])).summary()
    gap = framing_gap(fer, run)
    by_source: dict[str, list[int]] = {}
    for f in faces:
        counts = by_source.setdefault(f.source.split("#")[0], [0] * len(EMOTIONS7))
        counts[int(np.argmax(f.probs))] += 1
    sheet = contact_sheet(faces, fer_x.mean(axis=0).round().astype(np.uint8), fer, run, EMOTIONS7,
                          max_faces=args.max_faces)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SourceError(f"{args.out}: could not write the PNG")
    for name, s in (("fer2013", fer), ("runtime", run)):
        print(f"{name:8s} faces={s['faces']} measured={s['measured']} "
              + " ".join(f"{k}={s[k]['median']:.3f}" for k in ("eye_y", "eye_x", "eye_dist", "roll_deg") if k in s))
    print("gap (runtime - fer2013): " + " ".join(f"{k}={v:+.3f}" for k, v in gap.items()))
    for src, counts in by_source.items():
        print(f"{src}: " + " ".join(f"{c}={n}" for c, n in zip(EMOTIONS7, counts, strict=True) if n))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(faces)} faces)")
    if args.manifest:
        update_entry(args.manifest, args.entry, real_faces={
            "faces": len(faces), "sheet": args.out.name, "fer_framing": fer, "runtime_framing": run,
            "gap": gap, "predicted": {src: dict(zip(EMOTIONS7, c, strict=True)) for src, c in by_source.items()},
            "command": command})
    return 0
