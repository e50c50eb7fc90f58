"""What a plain install gets: the wheel built from this repository carries the int8 models (every file the
manifest lists, by its hash), the manifest, the sample recording with its NOTICE, and no top-level `tools`;
installed outside the checkout, `ppt-edge check` finds the models it carries and says so. Plus the order in
which `ppt-edge` looks for its models (config, $PPT_EDGE_MODELS, the checkout, the installed copy).

`.ci/run` does the same with a fresh virtual environment and the wheel's dependencies; here the wheel is
built without network (`--no-build-isolation`) and unpacked with `pip install --no-deps --target`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge.config import (
    CHECKOUT_MODELS_DIR,
    MODELS_ENV,
    Config,
    ModelsConfig,
    config_from_dict,
    default_models_dir,
    models_dir_origin,
)

REPO = Path(__file__).resolve().parent.parent
WHEEL_MAX_BYTES = 40 * 1024 * 1024  # today ~10 MB; face models may add a few MB, not tens
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "config.example.toml")


def _can_build_offline() -> str | None:
    """Why the wheel cannot be built without network here, or None."""
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed in this environment"
    import setuptools

    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        return f"setuptools {setuptools.__version__} needs the `wheel` package to build wheels"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = _can_build_offline()
    if reason is not None:
        pytest.skip(f"cannot build the wheel offline: {reason} (.ci/run builds it with build isolation)")
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "bundled_models")
    shutil.copytree(REPO / "edge", src / "edge", ignore=ignore)
    shutil.copytree(REPO / "models" / "quantized", src / "models" / "quantized", ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [whl] = out.glob("ppt_edge-*.whl")
    return whl


def test_the_wheel_carries_models_manifest_and_sample_but_no_tools(wheel: Path) -> None:
    manifest = json.loads((CHECKOUT_MODELS_DIR / "manifest.json").read_text(encoding="utf-8"))["models"]
    assert manifest, "the manifest lists no model"
    size = wheel.stat().st_size
    print(f"\n{wheel.name}: {size / 1e6:.1f} MB")
    assert size < WHEEL_MAX_BYTES, f"the wheel is {size / 1e6:.1f} MB"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {n.split("/")[0] for n in names} == {"edge", wheel.name.split("-py3")[0] + ".dist-info"}
        assert "edge/bundled_models/manifest.json" in names
        for name, entry in manifest.items():
            member = f"edge/bundled_models/{entry.get('file') or name}"
            assert member in names, f"{member} (listed in the manifest) is not in the wheel"
            assert hashlib.sha256(z.read(member)).hexdigest() == entry["sha256"], member
        on_disk = {p.name for p in CHECKOUT_MODELS_DIR.iterdir() if p.is_file() and not p.name.startswith(".")}
        assert {f"edge/bundled_models/{n}" for n in on_disk} <= names  # model cards come along
        for sample in ("tfjs_pose_squats.mp4", "NOTICE", "LICENSE-Apache-2.0.txt"):
            assert f"edge/samples/{sample}" in names
        assert "edge/schema/summary_v1.json" in names


def test_installed_outside_the_checkout_it_finds_its_own_models(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (target / "tools").exists() and not (target / "models").exists()
    env = {k: v for k, v in os.environ.items() if k not in (MODELS_ENV, "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)  # ahead of any editable install of the checkout
    run = tmp_path / "cwd"
    run.mkdir()
    proc = subprocess.run([sys.executable, "-m", "edge", "check"], cwd=run, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    models = target / "edge" / "bundled_models"
    assert f"models: {models} (from the copy installed with the package)" in proc.stdout
    assert proc.stderr == ""
    proc = subprocess.run([sys.executable, "-m", "edge.samples"], cwd=run, env=env, capture_output=True, text=True)
    assert proc.stdout.strip() == str(target / "edge" / "samples" / "tfjs_pose_squats.mp4")


# --- the lookup order ----------------------------------------------------------------------------------


def test_models_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODELS_ENV, raising=False)
    assert default_models_dir() == (CHECKOUT_MODELS_DIR, "the source checkout")
    assert Config().models.dir == CHECKOUT_MODELS_DIR
    assert models_dir_origin(Config().models) == "the source checkout"

    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "env-models"))
    cfg = Config()
    assert cfg.models.dir == (tmp_path / "env-models").resolve()
    assert models_dir_origin(cfg.models) == f"${MODELS_ENV}"

    cfg = config_from_dict({"models": {"dir": str(tmp_path / "cfg-models")}})  # the config file wins
    assert cfg.models.dir == tmp_path / "cfg-models" and models_dir_origin(cfg.models) == "config models.dir"
    assert models_dir_origin(ModelsConfig(dir=tmp_path)) == "config models.dir"


def test_check_names_a_missing_models_folder_and_where_it_came_from(tmp_path: Path) -> None:
    env = dict(os.environ, **{MODELS_ENV: str(tmp_path / "nothing-here")})
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "edge", "check"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert f"models.dir: folder not found: {tmp_path / 'nothing-here'} (from ${MODELS_ENV})" in proc.stderr
    assert "rebuild" not in proc.stderr and "Traceback" not in proc.stderr
