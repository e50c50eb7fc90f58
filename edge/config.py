"""One typed configuration, loaded from TOML and validated at start.

Every section is a frozen dataclass with documented defaults (edge/config_sections.py, importable from
here). The loader (`load_config`) rejects unknown keys and bad values with a message that names the key
(e.g. `session.end_after_s`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Jetson (JetPack 6) ships Python 3.10
    import tomli as tomllib

from edge.config_sections import (
    CHECKOUT_MODELS_DIR,
    INSTALLED_MODELS_DIR,
    MODELS_ENV,
    MODELS_LOOKUP,
    REPO_MODELS_DIR,
    AnalysisConfig,
    CameraConfig,
    Config,
    DeviceConfig,
    FeaturesConfig,
    FeedbackConfig,
    ModelsConfig,
    MqttConfig,
    SessionConfig,
    StorageConfig,
    TlsConfig,
    default_models_dir,
)

__all__ = [
    "CHECKOUT_MODELS_DIR",
    "INSTALLED_MODELS_DIR",
    "MODELS_ENV",
    "MODELS_LOOKUP",
    "REPO_MODELS_DIR",
    "AnalysisConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "FeaturesConfig",
    "FeedbackConfig",
    "ModelsConfig",
    "MqttConfig",
    "SessionConfig",
    "StorageConfig",
    "TlsConfig",
    "config_from_dict",
    "default_models_dir",
    "load_config",
    "missing_files",
    "models_dir_origin",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Loader: strict, typed, and it reports every problem at once (a config is fixed in one round trip).
# --------------------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A config that cannot be used. `errors` holds one `section.key: reason` line per problem.

    The message is those lines joined by newlines, so a CLI can print it as it is.
    """

    def __init__(self, errors: list[str] | str, source: Path | None = None) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        self.source = source
        super().__init__("\n".join(self.errors))


_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SUPPORTED_LANGUAGES = ("en",)

# A check returns None when the value is fine, else the reason (without the key).
_Check = Callable[[Any], "str | None"]


def _show(v: Any) -> str:
    """A value as the user wrote it: 2 for 2.0 (TOML ints are stored as floats in float fields)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v)


def _between(lo: float, hi: float) -> _Check:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo:g} and {hi:g}, got {_show(v)}"

    return check


def _above(lo: float, hi: float | None = None) -> _Check:
    def check(v: Any) -> str | None:
        if v <= lo:
            return f"must be > {lo:g}, got {_show(v)}"
        if hi is not None and v > hi:
            return f"must be <= {hi:g}, got {_show(v)}"
        return None

    return check


def _at_least(lo: float) -> _Check:
    def check(v: Any) -> str | None:
        return None if v >= lo else f"must be >= {lo:g}, got {_show(v)}"

    return check


def _share(v: Any) -> str | None:
    return None if 0.0 <= v <= 1.0 else f"must be a share in [0, 1], got {_show(v)}"


MIN_STAGE = 0.1  # the smallest stage side, as a share of the frame: a presenter must fit in it


def _stage(v: Any) -> str | None:
    x0, y0, x1, y1 = v
    shown = "[" + ", ".join(_show(x) for x in v) + "]"
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        return f"must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {shown}"
    if x1 - x0 < MIN_STAGE or y1 - y0 < MIN_STAGE:
        return f"must span at least {MIN_STAGE:g} of the frame each way (a presenter must fit), got {shown}"
    return None


QUARTER_TURNS = (0, 90, 180, 270)  # camera.rotation (edge.analysis.imaging.turn)


def _quarter_turn(v: Any) -> str | None:
    return None if v in QUARTER_TURNS else f"must be one of 0, 90, 180, 270 (degrees clockwise), got {_show(v)}"


def _device_id(v: Any) -> str | None:
    if _DEVICE_ID_RE.match(v):
        return None
    return f"must match ^[A-Za-z0-9_-]{{1,64}}$ (it is an MQTT topic segment), got {_show(v)}"


def _mqtt_prefix(v: Any) -> str | None:
    """A topic prefix we publish under: wildcards or empty levels would make every topic invalid."""
    if not v:
        return "must not be empty"
    if "+" in v or "#" in v:
        return f"must not contain MQTT wildcards + or #, got {_show(v)}"
    if "\x00" in v:
        return "must not contain a NUL character"
    if v.startswith("$"):
        return f"must not start with $ (reserved for broker topics), got {_show(v)}"
    if v.startswith("/") or v.endswith("/") or "//" in v:
        return f"must not have empty topic levels (leading, trailing or double /), got {_show(v)}"
    if len(v) > 100:
        return "must be at most 100 characters"
    return None


def _non_empty(v: Any) -> str | None:
    return None if str(v).strip() else "must not be empty"


def _language(v: Any) -> str | None:
    if v in _SUPPORTED_LANGUAGES:
        return None
    return f"unsupported language {v!r}, choose one of {', '.join(_SUPPORTED_LANGUAGES)}"


# Keys an older config may still carry: a warning that says why, not an error that stops the daemon.
RETIRED: dict[str, str] = {
    "features.looking_down_pitch": "looking down is read from the face only; the keypoint proxy's "
    "'not down' was a guess (it caught 15% of bowed heads, docs/metrics.md)",
}

_CHECKS: dict[str, _Check] = {
    "device.id": _device_id,
    "models.threads": _between(1, 8),
    "analysis.fps": _above(0, 120),
    "analysis.emotion_every": _at_least(1),
    "analysis.min_face_px": _at_least(1),
    "analysis.min_keypoint_score": _share,
    "analysis.face_every": _at_least(1),
    "analysis.min_face_landmark_px": _between(16, 4096),
    "analysis.stage": _stage,
    "features.presence_min_keypoints": _between(1, 17),
    "features.min_scale_px": _at_least(0),
    "features.min_head_spacing_px": _at_least(0),
    "features.facing_yaw_max_deg": _between(0, 90),
    "features.turned_yaw_min_deg": _between(0, 90),
    "features.slouch_drop": _above(0, 1),
    "features.baseline_warmup_s": _above(0, 600),
    "features.gesture_speed_min": _above(0),
    "features.max_gap_s": _above(0),
    "features.sway_window_s": _between(2, 30),
    "features.sway_amplitude_min": _above(0),
    "features.sway_freq_min_hz": _at_least(0),
    "features.sway_freq_max_hz": _above(0, 10),
    "features.looking_down_deg": _between(-90, 90),
    "features.head_max_age_s": _at_least(0),
    "features.head_min_score": _share,
    "features.posture_hold_s": _at_least(0),
    "features.smooth_min_cutoff_hz": _above(0, 100),
    "features.smooth_beta": _at_least(0),
    "features.motion_min_score": _share,
    "session.start_after_s": _at_least(0),
    "session.end_after_s": _above(0),
    "session.min_duration_s": _at_least(0),
    "session.bin_s": _above(0),
    "session.checkpoint_s": _above(0),
    "session.start_gap_s": _at_least(0),
    "session.max_bins": _between(16, 100000),
    "feedback.max_findings": _between(0, 20),
    "feedback.language": _language,
    "feedback.min_frames": _at_least(1),
    "feedback.min_emotion_frames": _at_least(1),
    "feedback.min_judged_share": _share,
    "feedback.confidence_z": _between(0, 5),
    "mqtt.host": _non_empty,
    "mqtt.port": _between(1, 65535),
    "mqtt.prefix": _mqtt_prefix,
    "mqtt.username": _non_empty,
    "mqtt.password_credential": _non_empty,
    "mqtt.keepalive_s": _between(0, 65535),
    "mqtt.live_hz": _between(0, 30),
    "camera.width": _between(16, 8192),
    "camera.height": _between(16, 8192),
    "camera.fps": _above(0, 240),
    "camera.read_timeout_s": _above(0),
    "camera.rotation": _quarter_turn,
    "storage.spool_max_files": _at_least(1),
}
for _name in (
    "facing_audience_min", "facing_screen_max", "back_to_audience_max", "looking_down_max", "gesture_low",
    "gesture_high", "hands_in_pockets_max", "hands_behind_back_max", "arms_crossed_max", "slouch_max",
    "sway_max", "negative_emotion_max", "positive_emotion_min",
):  # fmt: skip
    _CHECKS[f"feedback.{_name}"] = _share


def _closest(name: str, names: list[str]) -> list[str]:
    """The known name a mistyped key most likely meant (difflib is imported only when one is wrong)."""
    import difflib

    return difflib.get_close_matches(name, names, n=1)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", str: "string", dict: "table", list: "array"}.get(
        type(value), type(value).__name__
    )


def _split_optional(hint: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of a `X | None` annotation."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


class _Loader:
    """Turns a TOML mapping into `Config`, collecting every error with its dotted key."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.errors: list[str] = []

    def error(self, key: str, reason: str) -> None:
        self.errors.append(f"{key}: {reason}")

    def section(self, cls: type, data: Any, prefix: str) -> Any:
        if not isinstance(data, dict):
            self.error(prefix, f"expected a table, got {_type_name(data)}")
            return cls()
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            full = f"{prefix}.{key}"
            if key not in hints and full in RETIRED:
                logger.warning("%s is no longer used and is ignored: %s", full, RETIRED[full])
                continue
            if key not in hints:
                close = _closest(key, names)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.error(full, f"unknown key{hint}")
                continue
            ok, converted = self.value(full, hints[key], value)
            if not ok:
                continue
            check = _CHECKS.get(full)
            reason = check(converted) if check is not None and converted is not None else None
            if reason is not None:
                self.error(full, reason)
                continue
            kwargs[key] = converted
        return cls(**kwargs)

    def value(self, key: str, hint: Any, value: Any) -> tuple[bool, Any]:
        inner, _optional = _split_optional(hint)  # TOML has no null: an optional key is just left out
        if dataclasses.is_dataclass(inner):
            return True, self.section(inner, value, key)  # type: ignore[arg-type]
        if typing.get_origin(inner) is Literal:
            choices = typing.get_args(inner)
            if value in choices and isinstance(value, str):
                return True, value
            options = ", ".join(repr(c) for c in choices)
            return self.fail(key, f"must be one of {options}, got {value!r}")
        if inner is bool:
            if isinstance(value, bool):
                return True, value
            return self.fail(key, f"expected true or false, got {_type_name(value)} {value!r}")
        if inner is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True, value
            return self.fail(key, f"expected an integer, got {_type_name(value)} {value!r}")
        if inner is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    return self.fail(key, f"must be a finite number, got {value!r}")
                return True, float(value)
            return self.fail(key, f"expected a number, got {_type_name(value)} {value!r}")
        if inner is str:
            if isinstance(value, str):
                return True, value
            quote = f' (quote it: "{value}")' if isinstance(value, (int, float)) else ""
            return self.fail(key, f"expected a string, got {_type_name(value)} {value!r}{quote}")
        if typing.get_origin(inner) is tuple:
            kinds = typing.get_args(inner)
            if not isinstance(value, list) or len(value) != len(kinds):
                return self.fail(key, f"expected an array of {len(kinds)} numbers, got {_type_name(value)} {value!r}")
            items = []
            for k, (kind, item) in enumerate(zip(kinds, value, strict=True)):
                ok, converted = self.value(f"{key}[{k}]", kind, item)
                if not ok:
                    return False, None
                items.append(converted)
            return True, tuple(items)
        if inner is Path:
            if not isinstance(value, str):
                return self.fail(key, f"expected a path string, got {_type_name(value)} {value!r}")
            if not value.strip():
                return self.fail(key, "must not be empty")
            path = Path(value).expanduser()
            if not path.is_absolute():
                path = (self.base_dir / path).resolve()
            return True, path
        raise TypeError(f"config field {key} has an unsupported type {hint!r}")  # a programming error

    def fail(self, key: str, reason: str) -> tuple[bool, Any]:
        self.error(key, reason)
        return False, None

    def cross_checks(self, cfg: Config) -> None:
        """Rules that involve more than one key."""
        cam = cfg.camera
        if cam.backend == "file" and cam.path is None:
            self.error("camera.path", 'required when camera.backend = "file"')
        if cam.backend == "gstreamer" and not cam.pipeline.strip():
            self.error("camera.pipeline", 'required when camera.backend = "gstreamer"')
        if cam.backend == "v4l2" and not cam.device.strip():
            self.error("camera.device", 'required when camera.backend = "v4l2"')
        mq = cfg.mqtt
        if mq.password_file is not None and mq.password_credential is not None:
            self.error("mqtt.password_credential", "set either mqtt.password_file or this, not both")
        if (mq.password_file is not None or mq.password_credential is not None) and mq.username is None:
            self.error("mqtt.username", "required when a password is configured")
        if mq.tls is not None and (mq.tls.cert_file is None) != (mq.tls.key_file is None):
            missing = "mqtt.tls.key_file" if mq.tls.key_file is None else "mqtt.tls.cert_file"
            self.error(missing, "client certificate and key must be given together")
        fb = cfg.feedback
        if fb.gesture_low >= fb.gesture_high:
            self.error("feedback.gesture_low", f"must be < feedback.gesture_high ({fb.gesture_high:g})")
        ft = cfg.features
        if ft.facing_yaw_max_deg > ft.turned_yaw_min_deg:
            self.error(
                "features.facing_yaw_max_deg",
                f"must be <= features.turned_yaw_min_deg ({ft.turned_yaw_min_deg:g})",
            )
        if ft.sway_freq_min_hz >= ft.sway_freq_max_hz:
            self.error(
                "features.sway_freq_min_hz", f"must be < features.sway_freq_max_hz ({ft.sway_freq_max_hz:g})"
            )


def config_from_dict(data: Mapping[str, Any], base_dir: Path | None = None) -> Config:
    """Build a `Config` from a parsed TOML mapping; relative paths resolve against `base_dir`.

    Raises `ConfigError` listing every problem (unknown section or key, wrong type, out of range).
    """
    loader = _Loader((base_dir or Path.cwd()).resolve())
    if not isinstance(data, Mapping):
        raise ConfigError(f"(root): expected a table, got {_type_name(data)}")
    sections = {f.name: f for f in dataclasses.fields(Config)}
    hints = typing.get_type_hints(Config)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name not in sections:
            close = _closest(name, list(sections))
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            loader.error(name, f"unknown section{hint}")
            continue
        kwargs[name] = loader.section(hints[name], value, name)
    cfg = Config(**kwargs)
    loader.cross_checks(cfg)
    if loader.errors:
        raise ConfigError(loader.errors)
    return cfg


def load_config(path: Path | None) -> Config:
    """Read and validate a TOML config; `None` gives the defaults.

    Relative paths in the file resolve against the file's own folder, so a config works the same
    whatever the working directory of the service. Raises `ConfigError` (one line per problem).
    """
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found", source=path) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}", source=path) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})", source=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}", source=path) from None
    try:
        cfg = config_from_dict(data, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(exc.errors, source=path) from None
    logger.debug("config loaded from %s", path)
    return cfg


def missing_files(cfg: Config) -> list[str]:
    """Configured files that do not exist, as `key: reason` lines (for `ppt-edge check`).

    Kept out of `load_config` so that a config can be validated on another machine than the device.
    """
    out: list[str] = []
    candidates: list[tuple[str, Path | None]] = [
        ("camera.path", cfg.camera.path if cfg.camera.backend == "file" else None),
        ("mqtt.password_file", cfg.mqtt.password_file),
    ]
    if cfg.mqtt.tls is not None:
        candidates += [
            ("mqtt.tls.ca_file", cfg.mqtt.tls.ca_file),
            ("mqtt.tls.cert_file", cfg.mqtt.tls.cert_file),
            ("mqtt.tls.key_file", cfg.mqtt.tls.key_file),
        ]
    for key, p in candidates:
        if p is not None and not p.is_file():
            out.append(f"{key}: file not found: {p}")
    if not cfg.models.dir.is_dir():
        out.append(f"models.dir: folder not found: {cfg.models.dir} (from {models_dir_origin(cfg.models)}); "
                   f"the models are looked up in: {MODELS_LOOKUP}")
    return out


def models_dir_origin(models: ModelsConfig) -> str:
    """Where `models.dir` came from, for `ppt-edge check` and the logs: the config or the lookup."""
    path, origin = default_models_dir()
    return origin if models.dir == path else "config models.dir"
