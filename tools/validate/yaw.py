"""How far to the side the head reads on frames labelled facing the audience and not, and where each
recording's readings sit as a whole: the evidence behind the `head_never_toward_camera` caveat.

    python -m tools.validate yaw [--markdown OUT]

The yaw (`FrameFeatures.head_yaw`: from the face when it was read, else the keypoint proxy; + toward
the presenter's own left, in degrees from the line to the camera) is what facing the audience and
turned to the screen are decided on. The first table groups the labelled presenter frames by their
`facing_audience` label, by |yaw|. The second gives each recording's signed p10, p50 and p90 as its
session summary's `head_yaw` has them (every analysed frame with a yaw): a camera standing off to one side of
the audience shifts every reading toward the other side, and a session whose nine readings in ten sit
further to one side than `TOWARD_CAMERA_MAX_DEG` gets its facing findings as hints
(`edge.session.feedback`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.analysis.models import ModelSet
from edge.config import Config
from edge.session.feedback import TOWARD_CAMERA_MAX_DEG, caveat_holds
from tools.validate.labels import Clip
from tools.validate.report import distribution_table
from tools.validate.run import Variant
from tools.validate.suite import person_frames, validate

PERCENTILES = (0, 10, 50, 90, 99, 100)


@dataclass(frozen=True)
class YawReadings:
    by_label: dict[bool, list[float]]  # |yaw| of labelled presenter frames, by facing_audience label
    sessions: list[tuple[str, Mapping[str, Any] | None]]  # (clip id, its summary's head_yaw), videos only


def head_yaws(clips: Sequence[Clip], cfg: Config, models: ModelSet, variant: Variant | None = None) -> YawReadings:
    """The yaw readings of the labelled set: per label (presenter frames only; "?" left out), and each
    recording's summary `head_yaw` (every analysed frame with a yaw, whoever it shows)."""
    by_label: dict[bool, list[float]] = {True: [], False: []}
    sessions: list[tuple[str, Mapping[str, Any] | None]] = []
    for r in validate(clips, cfg, models, variant=variant or Variant()):
        for p, f, presenter in person_frames(r, cfg.analysis.min_keypoint_score):
            label = p.label.metrics.get("facing_audience")
            if presenter and label is not None and f.features.head_yaw is not None:
                by_label[label].append(abs(float(f.features.head_yaw)))
        if r.run.clip.kind == "video":
            summary = r.run.summary or {}
            sessions.append((r.run.clip.id, summary.get("metrics", {}).get("head_yaw")))
    return YawReadings(by_label, sessions)


def markdown(readings: YawReadings, facing_max: float) -> str:
    """The |yaw| table by label, the margin line, and the per-recording table."""
    by_label = readings.by_label
    text = distribution_table("labelled facing the audience", [("yes", by_label[True]), ("no", by_label[False])],
                              PERCENTILES, f"past {facing_max:g}°", lambda a: a > facing_max)
    if by_label[True]:
        p90 = float(np.percentile(np.asarray(by_label[True]), 90))
        text += (f"\nNine in ten frames labelled facing read within {p90:.1f}° of the camera's line "
                 f"(TOWARD_CAMERA_MAX_DEG = {TOWARD_CAMERA_MAX_DEG:g}°; "
                 f"features.facing_yaw_max_deg = {facing_max:g}°).\n")
    lines = ["", "| recording | readings | p10 | p50 | p90 | nine in ten to one side |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for clip_id, yaw in readings.sessions:
        if not yaw or yaw.get("p10") is None or yaw.get("p90") is None:
            lines.append(f"| {clip_id} | 0 | – | – | – | – |")
            continue
        p10, p50, p90 = float(yaw["p10"]), float(yaw["p50"]), float(yaw["p90"])
        lines.append(f"| {clip_id} | {yaw.get('n', 0)} | {p10:.1f} | {p50:.1f} | {p90:.1f} | "
                     f"{'yes' if caveat_holds('head_never_toward_camera', {'head_yaw': yaw}) else 'no'} |")
    return text + "\n".join(lines) + "\n"
