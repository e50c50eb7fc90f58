"""The summary JSON Schema (v1), shipped in the package and used by the collector and the tests."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def summary_schema() -> dict[str, Any]:
    from importlib import resources  # imported here: with it come tempfile and shutil (0.8 MiB)

    text = resources.files(__package__).joinpath("summary_v1.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    """The schema minus the per-item check of the timeline series, which `_series_errors` does.

    Why: jsonschema spends ~15 us per array item; a long session's timeline has thousands of bins,
    which made validation the collector's bottleneck (13 ms of a 6 KB summary's ~20 ms). The items
    rule ("number or null") is checked by a plain loop instead, with the same messages."""
    import copy

    import jsonschema  # imported here: the hot path never validates

    schema = copy.deepcopy(summary_schema())
    series = schema["properties"]["timeline"]["properties"]["series"]["additionalProperties"]
    series.pop("items", None)
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _series_errors(summary: Any) -> list[tuple[list[Any], str]]:
    series = summary.get("timeline", {}).get("series") if isinstance(summary, dict) else None
    if not isinstance(series, dict) or not isinstance(summary.get("timeline"), dict):
        return []
    out = []
    for name, values in series.items():
        if not isinstance(values, list):
            continue  # reported by the schema
        for i, v in enumerate(values):
            if v is not None and (type(v) is bool or not isinstance(v, (int, float))):
                out.append((["timeline", "series", name, i], f"{v!r} is not of type 'number', 'null'"))
    return out


def summary_errors(summary: Any) -> list[str]:
    """Every schema violation as `path: message`; empty when the summary is valid."""
    errors = [(list(e.absolute_path), e.message) for e in _validator().iter_errors(summary)]
    errors += _series_errors(summary)
    errors.sort(key=lambda e: [str(p) for p in e[0]])
    out = []
    for path, message in errors:
        out.append(f"{'/'.join(str(p) for p in path) or '(root)'}: {message}")
    return out


class SummaryError(ValueError):
    """A summary that does not follow schema v1; the message lists every violation."""


def validate_summary(summary: Any) -> None:
    errors = summary_errors(summary)
    if errors:
        raise SummaryError("summary does not match schema v1: " + "; ".join(errors[:10]))
