"""Candidates for one MediaPipe face model: the flatbuffer rebuilt in TensorFlow, then converted three ways.

- `float16`: float16 weights, float32 activations (what MediaPipe ships the landmark model as);
- `dynamic_int8`: int8 weights, float activations, quantized on the fly per op (no calibration);
- `int8`: full integer, calibrated on real face crops; uint8 input, float32 outputs, and kept in float
  what is most sensitive: the output heads (their int8 output step would be about a pixel of the
  input on its own) and the `float_layers` layers TF's quantization debugger ranks worst, as for MoveNet.

The calibrated conversion and the debugger ranking are MoveNet's (`tools.quantize.movenet`), fed the
rebuilt function; inputs are RGB in [0, 1], as the source takes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.quantize import movenet as mn
from tools.quantize.sources import SourceError
from tools.quantize.tflite_graph import max_abs_diff, read_tflite_graph, rebuild, run_model

logger = logging.getLogger(__name__)

CANDIDATES = ("int8", "dynamic_int8", "float16")  # in order of preference when they keep the bounds
SUFFIX = {"int8": "int8", "dynamic_int8": "int8w", "float16": "f16"}
PRECISION = {
    "int8": "int8 weights and activations (full integer, uint8 input), output heads and sensitive layers in float",
    "dynamic_int8": "int8 weights, float32 activations (dynamic range)",
    "float16": "float16 weights, float32 activations",
}
MAX_REBUILD_DIFF = 1e-3  # largest output difference (input pixels) the rebuilt float model may show


@dataclass
class FloatModel:
    """A source flatbuffer rebuilt as a TF function, its float32 conversion and how well it matches."""

    source: Path
    function: Any
    size: int
    float32: bytes
    max_abs_diff: float = float("nan")
    op_counts: dict[str, int] = field(default_factory=dict)


def rebuild_source(source: Path, check_inputs: np.ndarray) -> FloatModel:
    """Rebuild `source` and check that its float32 conversion reads `check_inputs` (N x S x S x 3 uint8,
    real crops) as the source does; SourceError past `MAX_REBUILD_DIFF`."""
    import tensorflow as tf

    graph = read_tflite_graph(source)
    fn = rebuild(graph)
    f32 = tf.lite.TFLiteConverter.from_concrete_functions([fn]).convert()
    size = int(graph.tensors[graph.inputs[0]].shape[1])
    x = check_inputs.astype(np.float32) / 255.0
    diff = max_abs_diff(run_model(source, x), run_model(f32, x))
    logger.info("%s rebuilt (%s): max abs output difference %.2e on %d real crops", source.name,
                ", ".join(f"{k} {v}" for k, v in graph.op_counts().items()), diff, len(x))
    if not diff <= MAX_REBUILD_DIFF:
        raise SourceError(f"{source}: the rebuilt float model differs from the source by {diff:.3g} on real crops "
                          f"(tolerance {MAX_REBUILD_DIFF}); the rebuild does not reproduce this model")
    return FloatModel(source, fn, size, f32, diff, graph.op_counts())


def float16(model: FloatModel, function: Any = None) -> bytes:
    """`model` with float16 weights (`function`: the same graph rebuilt another way, e.g. batched)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([function or model.function])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def dynamic_int8(model: FloatModel, function: Any = None) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([function or model.function])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return conv.convert()


def batched(model: FloatModel, candidate: str, batch: int) -> bytes | None:
    """The `candidate` conversion of `model` reading `batch` inputs per invoke, or None for the int8
    candidate (its calibration and debugger ranking were made per input; not redone batched)."""
    convert = {"float16": float16, "dynamic_int8": dynamic_int8}.get(candidate)
    if convert is None:
        return None
    return convert(model, rebuild(read_tflite_graph(model.source), batch=batch))


def delegate_partitions(path: Path) -> int:
    """How many pieces LiteRT's default delegate (XNNPACK) runs the model in: 1 when it takes the whole
    graph; more when ops it cannot run (e.g. int8 PRELU) sit between them on the reference kernels."""
    from edge.analysis.inference import load_interpreter

    ops = load_interpreter(path, threads=1)._get_ops_details()  # noqa: SLF001
    return sum(op["op_name"] == "DELEGATE" for op in ops)


def output_heads(float32: bytes) -> list[str]:
    """Output tensor names of the ops that make the model's outputs: each output's producer, through
    RESHAPEs, back to the convolution (the heads kept in float)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=float32)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    producer = {op["outputs"][0]: op for op in interp._get_ops_details()}  # noqa: SLF001
    heads = []
    for out in interp.get_output_details():
        t = out["index"]
        while t in producer:
            heads.append(names[t])
            if producer[t]["op_name"] != "RESHAPE":
                break
            t = producer[t]["inputs"][0]
    return heads


@dataclass
class Int8Model:
    model: bytes
    float_layers: list[str]  # the debugger-ranked layers kept in float (besides the heads)
    heads: list[str]
    calibration_inputs: int


def full_int8(model: FloatModel, calibration: np.ndarray, float_layers: int) -> Int8Model:
    """Full-integer model calibrated on `calibration` (N x S x S x 3 uint8 RGB, real crops)."""
    src = mn.FloatSource(model.function, model.size, {})
    x = calibration.astype(np.float32) / 255.0
    heads = output_heads(model.float32)
    sensitive: list[str] = []
    if float_layers > 0:
        ranked = [(n, e) for n, e in mn.layer_sensitivity(src, x, heads) if n not in heads][:float_layers]
        for name, err in ranked:
            logger.info("%s: kept in float (rmse/scale %.3f): %s", model.source.name, err, name.split(";")[0])
        sensitive = [n for n, _ in ranked]
    q = mn.quantize(mn.calibrated_model(src, x), heads + sensitive)
    return Int8Model(q, [n.split(";")[0] for n in sensitive], [n.split(";")[0] for n in heads], len(x))


def candidates(model: FloatModel, calibration: np.ndarray, float_layers: int) -> tuple[dict[str, bytes], Int8Model]:
    """All three candidates of one model, by name (`CANDIDATES`), and the int8 one's details."""
    q = full_int8(model, calibration, float_layers)
    return {"int8": q.model, "dynamic_int8": dynamic_int8(model), "float16": float16(model)}, q
