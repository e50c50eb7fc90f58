"""MoveNet SinglePose through the TFLite interpreter, and the crop-region tracking MoveNet's authors
recommend for video.

`PoseEstimator` builds its interpreter once and reads the input contract (size, dtype, quantization)
from the model itself. A frame goes in as OpenCV gives it (BGR, any size); the crop (or the whole
frame, letterboxed) is cut, shrunk and converted to RGB by `edge.analysis.imaging.crop_and_resize`, the
same function that prepared the int8 calibration set, written straight into the interpreter's input
tensor when the model takes uint8 pixels as they are (ours and Google's int8 models do); the keypoints
come back as a `Pose` in frame pixels.

Crop tracking (`CropTracker`, `crop_region_from_pose`) follows MoveNet's own tutorial
(tensorflow.org/hub/tutorials/movenet, `determine_crop_region`): from the torso and body keypoints
of this frame, a square around the hips' midpoint large enough to hold 1.9x the torso and 1.2x the
body extent is the region of the next frame; without a torso (or when that square would be larger
than the frame) the next frame is the full frame again. On a person that fills only part of the
frame the model then sees them at a higher resolution. One addition: the square never shrinks below
a fifth of the frame's long side, so that a pose collapsed onto a few points cannot zoom into noise.
Unlike the TensorFlow Raspberry Pi example, the body extent is measured over each body keypoint (that
example reuses a stale loop variable).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.analysis.imaging import CropRegion, ShrinkBuffers, crop_and_resize
from edge.analysis.inference import REBUILD_HINT, ModelError, load_interpreter, quantize_input
from edge.analysis.keypoints import BodyPart, Pose, pose_from_normalised

logger = logging.getLogger(__name__)

# Tutorial constants (MIN_CROP_KEYPOINT_SCORE and the expansion factors of determine_crop_region).
MIN_CROP_KEYPOINT_SCORE = 0.2
TORSO_EXPANSION = 1.9
BODY_EXPANSION = 1.2
MIN_CROP_FRACTION = 0.2  # a crop never shrinks below this share of the frame's long side (collapsed points)
_TORSO = (BodyPart.LEFT_SHOULDER, BodyPart.RIGHT_SHOULDER, BodyPart.LEFT_HIP, BodyPart.RIGHT_HIP)


class PoseEstimator:
    """One MoveNet interpreter and its reused buffers. Not thread-safe: one per analysing thread.

    After each `estimate`, `last_preprocess_ms` and `last_invoke_ms` hold the stage times, so that the
    pipeline and the bench can report them without timing around the call.
    """

    def __init__(self, path: Path, threads: int = 2) -> None:
        self.path = Path(path)
        self.threads = int(threads)
        self._interp = load_interpreter(self.path, threads=self.threads)
        inp = self._interp.get_input_details()
        outp = self._interp.get_output_details()
        if len(inp) != 1 or len(outp) < 1:
            raise ModelError(f"{self.path}: expected one input and an output, got {len(inp)} and "
                             f"{len(outp)}; {REBUILD_HINT}")
        self._in = inp[0]
        self._out = outp[0]
        shape = [int(d) for d in self._in["shape"]]
        if len(shape) != 4 or shape[0] != 1 or shape[1] != shape[2] or shape[3] != 3:
            raise ModelError(f"{self.path}: pose model input must be 1xNxNx3, got {shape}; {REBUILD_HINT}")
        out_size = int(np.prod(self._out["shape"]))
        if out_size != 17 * 3:
            raise ModelError(f"{self.path}: pose model output must hold 17x3 values, got shape "
                             f"{list(self._out['shape'])}; {REBUILD_HINT}")
        self.input_size = shape[1]
        self.input_dtype = np.dtype(self._in["dtype"])
        self._rgb = np.empty((self.input_size, self.input_size, 3), dtype=np.uint8)
        self._buffers = ShrinkBuffers()
        scale, zero = self._in.get("quantization", (0.0, 0))
        # pixels go into the tensor as they are: preprocessing writes there directly, no copy
        self._direct = self.input_dtype == np.uint8 and scale in (0.0, 1.0) and zero == 0
        self._raw = np.empty((17, 3), dtype=np.float32)
        out_scale, out_zero = self._out.get("quantization", (0.0, 0))
        self._out_q = (float(out_scale), int(out_zero)) if np.dtype(self._out["dtype"]).kind in "iu" else None
        self.last_preprocess_ms = 0.0
        self.last_invoke_ms = 0.0
        logger.debug("pose model %s: input %s %s, %d threads", self.path.name, shape, self.input_dtype,
                     self.threads)

    @property
    def interpreter(self) -> Any:
        return self._interp

    def invoke(self) -> None:
        """Run the model on whatever is in the input buffer (the bench times this bare call)."""
        self._interp.invoke()

    def infer_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """Raw MoveNet output (17, 3) [y, x, score], coordinates normalised to the model input.

        `rgb` is size x size x 3 uint8 RGB. The returned array is reused by the next call.
        """
        self._set_input(rgb)
        return self._run()

    def _set_input(self, rgb: np.ndarray) -> None:
        view = self._interp.tensor(self._in["index"])()
        try:
            quantize_input(rgb, self._in, view)
        finally:
            del view

    def input_pixels(self) -> np.ndarray:
        """A copy of what the model sees now (size x size x 3, in the model's input dtype)."""
        view = self._interp.tensor(self._in["index"])()
        try:
            return np.array(view[0], copy=True)
        finally:
            del view

    def _preprocess(self, frame_bgr: np.ndarray, region: CropRegion) -> None:
        """Fill the input tensor from `region` of the frame. The tensor view is dropped before
        returning: the interpreter refuses to invoke while a numpy view of its memory is alive."""
        if self._direct:
            view = self._interp.tensor(self._in["index"])()
            try:
                crop_and_resize(frame_bgr, region, self.input_size, out=view[0], buffers=self._buffers)
            finally:
                del view
        else:
            crop_and_resize(frame_bgr, region, self.input_size, out=self._rgb, buffers=self._buffers)
            self._set_input(self._rgb)

    def _run(self) -> np.ndarray:
        t0 = time.perf_counter()
        self._interp.invoke()
        self.last_invoke_ms = (time.perf_counter() - t0) * 1000.0
        out = self._interp.get_tensor(self._out["index"]).reshape(17, 3)
        if self._out_q is not None:
            scale, zero = self._out_q
            np.multiply(out.astype(np.float32) - zero, scale, out=self._raw)
        else:
            np.copyto(self._raw, out)
        return self._raw

    def estimate(self, frame_bgr: np.ndarray, region: CropRegion | None = None) -> Pose:
        """The pose in `frame_bgr` (OpenCV BGR), looking only at `region` (None: the whole frame).

        Keypoints come back in frame pixels: the crop's square-to-frame mapping (which also undoes the
        letterbox padding of a full frame) is inverted here, so callers never see model coordinates.
        `last_preprocess_ms` covers crop, resize, colour conversion and filling the input tensor;
        `last_invoke_ms` the interpreter's invoke alone.
        """
        h, w = frame_bgr.shape[:2]
        if region is None:
            region = CropRegion.full_frame(w, h)
        t0 = time.perf_counter()
        self._preprocess(frame_bgr, region)
        self.last_preprocess_ms = (time.perf_counter() - t0) * 1000.0
        raw = self._run()
        return pose_from_normalised(crop_to_frame(raw, region, w, h), w, h)


def crop_to_frame(raw: np.ndarray, region: CropRegion, width: int, height: int) -> np.ndarray:
    """MoveNet [y, x, score] normalised to a crop -> normalised to the frame (a new array)."""
    out = np.array(raw, dtype=np.float32, copy=True).reshape(17, 3)
    out[:, 0] = (region.y0 + out[:, 0] * region.size) / height
    out[:, 1] = (region.x0 + out[:, 1] * region.size) / width
    return out


def _torso_visible(scores: np.ndarray, min_score: float) -> bool:
    hips = scores[BodyPart.LEFT_HIP] > min_score or scores[BodyPart.RIGHT_HIP] > min_score
    shoulders = scores[BodyPart.LEFT_SHOULDER] > min_score or scores[BodyPart.RIGHT_SHOULDER] > min_score
    return bool(hips and shoulders)


def crop_region_from_pose(pose: Pose, min_score: float = MIN_CROP_KEYPOINT_SCORE) -> CropRegion | None:
    """The square region to look at in the next frame, or None for the full frame.

    As MoveNet's tutorial: centre on the hips' midpoint; half side = the largest of 1.9x the torso's
    and 1.2x the body's extent from that centre (x and y, keypoints scoring > `min_score`), limited to
    the farthest frame edge from the centre. None (full frame) without a torso (a hip and a shoulder),
    or when the square would be larger than the frame.
    """
    w, h = pose.frame_width, pose.frame_height
    scores, xy = pose.scores, pose.xy
    if not _torso_visible(scores, min_score) or not np.all(np.isfinite(xy)):
        return None
    cx = float(xy[BodyPart.LEFT_HIP, 0] + xy[BodyPart.RIGHT_HIP, 0]) / 2.0
    cy = float(xy[BodyPart.LEFT_HIP, 1] + xy[BodyPart.RIGHT_HIP, 1]) / 2.0
    torso = np.array(_TORSO)
    dt = np.abs(xy[torso] - (cx, cy))
    torso_x, torso_y = float(dt[:, 0].max()), float(dt[:, 1].max())
    body = scores > min_score
    db = np.abs(xy[body] - (cx, cy))
    body_x, body_y = float(db[:, 0].max()), float(db[:, 1].max())
    half = max(torso_x * TORSO_EXPANSION, torso_y * TORSO_EXPANSION, body_x * BODY_EXPANSION,
               body_y * BODY_EXPANSION)
    half = min(half, max(cx, w - cx, cy, h - cy))
    half = max(half, MIN_CROP_FRACTION * max(w, h) / 2.0)
    if half > max(w, h) / 2.0:
        return None
    return CropRegion(cx - half, cy - half, 2.0 * half)


class CropTracker:
    """The crop region of the next frame, from the pose of this one; the full frame after a loss.

    Also restarts from the full frame when the frame size changes (a camera reopened at another
    resolution), since a region in the old frame's pixels means nothing in the new one.
    """

    def __init__(self, enabled: bool = True, min_score: float = MIN_CROP_KEYPOINT_SCORE) -> None:
        self.enabled = enabled
        self.min_score = min_score
        self._region: CropRegion | None = None
        self._size: tuple[int, int] | None = None

    def reset(self) -> None:
        self._region = None
        self._size = None

    def region(self, width: int, height: int) -> CropRegion | None:
        """Where to look in a frame of this size (None: the full frame)."""
        if not self.enabled or self._size != (width, height):
            return None
        return self._region

    def update(self, pose: Pose | None) -> None:
        if not self.enabled or pose is None:
            self._region = None
            return
        self._size = (pose.frame_width, pose.frame_height)
        self._region = crop_region_from_pose(pose, self.min_score)
