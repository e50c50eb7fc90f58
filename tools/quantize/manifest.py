"""models/quantized/manifest.json: what each committed model is, how it was built, what it measured."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tools.quantize.sources import sha256_file


def read_manifest(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"version": 1, "models": {}}


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def input_contract(model: Path) -> dict[str, Any]:
    """Read the input and output tensors' contract from the model itself."""
    from edge.analysis.inference import load_interpreter

    interp = load_interpreter(model, threads=1)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    return {
        "input": {"shape": [int(d) for d in inp["shape"]], "dtype": inp["dtype"].__name__,
                  "scale": float(scale), "zero_point": int(zero)},
        "output": {"shape": [int(d) for d in out["shape"]], "dtype": out["dtype"].__name__},
    }


def record_model(manifest_path: Path, model: Path, *, role: str, command: str,
                 sources: dict[str, tuple[str, str]], extra: dict[str, Any]) -> None:
    """Add or replace one model's entry; keeps the other entries and their measurements."""
    manifest = read_manifest(manifest_path)
    entry = manifest["models"].get(model.name, {})
    entry.update({
        "file": model.name, "role": role, "sha256": sha256_file(model), "size_bytes": model.stat().st_size,
        "command": command,
        "sources": {k: {"path": Path(p).name, "sha256": h} for k, (p, h) in sources.items()},
        **input_contract(model), **extra,
    })
    manifest["models"][model.name] = entry
    write_manifest(manifest_path, manifest)


def update_entry(manifest_path: Path, model_name: str, **fields: Any) -> None:
    manifest = read_manifest(manifest_path)
    manifest["models"].setdefault(model_name, {"file": model_name}).update(fields)
    write_manifest(manifest_path, manifest)


def remove_entries(manifest_path: Path, *, role: str, keep: str) -> list[str]:
    """Drop the entries of `role` other than `keep` (a rebuilt model renamed by a new precision): the
    runtime finds a model by its role, so one role must have one entry. Returns the dropped names."""
    manifest = read_manifest(manifest_path)
    gone = [n for n, e in manifest["models"].items() if e.get("role") == role and n != keep]
    for name in gone:
        del manifest["models"][name]
    if gone:
        write_manifest(manifest_path, manifest)
    return gone
