"""How far down the eyes read on frames labelled looking down and not: the margin that
`features.looking_down_deg` leaves, for example for a camera mounted above the presenter's eyes.

    python -m tools.validate pitch [--markdown OUT]

The eye pitch (`FrameFeatures.eyes_pitch`: head pitch plus eye-in-head gaze from the face stage, + down,
in degrees from the line to the camera) is what looking down is decided on. It is read on every
labelled presenter frame that has one (a face reading stands for later frames up to
`features.head_max_age_s`, as in the analysis), grouped by the frame's `looking_down` label. A camera
mounted an angle A above the eyes adds about A to every reading; the frames labelled "no" then reach
the threshold once A exceeds the threshold minus their highest reading.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.analysis.models import ModelSet
from edge.config import Config
from tools.validate.labels import Clip
from tools.validate.report import distribution_table
from tools.validate.run import Variant
from tools.validate.suite import person_frames, validate

PERCENTILES = (0, 10, 50, 90, 99, 100)


def eye_pitches(clips: Sequence[Clip], cfg: Config, models: ModelSet,
                variant: Variant | None = None) -> dict[bool, list[float]]:  # fmt: skip
    """The eye pitch of every labelled presenter frame, by its looking_down label (True/False; "?" left out)."""
    out: dict[bool, list[float]] = {True: [], False: []}
    for r in validate(clips, cfg, models, variant=variant or Variant()):
        for p, f, presenter in person_frames(r, cfg.analysis.min_keypoint_score):
            label = p.label.metrics.get("looking_down")
            if presenter and label is not None and f.features.eyes_pitch is not None:
                out[label].append(float(f.features.eyes_pitch))
    return out


def markdown(by_label: dict[bool, list[float]], threshold: float) -> str:
    """One row per label; then the margin the "no" frames leave below the threshold."""
    text = distribution_table("labelled looking down", [("yes", by_label[True]), ("no", by_label[False])],
                              PERCENTILES, f"at or past {threshold:g}°", lambda a: a >= threshold)
    if by_label[False]:
        top = max(by_label[False])
        text += (f"\nMargin: the highest reading labelled \"no\" is {top:.1f}°, {threshold - top:.1f}° under "
                 f"features.looking_down_deg ({threshold:g}°).\n")
    return text
