"""Build hook: the wheel carries the int8 models.

`models/quantized/` stays at the top of the repository (the model tools write there); `build_py` copies
every file of it into the built package as `edge/bundled_models/`, where an installed `ppt-edge` finds
them (`edge.config.default_models_dir`). The folder is taken as it is (new models need no change here),
and the build stops if the manifest lists a file that is not there. An editable install skips the copy:
it reads `models/quantized/` in place. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import json
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS_SRC = Path("models") / "quantized"
MODELS_DEST = Path("edge") / "bundled_models"


def model_files(src: Path = MODELS_SRC) -> list[Path]:
    """Every regular, non-hidden file of the models folder; checked against its manifest."""
    files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    manifest = src / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"cannot build the wheel: {manifest} not found")
    entries = json.loads(manifest.read_text(encoding="utf-8")).get("models", {})
    names = {p.name for p in files}
    missing = sorted({str(e.get("file") or k) for k, e in entries.items() if isinstance(e, dict)} - names)
    if missing:
        raise SystemExit(f"cannot build the wheel: {manifest} lists {', '.join(missing)}, not in {src}")
    return files


class BuildPyWithModels(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / MODELS_DEST
        self.mkpath(str(dest))
        for src in model_files():
            self.copy_file(str(src), str(dest / src.name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(Path(self.build_lib) / MODELS_DEST / p.name) for p in model_files()]
        return outputs


setup(cmdclass={"build_py": BuildPyWithModels})
