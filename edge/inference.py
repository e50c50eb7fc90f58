"""The inference seam: one TFLite interpreter loader for LiteRT or tflite-runtime, never TensorFlow.

The interpreter is built once per model and reused; input and output quantization are read from the
model's own tensor details, never from constants in code.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REBUILD_HINT = "rebuild it with `python -m tools.quantize` (see README, 'Rebuilding the models')"


class ModelError(RuntimeError):
    """A model file is missing, corrupt or not what the manifest says; the message names the file."""


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except ImportError as exc:
        raise ModelError("no TFLite interpreter installed: pip install ai-edge-litert "
                         "(or tflite-runtime on boards without a LiteRT wheel)") from exc


def interpreter_backend() -> str:
    cls = _interpreter_class()
    return cls.__module__.split(".")[0]


def load_interpreter(path: Path, threads: int = 2) -> Any:
    """Build and allocate an interpreter; a missing or corrupt file raises ModelError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}; {REBUILD_HINT}")
    with path.open("rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier); {REBUILD_HINT}")
    cls = _interpreter_class()
    try:
        interp = cls(model_path=str(path), num_threads=int(threads))
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} could not be loaded by the TFLite interpreter ({exc}); {REBUILD_HINT}") from exc
    return interp
