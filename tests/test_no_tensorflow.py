"""The device never loads TensorFlow or PyTorch: import every module of edge/ and run a whole
analysis in a fresh interpreter, then look at sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_models import emotion_source, make_models_dir, pose_source

REPO = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import importlib, json, pkgutil, sys
from pathlib import Path

import edge

failed = {}
imported = []
for info in pkgutil.walk_packages(edge.__path__, "edge."):
    if info.name == "edge.__main__":
        continue  # runs the CLI on import
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except ImportError as exc:  # an optional dependency (e.g. the collector's broker) may be absent
        failed[info.name] = str(exc)

from dataclasses import replace
from edge.analyze import analyze_video
from edge.config import Config, ModelsConfig

models_dir, video, emotion = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
cfg = replace(Config(), models=ModelsConfig(dir=models_dir, emotion=emotion))
result = analyze_video(video, cfg, progress=False)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "torch", "tf_keras", "keras"))
print(json.dumps({"imported": imported, "failed": failed, "heavy": heavy,
                  "analysed": result.summary["frames"]["analysed"]}))
"""


@pytest.mark.slow
def test_no_tensorflow_or_torch(tmp_path: Path, videos_dir: Path) -> None:
    emotion = emotion_source()
    models = make_models_dir(tmp_path / "models", pose_source(), emotion)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(models), str(videos_dir / "slp_webcam_test_video.mp4"),
         "1" if emotion is not None else "0"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["analysed"] == 20
    for name in ("edge.analysis.pipeline", "edge.analysis.pose", "edge.analysis.face", "edge.analysis.emotion",
                 "edge.analysis.models", "edge.analyze", "edge.bench", "edge.cli"):
        assert name in report["imported"], report["failed"].get(name)
    assert report["heavy"] == [], f"heavy frameworks loaded: {report['heavy']}"


LEAN_SCRIPT = r"""
import json, sys
import cv2
from edge.bench import bench_config
from edge.analysis.pipeline import FrameAnalyzer
from edge.config import load_config

analyzer = FrameAnalyzer(bench_config(load_config(None)))  # the shipped models, loaded and verified
result = analyzer.analyze(cv2.imread(sys.argv[1]), 0.0)
unused = ("difflib", "tempfile", "statistics", "secrets", "importlib.resources")
print(json.dumps({"present": result.features.present, "loaded": [m for m in unused if m in sys.modules]}))
"""


def test_analysis_loads_no_unused_stdlib(images_dir: Path) -> None:
    """`bench` and the daemon's analysis do not import what they never use: each of these held 0.2-0.8 MiB
    of the bench's peak RSS (docs/speed.md, "Import trims"). A model load still hides LiteRT's banner."""
    proc = subprocess.run(
        [sys.executable, "-c", LEAN_SCRIPT, str(images_dir / "coral_squat.bmp")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["present"] is True
    assert report["loaded"] == []
    assert "XNNPACK" not in proc.stderr
