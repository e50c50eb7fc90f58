"""Rebuild a float TFLite flatbuffer as a TensorFlow function, so that the converter can quantize it.

MediaPipe ships its face landmark and iris models only as TFLite flatbuffers; post-training
quantization needs a TensorFlow graph. These nets are small and use a handful of ops, so the
flatbuffer (parsed with the schema module TensorFlow itself ships, no extra package) is replayed op
by op with `tf.nn` ops and its weights as constants. `rebuild` refuses any op it does not know,
naming it, rather than guess; the caller checks the rebuilt float model against the original on
real inputs (`max_abs_diff`).

Layout notes: TFLite stores conv kernels as [out, h, w, in] (TF: [h, w, in, out]) and depthwise
kernels as [1, h, w, in * multiplier] (TF: [h, w, in, multiplier]); float16 weights come with a
DEQUANTIZE op, which here becomes a float32 constant. PRELU is written as Keras writes it
(relu(x) + (-alpha) * relu(-x)), the form the converter fuses back into one PRELU op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)

_NP_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT8": np.int8,
             "UINT8": np.uint8, "INT64": np.int64}
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "PRELU", "ADD", "MAX_POOL_2D", "PAD", "RESHAPE",
                 "DEQUANTIZE", "RELU", "RELU6", "LOGISTIC", "CONCATENATION", "AVERAGE_POOL_2D")


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None  # the constant's value, None for activations


@dataclass
class Op:
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: Any


@dataclass
class TfliteGraph:
    """One subgraph of a flatbuffer: tensors (with constant data), ops in execution order, I/O."""

    path: Path
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    description: str

    def op_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.ops:
            out[op.kind] = out.get(op.kind, 0) + 1
        return out

    def output_names(self) -> list[str]:
        return [self.tensors[i].name for i in self.outputs]


def read_tflite_graph(path: Path) -> TfliteGraph:
    """Parse a single-subgraph TFLite flatbuffer; SourceError naming the file when it is not one."""
    from tensorflow.lite.python import schema_py_generated as schema

    buf = Path(path).read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise SourceError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    except Exception as exc:  # a corrupt flatbuffer raises anything from struct to IndexError
        raise SourceError(f"{path}: the TFLite flatbuffer cannot be parsed ({exc})") from exc
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise SourceError(f"{path}: expected one subgraph, found {len(model.subgraphs or [])}")
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    sg = model.subgraphs[0]
    tensors = []
    for t in sg.tensors:
        dtype = type_names.get(t.type, str(t.type))
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        data = None
        raw = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        if raw is not None and len(raw):
            if dtype not in _NP_TYPES:
                raise SourceError(f"{path}: constant {t.name!r} has type {dtype}, which this rebuild does not read")
            if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale):
                raise SourceError(f"{path}: constant {t.name!r} is quantized; the rebuild takes float models only")
            data = np.frombuffer(bytes(raw), dtype=_NP_TYPES[dtype]).reshape(shape).copy()
        tensors.append(Tensor(t.name.decode() if isinstance(t.name, bytes) else str(t.name), shape, dtype, data))
    ops = []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        kind = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        if kind not in SUPPORTED_OPS:
            raise SourceError(f"{path}: op {kind} is not supported by the rebuild "
                              f"(supported: {', '.join(SUPPORTED_OPS)})")
        ops.append(Op(kind, [int(i) for i in op.inputs], [int(i) for i in op.outputs], op.builtinOptions))
    desc = model.description.decode() if isinstance(model.description, bytes) else str(model.description or "")
    return TfliteGraph(Path(path), tensors, ops, [int(i) for i in sg.inputs], [int(i) for i in sg.outputs], desc)


def _activation(tf: Any, x: Any, code: int, where: str) -> Any:
    # ActivationFunctionType: NONE 0, RELU 1, RELU_N1_TO_1 2, RELU6 3, TANH 4
    if code == 0:
        return x
    if code == 1:
        return tf.nn.relu(x)
    if code == 3:
        return tf.nn.relu6(x)
    if code == 4:
        return tf.math.tanh(x)
    raise SourceError(f"{where}: fused activation {code} is not supported by the rebuild")


def _padding(code: int) -> str:
    return "SAME" if code == 0 else "VALID"


def rebuild(g: TfliteGraph, batch: int = 1) -> Any:
    """A concrete function (float32 input of the flatbuffer's shape -> its outputs, in its order) that
    computes what the flatbuffer computes, with the weights as float32 constants. `batch` > 1 reads
    that many inputs at once (a batch-1 flatbuffer's leading 1s become `batch`): the iris model reads
    both eyes in one invoke so."""
    import tensorflow as tf

    if len(g.inputs) != 1:
        raise SourceError(f"{g.path}: the rebuild takes one input, the model has {len(g.inputs)}")
    inp = g.tensors[g.inputs[0]]
    in_shape = [int(d) for d in inp.shape]
    if batch != 1:
        if in_shape[0] != 1:
            raise SourceError(f"{g.path}: a batch of {batch} needs a batch-1 input, the model's is {in_shape}")
        in_shape[0] = batch

    weights = _weights(g)

    def const(i: int) -> np.ndarray:
        if i not in weights:
            raise SourceError(f"{g.path}: {g.tensors[i].name!r} is computed, not a constant; the rebuild expects "
                              "constant weights")
        return weights[i]

    @tf.function(input_signature=[tf.TensorSpec(in_shape, tf.float32, name="input")])
    def fn(x: Any) -> Any:
        values: dict[int, Any] = {g.inputs[0]: x}

        def val(i: int) -> Any:
            return values[i] if i in values else tf.constant(const(i))

        for n, op in enumerate(g.ops):
            where = f"{g.path} op {n} ({op.kind})"
            o = op.options
            if op.kind == "DEQUANTIZE":
                continue  # float16 weights: already float32 constants in `weights`
            a = val(op.inputs[0])
            if op.kind == "CONV_2D":
                w = np.transpose(np.asarray(const(op.inputs[1])), (1, 2, 3, 0))
                y = tf.nn.conv2d(a, w, strides=[1, o.strideH, o.strideW, 1], padding=_padding(o.padding),
                                 dilations=[1, o.dilationHFactor, o.dilationWFactor, 1])
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    y = tf.nn.bias_add(y, const(op.inputs[2]))
                y = _activation(tf, y, o.fusedActivationFunction, where)
            elif op.kind == "DEPTHWISE_CONV_2D":
                k = np.asarray(const(op.inputs[1]))  # [1, h, w, in * m]
                cin = int(a.shape[-1])
                w = k.reshape(k.shape[1], k.shape[2], cin, k.shape[3] // cin)
                y = tf.nn.depthwise_conv2d(a, w, strides=[1, o.strideH, o.strideW, 1], padding=_padding(o.padding),
                                           dilations=[o.dilationHFactor, o.dilationWFactor])
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    y = tf.nn.bias_add(y, const(op.inputs[2]))
                y = _activation(tf, y, o.fusedActivationFunction, where)
            elif op.kind == "PRELU":
                neg_alpha = -const(op.inputs[1])
                y = tf.nn.relu(a) + neg_alpha * tf.nn.relu(tf.negative(a))
            elif op.kind == "ADD":
                y = _activation(tf, a + val(op.inputs[1]), o.fusedActivationFunction, where)
            elif op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
                pool = tf.nn.max_pool2d if op.kind == "MAX_POOL_2D" else tf.nn.avg_pool2d
                y = pool(a, ksize=[1, o.filterHeight, o.filterWidth, 1], strides=[1, o.strideH, o.strideW, 1],
                         padding=_padding(o.padding))
                y = _activation(tf, y, o.fusedActivationFunction, where)
            elif op.kind == "PAD":
                y = tf.pad(a, const(op.inputs[1]))
            elif op.kind == "RESHAPE":
                shape = [int(d) for d in g.tensors[op.outputs[0]].shape]
                if batch != 1:
                    if shape[0] != 1:
                        raise SourceError(f"{where}: reshapes its batch away ({shape}); the rebuild cannot batch it")
                    shape[0] = batch
                y = tf.reshape(a, shape)
            elif op.kind == "RELU":
                y = tf.nn.relu(a)
            elif op.kind == "RELU6":
                y = tf.nn.relu6(a)
            elif op.kind == "LOGISTIC":
                y = tf.math.sigmoid(a)
            elif op.kind == "CONCATENATION":
                y = _activation(tf, tf.concat([val(i) for i in op.inputs], axis=o.axis), o.fusedActivationFunction,
                                where)
            else:  # pragma: no cover - read_tflite_graph refuses unknown ops
                raise SourceError(f"{where}: not supported")
            values[op.outputs[0]] = y
        return [tf.identity(values[i], name=g.tensors[i].name.replace("/", "_")) for i in g.outputs]

    return fn.get_concrete_function()


def _weights(g: TfliteGraph) -> dict[int, np.ndarray]:
    """Every constant by tensor index, float16 ones (and the DEQUANTIZE outputs that restore them)
    as float32."""
    out = {i: (t.data.astype(np.float32) if t.dtype == "FLOAT16" else t.data)
           for i, t in enumerate(g.tensors) if t.data is not None}
    for op in g.ops:
        if op.kind == "DEQUANTIZE":
            if op.inputs[0] not in out:
                raise SourceError(f"{g.path}: DEQUANTIZE of a computed tensor; the rebuild takes float16 weights only")
            out[op.outputs[0]] = out[op.inputs[0]].astype(np.float32)
    return out


def run_model(model: bytes | Path, inputs: np.ndarray, threads: int = 2) -> list[np.ndarray]:
    """Outputs (one array per output, ordered by size, largest first) of a TFLite model for N float32
    inputs in [0, 1]; quantized inputs are fed through the model's own input quantization."""
    from ai_edge_litert.interpreter import Interpreter

    interp = (Interpreter(model_content=model, num_threads=threads) if isinstance(model, bytes)
              else Interpreter(model_path=str(model), num_threads=threads))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    b = int(inp["shape"][0])  # inputs per invoke
    if len(inputs) % b:
        raise ValueError(f"{len(inputs)} inputs do not fill batches of {b}")
    outs = sorted(interp.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
    res = [np.empty((len(inputs), int(np.prod(d["shape"])) // b), dtype=np.float32) for d in outs]
    for n in range(0, len(inputs), b):
        interp.set_tensor(inp["index"], feed(inputs[n:n + b], inp))
        interp.invoke()
        for r, d in zip(res, outs, strict=True):
            r[n:n + b] = _read(interp, d).reshape(b, -1)
    return res


def feed(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """A float input in the model's domain, as the model's input tensor wants it."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x.astype(np.float32) / scale + zero), info.min, info.max).astype(dtype)


def _read(interp: Any, detail: dict[str, Any]) -> np.ndarray:
    v = interp.get_tensor(detail["index"]).reshape(-1)
    if np.dtype(detail["dtype"]) == np.float32:
        return v
    scale, zero = detail["quantization"]
    return (v.astype(np.float32) - zero) * scale


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(max(np.max(np.abs(x - y)) for x, y in zip(a, b, strict=True)))
