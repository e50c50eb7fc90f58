"""Rebuild PPT Edge's int8 models: `python -m tools.quantize <command>` (needs the `quantize` extra)."""
