"""The sample recording shipped inside the package (see NOTICE beside it for its source and licence).

It makes the first commands work with nothing but the repository or the wheel: the demo plays it as a
camera, and `ppt-edge analyze "$(python -m edge.samples)"` analyses it. Larger test data stays in
$PPT_EDGE_SHARED.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
SAMPLE_VIDEO = SAMPLES_DIR / "tfjs_pose_squats.mp4"  # 13 s, 5 fps, one person in full view (NOTICE)

__all__ = ["SAMPLES_DIR", "SAMPLE_VIDEO"]
