"""MoveNet float source → float32 TFLite → full-integer int8 TFLite with a float decode.

Why the decode stays in float: the ops after the heat-map sigmoids (arg-max, gathers, the distance
weighting with SQRT and DIV) pick one cell out of a 48×48 map; int8 ties in the heat map and LiteRT's
int8 DIV (wrong for some shapes) move keypoints by half the image. Everything before, the
MobileNetV2-FPN backbone and the four heads, is int8 with per-channel weights, and the input is
uint8 pixels (scale 1, zero point 0), so the device feeds camera pixels without any arithmetic.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.quantize.sources import SourceError, check_source

logger = logging.getLogger(__name__)

INPUT_SIZE = {"lightning": 192, "thunder": 256}
# The four output heads and the backbone; everything else after the first sigmoid is the decode.
_NETWORK_SCOPES = ("feature_extractor", "center_0/", "kpt_heatmap_0/", "kpt_offset_0/", "kpt_regress_0/")


@dataclass
class FloatSource:
    """A float MoveNet as a concrete function taking float32 pixels 0..255, plus its provenance."""

    function: Any
    size: int
    sources: dict[str, tuple[str, str]]  # role → (path, sha256)


def load_source(source: Path, variant: str, expected_sha256: str | None = None) -> FloatSource:
    """Load a TF.js graph (model.json + .bin) or a TF SavedModel directory; check hashes and shape."""
    import tensorflow as tf

    size = INPUT_SIZE[variant]
    if source.is_dir():
        pb = source / "saved_model.pb"
        if not pb.is_file():
            raise SourceError(f"{source}: a directory source must be a TF SavedModel (no saved_model.pb)")
        digest = check_source(pb, expected_sha256, subset_ok=expected_sha256 is None)
        loaded = tf.saved_model.load(str(source))
        if "serving_default" not in loaded.signatures:
            raise SourceError(f"{source}: SavedModel has no serving_default signature")
        sig = loaded.signatures["serving_default"]
        spec = next(iter(sig.structured_input_signature[1].values()))
        _check_shape(source, spec.shape.as_list(), size, variant)

        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="input")])
        def fn(x: Any) -> Any:
            out = sig(tf.cast(x, spec.dtype))
            return next(iter(out.values()))

        fn._keep = loaded  # keep variables alive  # noqa: SLF001
        return FloatSource(fn.get_concrete_function(), size, {"saved_model.pb": (str(pb), digest)})

    if source.suffix != ".json":
        raise SourceError(f"{source}: expected a TF.js model.json or a SavedModel directory")
    from tools.quantize.tfjs_graph import concrete_function, read_tfjs_graph, to_graph_def

    digest = check_source(source, expected_sha256)
    graph = read_tfjs_graph(source)
    bins = {shard.name: (str(shard), check_source(shard)) for shard in graph.shards}
    inputs = list(graph.inputs) or ["input:0"]
    spec = graph.inputs.get(inputs[0], {}).get("tensorShape", {}).get("dim", [])
    _check_shape(source, [int(d.get("size", -1)) for d in spec], size, variant)
    in_name = inputs[0].split(":")[0]
    fn = concrete_function(to_graph_def(graph, float_input=in_name), [f"{in_name}:0"],
                           [next(iter(graph.outputs), "Identity:0")])
    return FloatSource(fn, size, {source.name: (str(source), digest), **bins})


def _check_shape(source: Path, shape: list[int], size: int, variant: str) -> None:
    if len(shape) != 4 or shape[-1] != 3 or (shape[1] not in (-1, size)) or (shape[2] not in (-1, size)):
        raise SourceError(f"{source}: MoveNet {variant} takes 1×{size}×{size}×3 input; this source has {shape}")


def float_tflite(src: FloatSource) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([src.function])
    return conv.convert()


def op_outputs(model: bytes) -> list[tuple[str, str]]:
    """(op name, first output tensor name) of every op, in execution order."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    return [(op["op_name"], names[op["outputs"][0]]) for op in interp._get_ops_details()]  # noqa: SLF001


def decode_nodes(float_model: bytes) -> list[str]:
    """Output tensor names of the decode: every op from the first sigmoid on that is not a head conv."""
    ops = op_outputs(float_model)
    first = next((i for i, (op, _) in enumerate(ops) if op == "LOGISTIC"), None)
    if first is None:
        raise SourceError("the float model has no LOGISTIC op: not a MoveNet SinglePose graph")
    return [name for op, name in ops[first:] if not any(s in name for s in _NETWORK_SCOPES)]


def calibrated_model(src: FloatSource, calib: np.ndarray) -> bytes:
    """Float model annotated with activation ranges from the calibration set."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([src.function])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    data = calib.astype(np.float32)

    def rep() -> Any:
        for x in data:
            yield [x[None]]

    conv.representative_dataset = rep
    conv.experimental_mlir_quantizer = True
    conv._experimental_calibrate_only = True  # noqa: SLF001
    return conv.convert()


def quantize(calibrated: bytes, float_nodes: list[str]) -> bytes:
    """Full-integer int8 with `float_nodes` kept in float; uint8 input, float32 output."""
    from tensorflow.lite.python import convert as tfl_convert
    from tensorflow.lite.python import util as tfl_util
    from tensorflow.python.framework import dtypes

    q = tfl_convert.mlir_quantize(calibrated, fully_quantize=False, denylisted_nodes=float_nodes)
    return tfl_util.modify_model_io_type(q, inference_input_type=dtypes.uint8,
                                         inference_output_type=dtypes.float32)


def layer_sensitivity(src: FloatSource, calib: np.ndarray, float_nodes: list[str],
                      sample: int = 48) -> list[tuple[str, float]]:
    """Per-layer quantization error (RMSE over the layer's scale), worst first: TF's quantization debugger."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([src.function])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    data = calib[:: max(1, len(calib) // sample)].astype(np.float32)

    def rep() -> Any:
        for x in data:
            yield [x[None]]

    conv.representative_dataset = rep
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=float_nodes)
    debugger = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep, debug_options=opts)
    debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    buf.seek(0)
    rows = []
    for row in csv.DictReader(buf):
        scale = float(row.get("scale") or 0)
        if scale > 0:
            rows.append((row["tensor_name"], float(np.sqrt(float(row["mean_squared_error"])) / scale)))
    rows.sort(key=lambda r: -r[1])
    return rows


def run_tflite(model: bytes | Path, inputs: np.ndarray, threads: int = 2) -> np.ndarray:
    """(N, 17, 3) outputs of a MoveNet TFLite for N RGB uint8 inputs, honouring its input dtype."""
    from ai_edge_litert.interpreter import Interpreter

    interp = (Interpreter(model_content=model, num_threads=threads) if isinstance(model, bytes)
              else Interpreter(model_path=str(model), num_threads=threads))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    res = np.empty((len(inputs), 17, 3), dtype=np.float32)
    for i, x in enumerate(inputs):
        interp.set_tensor(inp["index"], _feed(x, inp)[None])
        interp.invoke()
        res[i] = interp.get_tensor(out["index"]).reshape(17, 3)
    return res


def _feed(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32)
    if dtype == np.uint8:
        return x.astype(np.uint8)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x.astype(np.float32) / scale + zero), info.min, info.max).astype(dtype)


@dataclass
class PoseAgreement:
    mean_err: float
    p90_err: float
    score_diff: float
    n: int

    def line(self, name: str) -> str:
        return (f"{name} mean_err={self.mean_err:.4f} p90_err={self.p90_err:.4f} "
                f"score_diff={self.score_diff:.4f} n={self.n}")


def agreement(reference: np.ndarray, candidate: np.ndarray, min_score: float = 0.3) -> PoseAgreement:
    """Keypoint distance (normalised image units) to the float model over keypoints it scores > min_score."""
    mask = reference[:, :, 2] > min_score
    dist = np.sqrt(((reference[:, :, :2] - candidate[:, :, :2]) ** 2).sum(-1))[mask]
    sdiff = np.abs(reference[:, :, 2] - candidate[:, :, 2])[mask]
    if dist.size == 0:
        return PoseAgreement(float("nan"), float("nan"), float("nan"), 0)
    return PoseAgreement(float(dist.mean()), float(np.percentile(dist, 90)), float(sdiff.mean()), int(dist.size))

