"""`ppt-edge-demo` (edge/demo.py), the README's first set-up command: broker, collector and daemon on a
real recording with the real models, ending with the report the collector received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from broker_fixtures import Mosquitto

from edge.collector.store import Store

REPO = Path(__file__).resolve().parent.parent
VIDEO = "slp_webcam_test_video.mp4"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    env.update(extra)
    return env


def _demo(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.demo", *args],
        cwd=REPO, env=env or _env(), capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def pose_models(models_dir: Path) -> Path:
    try:
        roles = {e.get("role") for e in json.loads((models_dir / "manifest.json").read_text())["models"].values()}
    except (OSError, ValueError, KeyError):
        roles = set()
    if "pose" not in roles:
        pytest.skip(f"no int8 pose model in {models_dir}")
    return models_dir


@pytest.fixture
def video(videos_dir: Path, pose_models: Path) -> Path:
    path = videos_dir / VIDEO
    if not path.is_file():
        pytest.skip(f"recording {path} not found")
    return path


def test_demo_runs_on_the_sample_with_nothing_but_the_repository(pose_models, tmp_path):
    """The README's first command: no $PPT_EDGE_SHARED, another working directory, the embedded broker,
    the sample shipped in edge/samples/. Quiet: every stderr line is the demo's own `demo: ...`."""
    pytest.importorskip("amqtt")
    env = _env(PPT_EDGE_SHARED=str(tmp_path / "no-shared-here"))
    proc = subprocess.run([sys.executable, "-m", "edge.demo", "--seconds", "3"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "embedded (amqtt)" in proc.stderr and "stop command sent" in proc.stderr
    assert "analysing tfjs_pose_squats.mp4" in proc.stderr
    assert proc.stdout.startswith("PPT Edge session demo-room-"), proc.stdout[:500]
    assert "complete (ended by command)" in proc.stdout
    assert "frames analysed" in proc.stdout and "\nKey\n" in proc.stdout
    foreign = [line for line in proc.stderr.splitlines() if not line.startswith("demo: ")]
    assert not foreign, "lines on stderr that are not the demo's own:\n" + "\n".join(foreign)


def test_demo_on_a_given_broker_keeps_its_database(video, mosquitto: Mosquitto, tmp_path):
    db = tmp_path / "demo.sqlite3"
    proc = _demo("--video", str(video), "--seconds", "2", "--broker", mosquitto.url, "--db", str(db))
    assert proc.returncode == 0, proc.stderr[-4000:]
    with Store(db) as store:
        rows = store.sessions()
    assert len(rows) == 1 and rows[0].status == "complete" and rows[0].device == "demo-room"
    assert rows[0].session_id in proc.stdout and f"show {rows[0].session_id}" in proc.stderr


def test_demo_with_a_missing_recording_says_so(tmp_path):
    proc = _demo("--video", str(tmp_path / "missing.mp4"), timeout=60)
    assert proc.returncode == 2 and "missing.mp4: file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
