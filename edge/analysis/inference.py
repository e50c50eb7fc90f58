"""The inference seam: one TFLite interpreter loader for LiteRT or tflite-runtime, never TensorFlow.

The interpreter is built once per model and reused; input and output quantization are read from the
model's own tensor details, never from constants in code.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

logger = logging.getLogger(__name__)

# TFLite's own log lines (tflite::logging_internal): "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_TFLITE_LINE = re.compile(rb"^(VERBOSE|DEBUG|INFO|WARNING|ERROR): ")
_FD2_LOCK = threading.Lock()

REBUILD_HINT = "rebuild it with `python -m tools.quantize` (see docs/models.md, 'Rebuilding the models')"


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


@contextmanager
def native_stderr_to_log(what: str) -> Iterator[None]:
    """Catch what native code prints on file descriptor 2 while the block runs, and log it at DEBUG.

    LiteRT prints `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` from C++ when an interpreter
    allocates its tensors, past Python's logging and any --quiet. For that moment fd 2 points at a
    temporary file; afterwards TFLite's own lines (`INFO: `, `WARNING: `, `ERROR: `...) go to this
    module's logger at DEBUG (`-v` shows them), and anything else that landed there meanwhile (Python's
    sys.stderr, another thread's log line) is written back to the real stderr unchanged, so nothing of
    ours is lost. Without a usable fd 2 (a daemon started with it closed) the block runs as it is.
    """
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            saved = -1
        if saved < 0:
            yield
            return
        with _scratch_file() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                captured = tmp.read()
    passthrough = []
    for line in captured.splitlines(keepends=True):
        if _TFLITE_LINE.match(line):
            logger.debug("%s: %s", what, line.decode("utf-8", "replace").rstrip())
        else:
            passthrough.append(line)
    if passthrough:
        try:
            os.write(2, b"".join(passthrough))
        except OSError:
            pass


def _scratch_file() -> BinaryIO:
    """An anonymous file for fd 2 to point at: a memfd on Linux, so the device does not import
    `tempfile` (with `shutil` and `random`, 0.8 MiB) for a few lines of LiteRT's output."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create("ppt-edge-stderr"), "w+b")
        except OSError:  # a kernel without memfd
            pass
    import tempfile

    return tempfile.TemporaryFile()


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
        with native_stderr_to_log(f"LiteRT ({path.name})"):
            interp = cls(model_path=str(path), num_threads=int(threads))
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} could not be loaded by the TFLite interpreter ({exc}); {REBUILD_HINT}") from exc
    return interp


def quantize_input(rgb: np.ndarray, detail: dict[str, Any], out: np.ndarray) -> np.ndarray:
    """Write uint8 RGB pixels into a model input buffer as the model's own input details want them.

    uint8 with scale 1 / zero point 0 (or unquantized uint8) takes the pixels as they are; another
    integer quantization gets q = round(pixel / scale) + zero_point; a float or int32 input gets the raw
    pixel values 0..255, which is what MoveNet's float models expect.
    """
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail.get("quantization", (0.0, 0))
    dst = out.reshape(rgb.shape)
    if dtype == np.uint8 and (scale in (0.0, 1.0) and zero == 0):
        np.copyto(dst, rgb)
    elif dtype in (np.uint8, np.int8, np.int16) and scale:
        info = np.iinfo(dtype)
        q = np.round(rgb.astype(np.float32) / np.float32(scale)) + zero
        np.copyto(dst, np.clip(q, info.min, info.max).astype(dtype))
    else:
        np.copyto(dst, rgb, casting="unsafe")
    return out
