"""`python -m edge.samples`: print the path of the bundled sample recording (for scripts)."""

from __future__ import annotations

import sys

from edge.samples import SAMPLE_VIDEO


def main() -> int:
    if not SAMPLE_VIDEO.is_file():
        print(f"sample recording missing: {SAMPLE_VIDEO} (a broken installation?)", file=sys.stderr)
        return 2
    print(SAMPLE_VIDEO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
