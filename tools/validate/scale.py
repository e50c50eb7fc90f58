"""How the metrics hold up as the presenter gets smaller in the picture: the labelled set analysed at
several downscale factors, every labelled frame put in a bin by the presenter's size in the analysed
frame (`FrameFeatures.scale_px`, pixels per shoulder width), and each metric's accuracy per bin.

This is what `features.min_scale_px` (below it a frame is in view but nothing is judged) is measured
with. The frames are analysed with that gate off, or nothing below it could be scored. A frame whose
pose is another person (outside the clip's presenter box) is left out, as in the main table: at a
small size MoveNet may pick a neighbour, and that is counted apart ("other person").

    python -m tools.validate scale --downscale 1 2 3 4 6 8 10 12 16

The bins are made from scaled copies of the same footage, so they are not independent samples of
presenters; they say where the keypoints stop carrying the metrics, not how often.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from edge.analysis.body import visible_points
from edge.analysis.head import head_spacing
from edge.analysis.models import load_models
from edge.config import Config
from tools.validate.labels import YES_NO, Clip
from tools.validate.metrics import CategoryCounts, MetricCounts, feature_values
from tools.validate.run import Variant
from tools.validate.suite import person_frames, validate

EDGES = (0.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, math.inf)  # bin edges, px per shoulder width
NO_SCALE = "no scale"  # both shoulders not seen: no body frame, so no size
# Head spacing (the wider of the ear and eye spacings, px) for the keypoint head reading's own table.
HEAD_EDGES = (0.0, 4.0, 8.0, 12.0, 20.0, math.inf)


def bin_of(scale_px: float | None, edges: Sequence[float] = EDGES) -> str:
    if scale_px is None:
        return NO_SCALE
    for lo, hi in pairwise(edges):
        if lo <= scale_px < hi:
            return f"{lo:g}-{hi:g}" if math.isfinite(hi) else f">={lo:g}"
    return NO_SCALE


def bin_names(edges: Sequence[float] = EDGES) -> list[str]:
    return [bin_of((lo + hi) / 2 if math.isfinite(hi) else lo, edges) for lo, hi in pairwise(edges)]


@dataclass
class ScaleBin:
    frames: int = 0
    other_person: int = 0
    metrics: dict[str, MetricCounts] = field(default_factory=lambda: {m: MetricCounts() for m in YES_NO})
    posture: CategoryCounts = field(default_factory=CategoryCounts)


def ungated(cfg: Config) -> Config:
    """The config with the size gates off (every frame judged, whatever the presenter's or head's size)."""
    features = dataclasses.replace(cfg.features, min_scale_px=0.0, min_head_spacing_px=0.0)
    return dataclasses.replace(cfg, features=features)


def by_scale(clips: Sequence[Clip], cfg: Config,
             variants: Sequence[Variant]) -> tuple[dict[str, ScaleBin], dict[str, MetricCounts]]:  # fmt: skip
    """Per scale bin, the labels against the analysis over every clip in every variant (shrunk by
    each factor, JPEG-coded or not); and, per bin of head spacing, facing where the head was read from
    the keypoints (the face too small for the landmarks)."""
    cfg = ungated(cfg)
    models = load_models(cfg)
    bins: dict[str, ScaleBin] = {}
    heads: dict[str, MetricCounts] = {}
    for variant in variants:
        for r in validate(clips, cfg, models, variant=variant):
            for p, f, presenter in person_frames(r, cfg.analysis.min_keypoint_score):
                b = bins.setdefault(bin_of(f.features.scale_px), ScaleBin())
                if not presenter:
                    b.other_person += 1
                    continue
                b.frames += 1
                values = feature_values(f.features)
                for m in YES_NO:
                    v = values.get(m)
                    b.metrics[m].add(p.label.metrics[m], None if v is None else bool(v))
                b.posture.add(p.label.posture, values.get("posture"))
                if not f.features.head_from_face and f.pose is not None:
                    spacing = head_spacing(visible_points(f.pose, cfg.analysis.min_keypoint_score))
                    v = values.get("facing_audience")
                    heads.setdefault(bin_of(spacing, HEAD_EDGES), MetricCounts()).add(
                        p.label.metrics["facing_audience"], None if v is None else bool(v))
    return bins, heads


def smallest_trusted(bins: dict[str, ScaleBin], min_accuracy: float, min_judged: int,
                     edges: Sequence[float] = EDGES) -> float | None:  # fmt: skip
    """The lower edge of the smallest bin from which every bin up holds `min_accuracy` on every metric
    (and posture) judged on at least `min_judged` frames in it: no such metric is significantly under
    the bound (its one-sided 95% Wilson upper bound below it), since a bin of 30 frames cannot tell
    0.88 from 0.90. A bin with no metric judged that often says nothing and ends the range, as a
    failing bin does; None when the largest bin fails."""
    trusted: float | None = None
    for (lo, _hi), name in zip(reversed(list(pairwise(edges))), reversed(bin_names(edges)), strict=True):
        b = bins.get(name)
        if b is None or not _holds(b, min_accuracy, min_judged):
            break
        trusted = lo
    return trusted


def _holds(b: ScaleBin, min_accuracy: float, min_judged: int) -> bool:
    counts = [(c.tp + c.tn, c.judged) for c in b.metrics.values() if c.judged >= min_judged]
    if b.posture.judged >= min_judged:
        counts.append((b.posture.agree, b.posture.judged))
    return bool(counts) and all(wilson_upper(k, n) >= min_accuracy for k, n in counts)


def wilson_upper(k: int, n: int, z: float = 1.64) -> float:
    """One-sided upper confidence bound of a proportion k/n (Wilson score interval)."""
    if n <= 0:
        return 1.0
    p = k / n
    d = 1.0 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + spread) / d


def markdown(bins: dict[str, ScaleBin], variants: Sequence[Variant], min_accuracy: float, min_judged: int,
             heads: dict[str, MetricCounts] | None = None) -> str:  # fmt: skip
    names = [n for n in [*bin_names(), NO_SCALE] if n in bins]
    head = "| metric | " + " | ".join(f"{n} px" if n != NO_SCALE else n for n in names) + " |"
    coded = "".join(sorted({f", JPEG quality {v.jpeg}" for v in variants if v.jpeg}))
    factors = ", ".join(f"{v.downscale:g}" for v in variants)
    lines = [f"Downscale factors {factors}{coded}; accuracy (right / judged) per bin "
             "of the presenter's size in the analysed frame (px per shoulder width), gate off.", "", head,
             "| --- |" + " ---: |" * len(names),
             "| labelled frames (other person) | " + " | ".join(
                 f"{bins[n].frames} ({bins[n].other_person})" for n in names) + " |"]

    def cell(right: int, judged: int) -> str:
        return f"{right / judged:.2f} ({right}/{judged})" if judged else "–"

    for m in YES_NO:
        cs = [bins[n].metrics[m] for n in names]
        if any(c.judged for c in cs):
            lines.append(f"| {m} | " + " | ".join(cell(c.tp + c.tn, c.judged) for c in cs) + " |")
    lines.append("| posture | " + " | ".join(cell(bins[n].posture.agree, bins[n].posture.judged) for n in names)
                 + " |")
    lo = smallest_trusted(bins, min_accuracy, min_judged)
    lines += ["", (f"From {lo:g} px per shoulder width up, no metric judged on at least {min_judged} frames of a "
                   f"bin is significantly under {min_accuracy:.2f} (one-sided 95% Wilson bound)." if lo is not None
                   else f"Even the largest bin has a metric significantly under {min_accuracy:.2f}.")]
    if heads:
        names = [n for n in [*bin_names(HEAD_EDGES), NO_SCALE] if n in heads]
        lines += ["", "Facing the audience where the head came from the keypoints, by head spacing (the wider of "
                  "the ear and eye spacings, px):", "",
                  "| facing_audience | " + " | ".join(f"{n} px" if n != NO_SCALE else "no spacing" for n in names)
                  + " |", "| --- |" + " ---: |" * len(names),
                  "| from keypoints | " + " | ".join(cell(heads[n].tp + heads[n].tn, heads[n].judged) for n in names)
                  + " |"]
    return "\n".join(lines) + "\n"
