"""Commands that arrive on `<prefix>/<device>/cmd`, and the acknowledgement sent on `cmd/ack`.

Pure parsing, no MQTT: anything a remote party sends is untrusted, so it is checked strictly here
(known keys only, bounded sizes, no control characters in labels) and a refusal always carries a
reason that goes back in the ack. A refused command changes nothing.

    {"id": "c-17", "cmd": "start"}                 start a session now (optional "label")
    {"id": "c-18", "cmd": "stop"}                  end the running session
    {"id": "c-19", "cmd": "label", "label": "Ana"} attach a presenter/session label (null clears it)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from edge.untrusted import UntrustedInput, load_json, printable

CommandName = Literal["start", "stop", "label"]
COMMANDS: tuple[str, ...] = ("start", "stop", "label")
MAX_PAYLOAD_BYTES = 4096
MAX_LABEL_CHARS = 200  # schema v1: summary.label maxLength
MAX_DEPTH = 2  # {"id", "cmd", "label"}: an object of scalars; anything deeper is refused unparsed
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ALLOWED_KEYS = {"start": {"id", "cmd", "label"}, "stop": {"id", "cmd"}, "label": {"id", "cmd", "label"}}


@dataclass(frozen=True)
class Command:
    """A valid command. `label` is only meaningful for `start` and `label`."""

    id: str
    cmd: CommandName
    label: str | None = None


@dataclass(frozen=True)
class CommandError:
    """A refused command: `id` is echoed when it could be read, so the sender can match the ack."""

    id: str | None
    error: str


def _label(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("'label' must be a string or null")
    value = value.strip()
    if len(value) > MAX_LABEL_CHARS:
        raise ValueError(f"'label' is longer than {MAX_LABEL_CHARS} characters")
    if _CONTROL_RE.search(value) or printable(value) != value:
        raise ValueError("'label' contains control characters (or bidi overrides)")
    return value or None


def parse_command(payload: bytes | str) -> Command | CommandError:
    """Parse one command payload; never raises."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return CommandError(None, f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        data = load_json(payload, max_bytes=MAX_PAYLOAD_BYTES, max_depth=MAX_DEPTH)
    except UntrustedInput as exc:
        reason = str(exc)
        return CommandError(None, f"payload {reason}" if reason.startswith("not ") else f"payload refused: {reason}")
    if not isinstance(data, dict):
        return CommandError(None, "payload must be a JSON object")
    raw_id = data.get("id")
    cmd_id = raw_id if isinstance(raw_id, str) and _ID_RE.match(raw_id) else None
    if cmd_id is None:
        return CommandError(None, "'id' must be a string of 1-64 characters [A-Za-z0-9_.:-]")
    cmd = data.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        shown = printable(repr(cmd), limit=40)
        return CommandError(cmd_id, f"unknown command {shown}; expected one of {', '.join(COMMANDS)}")
    extra = sorted(set(data) - _ALLOWED_KEYS[cmd])
    if extra:
        shown = printable(", ".join(extra), limit=100)
        return CommandError(cmd_id, f"unexpected key(s) for {cmd!r}: {shown}")
    if cmd == "label" and "label" not in data:
        return CommandError(cmd_id, "'label' command needs a 'label' (string, or null to clear)")
    try:
        label = _label(data.get("label"))
    except ValueError as exc:
        return CommandError(cmd_id, str(exc))
    return Command(id=cmd_id, cmd=cmd, label=label)  # type: ignore[arg-type]


def ack_payload(command_id: str | None, ok: bool, error: str | None = None) -> bytes:
    """The JSON sent on `cmd/ack`: `{"id", "ok", "error"}` (error is null when ok)."""
    return json.dumps({"id": command_id, "ok": ok, "error": None if ok else (error or "refused")}).encode()
