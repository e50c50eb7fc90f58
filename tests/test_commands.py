"""Command parsing: strict, never raises, and every refusal says why."""

from __future__ import annotations

import json

import pytest

from edge.device.commands import Command, CommandError, ack_payload, parse_command


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('{"id": "c1", "cmd": "start"}', Command("c1", "start")),
        ('{"id": "c1", "cmd": "start", "label": " Ana "}', Command("c1", "start", "Ana")),
        ('{"id": "c2", "cmd": "stop"}', Command("c2", "stop")),
        ('{"id": "c3", "cmd": "label", "label": "Team B"}', Command("c3", "label", "Team B")),
        ('{"id": "c4", "cmd": "label", "label": null}', Command("c4", "label", None)),
        (b'{"id": "c5", "cmd": "label", "label": "Jos\xc3\xa9"}', Command("c5", "label", "José")),
    ],
)
def test_valid_commands(payload, expected):
    assert parse_command(payload) == expected


@pytest.mark.parametrize(
    ("payload", "err_id", "fragment"),
    [
        (b"", None, "not JSON"),
        (b"start", None, "not JSON"),
        (b"\xff\xfe", None, "not UTF-8"),
        (b'"start"', None, "JSON object"),
        (b'{"cmd": "start"}', None, "'id'"),
        (b'{"id": 7, "cmd": "start"}', None, "'id'"),
        (b'{"id": "a b", "cmd": "start"}', None, "'id'"),
        (b'{"id": "c1"}', "c1", "unknown command None"),
        (b'{"id": "c1", "cmd": "reboot"}', "c1", "unknown command 'reboot'"),
        (b'{"id": "c1", "cmd": ["start"]}', "c1", "unknown command"),
        (b'{"id": "c1", "cmd": "stop", "label": "x"}', "c1", "unexpected key(s) for 'stop': label"),
        (b'{"id": "c1", "cmd": "start", "force": true}', "c1", "unexpected key(s)"),
        (b'{"id": "c1", "cmd": "label"}', "c1", "needs a 'label'"),
        (b'{"id": "c1", "cmd": "label", "label": 5}', "c1", "string or null"),
        (b'{"id": "c1", "cmd": "label", "label": "a\\nb"}', "c1", "control characters"),
        (json.dumps({"id": "c1", "cmd": "label", "label": "x" * 201}).encode(), "c1", "longer than 200"),
        (b'{"id": "c1", "cmd": "label", "label": "' + b"x" * 5000 + b'"}', None, "larger than"),
    ],
)
def test_refused_commands_say_why(payload, err_id, fragment):
    result = parse_command(payload)
    assert isinstance(result, CommandError)
    assert result.id == err_id
    assert fragment in result.error


def test_ack_payload_shape():
    assert json.loads(ack_payload("c1", True)) == {"id": "c1", "ok": True, "error": None}
    assert json.loads(ack_payload(None, False, "bad")) == {"id": None, "ok": False, "error": "bad"}
    assert json.loads(ack_payload("c2", False)) == {"id": "c2", "ok": False, "error": "refused"}
