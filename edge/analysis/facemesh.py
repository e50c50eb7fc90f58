"""MediaPipe's face landmark and iris models through the TFLite interpreter, on regions the pose gives.

Pre- and post-processing follow MediaPipe's own graphs (mediapipe/modules/face_landmark/
face_landmark_cpu.pbtxt, iris_landmark/iris_landmark_cpu.pbtxt and
iris_landmark_left_and_right_from_face_landmarks_cpu.pbtxt):
- face: a square region, upright to the eye line, border pixels repeated where it leaves the frame,
  scaled to 192x192 RGB in [0, 1]; out come 468 (x, y, z) in input pixels and a face-presence logit
  (MediaPipe gates on sigmoid > 0.1 while tracking and its detector-free ports on 0.5; we keep the
  landmarks only above `MIN_FACE_SCORE`, since a crop from keypoints may hold the back of a head);
- iris: per eye, a square 2.3x the distance between the eye corners (landmarks 33-133 and 362-263),
  upright to the corner line, 64x64 RGB in [0, 1]; the model knows only the eye on the image left,
  so the other one is mirrored in and its points mirrored back; out come 71 eye-contour and brow
  points and 5 iris points (centre first) in input pixels. An iris model with a batch of 2 (what
  `python -m tools.quantize face` ships) reads both eyes in one invoke: 1.33-1.37 against
  1.69-1.73 ms for two invokes at 2 threads, the same outputs (docs/face.md).

Both models read RGB in [0, 1]. A float32 input gets the pixels scaled by 1/255; a quantized (uint8 or
int8) input, as `python -m tools.quantize face` can make, gets q = round(pixel / 255 / scale) + zero
point, taken from the model's own input details through a 256-entry table built once (with MediaPipe's
range, scale 1/255 and zero point 0, that is the pixel itself).

One interpreter per model, built once; inputs are written straight into the interpreter's input
tensors (no intermediate float buffers); nothing grows per frame. Not thread-safe.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.analysis.face import SquareRoi, model_to_frame, roi_matrix, warp_region
from edge.analysis.inference import REBUILD_HINT, ModelError, load_interpreter

logger = logging.getLogger(__name__)

NUM_LANDMARKS = 468
NUM_CONTOUR = 71
NUM_IRIS = 5
MIN_FACE_SCORE = 0.5  # face-presence probability below which a crop's landmarks are not used
# MediaPipe's tracking region: 1.5x the tight box of the previous landmarks, upright to the line from
# landmark 33 to 263 (face_landmark/face_landmarks_to_roi.pbtxt)
TRACK_ROI_SCALE = 1.5
TRACK_ROI_IDS = (33, 263)
IRIS_ROI_SCALE = 2.3  # eye region side in eye-corner distances (MediaPipe's 25% margin around the eye)
# (image-left corner, image-right corner) of each eye as seen from the front; the first is the
# presenter's right eye, fed to the iris model as it is, the second mirrored.
EYE_CORNERS = ((33, 133), (362, 263))


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """One landmark reading: 468 points (x, y in frame pixels; z in the same pixel scale, toward the
    camera negative, as MediaPipe's), the face-presence probability, and the region it was read from."""

    points: np.ndarray
    score: float
    roi: SquareRoi


@dataclass(frozen=True, slots=True)
class EyeReading:
    """One eye from the iris model, in frame pixels: its two corners (image-left first), the iris
    centre and the iris radius (mean distance of the 4 iris rim points to the centre)."""

    corners: np.ndarray  # (2, 2)
    iris: np.ndarray  # (2,)
    iris_radius: float


class _Runner:
    """One model with a square RGB input of `batch` regions: each region goes through `warp_region`
    into a reused uint8 buffer, then all into the interpreter's own input tensor as the model wants
    them (module docstring)."""

    def __init__(self, path: Path, threads: int, what: str, outputs: tuple[int, ...], max_batch: int = 1) -> None:
        self.path = Path(path)
        self._interp = load_interpreter(self.path, threads=threads)
        inp = self._interp.get_input_details()
        outp = self._interp.get_output_details()
        shape = [int(d) for d in inp[0]["shape"]] if len(inp) == 1 else []
        if len(shape) != 4 or not 1 <= shape[0] <= max_batch or shape[1] != shape[2] or shape[3] != 3:
            batches = "1" if max_batch == 1 else f"1..{max_batch}"
            raise ModelError(f"{self.path}: {what} input must be one BxNxNx3 tensor with B in {batches}, got "
                             f"{[list(d['shape']) for d in inp]}; {REBUILD_HINT}")
        self.batch = shape[0]
        dtype = np.dtype(inp[0]["dtype"])
        scale, zero = inp[0].get("quantization", (0.0, 0))
        self._table: np.ndarray | None = None  # pixel -> quantized input value, for a quantized input
        if dtype in (np.uint8, np.int8) and scale > 0:
            info = np.iinfo(dtype)
            q = np.round(np.arange(256, dtype=np.float64) / 255.0 / float(scale)) + int(zero)
            self._table = np.clip(q, info.min, info.max).astype(dtype)
        elif dtype != np.float32:
            raise ModelError(f"{self.path}: {what} input must be float32 (RGB in [0, 1]) or quantized uint8/int8 "
                             f"with a scale, got {dtype}; {REBUILD_HINT}")
        if any(np.dtype(d["dtype"]) != np.float32 for d in outp):
            raise ModelError(f"{self.path}: {what} outputs must be float32, got "
                             f"{[np.dtype(d['dtype']).name for d in outp]}; {REBUILD_HINT}")
        sizes = sorted(int(np.prod(d["shape"])) // self.batch for d in outp)
        if sizes != sorted(outputs) or any(int(d["shape"][0]) != self.batch for d in outp):
            raise ModelError(f"{self.path}: {what} outputs must hold {sorted(outputs)} values per region, got "
                             f"{[list(d['shape']) for d in outp]}; {REBUILD_HINT}")
        self.size = shape[1]
        self._input_index = int(inp[0]["index"])
        self._outputs = {int(np.prod(d["shape"])) // self.batch: int(d["index"]) for d in outp}
        self._rgb = np.empty((self.batch, self.size, self.size, 3), dtype=np.uint8)

    def put(self, k: int, frame_bgr: np.ndarray, roi: SquareRoi, flip: bool = False) -> None:
        """Cut region `roi` into input slot `k` (< `batch`)."""
        warp_region(frame_bgr, roi_matrix(roi, self.size, flip), self._rgb[k])

    def invoke(self) -> None:
        """Run the model on the regions put into its slots."""
        view = self._interp.tensor(self._input_index)()  # a view of the input tensor, not a copy
        if self._table is None:
            np.multiply(self._rgb, np.float32(1.0 / 255.0), out=view, casting="unsafe")
        else:
            np.take(self._table, self._rgb, out=view, mode="clip")  # uint8 indices: never clipped
        del view  # the interpreter refuses to run while a view of its buffers is alive
        self._interp.invoke()

    def run(self, frame_bgr: np.ndarray, roi: SquareRoi, flip: bool = False) -> None:
        """One region through a batch-1 model."""
        self.put(0, frame_bgr, roi, flip)
        self.invoke()

    def each(self, frame_bgr: np.ndarray, regions: Sequence[tuple[SquareRoi, bool]]) -> Iterator[int]:
        """Run the model on (region, flip) pairs, `batch` per invoke; yields each region's slot in turn,
        for `output` to be read before the next one is asked for."""
        for start in range(0, len(regions), self.batch):
            chunk = regions[start:start + self.batch]
            for k, (roi, flip) in enumerate(chunk):
                self.put(k, frame_bgr, roi, flip)
            self.invoke()
            yield from range(len(chunk))

    def output(self, n_values: int, k: int = 0) -> np.ndarray:
        """Output of `n_values` values per region, for the region in slot `k` (float32, checked at load;
        `get_tensor` already returns a copy, so the row is the caller's)."""
        return self._interp.get_tensor(self._outputs[n_values]).reshape(self.batch, -1)[k]


class FaceMesh:
    """Face landmarks (and, when an iris model is given, the irises) on regions of BGR frames.

    After each call `last_ms` holds the time of that call (crop, invoke and decoding).
    """

    def __init__(self, landmark_path: Path, iris_path: Path | None = None, threads: int = 2) -> None:
        self._face = _Runner(landmark_path, threads, "face landmark model", (NUM_LANDMARKS * 3, 1))
        self._iris = (_Runner(iris_path, threads, "iris model", (NUM_CONTOUR * 3, NUM_IRIS * 3), max_batch=2)
                      if iris_path is not None else None)
        self.last_ms = 0.0

    @staticmethod
    def check_iris(path: Path) -> None:
        """Load an iris model once and check its contract (ModelError naming the file if it fails)."""
        _Runner(path, 1, "iris model", (NUM_CONTOUR * 3, NUM_IRIS * 3), max_batch=2)

    @property
    def has_iris(self) -> bool:
        return self._iris is not None

    @property
    def input_size(self) -> int:
        return self._face.size

    def landmarks(self, frame_bgr: np.ndarray, roi: SquareRoi) -> FaceLandmarks:
        """The landmarks in `roi` of the frame, with the face-presence probability (check `score`
        against `MIN_FACE_SCORE` before using the points)."""
        t0 = time.perf_counter()
        self._face.run(frame_bgr, roi)
        raw = self._face.output(NUM_LANDMARKS * 3).reshape(NUM_LANDMARKS, 3)
        logit = float(self._face.output(1)[0])
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
        pts = np.empty((NUM_LANDMARKS, 3), dtype=np.float64)
        pts[:, :2] = model_to_frame(raw[:, :2], roi, self._face.size)
        pts[:, 2] = raw[:, 2] * (roi.side / self._face.size)
        self.last_ms = (time.perf_counter() - t0) * 1000.0
        return FaceLandmarks(pts, score, roi)

    def track(self, frame_bgr: np.ndarray, roi: SquareRoi) -> FaceLandmarks:
        """Landmarks read twice: in `roi`, then in the region MediaPipe's tracker would cut from that
        first reading (`roi_from_landmarks`). The model was trained on crops centred and sized by its
        own landmarks; a keypoint box around a bowed head holds scalp above the face and reads the head
        closer to frontal (measured on the labelled set: pitch 2-4 degrees higher on bowed heads, the
        face-presence score of half-turned or lowered faces from 0.01-0.5 up to 0.7-1.0, frontal faces
        unchanged within 2 degrees; docs/face.md). Costs one more landmark invoke per face check."""
        first = self.landmarks(frame_bgr, roi)
        ms = self.last_ms
        second = self.landmarks(frame_bgr, roi_from_landmarks(first.points))
        self.last_ms += ms
        return second

    def eyes(self, frame_bgr: np.ndarray, face: FaceLandmarks) -> tuple[EyeReading, EyeReading] | None:
        """Both eyes (image-left eye first) from the iris model, or None without an iris model."""
        if self._iris is None:
            return None
        t0 = time.perf_counter()
        rois = eye_rois(face.points)  # both eyes in one invoke with a batch-2 model
        slots = self._iris.each(frame_bgr, rois)
        out = [self._eye(slot, roi, flip) for slot, (roi, flip) in zip(slots, rois, strict=True)]
        self.last_ms = (time.perf_counter() - t0) * 1000.0
        return out[0], out[1]

    def _eye(self, slot: int, roi: SquareRoi, flip: bool) -> EyeReading:
        """The iris model's reading of the eye in input slot `slot`, in frame pixels."""
        assert self._iris is not None
        contour = self._iris.output(NUM_CONTOUR * 3, slot).reshape(NUM_CONTOUR, 3)
        iris = self._iris.output(NUM_IRIS * 3, slot).reshape(NUM_IRIS, 3)
        size = self._iris.size
        # contour points 0 and 8 are the eye corners (MediaPipe's eye-contour order)
        corners = model_to_frame(contour[[0, 8], :2], roi, size, flip)
        ring = model_to_frame(iris[:, :2], roi, size, flip)
        if corners[0, 0] > corners[1, 0]:
            corners = corners[::-1].copy()
        radius = float(np.mean(np.hypot(*(ring[1:] - ring[0]).T)))
        return EyeReading(corners, ring[0].copy(), radius)


def eye_rois(points: np.ndarray) -> tuple[tuple[SquareRoi, bool], tuple[SquareRoi, bool]]:
    """The iris model's region of each eye (image-left eye first) from 468 face landmarks (frame pixels),
    and whether it is mirrored in (the image-right eye): a square `IRIS_ROI_SCALE` eye-corner distances
    wide around the corners' midpoint, upright to the corner line."""
    out = []
    for k, (a, b) in enumerate(EYE_CORNERS):
        pa, pb = points[a, :2], points[b, :2]
        d = pb - pa
        roi = SquareRoi(float(pa[0] + pb[0]) / 2.0, float(pa[1] + pb[1]) / 2.0,
                        max(float(np.hypot(*d)), 1.0) * IRIS_ROI_SCALE, math.atan2(float(d[1]), float(d[0])))
        out.append((roi, k == 1))
    return out[0], out[1]


def roi_from_landmarks(points: np.ndarray) -> SquareRoi:
    """The square region MediaPipe's face tracker reads next from 468 landmarks (frame pixels):
    `TRACK_ROI_SCALE` times the long side of their tight box in the face's own frame (upright to the
    `TRACK_ROI_IDS` line), around that box's centre."""
    a, b = points[TRACK_ROI_IDS[0], :2], points[TRACK_ROI_IDS[1], :2]
    angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    c, s = math.cos(angle), math.sin(angle)
    x, y = points[:, 0], points[:, 1]
    u, v = x * c + y * s, -x * s + y * c  # into the face's frame
    u0, u1, v0, v1 = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    mu, mv = (u0 + u1) / 2.0, (v0 + v1) / 2.0
    return SquareRoi(mu * c - mv * s, mu * s + mv * c, max(u1 - u0, v1 - v0, 1.0) * TRACK_ROI_SCALE, angle)
