"""The emotion model: a grey face crop in, 7 FER class probabilities out, folded to 3 classes.

The input contract (size, dtype, quantization) is read from the model; the shipped model is a plain
48×48 network on grey pixels 0..255, framed like FER2013's faces, with the mirror-image average built
into the .tflite file, so the device feeds the grey crop and nothing else. Classes are FER's order,
`EMOTIONS7` below; the fold to positive, negative and neutral is `EMOTION3_OF`, the same table the
statistics use.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.analysis.inference import REBUILD_HINT, ModelError, load_interpreter, quantize_input

logger = logging.getLogger(__name__)

# FER2013 class order, and the fold the statistics and the report use.
EMOTIONS7: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOTIONS3: tuple[str, ...] = ("positive", "negative", "neutral")
EMOTION3_OF: dict[str, str] = {
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "happy": "positive",
    "sad": "negative",
    "surprise": "positive",
    "neutral": "neutral",
}

# How often the shipped model reads a neutral face as each folded class (arg-max of the 7, as the
# statistics count): FER2013's public test split, the card's int8 confusion matrix (`python -m
# tools.quantize evaluate-emotion`). A session's shares sit on top of these, so the report says them and
# `feedback.negative_emotion_max` allows for them; tests/test_quantize_tools.py holds both to the card.
NEUTRAL_READ_AS: dict[str, float] = {"negative": 0.247, "positive": 0.094}

# FOLD[j, i] = 1 when 7-class i folds into 3-class j (EMOTIONS3 order: positive, negative, neutral).
FOLD = np.array([[1.0 if EMOTION3_OF[e7] == e3 else 0.0 for e7 in EMOTIONS7] for e3 in EMOTIONS3],
                dtype=np.float32)


def fold3(probs7: np.ndarray) -> np.ndarray:
    """7 FER probabilities -> (positive, negative, neutral), each the sum of its classes."""
    return FOLD @ np.asarray(probs7, dtype=np.float32).reshape(len(EMOTIONS7))


class EmotionClassifier:
    """One emotion interpreter with a reused input buffer. Not thread-safe."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = Path(path)
        self._interp = load_interpreter(self.path, threads=int(threads))
        inp = self._interp.get_input_details()
        outp = self._interp.get_output_details()
        if len(inp) != 1 or len(outp) < 1:
            raise ModelError(f"{self.path}: expected one input and an output; {REBUILD_HINT}")
        self._in: dict[str, Any] = inp[0]
        self._out: dict[str, Any] = outp[0]
        shape = [int(d) for d in self._in["shape"]]
        if len(shape) != 4 or shape[0] != 1 or shape[1] != shape[2] or shape[3] != 1:
            raise ModelError(f"{self.path}: emotion model input must be 1xNxNx1 grey, got {shape}; "
                             f"{REBUILD_HINT}")
        if int(np.prod(self._out["shape"])) != len(EMOTIONS7):
            raise ModelError(f"{self.path}: emotion model must output {len(EMOTIONS7)} classes, got shape "
                             f"{list(self._out['shape'])}; {REBUILD_HINT}")
        self.input_size = shape[1]
        self._input = np.empty(shape, dtype=np.dtype(self._in["dtype"]))
        self._probs = np.empty(len(EMOTIONS7), dtype=np.float32)
        self._last_face = np.zeros((self.input_size, self.input_size), dtype=np.uint8)
        scale, zero = self._out.get("quantization", (0.0, 0))
        self._out_q = (float(scale), int(zero)) if np.dtype(self._out["dtype"]).kind in "iu" else None
        self.last_invoke_ms = 0.0

    @property
    def last_face(self) -> np.ndarray:
        """The grey face the model last read (a reused buffer): what `emotion-crops` shows a reader, taken
        here so that it is the model's real input whichever crop code produced it."""
        return self._last_face

    def classify(self, face_grey: np.ndarray) -> np.ndarray:
        """Probabilities of the 7 FER classes for an input_size x input_size grey uint8 face.

        The returned array is reused by the next call. It always sums to 1: a quantized softmax is
        renormalised, and should a model give logits rather than probabilities they go through a
        softmax here, so callers can rely on a distribution either way.
        """
        if face_grey.shape[:2] != (self.input_size, self.input_size):
            raise ValueError(f"face crop must be {self.input_size}x{self.input_size}, got {face_grey.shape}")
        np.copyto(self._last_face, face_grey.reshape(self.input_size, self.input_size), casting="unsafe")
        quantize_input(face_grey.reshape(self.input_size, self.input_size, 1), self._in, self._input)
        self._interp.set_tensor(self._in["index"], self._input)
        t0 = time.perf_counter()
        self._interp.invoke()
        self.last_invoke_ms = (time.perf_counter() - t0) * 1000.0
        out = self._interp.get_tensor(self._out["index"]).reshape(len(EMOTIONS7))
        p = self._probs
        if self._out_q is not None:
            np.multiply(out.astype(np.float32) - self._out_q[1], self._out_q[0], out=p)
        else:
            np.copyto(p, out)
        if not np.all(np.isfinite(p)) or p.min() < -1e-3 or abs(float(p.sum()) - 1.0) > 0.05:
            e = np.exp(np.nan_to_num(p, nan=0.0) - np.nanmax(np.nan_to_num(p, nan=0.0)))
            np.divide(e, e.sum(), out=p)
        else:  # a quantized softmax sums to 1 only within its rounding: make it exact
            np.clip(p, 0.0, None, out=p)
            p /= p.sum()
        return p
