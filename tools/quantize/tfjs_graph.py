"""Load a TensorFlow.js graph model (model.json + weights .bin) as a TensorFlow GraphDef.

TF.js's `modelTopology` is a GraphDef in JSON, so no extra package is needed, but four things must
be mended before TensorFlow accepts it: the empty `library` list is dropped, per-node device strings
are cleared, weights stored as float16 (or affine uint8/uint16) are restored to float32, and the
fused ops that only TF.js knows (`_FusedConv2D` / `FusedDepthwiseConv2dNative` with BiasAdd and an
activation folded in) are split back into the standard ops.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16,
           "uint8": np.uint8, "uint16": np.uint16, "int8": np.int8}
_ACTIVATIONS = {"Relu": "Relu", "Relu6": "Relu6", "Elu": "Elu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


@dataclass
class TfjsGraph:
    """A parsed TF.js graph: the mended GraphDef (as a dict) and the weights by node name."""

    graph: dict[str, Any]
    weights: dict[str, np.ndarray]
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    shards: list[Path]  # the weight files model.json names, for their sha256


def read_tfjs_graph(model_json: Path) -> TfjsGraph:
    """Parse model.json and its weight shards; errors name the file and what was expected."""
    try:
        model = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{model_json}: not a readable TF.js model.json ({exc})") from exc
    if not isinstance(model, dict) or "modelTopology" not in model or "weightsManifest" not in model:
        raise SourceError(f"{model_json}: expected a TF.js graph model with modelTopology and weightsManifest")
    topo = model["modelTopology"]
    if not isinstance(topo, dict) or "node" not in topo:
        raise SourceError(f"{model_json}: modelTopology is not a GraphDef (a Keras layers model is not supported)")
    weights = _read_weights(model_json, model["weightsManifest"])
    graph = {"node": copy.deepcopy(topo["node"]), "versions": topo.get("versions") or {}}
    sig = model.get("signature") or {}
    shards = [model_json.parent / p for g in model["weightsManifest"] for p in g["paths"]]
    return TfjsGraph(graph, weights, sig.get("inputs", {}), sig.get("outputs", {}), shards)


def _read_weights(model_json: Path, manifest: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b""
        for rel in group["paths"]:
            shard = model_json.parent / rel
            try:
                blob += shard.read_bytes()
            except OSError as exc:
                raise SourceError(f"{shard}: weights shard named by {model_json} is missing ({exc})") from exc
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = _DTYPES[quant["dtype"] if quant else spec["dtype"]]
            nbytes = count * np.dtype(stored).itemsize
            if offset + nbytes > len(blob):
                raise SourceError(f"{model_json}: weights shards end before weight {spec['name']!r} "
                                  f"(need {offset + nbytes} bytes, have {len(blob)})")
            arr = np.frombuffer(blob, dtype=stored, count=count, offset=offset).reshape(shape)
            offset += nbytes
            if quant and quant["dtype"] in ("uint8", "uint16"):
                arr = arr.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
            weights[spec["name"]] = arr.astype(_DTYPES[spec["dtype"]])
        if offset != len(blob):
            raise SourceError(f"{model_json}: {len(blob) - offset} bytes of weights left unread; "
                              "the .bin does not belong to this model.json")
    return weights


def _attr_list_strings(attr: dict[str, Any], key: str) -> list[str]:
    values = attr.get(key, {}).get("list", {}).get("s", [])
    return [base64.b64decode(v).decode() for v in values]


def _unfuse(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a TF.js fused convolution into Conv2D/DepthwiseConv2dNative + BiasAdd + activation."""
    attr = node.get("attr", {})
    fused = _attr_list_strings(attr, "fused_ops")
    inputs = node["input"]
    base_op = "Conv2D" if node["op"] == "_FusedConv2D" else "DepthwiseConv2dNative"
    keep = {"T", "strides", "padding", "data_format", "dilations", "explicit_paddings"}
    if base_op == "Conv2D":
        keep.add("use_cudnn_on_gpu")
    conv_attr = {k: v for k, v in attr.items() if k in keep}
    if base_op == "DepthwiseConv2dNative":
        conv_attr.pop("explicit_paddings", None)
    if not fused or fused[0] != "BiasAdd" or any(f not in _ACTIVATIONS for f in fused[1:]):
        raise SourceError(f"node {node['name']}: unsupported fused ops {fused}")
    name = node["name"]
    out = [{"name": f"{name}/conv", "op": base_op, "input": inputs[:2], "attr": conv_attr}]
    chain = [f"{name}/bias", *[f"{name}/act{i}" for i in range(len(fused) - 1)]]
    chain[-1] = name  # the last op keeps the original name so that consumers still find it
    out.append({"name": chain[0], "op": "BiasAdd", "input": [f"{name}/conv", inputs[2]],
                "attr": {k: attr[k] for k in ("T", "data_format") if k in attr}})
    for i, act in enumerate(fused[1:]):
        out.append({"name": chain[i + 1], "op": _ACTIVATIONS[act], "input": [chain[i]],
                    "attr": {"T": attr["T"]}})
    return out


def mended_graph_nodes(g: TfjsGraph) -> list[dict[str, Any]]:
    """The node list with devices cleared and fused ops split (weights not yet attached)."""
    nodes: list[dict[str, Any]] = []
    for node in g.graph["node"]:
        node = copy.deepcopy(node)
        node.pop("device", None)
        if node["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            nodes.extend(_unfuse(node))
        else:
            nodes.append(node)
    return nodes


def to_graph_def(g: TfjsGraph, float_input: str | None = None) -> Any:
    """Build a tf.compat.v1.GraphDef with the weights as constants.

    `float_input`, when given, names a Placeholder whose dtype becomes float32 and whose following
    Cast (int32 → float32 in MoveNet) becomes an Identity, so that the model takes float pixels and
    the quantizer can give it a uint8 input.
    """
    import tensorflow as tf
    from google.protobuf import json_format

    nodes = mended_graph_nodes(g)
    if float_input is not None:
        for node in nodes:
            if node["name"] == float_input and node["op"] == "Placeholder":
                node["attr"]["dtype"] = {"type": "DT_FLOAT"}
            elif node["op"] == "Cast" and node["input"] and node["input"][0] == float_input:
                node["op"] = "Identity"
                node["attr"] = {"T": {"type": "DT_FLOAT"}}
    graph_def = json_format.ParseDict({"node": nodes, "versions": g.graph["versions"]}, tf.compat.v1.GraphDef())
    for node in graph_def.node:
        if node.op == "Const" and node.name in g.weights:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(g.weights[node.name]))
            node.attr["dtype"].type = node.attr["value"].tensor.dtype
    missing = [n.name for n in graph_def.node if n.op == "Const" and not n.attr["value"].tensor.ByteSize()]
    if missing:
        raise SourceError(f"constants without weights: {missing[:5]}")
    return graph_def


def concrete_function(graph_def: Any, inputs: list[str], outputs: list[str]) -> Any:
    """Wrap a GraphDef as a pruned concrete function (what the TFLite converter takes)."""
    import tensorflow as tf

    def _import() -> None:
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    graph = wrapped.graph
    return wrapped.prune([graph.as_graph_element(i) for i in inputs],
                         [graph.as_graph_element(o) for o in outputs])
