"""The summary JSON Schema (v1), shipped in the package and used by the collector and the tests."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def summary_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("summary_v1.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported here: the hot path never validates

    cls = jsonschema.Draft202012Validator
    return cls(summary_schema(), format_checker=cls.FORMAT_CHECKER)


def summary_errors(summary: Any) -> list[str]:
    """Every schema violation as `path: message`; empty when the summary is valid."""
    errors = sorted(_validator().iter_errors(summary), key=lambda e: list(e.absolute_path))
    out = []
    for err in errors:
        path = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{path}: {err.message}")
    return out


class SummaryError(ValueError):
    """A summary that does not follow schema v1; the message lists every violation."""


def validate_summary(summary: Any) -> None:
    errors = summary_errors(summary)
    if errors:
        raise SummaryError("summary does not match schema v1: " + "; ".join(errors[:10]))
