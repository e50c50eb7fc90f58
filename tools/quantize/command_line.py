"""The command line as a manifest records it: `python -m tools.quantize ...` with paths under the shared
folder written as ../shared/... (the repository's layout), whatever absolute path this machine gave them.

`main` records the arguments it was called with (`record_argv`); a command that writes the manifest asks
for `command_line()`.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

_ARGV: list[str] | None = None  # the arguments `main` was called with (sys.argv[1:] from the shell)


def record_argv(argv: list[str] | None) -> None:
    """Remember the arguments of this run (None: the shell's, sys.argv[1:])."""
    global _ARGV
    _ARGV = list(argv) if argv is not None else sys.argv[1:]


def command_line() -> str:
    """The command as recorded in the manifest: paths under the shared folder written as ../shared/...
    (the repository's layout), whatever absolute path this machine gave them."""
    shared = Path(os.environ.get("PPT_EDGE_SHARED") or Path(__file__).resolve().parents[3] / "shared").resolve()
    argv = _ARGV if _ARGV is not None else sys.argv[1:]
    return "python -m tools.quantize " + " ".join(shlex.quote(_portable(a, shared)) for a in argv)


def _portable(arg: str, shared: Path) -> str:
    prefix, eq, path = arg.rpartition("=") if "=" in arg and not arg.startswith("-") else ("", "", arg)
    if path.startswith(("/", "~")):
        try:
            path = str(Path("../shared") / Path(path).expanduser().resolve().relative_to(shared))
        except ValueError:
            pass
    return f"{prefix}{eq}{path}"
