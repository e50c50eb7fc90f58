"""Emotion accuracy on a FER2013 split, 7-class and folded to 3 classes, for any model.

Every model is measured the same way: our TFLite files through the LiteRT interpreter with the
input contract read from the file, and the published mini-Xception baseline (a TF.js graph, 64×64
input scaled to [-1, 1]) through TensorFlow with its own preprocessing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.quantize.fer import CLASSES3, CLASSES7, FOLD3, load_faces
from tools.quantize.sources import SourceError, check_source

logger = logging.getLogger(__name__)


@dataclass
class EmotionScore:
    accuracy7: float
    accuracy3: float
    n: int
    confusion3: np.ndarray  # rows = truth, columns = prediction, order CLASSES3
    confusion7: np.ndarray

    def recall7(self) -> np.ndarray:
        """Per-class recall (the share of each true class found), FER order."""
        return self.confusion7.diagonal() / np.maximum(1, self.confusion7.sum(axis=1))

    def line(self) -> str:
        return f"accuracy7={self.accuracy7:.4f} accuracy3={self.accuracy3:.4f} n={self.n}"

    def read_rates(self) -> str:
        return read_rates(self.confusion7)

    def table(self) -> str:
        head = "truth \\ pred".ljust(14) + "".join(c.rjust(10) for c in CLASSES3)
        rows = [head] + [c.ljust(14) + "".join(str(int(v)).rjust(10) for v in row)
                         for c, row in zip(CLASSES3, self.confusion3, strict=True)]
        return "\n".join(rows)


def read_rate(confusion7: np.ndarray, truth: str, read: str) -> float:
    """The share of faces of 3-class `truth` that the session statistics count as `read` (the arg-max
    of the 7 classes, folded), from a 7-class confusion matrix (rows the truth)."""
    c7 = np.asarray(confusion7)
    rows = [i for i in range(7) if CLASSES3[FOLD3[i]] == truth]
    cols = [j for j in range(7) if CLASSES3[FOLD3[j]] == read]
    return float(c7[np.ix_(rows, cols)].sum() / max(1, c7[rows].sum()))


def session_share(confusion7: np.ndarray, share: float, cls: str) -> float:
    """The share of faces read as `cls` in a session whose faces show `cls` in `share` of frames and
    are neutral in the rest: what a rule's threshold on the statistics' readings must allow for, since
    the model reads some neutral faces as `cls` (Forman's adjusted count, inverted)."""
    neutral = read_rate(confusion7, "neutral", cls)
    return neutral + share * (read_rate(confusion7, cls, cls) - neutral)


def read_rates(confusion7: np.ndarray) -> str:
    """What a session's emotion shares are made of: each class's reading on faces of that class and on
    neutral faces, and what 30% and 10% of such faces give (`evaluate-emotion` and the model card)."""
    return "\n".join(
        f"read as {c}: {read_rate(confusion7, c, c):.1%} of {c} faces, {read_rate(confusion7, 'neutral', c):.1%} "
        f"of neutral faces; a session with {c} faces in 30% / 10% of frames (neutral in the rest) reads "
        f"{session_share(confusion7, 0.3, c):.1%} / {session_share(confusion7, 0.1, c):.1%}"
        for c in ("negative", "positive"))


def score(probs: np.ndarray, y: np.ndarray) -> EmotionScore:
    pred7 = probs.argmax(axis=1)
    # the 3-class answer sums the probabilities of each group, not a fold of the arg-max
    p3 = np.zeros((len(probs), 3))
    for k in range(7):
        p3[:, FOLD3[k]] += probs[:, k]
    pred3, y3 = p3.argmax(axis=1), FOLD3[y]
    c3 = np.zeros((3, 3), dtype=np.int64)
    np.add.at(c3, (y3, pred3), 1)
    c7 = np.zeros((7, 7), dtype=np.int64)
    np.add.at(c7, (y, pred7), 1)
    return EmotionScore(float((pred7 == y).mean()), float((pred3 == y3).mean()), int(len(y)), c3, c7)


def tflite_predictor(path: Path, threads: int = 2) -> Callable[[np.ndarray], np.ndarray]:
    """Probabilities for 48×48 uint8 faces, following the model's own input details."""
    import cv2

    from edge.analysis.inference import load_interpreter

    interp = load_interpreter(path, threads=threads)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    _, h, w, c = inp["shape"]
    if c != 1:
        raise SourceError(f"{path}: emotion model input must have 1 channel, has {c}")
    scale, zero = inp["quantization"]

    def predict(faces: np.ndarray) -> np.ndarray:
        res = np.empty((len(faces), 7), dtype=np.float32)
        for i, face in enumerate(faces):
            img = face if (h, w) == face.shape else cv2.resize(face, (w, h), interpolation=cv2.INTER_LINEAR)
            x = img.astype(np.float32)
            if inp["dtype"] != np.float32:
                x = np.clip(np.round(x / scale + zero), np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max)
            interp.set_tensor(inp["index"], x.astype(inp["dtype"]).reshape(1, h, w, 1))
            interp.invoke()
            o = interp.get_tensor(out["index"]).reshape(-1).astype(np.float32)
            if out["dtype"] != np.float32:
                os_, oz = out["quantization"]
                o = (o - oz) * os_
            res[i] = o
        return res

    return predict


def baseline_predictor(model_json: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The published mini-Xception (TF.js graph): 64×64, pixels scaled to [-1, 1]."""
    import tensorflow as tf

    from tools.quantize.tfjs_graph import concrete_function, read_tfjs_graph, to_graph_def

    check_source(model_json)
    graph = read_tfjs_graph(model_json)
    name = next(iter(graph.inputs), "input_1:0") if graph.inputs else "input_1:0"
    fn = concrete_function(to_graph_def(graph), [name if ":" in name else name + ":0"], ["Identity:0"])

    def predict(faces: np.ndarray) -> np.ndarray:
        outs = []
        for start in range(0, len(faces), 256):
            x = tf.image.resize(faces[start:start + 256, :, :, None].astype(np.float32), (64, 64))
            y = fn(x / 127.5 - 1.0)
            outs.append(np.asarray(y[0] if isinstance(y, (list, tuple)) else y))
        return np.concatenate(outs)

    return predict


def evaluate_emotion(model: Path, data: Path, *, limit: int | None = None, check: bool = True) -> EmotionScore:
    """Accuracy of `model` on `data`: a FER2013 .npz, or a folder of face images in class subfolders
    (`tools.quantize.fer.load_faces`); `check` False takes any .npz (its hash is not compared)."""
    x, y, _ = load_faces(data, limit=limit, check=check)
    if model.suffix == ".json":
        predict = baseline_predictor(model)
    elif model.suffix == ".tflite":
        predict = tflite_predictor(model)
    else:
        raise SourceError(f"{model}: expected a .tflite file or a TF.js model.json")
    return score(predict(x), y)


__all__ = ["CLASSES7", "EmotionScore", "evaluate_emotion", "score", "tflite_predictor"]
