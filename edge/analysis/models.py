"""Which model files the device runs, and proof that they are the ones the manifest describes.

`models/quantized/manifest.json` (written by `python -m tools.quantize`) lists each model with its
role ("pose", "emotion", "face_landmark" or "iris"), variant, sha256 and input contract. At start the
device resolves the pose model for `models.pose_variant`, the emotion model and the face models, checks
that each file exists and hashes to the manifest's sha256, and keeps the names and hashes for the
summaries and the MQTT status: a summary then says exactly which model produced its numbers. Hashing
happens once here, never per frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.analysis.inference import REBUILD_HINT, ModelError
from edge.config import Config, ModelsConfig

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
POSE_FILE = "movenet_{variant}_int8.tflite"  # the name tools.quantize gives a pose model
EMOTION_FILE = "emotion_int8.tflite"
FACE_FILES = {"face_landmark": "face_landmark_f16.tflite", "iris": "iris_landmark_f32.tflite"}
FACE_ROLES = tuple(FACE_FILES)
_HASH_CHUNK = 1 << 20


def rebuild_command(role: str, variant: str | None = None, models_dir: Path | None = None) -> str:
    """The command that rebuilds a model, for error messages (paths as in the repository README)."""
    out = models_dir if models_dir is not None else Path("models/quantized")
    if role in FACE_FILES:
        return (f"python -m tools.quantize face --landmark ../shared/models/face/face_landmark.tflite "
                f"--iris ../shared/models/face/iris_landmark.tflite --images ../shared/data/images "
                f"--video ../shared/data/videos/slp_webcam_test_video.mp4 --out-dir {out} "
                f"--manifest {out / MANIFEST_NAME}")
    if role == "pose":
        v = variant or "lightning"
        return (f"python -m tools.quantize movenet --variant {v} "
                f"--source ../shared/models/tfjs/movenet-{v}.json --calib ../shared/data/images "
                f"../shared/data/videos --out {out / POSE_FILE.format(variant=v)} "
                f"--manifest {out / MANIFEST_NAME}")
    return (f"python -m tools.quantize emotion --train ../shared/data/fer2013/train.npz "
            f"--val ../shared/data/fer2013/public_test.npz --out {out / EMOTION_FILE} "
            f"--manifest {out / MANIFEST_NAME}")


@dataclass(frozen=True)
class ModelFile:
    """One verified model file: where it is, what the manifest says about it, its sha256."""

    role: str
    name: str
    path: Path
    sha256: str
    variant: str | None = None
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def info(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256}


@dataclass(frozen=True)
class ModelSet:
    """The models one analyser runs: the pose model, the emotion model and the face landmark and iris
    models (None when switched off), and the interpreter thread count they are built with."""

    pose: ModelFile
    emotion: ModelFile | None
    threads: int = 2
    face_landmark: ModelFile | None = None
    iris: ModelFile | None = None

    def models_info(self) -> dict[str, dict[str, str]]:
        """`{role: {name, sha256}}` for summaries and the status topic."""
        out = {"pose": self.pose.info()}
        if self.emotion is not None:
            out["emotion"] = self.emotion.info()
        for m in (self.face_landmark, self.iris):
            if m is not None:
                out[m.role] = m.info()
        return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(models_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's `models` table (file name -> entry); ModelError when missing or malformed."""
    path = Path(models_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {path}; {REBUILD_HINT}") from None
    except OSError as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} is not valid JSON ({exc}); {REBUILD_HINT}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ModelError(f"model manifest {path} has no 'models' table; {REBUILD_HINT}")
    return {str(k): v for k, v in models.items() if isinstance(v, dict)}


def _find(
    manifest: dict[str, dict[str, Any]], role: str, variant: str | None
) -> tuple[str, dict[str, Any]] | None:
    """The manifest entry for a role (and pose variant): by role/variant fields, else by file name."""
    for name, entry in sorted(manifest.items()):
        if entry.get("role") == role and (variant is None or entry.get("variant") == variant):
            return name, entry
    default = _default_file(role, variant)
    if default in manifest and manifest[default].get("role", role) == role:
        return default, manifest[default]
    return None


def _default_file(role: str, variant: str | None) -> str:
    if role == "pose":
        return POSE_FILE.format(variant=variant)
    return FACE_FILES.get(role, EMOTION_FILE)


def _off_hint(role: str) -> str:
    if role == "emotion":
        return " (or set models.emotion = false)"
    if role in FACE_FILES:
        return " (or set models.face = false: head direction then comes from the keypoints alone)"
    return ""


def resolve_model(models_dir: Path, manifest: dict[str, dict[str, Any]], role: str,
                  variant: str | None = None, verify: bool = True) -> ModelFile:
    """Resolve and verify one model; ModelError naming the file and how to rebuild it."""
    models_dir = Path(models_dir)
    hint = f"rebuild it with `{rebuild_command(role, variant)}`" + _off_hint(role)
    found = _find(manifest, role, variant)
    what = f"{role} model" + (f" ({variant})" if variant else "")
    if found is None:
        expected = _default_file(role, variant)
        raise ModelError(f"{what}: {models_dir / MANIFEST_NAME} lists no {expected}; {hint}")
    name, entry = found
    if isinstance(entry.get("command"), str) and entry["command"].strip():
        hint = f"rebuild it with `{entry['command'].strip()}`" + _off_hint(role)  # the exact command
    path = models_dir / str(entry.get("file") or name)
    expected_sha = str(entry.get("sha256", "")).lower()
    if not path.is_file():
        raise ModelError(f"{what}: model file not found: {path}; {hint}")
    if len(expected_sha) != 64:
        raise ModelError(f"{what}: {models_dir / MANIFEST_NAME} has no sha256 for {path.name}; {hint}")
    if verify:
        actual = sha256_file(path)
        if actual != expected_sha:
            raise ModelError(f"{what}: {path} does not match the manifest (sha256 {actual[:12]}..., "
                             f"manifest says {expected_sha[:12]}...): corrupt or replaced; {hint}")
    return ModelFile(role, path.name, path, expected_sha, entry.get("variant"), entry)


def load_models(cfg: Config | ModelsConfig, verify: bool = True) -> ModelSet:
    """The verified `ModelSet` of a config (`models.dir`, `models.pose_variant`, `models.emotion`)."""
    mc = cfg.models if isinstance(cfg, Config) else cfg
    manifest = read_manifest(mc.dir)
    pose = resolve_model(mc.dir, manifest, "pose", mc.pose_variant, verify)
    emotion = resolve_model(mc.dir, manifest, "emotion", None, verify) if mc.emotion else None
    face = [resolve_model(mc.dir, manifest, role, None, verify) for role in FACE_ROLES] if mc.face else [None, None]
    logger.info("models: pose %s (%s...)%s%s", pose.name, pose.sha256[:12],
                f", emotion {emotion.name} ({emotion.sha256[:12]}...)" if emotion else ", emotion off",
                "".join(f", {m.role} {m.name} ({m.sha256[:12]}...)" for m in face if m) or ", face off")
    return ModelSet(pose, emotion, mc.threads, face[0], face[1])


def check_models(cfg: Config | ModelsConfig) -> list[str]:
    """Every model problem as a line (empty when all is well): for `ppt-edge check`.

    Besides presence and hash, each file is loaded by the interpreter once and its input/output
    contract checked, so that a file the runtime cannot run (wrong ops, truncated flatbuffer, another
    model's shapes) is found before the service starts.
    """
    from edge.analysis.emotion import EmotionClassifier
    from edge.analysis.facemesh import FaceMesh
    from edge.analysis.pose import PoseEstimator

    mc = cfg.models if isinstance(cfg, Config) else cfg
    try:
        manifest = read_manifest(mc.dir)
    except ModelError as exc:
        return [str(exc)]
    wanted: list[tuple[str, str | None]] = [("pose", mc.pose_variant)]
    if mc.emotion:
        wanted.append(("emotion", None))
    if mc.face:
        wanted += [(role, None) for role in FACE_ROLES]
    problems: list[str] = []
    for role, variant in wanted:
        try:
            model = resolve_model(mc.dir, manifest, role, variant)
            if role == "pose":
                PoseEstimator(model.path, threads=1)
            elif role == "face_landmark":
                FaceMesh(model.path, None, threads=1)
            elif role == "iris":
                FaceMesh.check_iris(model.path)
            else:
                EmotionClassifier(model.path, threads=1)
        except ModelError as exc:
            problems.append(str(exc))
    return problems
