"""Resident memory one model costs the device once loaded: its packed weights and activations
(anonymous) and the pages of its file (file-backed), one fresh process per model.

Why a process per model and two loads: the first interpreter in a process also brings in LiteRT's and
XNNPACK's libraries (about 13 MiB of code), which every model would otherwise be charged with. So the
probe loads the model and invokes it once, then loads and invokes it again as a second interpreter:
the second load's growth of anonymous memory is what each interpreter of that model holds; the file
is counted as the resident pages of one of its mappings. Only the device's libraries are imported
(LiteRT, numpy), never TensorFlow.

    python -m tools.quantize memory --model ours=models/quantized/movenet_lightning_int8.tflite ...
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tools.quantize.sources import SourceError


def _rss_anon_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon in /proc/self/status (Linux only)")


def _mapping_rss_kib(path: Path) -> list[int]:
    """Resident KiB of each mapping of `path` (/proc/self/smaps)."""
    target = str(path.resolve())
    out: list[int] = []
    current = False
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's first line
                current = len(head) == 6 and head[5].strip() == target
            elif current and line.startswith("Rss:"):
                out.append(int(line.split()[1]))
    return out


def _load_and_invoke(path: Path, threads: int) -> Any:
    from edge.analysis.inference import load_interpreter

    interp = load_interpreter(path, threads=threads)
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    interp.invoke()
    return interp


def probe(path: Path, threads: int) -> dict[str, float]:
    """In this process: MiB of anonymous memory a second interpreter of `path` adds, and of its file."""
    alive = [_load_and_invoke(path, threads)]  # the first stays alive: the second must not reuse its memory
    before = _rss_anon_kib()
    alive.append(_load_and_invoke(path, threads))
    anon = _rss_anon_kib() - before
    maps = _mapping_rss_kib(path)
    file_kib = max(maps) if maps else 0
    return {"anon_mib": round(anon / 1024, 2), "file_mib": round(file_kib / 1024, 2),
            "total_mib": round((anon + file_kib) / 1024, 2)}


def model_memory(models: dict[str, Path], threads: int = 2) -> dict[str, dict[str, float]]:
    """`probe` of each model, each in a fresh Python process."""
    out = {}
    for name, path in models.items():
        r = subprocess.run([sys.executable, "-m", "tools.quantize.model_memory", str(path), str(threads)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit status {r.returncode}"
            raise SourceError(f"memory probe of {path} failed: {why}")
        out[name] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


if __name__ == "__main__":
    from edge.analysis.inference import ModelError

    try:
        print(json.dumps(probe(Path(sys.argv[1]), int(sys.argv[2]))))
    except ModelError as exc:  # a model the runtime refuses: its message names the file and the fix
        print(exc, file=sys.stderr)
        sys.exit(2)
