"""How far from upright the presenter stands in the picture, on the labelled set as recorded and
turned as a camera mounted upside down or on its side would record it: what the upright gate
(`edge.analysis.body.MAX_TILT_DEG`) is measured with.

    python -m tools.validate tilt --turn 0 90 180 270

The tilt (`FrameFeatures.tilt_deg`, `edge.analysis.body.body_tilt`) is the angle between the
picture's up and the body's up (hips to shoulders, or shoulders to head without both hips), on every
labelled frame where the analysis found the presenter (another person is left out, as in the main
table; a turned frame's pose is turned back for that check). A frame past the gate is in view but
nothing else is judged on it, so the tilt is read whatever the gate says.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.analysis.body import MAX_TILT_DEG
from edge.analysis.models import ModelSet
from edge.config import Config
from tools.validate.labels import Clip
from tools.validate.report import distribution_table
from tools.validate.run import Variant
from tools.validate.suite import person_frames, validate

PERCENTILES = (0, 1, 5, 50, 95, 99, 100)


def tilts(clips: Sequence[Clip], cfg: Config, models: ModelSet, variant: Variant) -> list[float]:
    """The tilt of every labelled presenter frame where it could be read, in degrees."""
    return [float(f.features.tilt_deg)
            for r in validate(clips, cfg, models, variant=variant)
            for _p, f, presenter in person_frames(r, cfg.analysis.min_keypoint_score)
            if presenter and f.features.tilt_deg is not None]


def markdown(by_turn: dict[int, list[float]]) -> str:
    return distribution_table("turned", [(f"{turn}°", values) for turn, values in by_turn.items()], PERCENTILES,
                              f"past {MAX_TILT_DEG:g}°", lambda a: a > MAX_TILT_DEG)
