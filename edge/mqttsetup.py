"""What an MQTT connection is set up from, before and across its CONNECTs: the `mqtt.protocol` setting,
the password (a file or a systemd credential), and which protocol each broker accepted earlier in this
process (see `edge.mqttconn` for why that answer is remembered and when it is asked again).

Shared by the device's publisher and the collector; settings that can never work raise `MqttSetupError`
naming the config key.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from edge.config import MqttConfig

PROTOCOL_SETTINGS = ("auto", "5", "3.1.1")

_known: dict[tuple[str, int], MQTTProtocolVersion] = {}  # broker -> protocol its last CONNACK accepted
_known_lock = threading.Lock()


class MqttSetupError(ValueError):
    """MQTT settings that cannot work (missing password file, credential without systemd, ...)."""


def known_protocol(host: str, port: int) -> MQTTProtocolVersion | None:
    """The protocol the broker last accepted in this process (None: not asked yet)."""
    with _known_lock:
        return _known.get((host, port))


def remember_protocol(host: str, port: int, protocol: MQTTProtocolVersion) -> None:
    with _known_lock:
        _known[(host, port)] = protocol


def forget_protocols() -> None:
    """Forget every broker's answer (tests that reuse a port for another broker)."""
    with _known_lock:
        _known.clear()


def protocol_setting(value: str | int) -> str:
    """Normalise `mqtt.protocol` ("auto", "5", "3.1.1"; paho's constants accepted too)."""
    if value in (mqtt.MQTTv5, "5", "5.0"):
        return "5"
    if value in (mqtt.MQTTv311, "3.1.1"):
        return "3.1.1"
    if value == "auto":
        return "auto"
    raise MqttSetupError(f"MQTT protocol {value!r}: expected one of {', '.join(PROTOCOL_SETTINGS)}")


def read_password(cfg: MqttConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The MQTT password from `password_file` or the systemd credential `password_credential`.

    Read at start, never at import; one trailing newline is dropped (editors add one).
    """
    environ = os.environ if environ is None else environ
    if cfg.password_file is not None:
        path = Path(cfg.password_file)
        source = f"mqtt.password_file {path}"
    elif cfg.password_credential:
        cred_dir = environ.get("CREDENTIALS_DIRECTORY")
        if not cred_dir:
            raise MqttSetupError(
                f"mqtt.password_credential is {cfg.password_credential!r} but $CREDENTIALS_DIRECTORY is not "
                "set (run under systemd with LoadCredential=, or use mqtt.password_file)"
            )
        path = Path(cred_dir) / cfg.password_credential
        source = f"systemd credential {cfg.password_credential!r} ({path})"
    else:
        return None
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise MqttSetupError(f"cannot read the MQTT password from {source}: {exc.strerror or exc}") from exc
    if not password:
        raise MqttSetupError(f"the MQTT password from {source} is empty")
    return password
