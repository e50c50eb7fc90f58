"""Quiet by default: at the default level every line on stderr is ours (`ppt-edge: ...` or a log line of an
`edge.*` logger). LiteRT's `INFO: Created TensorFlow Lite XNNPACK delegate`, FFmpeg's `moov atom not found`
and `[h264 @ ...]`, OpenCV's `[ WARN:0@...] cap_v4l.cpp` never reach the terminal; `-v` shows them. The demo
is checked the same way in test_demo.py. Also here: wall-clock times and the reasons `run` gives, and the
`recording_cut_short` warning of a recording that stops before its stated length.

Every command runs as a subprocess from a folder outside the repository, as a user would run it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from edge.analysis.inference import native_stderr_to_log
from edge.analyze import VideoInfo, cut_short_warning
from edge.samples import SAMPLE_VIDEO
from edge.schema import validate_summary

REPO = Path(__file__).resolve().parent.parent
OWN_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )?(DEBUG|INFO|WARNING|ERROR|CRITICAL) edge(\.\w+)*: |^ppt-edge: "
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENCV_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def ppt_edge(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def foreign_lines(stderr: str) -> list[str]:
    """Lines on stderr that are not ours."""
    return [line for line in stderr.splitlines() if line.strip() and not OWN_LINE.match(line)]


@pytest.fixture(scope="module")
def sample() -> Path:
    if not SAMPLE_VIDEO.is_file():
        pytest.fail(f"the sample recording shipped in the package is missing: {SAMPLE_VIDEO}")
    return SAMPLE_VIDEO


def test_check_analyze_and_bench_print_nothing_of_other_libraries(sample: Path, tmp_path: Path) -> None:
    proc = ppt_edge("check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "models: " in proc.stdout
    proc = ppt_edge("analyze", str(sample), "--json", "s.json", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("PPT Edge session") and (tmp_path / "s.json").is_file()
    proc = ppt_edge("bench", "--video", str(sample), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "bare pose invoke" in proc.stdout


def test_verbose_shows_the_native_lines_through_our_log(tmp_path: Path) -> None:
    from edge.analysis.inference import interpreter_backend

    proc = ppt_edge("-v", "check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not foreign_lines(proc.stderr), proc.stderr
    if interpreter_backend() == "ai_edge_litert":  # tflite-runtime words its delegate line differently
        assert re.search(r"DEBUG edge\.analysis\.inference: LiteRT \(movenet_\w+\.tflite\): INFO: Created "
                         r"TensorFlow Lite XNNPACK delegate", proc.stderr), proc.stderr


def test_native_stderr_goes_to_the_debug_log_and_the_rest_passes(caplog: pytest.LogCaptureFixture,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG, logger="edge.analysis.inference")
    with native_stderr_to_log("native"):
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nnot from TFLite\n")
    assert "native: INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in caplog.text
    err = capfd.readouterr().err
    assert "not from TFLite" in err and "XNNPACK" not in err


def test_an_unreadable_file_gives_our_line_only(sample: Path, tmp_path: Path) -> None:
    """The sample keeps its index (moov atom) at the end: half of it is a file FFmpeg complains about."""
    half = tmp_path / "half.mp4"
    data = sample.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    proc = ppt_edge("analyze", str(half), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"ppt-edge: cannot read {half}: not a video format OpenCV can decode "
                                        "(or a cut, incomplete file)"]


def _cut_avi(sample: Path, dest: Path) -> Path:
    """The sample as MJPEG in AVI (frame count in the header), then cut in half: a copy that broke off."""
    cap = cv2.VideoCapture(str(sample))
    whole = dest.with_name("whole.avi")
    out = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), cap.get(cv2.CAP_PROP_FPS), (360, 640))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(cv2.resize(frame, (360, 640)))
    out.release()
    cap.release()
    data = whole.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


def test_a_cut_recording_says_so_in_summary_and_report(sample: Path, tmp_path: Path) -> None:
    cut = _cut_avi(sample, tmp_path / "cut.avi")
    proc = ppt_edge("analyze", str(cut), "--json", "cut.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "cut.json").read_text(encoding="utf-8"))
    validate_summary(summary)
    assert summary["ended_by"] == "end_of_video"
    [warning] = summary["warnings"]
    assert warning["code"] == "recording_cut_short" and "of the 13.0 s its file states" in warning["message"]
    assert "warning: the recording stops at" in proc.stdout.splitlines()[3]
    assert not foreign_lines(proc.stderr), proc.stderr  # our WARNING line only, no FFmpeg decoder line
    whole = ppt_edge("analyze", str(tmp_path / "whole.avi"), "--json", "whole.json", cwd=tmp_path)
    assert whole.returncode == 0 and whole.stderr == ""
    assert "warnings" not in json.loads((tmp_path / "whole.json").read_text(encoding="utf-8"))


def test_cut_short_needs_both_fewer_frames_and_an_early_end() -> None:
    info = VideoInfo(Path("x.mp4"), 640, 480, fps=25.0, frames=250)  # 10 s stated
    assert cut_short_warning(info, decoded=250, last_t=9.96) is None
    assert cut_short_warning(info, decoded=248, last_t=9.88) is None  # a frame or two short: rounding
    # an estimated count (duration x fps) on a variable-rate file: fewer frames, but it plays to the end
    assert cut_short_warning(info, decoded=200, last_t=9.9) is None
    w = cut_short_warning(info, decoded=100, last_t=3.96)
    assert w is not None and w["code"] == "recording_cut_short"
    assert "stops at 4.0 s of the 10.0 s" in w["message"] and "100 of 250 frames" in w["message"]
    assert cut_short_warning(VideoInfo(Path("x"), 1, 1, fps=0.0, frames=0), 10, 1.0) is None  # nothing stated


def _run_for(config: Path, cwd: Path, seconds: float | None) -> subprocess.CompletedProcess[str]:
    """`ppt-edge run` until it stops by itself, or SIGTERM after `seconds`."""
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if seconds is not None:
        time.sleep(seconds)
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_run_on_the_sample_says_why_nothing_was_kept(sample: Path, tmp_path: Path) -> None:
    """The 13 s sample with the default session.min_duration_s (20 s): one line says why no session was
    kept; times in the log are wall-clock times, not a monotonic clock."""
    config = tmp_path / "file.toml"
    config.write_text(f'[camera]\nbackend = "file"\npath = "{sample}"\n[storage]\nstate_dir = "{tmp_path / "s"}"\n'
                      '[mqtt]\nport = 9\n', encoding="utf-8")  # no broker: summaries would wait in the spool
    proc = _run_for(config, tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    assert not foreign_lines(proc.stderr), proc.stderr
    assert re.search(r"session room-1-\S+ started at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", proc.stderr), proc.stderr
    assert re.search(r"not kept \(ended by end_of_video\): it lasted 1\d\.\d s, shorter than "
                     r"session\.min_duration_s = 20 s", proc.stderr), proc.stderr
    assert "0 session(s) published, 1 too short to keep" in proc.stderr
    assert "started at t=" not in proc.stderr  # the tracker's own clock stays at DEBUG


def test_run_without_its_camera_prints_no_opencv_line(tmp_path: Path) -> None:
    config = tmp_path / "v4l2.toml"
    config.write_text(f'[camera]\nbackend = "v4l2"\ndevice = "/dev/video99"\n[storage]\nstate_dir = "{tmp_path}"\n'
                      '[mqtt]\nport = 9\n', encoding="utf-8")
    proc = _run_for(config, tmp_path, 3.0)
    assert proc.returncode == 0, proc.stderr
    assert "camera reopening: cannot open V4L2 camera '/dev/video99'" in proc.stderr  # our line says it
    assert not foreign_lines(proc.stderr), proc.stderr
