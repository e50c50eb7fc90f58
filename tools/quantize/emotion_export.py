"""Export the trained emotion network to TFLite: float32, or full int8 with a uint8 48×48×1 input.

The mirror-image average is folded into the graph (a batch of two inside one invoke) so that the
device gets the better reading with no code of its own. The sparsity of a shipped file is measured
from the file's own weights (int8 keeps an exact zero for every pruned weight: symmetric per-channel
scales have zero point 0), so no claim about it rests on the Keras model alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def export_function(model: Any, flip_tta: bool) -> Any:
    """A concrete function: 1×48×48×1 float pixels 0..255 → network → 1×7 probabilities."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 48, 48, 1], tf.float32, name="face")])
    def serve(face: Any) -> Any:
        if flip_tta:
            x = tf.concat([face, tf.reverse(face, axis=[2])], axis=0)
            return tf.reduce_mean(model(x, training=False), axis=0, keepdims=True)
        return model(face, training=False)

    return serve.get_concrete_function()


def to_tflite(model: Any, *, flip_tta: bool, int8_calib: np.ndarray | None = None) -> bytes:
    """Float32 TFLite, or full-integer int8 (uint8 input, float32 output) when a calibration set is given."""
    import tensorflow as tf

    fn = export_function(model, flip_tta)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    if int8_calib is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.float32
        calib = int8_calib[..., None].astype(np.float32)

        def rep() -> Any:
            for img in calib:
                yield [img[None]]

        conv.representative_dataset = rep
    return conv.convert()


def calibration_faces(x: np.ndarray, n: int = 500, seed: int = 7) -> np.ndarray:
    """A class-mixed calibration set from the training split, plus some mirror images."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(n, len(x)), replace=False)
    faces = x[idx]
    return np.concatenate([faces, faces[: len(faces) // 4, :, ::-1]])


def tflite_kernel_sparsity(path: Path) -> tuple[float, int]:
    """(share of zeros, weight count) over the weight tensors of the file's CONV_2D and FULLY_CONNECTED
    ops (their second input), read through the interpreter as the device would load them."""
    from edge.analysis.inference import load_interpreter

    interp = load_interpreter(path, threads=1)
    weights = {int(op["inputs"][1]) for op in interp._get_ops_details()  # noqa: SLF001 (no public op list)
               if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")}
    zeros = total = 0
    for index in sorted(weights):
        w = interp.get_tensor(index)
        zeros += int((w == 0).sum())
        total += int(w.size)
    return zeros / max(1, total), total
