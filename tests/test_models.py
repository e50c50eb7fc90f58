"""Model resolution and verification against manifest.json: the right file, the right hash, and a
message that names the file and the command that rebuilds it when not.

The helpers at the top (`make_models_dir`, `emotion_source`) build a private models folder for the
other runtime tests, so that they do not depend on models/quantized being mid-rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from edge.analysis import models as M
from edge.analysis.inference import ModelError
from edge.config import Config, ModelsConfig

REPO = Path(__file__).resolve().parent.parent
REPO_MODELS = REPO / "models" / "quantized"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest_entry(models_dir: Path, role: str, variant: str = "lightning") -> Path | None:
    """The file of the first `role` model (pose: of `variant`) the manifest lists, if it exists."""
    try:
        manifest = json.loads((models_dir / "manifest.json").read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError):
        return None
    for name, entry in sorted(manifest.items()):
        if entry.get("role") == role and (role != "pose" or entry.get("variant") == variant):
            path = models_dir / entry.get("file", name)
            if path.is_file():
                return path
    return None


def pose_source(variant: str = "lightning") -> Path:
    path = _manifest_entry(REPO_MODELS, "pose", variant)
    if path is None:
        pytest.skip(f"no {variant} pose model in models/quantized (python -m tools.quantize movenet ...)")
    return path


def emotion_source() -> Path | None:
    """The repository's emotion model, else $PPT_EDGE_EMOTION_MODEL (a model with the same contract,
    for running these tests before the trained model lands), else None."""
    path = _manifest_entry(REPO_MODELS, "emotion")
    if path is not None:
        return path
    env = os.environ.get("PPT_EDGE_EMOTION_MODEL")
    if env and Path(env).is_file():
        return Path(env)
    return None


def face_sources() -> dict[str, Path]:
    """The repository's face models by role (face_landmark, iris): empty when they are not built."""
    out = {}
    for role in M.FACE_ROLES:
        path = _manifest_entry(REPO_MODELS, role)
        if path is not None:
            out[role] = path
    return out


def make_models_dir(dest: Path, pose: Path, emotion: Path | None = None, variant: str = "lightning",
                    face: bool = True) -> Path:
    """A models folder holding copies of the given files (and of the repository's face models unless
    `face` is False) and a manifest with their real hashes."""
    dest.mkdir(parents=True, exist_ok=True)
    entries = {}
    name = f"movenet_{variant}_int8.tflite"
    shutil.copyfile(pose, dest / name)
    entries[name] = {"file": name, "role": "pose", "variant": variant, "sha256": _sha(dest / name),
                     "command": f"python -m tools.quantize movenet --variant {variant} --out {name}"}
    if emotion is not None:
        shutil.copyfile(emotion, dest / "emotion_int8.tflite")
        entries["emotion_int8.tflite"] = {"file": "emotion_int8.tflite", "role": "emotion",
                                          "sha256": _sha(dest / "emotion_int8.tflite")}
    for role, src in (face_sources() if face else {}).items():
        shutil.copyfile(src, dest / src.name)
        entries[src.name] = {"file": src.name, "role": role, "sha256": _sha(dest / src.name)}
    (dest / "manifest.json").write_text(json.dumps({"version": 1, "models": entries}), encoding="utf-8")
    return dest


def runtime_config(models_dir: Path, emotion: bool = True, **analysis: object) -> Config:
    """A Config using `models_dir` (emotion only when the folder holds an emotion model)."""
    from dataclasses import replace

    has_emotion = (models_dir / "emotion_int8.tflite").is_file()
    has_face = all((models_dir / name).is_file() for name in M.FACE_FILES.values())
    cfg = Config()
    cfg = replace(cfg, models=ModelsConfig(dir=models_dir, emotion=emotion and has_emotion, face=has_face))
    if analysis:
        cfg = replace(cfg, analysis=replace(cfg.analysis, **analysis))
    return cfg


@pytest.fixture(scope="module")
def mdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_models_dir(tmp_path_factory.mktemp("models"), pose_source(), emotion_source())


def test_load_models_resolves_and_hashes(mdir: Path) -> None:
    ms = M.load_models(ModelsConfig(dir=mdir, emotion=(mdir / "emotion_int8.tflite").is_file()))
    assert ms.pose.path == mdir / "movenet_lightning_int8.tflite"
    assert ms.pose.sha256 == _sha(ms.pose.path)
    info = ms.models_info()
    assert info["pose"] == {"name": "movenet_lightning_int8.tflite", "sha256": ms.pose.sha256}
    if ms.emotion is not None:
        assert info["emotion"]["name"] == "emotion_int8.tflite"
    assert ms.threads == 2


def test_emotion_off_gives_no_emotion_model(mdir: Path) -> None:
    ms = M.load_models(ModelsConfig(dir=mdir, emotion=False, face=False))
    assert ms.emotion is None and ms.face_landmark is None and ms.iris is None
    assert set(ms.models_info()) == {"pose"}


def test_corrupt_model_names_file_and_rebuild_command(tmp_path: Path) -> None:
    d = make_models_dir(tmp_path / "m", pose_source())
    with (d / "movenet_lightning_int8.tflite").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError) as err:
        M.load_models(ModelsConfig(dir=d, emotion=False))
    msg = str(err.value)
    assert "movenet_lightning_int8.tflite" in msg and "does not match the manifest" in msg
    assert "python -m tools.quantize movenet --variant lightning" in msg


def test_missing_file_and_missing_manifest(tmp_path: Path) -> None:
    d = make_models_dir(tmp_path / "m", pose_source())
    (d / "movenet_lightning_int8.tflite").unlink()
    with pytest.raises(ModelError, match=r"model file not found: .*movenet_lightning_int8\.tflite"):
        M.load_models(ModelsConfig(dir=d, emotion=False))
    with pytest.raises(ModelError, match=r"models folder not found: .*nowhere; the models are looked up in"):
        M.load_models(ModelsConfig(dir=tmp_path / "nowhere", emotion=False))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"manifest not found: .*manifest\.json; rebuild it"):
        M.load_models(ModelsConfig(dir=tmp_path / "empty", emotion=False))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="not valid JSON"):
        M.load_models(ModelsConfig(dir=tmp_path / "bad", emotion=False))


def test_variant_and_emotion_not_in_manifest(tmp_path: Path) -> None:
    d = make_models_dir(tmp_path / "m", pose_source())
    with pytest.raises(ModelError) as err:
        M.load_models(ModelsConfig(dir=d, pose_variant="thunder", emotion=False))
    assert "movenet_thunder_int8.tflite" in str(err.value)
    assert "--variant thunder" in str(err.value)
    with pytest.raises(ModelError) as err:
        M.load_models(ModelsConfig(dir=d, emotion=True))
    assert "emotion_int8.tflite" in str(err.value) and "models.emotion = false" in str(err.value)


def test_check_models_lists_every_problem(tmp_path: Path) -> None:
    d = make_models_dir(tmp_path / "m", pose_source())
    assert M.check_models(ModelsConfig(dir=d, emotion=False)) == []
    (d / "movenet_lightning_int8.tflite").write_bytes(b"garbage")
    problems = M.check_models(ModelsConfig(dir=d, emotion=True))
    assert len(problems) == 2
    assert "movenet_lightning_int8.tflite" in problems[0] and "emotion_int8.tflite" in problems[1]


def test_check_models_loads_the_model(tmp_path: Path) -> None:
    """A file whose hash matches but that is no pose model (here: not a flatbuffer) is caught."""
    d = make_models_dir(tmp_path / "m", pose_source())
    p = d / "movenet_lightning_int8.tflite"
    p.write_bytes(b"not a model at all, but the manifest agrees")
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["models"][p.name]["sha256"] = _sha(p)
    (d / "manifest.json").write_text(json.dumps(manifest))
    (problem,) = M.check_models(ModelsConfig(dir=d, emotion=False))
    assert "not a TFLite flatbuffer" in problem and p.name in problem


def test_hashing_happens_once(mdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash at start only: analysing frames never re-reads the model files."""
    import numpy as np

    from edge.analysis.pipeline import FrameAnalyzer

    calls = []
    real = M.sha256_file
    monkeypatch.setattr(M, "sha256_file", lambda p: calls.append(p) or real(p))
    cfg = runtime_config(mdir)
    analyzer = FrameAnalyzer(cfg)
    n_start = len(calls)
    assert n_start == 1 + cfg.models.emotion + 2 * cfg.models.face
    frame = np.zeros((240, 320, 3), np.uint8)
    for i in range(3):
        analyzer.analyze(frame, i * 0.1)
    assert len(calls) == n_start


def test_face_models_missing_or_corrupt_name_file_and_rebuild(tmp_path: Path) -> None:
    faces = face_sources()
    if len(faces) != 2:
        pytest.skip("no face models in models/quantized (python -m tools.quantize face ...)")
    d = make_models_dir(tmp_path / "m", pose_source())
    ms = M.load_models(ModelsConfig(dir=d, emotion=False))
    assert ms.face_landmark is not None and ms.iris is not None
    assert set(ms.models_info()) == {"pose", "face_landmark", "iris"}
    assert M.check_models(ModelsConfig(dir=d, emotion=False)) == []
    iris = d / faces["iris"].name
    with iris.open("r+b") as f:
        f.seek(5000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError) as err:
        M.load_models(ModelsConfig(dir=d, emotion=False))
    msg = str(err.value)
    assert iris.name in msg and "does not match the manifest" in msg
    assert "python -m tools.quantize face" in msg and "models.face = false" in msg
    (d / faces["face_landmark"].name).unlink()
    (problem, *_) = M.check_models(ModelsConfig(dir=d, emotion=False))
    assert "model file not found" in problem and faces["face_landmark"].name in problem
    assert M.load_models(ModelsConfig(dir=d, emotion=False, face=False)).face_landmark is None


def test_repository_manifest_verifies(models_dir: Path) -> None:
    """The committed pose model matches its manifest entry (fails while a rebuild is half-written)."""
    if _manifest_entry(models_dir, "pose") is None:
        pytest.skip("no pose model in models/quantized")
    ms = M.load_models(ModelsConfig(dir=models_dir, emotion=False, face=len(face_sources()) == 2))
    assert len(ms.pose.sha256) == 64
    for m in (ms.face_landmark, ms.iris):
        assert m is None or (len(m.sha256) == 64 and m.path.stat().st_size < 3_000_000)


def test_no_shipped_model_lets_xnnpack_switch_to_fp16_arithmetic(models_dir: Path) -> None:
    """XNNPACK runs a model in FP16 arithmetic on boards that have it (Raspberry Pi 5, Jetson Orin)
    when the file's `reduced_precision_support` metadata allows FP16 accumulation ("...accfp16"). The
    face models read that way lose accuracy on the labelled set (looking down 0.91 against 0.94, head
    direction 0.85 against 0.90; docs/face.md), so no shipped file may allow it: every board then
    reads with FP32 arithmetic, as validated here. The float16 face files say "fp16accfp32"."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated", reason="needs LiteRT's flatbuffer schema")
    files = sorted(models_dir.glob("*.tflite"))
    if not files:
        pytest.skip(f"no models in {models_dir}")
    seen = {}
    for path in files:
        model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
        for i in range(model.MetadataLength()):
            meta = model.Metadata(i)
            if meta.Name() == b"reduced_precision_support":
                seen[path.name] = bytes(model.Buffers(meta.Buffer()).DataAsNumpy()).decode()
    assert not any(value.endswith("accfp16") for value in seen.values()), seen
    assert all(seen.get(p.name) == "fp16accfp32" for p in files if p.stem.endswith("_f16")), seen
