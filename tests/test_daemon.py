"""The device daemon end to end: a real mosquitto, the real int8 models, a real recording played as a
looping camera, the daemon as a subprocess (`python -m edge run --config F`), the real collector.

Plus the small parts on their own: the atomic checkpoint, sd_notify, and a stalled camera (an
in-process daemon with a stand-in analyser: the camera seam is what is under test there).
Timings are short (start after 1 s, checkpoints every 1 s, 5 analysed frames per second); every wait
is bounded.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from broker_fixtures import Mosquitto, RunningCollector, Subscriber, wait_until
from recordings import rewrite

from edge.analysis.features import FrameFeatures
from edge.config import config_from_dict
from edge.device.checkpoint import CheckpointStore
from edge.device.sdnotify import SdNotifier

REPO = Path(__file__).resolve().parent.parent
DEVICE = "room-d"
VIDEO = "slp_webcam_test_video.mp4"  # a presenter in view the whole time: sessions start by themselves


def daemon_argv(config: Path) -> list[str]:
    """`ppt-edge run --config F`, as systemd starts it (the console script is `edge.cli:main`)."""
    return [sys.executable, "-m", "edge", "run", "--config", str(config)]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def _manifest_roles(models_dir: Path) -> set[str]:
    try:
        manifest = json.loads((models_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return set()
    return {str(e.get("role")) for e in manifest.get("models", {}).values() if isinstance(e, dict)}


@pytest.fixture(scope="module")
def models_ready(models_dir: Path) -> bool:
    """The real models must be there (pose at least); True when the emotion model is built too."""
    roles = _manifest_roles(models_dir)
    if "pose" not in roles:
        pytest.skip(f"no int8 pose model in {models_dir} (build it with `python -m tools.quantize movenet`)")
    return "emotion" in roles


@pytest.fixture
def video(videos_dir: Path) -> Path:
    path = videos_dir / VIDEO
    if not path.is_file():
        pytest.skip(f"recording {path} not found")
    return path


def write_config(path: Path, broker: Mosquitto, video: Path, state_dir: Path, emotion: bool, **extra: Any) -> Path:
    """A daemon config for the tests (TOML); `extra` adds raw lines per section."""
    sections: dict[str, list[str]] = {
        "device": [f'id = "{DEVICE}"'],
        "models": [f"emotion = {'true' if emotion else 'false'}"],
        "analysis": ["fps = 5"],
        "session": ["start_after_s = 1", "end_after_s = 5", "min_duration_s = 1", "checkpoint_s = 1", "bin_s = 2"],
        "mqtt": [f'host = "{broker.host}"', f"port = {broker.port}", "live_hz = 4", "keepalive_s = 5"],
        "camera": ['backend = "file"', f'path = "{video}"', "loop = true"],
        "storage": [f'state_dir = "{state_dir}"'],
    }
    for section, lines in extra.items():
        sections.setdefault(section, []).extend(lines)
    text = "".join(f"[{name}]\n" + "".join(f"{line}\n" for line in lines) for name, lines in sections.items())
    path.write_text(text)
    return path


class DaemonProcess:
    """`ppt-edge run` as a subprocess; its output goes to a log file shown when an assertion fails."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            daemon_argv(config), cwd=REPO, stdout=self._out, stderr=subprocess.STDOUT, env=_env(env)
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._out.close()


class NotifySocket:
    """A stand-in for systemd's notification socket (abstract namespace, as systemd uses `@...`)."""

    def __init__(self) -> None:
        self.name = f"@ppt-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.name[1:].encode())
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-notify", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def lines(self) -> list[str]:
        return [line for m in list(self.messages) for line in m.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def topic(name: str) -> str:
    return f"ppt/{DEVICE}/{name}"


def live_session(sub: Subscriber, timeout: float = 40.0, after: int = 0) -> str | None:
    """The session id of the first live message (after the first `after` ones)."""
    ok = wait_until(lambda: len(sub.on(topic("live"))) > after, timeout, 0.05)
    return sub.json_on(topic("live"))[after]["session_id"] if ok else None


def acks(sub: Subscriber) -> dict[str | None, dict[str, Any]]:
    return {a["id"]: a for a in sub.json_on(topic("cmd/ack"))}


def statuses(sub: Subscriber) -> list[dict[str, Any]]:
    return sub.json_on(topic("status"))


@pytest.fixture
def stack(mosquitto: Mosquitto, tmp_path: Path, video: Path, models_ready: bool) -> Iterator[dict[str, Any]]:
    """Broker, collector and a test subscriber; the test starts the daemon(s)."""
    db = tmp_path / "collector.sqlite3"
    col = RunningCollector(mosquitto, db, client_id=f"test-collector-{uuid.uuid4().hex[:6]}")
    sub = Subscriber(mosquitto, [f"ppt/{DEVICE}/#"], client_id=f"test-eyes-{uuid.uuid4().hex[:6]}", persistent=True)
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "edge.toml", mosquitto, video, state, models_ready)
    daemons: list[DaemonProcess] = []

    def start(env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(cfg, tmp_path / f"daemon-{len(daemons)}.log", env)
        daemons.append(d)
        return d

    try:
        yield {"collector": col, "sub": sub, "state": state, "config": cfg, "start": start, "broker": mosquitto}
    finally:
        for d in daemons:
            d.close()
        sub.close()
        col.close()


def _logs(stack: dict[str, Any]) -> str:
    return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(stack["config"].parent.glob("daemon-*.log")))


# -- end to end ---------------------------------------------------------------------------------
def test_auto_session_commands_stop_summary_show_and_systemd(stack):
    col, sub = stack["collector"], stack["sub"]
    notify = NotifySocket()
    try:
        daemon = stack["start"]({"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "1000000"})
        sid = live_session(sub)
        assert sid, f"no session started by itself\n{_logs(stack)}"
        assert sid.startswith(f"{DEVICE}-")
        assert wait_until(lambda: "READY=1" in notify.lines(), 10), notify.lines()
        assert wait_until(lambda: "WATCHDOG=1" in notify.lines(), 5), notify.lines()
        assert any(line.startswith("STATUS=") for line in notify.lines())
        online = [s for s in statuses(sub) if s["state"] == "online"]
        assert online and "pose" in online[-1]["models"] and "camera" in online[-1]

        # Bad commands: each gets an error ack, and the session goes on untouched.
        bad = [
            b"not json at all",
            b'{"id": "b1", "cmd": "explode"}',
            b'{"id": "b2", "cmd": "stop", "force": true}',
            b'{"id": "b3", "cmd": "start"}',
            b'{"id": "b4", "cmd": "label", "label": 5}',
            b'{"cmd": "stop"}',
        ]
        for payload in bad:
            sub.publish(topic("cmd"), payload)
        assert wait_until(lambda: len(sub.on(topic("cmd/ack"))) >= len(bad), 10), sub.json_on(topic("cmd/ack"))
        got = acks(sub)
        assert all(a["ok"] is False and a["error"] for a in sub.json_on(topic("cmd/ack"))), got
        assert "unknown command" in got["b1"]["error"]
        assert "already running" in got["b3"]["error"] and sid in got["b3"]["error"]
        seen = len(sub.on(topic("live")))
        assert live_session(sub, 5, after=seen) == sid, "a refused command changed the session"

        sub.publish(topic("cmd"), b'{"id": "c1", "cmd": "label", "label": "Ana"}')
        assert wait_until(lambda: "c1" in acks(sub), 5)
        assert acks(sub)["c1"] == {"id": "c1", "ok": True, "error": None}
        time.sleep(1.0)
        sub.publish(topic("cmd"), b'{"id": "c2", "cmd": "stop"}')
        assert wait_until(lambda: "c2" in acks(sub), 5)
        assert acks(sub)["c2"]["ok"] is True
        assert wait_until(lambda: sid in col.sessions, 10), _logs(stack)
        summary = col.summary(sid)
        assert summary["status"] == "complete" and summary["ended_by"] == "command"
        assert summary["label"] == "Ana" and summary["device"] == DEVICE
        assert summary["frames"]["analysed"] >= 5 and summary["frames"]["with_person"] > 0
        assert 1.0 < summary["fps"]["analysed"] < 6.0  # analysis.fps = 5 held from a 30 fps camera
        assert summary["fps"]["source"] > 15.0 and summary["frames"]["seen"] > 2 * summary["frames"]["analysed"]
        manifest = json.loads((REPO / "models" / "quantized" / "manifest.json").read_text())["models"]
        assert summary["models"]["pose"]["sha256"] == manifest[summary["models"]["pose"]["name"]]["sha256"]

        sub.publish(topic("cmd"), b'{"id": "c3", "cmd": "stop"}')  # nothing runs any more
        assert wait_until(lambda: "c3" in acks(sub), 5)
        assert acks(sub)["c3"]["ok"] is False and "no session" in acks(sub)["c3"]["error"]

        shown = subprocess.run(
            [sys.executable, "-m", "edge.collector.cli", "--db", str(col.db), "show", sid],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=30,
        )
        assert shown.returncode == 0, shown.stderr
        assert sid in shown.stdout and "Ana" in shown.stdout and "ended by command" in shown.stdout

        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, daemon.text()
        assert "STOPPING=1" in notify.lines()
        assert wait_until(lambda: statuses(sub)[-1]["state"] == "offline", 5)
        assert statuses(sub)[-1]["reason"] == "shutdown"
        assert not (stack["state"] / "spool").exists() or not list((stack["state"] / "spool").glob("*.json"))
        assert not CheckpointStore(stack["state"]).exists()
    finally:
        notify.close()


def test_a_camera_mounted_upside_down_with_camera_rotation_reports_an_upright_presenter(
        mosquitto: Mosquitto, tmp_path: Path, video: Path, models_ready: bool) -> None:  # fmt: skip
    """The device path of `camera.rotation`: the webcam clip as a camera mounted upside down
    records it, `camera.rotation = 180`, the real daemon, broker and collector. The summary that
    arrives over MQTT has the presenter upright in the picture (without the setting the gate
    would leave nothing judged: tests/test_rules_real.py)."""
    import cv2

    upside_down = tmp_path / "upside_down.avi"
    rewrite(video, upside_down, "MJPG", lambda f: cv2.rotate(f, cv2.ROTATE_180))
    col = RunningCollector(mosquitto, tmp_path / "c.sqlite3", client_id=f"test-collector-{uuid.uuid4().hex[:6]}")
    sub = Subscriber(mosquitto, [f"ppt/{DEVICE}/#"], client_id=f"test-eyes-{uuid.uuid4().hex[:6]}", persistent=True)
    cfg = write_config(tmp_path / "edge.toml", mosquitto, upside_down, tmp_path / "state", models_ready,
                       camera=["rotation = 180"])
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    try:
        sid = live_session(sub)
        assert sid, f"no session started by itself\n{daemon.text()[-4000:]}"
        online = [st for st in statuses(sub) if st["state"] == "online"]
        assert online and online[-1]["camera"]["state"] in ("ok", "starting"), online[-1:]
        time.sleep(3.0)
        sub.publish(topic("cmd"), b'{"id": "r1", "cmd": "stop"}')
        assert wait_until(lambda: sid in col.sessions, 15), daemon.text()[-4000:]
        summary = col.summary(sid)
        assert summary["frames"]["with_person"] >= 5
        assert summary["metrics"]["upright"]["share"] > 0.9, summary["metrics"]["upright"]
        assert not any(item["reason"].startswith("presenter not upright") for item in summary["not_judged"])
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, daemon.text()[-4000:]
    finally:
        daemon.close()
        sub.close()
        col.close()


def test_broker_killed_mid_session_and_while_a_summary_is_pending(stack):
    col, sub, broker = stack["collector"], stack["sub"], stack["broker"]
    first = stack["start"]()
    sid = live_session(sub)
    assert sid, _logs(stack)

    broker.kill()  # mid-session
    time.sleep(1.0)
    broker.start()
    seen = len(sub.on(topic("live")))
    assert live_session(sub, 15, after=seen) == sid, f"session did not carry on after the outage\n{_logs(stack)}"

    broker.kill()  # again, and the session ends while it is down: its summary can only be spooled
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0, first.text()
    spooled = list((stack["state"] / "spool").glob(f"*-{sid}.json"))
    assert len(spooled) == 1, list((stack["state"] / "spool").glob("*"))

    second = stack["start"]()  # comes up with the broker still down, the summary still pending
    time.sleep(2.0)
    broker.start()
    assert wait_until(lambda: sid in col.sessions, 25), _logs(stack)
    second.signal(signal.SIGTERM)
    assert second.wait(20) == 0, second.text()
    time.sleep(0.5)
    summary = col.summary(sid)
    assert summary["status"] == "complete" and summary["ended_by"] == "shutdown"
    assert col.sessions.count(sid) == 1
    on_wire = [m for m in sub.json_on(topic(f"session/{sid}"))]
    assert len(on_wire) == 1, f"the summary went out {len(on_wire)} times"
    assert not list((stack["state"] / "spool").glob("*.json"))


def test_sigkill_mid_session_publishes_interrupted_and_status_follows(stack):
    col, sub = stack["collector"], stack["sub"]
    first = stack["start"]()
    sid = live_session(sub)
    assert sid, _logs(stack)
    ck = CheckpointStore(stack["state"])
    assert wait_until(lambda: ck.exists(), 5)
    time.sleep(2.0)  # a few checkpoints into the session
    assert json.loads(ck.path.read_bytes())["meta"]["session_id"] == sid  # atomic: never half a file

    first.signal(signal.SIGKILL)  # a power cut, as far as the daemon can tell
    first.wait(10)
    assert wait_until(lambda: statuses(sub)[-1]["state"] == "offline", 10), statuses(sub)[-1:]
    assert statuses(sub)[-1]["reason"] == "lost"  # the Last Will
    assert sid not in col.sessions

    n_status = len(statuses(sub))
    second = stack["start"]()
    assert wait_until(lambda: sid in col.sessions, 30), _logs(stack)
    summary = col.summary(sid)
    assert summary["status"] == "interrupted" and summary["ended_by"] == "crash"
    assert summary["duration_s"] >= 1.0 and summary["frames"]["analysed"] >= 5
    assert wait_until(lambda: any(s["state"] == "online" for s in statuses(sub)[n_status:]), 10)
    if ck.exists():  # the new daemon may have started a session of its own: not the old one
        assert json.loads(ck.path.read_bytes())["meta"]["session_id"] != sid
    assert not (stack["state"] / "corrupt").exists()
    second.signal(signal.SIGTERM)
    assert second.wait(20) == 0, second.text()
    assert statuses(sub)[-1]["state"] == "offline"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"session": ["end_after_s = -1"]}, "session.end_after_s"),
        ({"analysis": ["fpss = 3"]}, "analysis.fpss"),
        ({"camera": ['path = "/nonexistent/recording.mp4"']}, "camera.path"),
        ({"mqtt": ['username = "room-d"', 'password_file = "/nonexistent/pw"']}, "mqtt.password_file"),
    ],
)
def test_bad_config_values_stop_the_daemon_at_start_naming_the_key(tmp_path, extra, key, video):
    broker = type("B", (), {"host": "127.0.0.1", "port": 1})()
    cfg = write_config(tmp_path / "bad.toml", broker, video, tmp_path / "state", False)  # type: ignore[arg-type]
    text = cfg.read_text()
    for section, lines in extra.items():  # override: a later duplicate key would be a TOML error
        for line in lines:
            name = line.split("=")[0].strip()
            kept = [x for x in text.split("\n") if not x.startswith(f"{name} =")]
            text = "\n".join(kept).replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    cfg.write_text(text)
    proc = subprocess.run(daemon_argv(cfg), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr  # a restart cannot help: RestartPreventExitStatus=2
    assert key in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


# -- a stalled camera (in process, stand-in analyser) ---------------------------------------------
class _StallingSource:
    """Delivers a few frames, then blocks in read() as a wedged CSI driver does."""

    name = "stalling-test-camera"
    opened = 0

    def __init__(self, *_: Any) -> None:
        self._n = 0

    def open(self) -> None:
        type(self).opened += 1

    def read(self, timeout: float) -> np.ndarray | None:
        self._n += 1
        if self._n > 5:
            time.sleep(3.0)  # longer than read_timeout_s: the reader calls it a stall
        time.sleep(0.03)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        pass


class _StandInAnalyzer:
    """Says a presenter is in view on every frame (the camera is what is under test here)."""

    models_info = {"pose": {"name": "stand-in", "sha256": "0" * 64}}

    def analyze(self, frame_bgr: np.ndarray, t: float) -> Any:
        return type("R", (), {"features": FrameFeatures(present=True, facing_audience=True), "emotion": None})()

    def reset(self) -> None:
        pass


def test_a_stalled_camera_is_reported_in_the_status_never_a_crash(mosquitto, tmp_path, monkeypatch, caplog):
    from edge.device import capture
    from edge.device.daemon import Daemon

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(_StallingSource, "opened", 0)
    monkeypatch.setitem(capture.BACKENDS, "file", _StallingSource)
    cfg = config_from_dict({
        "device": {"id": DEVICE},
        "analysis": {"fps": 10},
        "session": {"start_after_s": 0, "end_after_s": 30, "min_duration_s": 0},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
        "camera": {"backend": "file", "path": str(tmp_path / "unused.mp4"), "read_timeout_s": 0.5},
        "storage": {"state_dir": str(tmp_path / "state")},
    })
    sub = Subscriber(mosquitto, [topic("status"), topic("session/+")], client_id="test-stall")
    stop = threading.Event()
    daemon = Daemon(cfg, analyzer=_StandInAnalyzer())
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", daemon.run(stop)), name="test-daemon")
    # missing_files() would refuse the unused path: the source is the monkeypatched one.
    monkeypatch.setattr("edge.device.daemon.missing_files", lambda cfg: [])
    thread.start()
    try:
        def camera_states() -> list[str]:
            return [s["camera"]["state"] for s in statuses(sub) if s.get("camera")]

        assert wait_until(lambda: "reopening" in camera_states(), 10), statuses(sub)
        reopening = [s for s in statuses(sub) if s.get("camera", {}).get("state") == "reopening"][-1]
        assert "stall" in reopening["camera"]["error"]
        assert wait_until(lambda: _StallingSource.opened >= 2, 10)  # reopened with backoff
        assert thread.is_alive(), "the daemon died"
        assert daemon.session_id is not None, "a stall shorter than session.end_after_s ended the session"
        online = [s for s in statuses(sub) if s.get("state") == "online"]
        assert online and all("screen_side" in s and s["screen_side"] is None for s in online)  # not set here
    finally:
        stop.set()
        daemon.wake()
        thread.join(20)
        sub.close()
    assert result.get("rc") == 0
    assert not thread.is_alive()
    # no analysis.screen_side in this config: the start line says so, with the key
    (up,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("daemon up:")]
    assert up.endswith('screen side not set (analysis.screen_side: "turned to the screen" is not judged)')



class _SteadySource:
    """A camera at ~30 fps that never fails."""

    name = "steady-test-camera"

    def __init__(self, *_: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def read(self, timeout: float) -> np.ndarray | None:
        time.sleep(0.03)
        return np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        pass


class _WedgingAnalyzer(_StandInAnalyzer):
    """Hangs inside analyze() once `wedge` is set, as a stuck interpreter would."""

    def __init__(self) -> None:
        self.wedge = threading.Event()
        self.release = threading.Event()
        self.frames = 0

    def analyze(self, frame_bgr: np.ndarray, t: float) -> Any:
        if self.wedge.is_set():
            self.release.wait(10)
        self.frames += 1
        return super().analyze(frame_bgr, t)


def test_watchdog_pings_only_while_frames_are_analysed(tmp_path, monkeypatch):
    from edge.device import capture
    from edge.device.daemon import Daemon

    monkeypatch.setitem(capture.BACKENDS, "file", _SteadySource)
    monkeypatch.setattr("edge.device.daemon.missing_files", lambda cfg: [])
    port = socket.socket()
    port.bind(("127.0.0.1", 0))  # bound, never listening: MQTT stays down (the spool covers it)
    cfg = config_from_dict({
        "device": {"id": DEVICE},
        "analysis": {"fps": 10},
        "mqtt": {"host": "127.0.0.1", "port": port.getsockname()[1]},
        "camera": {"backend": "file", "path": str(tmp_path / "unused.mp4")},
        "storage": {"state_dir": str(tmp_path / "state")},
    })
    notify = NotifySocket()
    analyzer = _WedgingAnalyzer()
    sd = SdNotifier({"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "200000"})  # a ping every 0.1 s
    daemon = Daemon(cfg, analyzer=analyzer, notifier=sd)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), name="test-daemon")
    thread.start()
    try:
        assert wait_until(lambda: notify.lines().count("WATCHDOG=1") >= 3, 10), notify.lines()
        assert "READY=1" not in notify.lines()  # MQTT down for less than the grace period
        analyzer.wedge.set()
        time.sleep(0.5)  # the frame in flight may still ping once
        pings = notify.lines().count("WATCHDOG=1")
        time.sleep(1.0)
        assert notify.lines().count("WATCHDOG=1") == pings, "pinged while the analyser hung"
        analyzer.release.set()
        analyzer.wedge.clear()
        assert wait_until(lambda: notify.lines().count("WATCHDOG=1") > pings, 5)
    finally:
        analyzer.release.set()
        stop.set()
        daemon.wake()
        thread.join(20)
        notify.close()
        port.close()
    assert not thread.is_alive()
    assert "STOPPING=1" in notify.lines()


# -- checkpoint and sd_notify on their own ---------------------------------------------------------
def test_checkpoint_is_atomic_and_a_corrupt_one_is_set_aside(tmp_path, caplog):
    from edge.config import SessionConfig
    from edge.session.tracker import SessionTracker

    store = CheckpointStore(tmp_path / "state")
    assert store.load() is None
    tracker = SessionTracker(SessionConfig(start_after_s=0.0))
    tracker.update(10.0, True)
    tracker.update(10.5, True)
    assert tracker.active is not None
    tracker.active.meta.update(session_id="room-d-20250101T000000Z-abcdef", started_at="2025-01-01T00:00:00Z")
    store.save(tracker.to_dict(), {"session_id": "room-d-20250101T000000Z-abcdef", "label": None})
    assert sorted(p.name for p in store.dir.iterdir()) == [store.path.name]  # no tmp file left
    loaded = store.load()
    assert loaded is not None and loaded.meta["session_id"].endswith("abcdef")
    restored = SessionTracker.from_dict(loaded.tracker, SessionConfig())
    assert restored.active is not None and restored.active.meta["started_at"] == "2025-01-01T00:00:00Z"

    (store.dir / (store.path.name + ".tmp")).write_text('{"half": ')  # a power cut mid-save
    assert store.load() is not None
    store.remove_partial()
    assert not (store.dir / (store.path.name + ".tmp")).exists() and store.load() is not None

    caplog.set_level(logging.ERROR, logger="edge.device.checkpoint")
    store.path.write_bytes(store.path.read_bytes()[:40])  # truncated
    assert store.load() is None
    aside = list((store.dir / "corrupt").iterdir())
    assert len(aside) == 1 and not store.exists()
    assert "not JSON" in caplog.text and str(aside[0]) in caplog.text
    store.path.write_text('{"version": 99, "meta": {}, "tracker": {}}')
    assert store.load() is None and "unsupported checkpoint version 99" in caplog.text
    assert store.remove() is False


def test_sd_notify_paths_abstract_sockets_and_watchdog_env(tmp_path):
    assert SdNotifier({}).ready() is False  # not under systemd: a no-op
    notify = NotifySocket()
    try:
        sd = SdNotifier({"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "4000000"})
        assert sd.enabled and sd.watchdog_interval_s == 2.0
        assert sd.ready("camera ok,\n 5 fps") and sd.watchdog() and sd.stopping()
        assert wait_until(lambda: len(notify.messages) == 3, 2)
        assert notify.messages[0] == "READY=1\nSTATUS=camera ok, 5 fps"
        assert notify.messages[1:] == ["WATCHDOG=1", "STOPPING=1"]
        sd.close()
    finally:
        notify.close()
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(path))
        sd = SdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
        assert sd.watchdog_interval_s is None  # the watchdog belongs to another pid
        assert sd.status("x")
        assert s.recv(100) == b"STATUS=x"
        sd.close()
    assert SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).status("x") is False
