"""What a remote party sent: JSON parsed within bounds, and text made safe to print.

Why this exists: anything arriving over MQTT (a summary, a status, a command) may come from a broken
or hostile device. Python's `json` accepts what no summary needs and several things the rest of the
code cannot take: NaN and Infinity (a stored Infinity broke `ppt-collect list` for a whole
database), integers of any size (SQLite stores at most 64 bits), nesting deep enough to raise
`RecursionError`, lone surrogates and NUL characters (no SQL text column takes them). `load_json`
refuses all of these at parse time, with a reason, and never raises anything but `UntrustedInput`.

Text from the network may also carry terminal control sequences (ESC, BEL, ...) and bidi overrides
(U+202E turns `exe.txt` into `txt.exe` on screen). `printable` escapes them; every CLI line and log
line that shows such text goes through it. The escapes are JSON's `\\uXXXX`, so the same function
also makes `json.dumps(..., ensure_ascii=False)` output safe.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["UntrustedInput", "load_json", "printable", "MAX_DEPTH", "MAX_INT"]

MAX_DEPTH = 32  # a summary nests 5 deep; commands and status 2-3
MAX_INT = 2**53 - 1  # integers every JSON reader (and a SQLite INTEGER) holds exactly
_MAX_INT_DIGITS = len(str(MAX_INT))

# C0 and C1 controls, DEL, and the format characters that reorder or hide text: bidi embeddings,
# overrides and isolates, marks, zero-width characters, line/paragraph separators, BOM; surrogates.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff]"
)
_UNSAFE_KEEP_NL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb\ud800-\udfff]"
)
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class UntrustedInput(ValueError):
    """A payload refused at parse time; the message says why (and where, when known)."""


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def printable(text: object, *, keep_newlines: bool = False, limit: int | None = None) -> str:
    """`text` (any object, via str) with control and bidi characters escaped as `\\uXXXX`.

    `keep_newlines` leaves `\\n` alone (multi-line reports); `limit` shortens the result to about
    that many characters, saying how much was cut, so one hostile payload cannot flood a log."""
    s = text if isinstance(text, str) else str(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + f"... ({len(s) - limit} more characters)"
    return (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).sub(_escape, s)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise UntrustedInput(f"integer with {len(text)} digits is out of range (|n| <= 2**53-1)")
    value = int(text)
    if abs(value) > MAX_INT:
        raise UntrustedInput(f"integer {value} is out of range (|n| <= 2**53-1)")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedInput(f"number {text[:40]} is not finite")
    return value


def _parse_constant(name: str) -> Any:
    raise UntrustedInput(f"{name} is not a JSON number (NaN and Infinity are refused)")


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth, and text that no database column takes (NUL, lone surrogates), without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise UntrustedInput(f"nesting deeper than {max_depth} levels")
            for k, v in node.items():
                if _BAD_TEXT.search(k):
                    raise UntrustedInput(f"key {printable(k, limit=40)!s} holds NUL or a lone surrogate")
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
                elif isinstance(v, str) and _BAD_TEXT.search(v):
                    raise UntrustedInput(f"text under {printable(k, limit=40)!s} holds NUL or a lone surrogate")
        elif isinstance(node, list):
            if depth > max_depth:
                raise UntrustedInput(f"nesting deeper than {max_depth} levels")
            for v in node:
                if isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
                elif isinstance(v, str) and _BAD_TEXT.search(v):
                    raise UntrustedInput("text in a list holds NUL or a lone surrogate")
        elif isinstance(node, str) and _BAD_TEXT.search(node):
            raise UntrustedInput("text holds NUL or a lone surrogate")


def load_json(payload: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse an untrusted JSON document; raises `UntrustedInput` (a ValueError) with the reason.

    Refused: more than `max_bytes`, not UTF-8, not JSON, NaN/Infinity (also as 1e999), integers
    beyond 2**53-1, nesting deeper than `max_depth`, NUL or lone surrogates in any string."""
    size = len(payload)
    if size > max_bytes:
        raise UntrustedInput(f"payload of {size} bytes exceeds {max_bytes}")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UntrustedInput(f"not JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    else:
        text = payload
    try:
        value = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except UntrustedInput:
        raise
    except RecursionError:  # the C parser guards its recursion; the tree check below sets the bound
        raise UntrustedInput(f"nesting deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise UntrustedInput(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. int() beyond sys.get_int_max_str_digits
        raise UntrustedInput(f"not JSON: {exc}") from None
    _check_tree(value, max_depth)
    return value
