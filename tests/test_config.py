"""Config loading: strict types, ranges, unknown keys, every error reported with its full key."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from edge.config import (
    Config,
    ConfigError,
    TlsConfig,
    config_from_dict,
    load_config,
    missing_files,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert str(exc.value).splitlines() == exc.value.errors  # one problem per line
    return exc.value.errors


def test_no_file_gives_the_defaults():
    assert load_config(None) == Config()


def test_empty_file_gives_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == Config()


def test_example_config_loads_and_equals_the_defaults():
    assert load_config(EXAMPLE) == Config()


def test_example_config_documents_every_key():
    """Every field of every section appears in the example, set or commented out, in its section."""
    documented: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#?\s*\[([a-z_.]+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#?\s*([a-z_]+)\s*=", line)
        if m:
            documented.setdefault(section, set()).add(m.group(1))
    hints = typing.get_type_hints(Config)
    sections = {f.name: hints[f.name] for f in dataclasses.fields(Config)}
    sections["mqtt.tls"] = TlsConfig
    for name, cls in sections.items():
        keys = {f.name for f in dataclasses.fields(cls)} - ({"tls"} if name == "mqtt" else set())
        missing = keys - documented.get(name, set())
        assert not missing, f"[{name}] undocumented: {missing}"


def test_values_are_typed_and_relative_paths_resolve_against_the_file(tmp_path):
    cfg_dir = tmp_path / "etc"
    cfg_dir.mkdir()
    path = cfg_dir / "ppt.toml"
    path.write_text(
        """
[device]
id = "lab_2"
[models]
dir = "models"
threads = 4
[analysis]
fps = 15          # an integer is fine for a float key
screen_side = "right"
[camera]
backend = "file"
path = "../videos/talk.mp4"
[storage]
state_dir = "/tmp/ppt-state"
[mqtt]
port = 8883
username = "u"
password_credential = "mqtt-pass"
[mqtt.tls]
ca_file = "/etc/ssl/ca.pem"
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.device.id == "lab_2"
    assert cfg.models.threads == 4
    assert cfg.analysis.fps == 15.0 and isinstance(cfg.analysis.fps, float)
    assert cfg.analysis.screen_side == "right"
    assert cfg.models.dir == (cfg_dir / "models").resolve()
    assert cfg.camera.path == (tmp_path / "videos" / "talk.mp4").resolve()
    assert cfg.storage.state_dir == Path("/tmp/ppt-state")
    assert cfg.mqtt.tls == TlsConfig(ca_file=Path("/etc/ssl/ca.pem"))
    assert cfg.mqtt.password_credential == "mqtt-pass"
    # everything not given keeps its default
    assert cfg.session == Config().session and cfg.feedback == Config().feedback


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[session]\nend_after_s = -1", "session.end_after_s: must be > 0, got -1"),
        ("[analysis]\nfoo = 1", "analysis.foo: unknown key"),
        ("[analysis]\nfpss = 10", "analysis.fpss: unknown key (did you mean 'fps'?)"),
        ("[analysys]\nfps = 10", "analysys: unknown section (did you mean [analysis]?)"),
        ("[models]\nthreads = 9", "models.threads: must be between 1 and 8, got 9"),
        ("[models]\nthreads = 2.0", "models.threads: expected an integer, got float 2.0"),
        ("[models]\nthreads = true", "models.threads: expected an integer, got boolean True"),
        ("[models]\nemotion = 1", "models.emotion: expected true or false, got integer 1"),
        ('[models]\npose_variant = "huge"', "models.pose_variant: must be one of 'lightning', 'thunder'"),
        ("[analysis]\nfps = 0", "analysis.fps: must be > 0, got 0"),
        ('[analysis]\nfps = "10"', "analysis.fps: expected a number, got string '10'"),
        ("[analysis]\nfps = nan", "analysis.fps: must be a finite number"),
        ("[analysis]\nemotion_every = 0", "analysis.emotion_every: must be >= 1, got 0"),
        ("[analysis]\nface_every = 0", "analysis.face_every: must be >= 1, got 0"),
        ("[analysis]\nmin_face_landmark_px = 8", "analysis.min_face_landmark_px: must be between 16 and 4096, got 8"),
        ("[analysis]\nmin_face_landmark_px = 48.5", "analysis.min_face_landmark_px: expected an integer"),
        ("[models]\nface = 1", "models.face: expected true or false, got integer 1"),
        ("[analysis]\nmin_keypoint_score = 1.5", "analysis.min_keypoint_score: must be a share in [0, 1]"),
        ('[analysis]\nscreen_side = "up"', "analysis.screen_side: must be one of 'left', 'right'"),
        ("[analysis]\nstage = [0.5, 0, 0.4, 1]", "analysis.stage: must be [x0, y0, x1, y1] with 0 <= x0 < x1"),
        ("[analysis]\nstage = [0, 0, 1.2, 1]", "analysis.stage: must be [x0, y0, x1, y1]"),
        ("[analysis]\nstage = [0, 0, 0.05, 1]", "analysis.stage: must span at least 0.1 of the frame each way"),
        ("[analysis]\nstage = [0, 0, 1]", "analysis.stage: expected an array of 4 numbers, got array [0, 0, 1]"),
        ("[analysis]\nstage = 1", "analysis.stage: expected an array of 4 numbers, got integer 1"),
        ('[analysis]\nstage = [0, 0, "1", 1]', "analysis.stage[2]: expected a number, got string '1'"),
        ("[feedback]\narms_crossed_max = -0.1", "feedback.arms_crossed_max: must be a share in [0, 1]"),
        ('[feedback]\nlanguage = "fr"', "feedback.language: unsupported language 'fr'"),
        ("[feedback]\ngesture_low = 0.9", "feedback.gesture_low: must be < feedback.gesture_high"),
        ('[device]\nid = "room 1"', "device.id: must match ^[A-Za-z0-9_-]{1,64}$"),
        ('[device]\nid = ""', "device.id: must match"),
        ('[device]\nid = "' + "a" * 65 + '"', "device.id: must match"),
        ('[mqtt]\nprefix = "ppt/#"', "mqtt.prefix: must not contain MQTT wildcards"),
        ('[mqtt]\nprefix = "a/+/b"', "mqtt.prefix: must not contain MQTT wildcards"),
        ('[mqtt]\nprefix = "ppt/"', "mqtt.prefix: must not have empty topic levels"),
        ('[mqtt]\nprefix = "$SYS"', "mqtt.prefix: must not start with $"),
        ("[mqtt]\nport = 0", "mqtt.port: must be between 1 and 65535, got 0"),
        ("[mqtt]\nport = 70000", "mqtt.port: must be between 1 and 65535, got 70000"),
        ("[mqtt]\ntls = 1", "mqtt.tls: expected a table, got integer"),
        ('[mqtt.tls]\ncert_file = "c.pem"', "mqtt.tls.key_file: client certificate and key"),
        ("[mqtt.tls]\nverify = false", "mqtt.tls.verify: unknown key"),
        ('[mqtt]\npassword_file = "p"', "mqtt.username: required when a password is configured"),
        ('[camera]\nbackend = "file"', 'camera.path: required when camera.backend = "file"'),
        ('[camera]\nbackend = "gstreamer"', "camera.pipeline: required when camera.backend"),
        ('[camera]\nbackend = "usb"', "camera.backend: must be one of 'picamera2', 'v4l2'"),
        ("[camera]\ndevice = 0", 'camera.device: expected a string, got integer 0 (quote it: "0")'),
        ("[camera]\npath = 3", "camera.path: expected a path string, got integer 3"),
        ('[camera]\npath = ""', "camera.path: must not be empty"),
        ("[camera]\nrotation = 45", "camera.rotation: must be one of 0, 90, 180, 270 (degrees clockwise), got 45"),
        ('[camera]\nrotation = "180"', "camera.rotation: expected an integer, got string '180'"),
        ("[storage]\nspool_max_files = 0", "storage.spool_max_files: must be >= 1, got 0"),
        ("[features]\nsway_window_s = 100", "features.sway_window_s: must be between 2 and 30, got 100"),
        ("[features]\nfacing_yaw_max_deg = 60", "features.facing_yaw_max_deg: must be <= features.turned"),
        ("session = 3", "session: expected a table, got integer"),
    ],
)
def test_bad_values_name_the_key(tmp_path, toml, expected):
    errors = errors_of(tmp_path, toml)
    assert any(e.startswith(expected) for e in errors), errors


def test_all_errors_are_reported_at_once(tmp_path):
    errors = errors_of(
        tmp_path,
        """
[session]
end_after_s = -1
bin_s = 0
[analysis]
foo = 1
fps = "fast"
[mqtt]
port = 0
""",
    )
    keys = [e.split(":", 1)[0] for e in errors]
    assert keys == ["session.end_after_s", "session.bin_s", "analysis.foo", "analysis.fps", "mqtt.port"]


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_config(write(tmp_path, "[session\nend_after_s = 1"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        config_from_dict({"device": {"id": "bad id"}})


def test_missing_files_are_listed_for_check(tmp_path):
    cfg = config_from_dict(
        {"camera": {"backend": "file", "path": "gone.mp4"}, "mqtt": {"tls": {"ca_file": "ca.pem"}},
         "models": {"dir": str(tmp_path)}},
        base_dir=tmp_path,
    )  # fmt: skip
    problems = missing_files(cfg)
    assert [p.split(":", 1)[0] for p in problems] == ["camera.path", "mqtt.tls.ca_file"]
    (tmp_path / "gone.mp4").write_bytes(b"")
    (tmp_path / "ca.pem").write_text("x")
    assert missing_files(cfg) == []


def test_a_retired_key_warns_and_is_ignored_an_unknown_one_stops(tmp_path, caplog):
    caplog.set_level("WARNING", logger="edge.config")
    cfg = load_config(write(tmp_path, "[features]\nlooking_down_pitch = 0.3\n"))
    assert cfg == Config()
    assert "features.looking_down_pitch is no longer used" in caplog.text and "face only" in caplog.text
    assert any(e.startswith("features.looking_down_pich: unknown key") for e in
               errors_of(tmp_path, "[features]\nlooking_down_pich = 0.3\n"))
