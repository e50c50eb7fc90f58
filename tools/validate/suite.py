"""The whole validation: run each labelled clip, line its frames up with the labels, score them, and
check the session's findings against the labels. The result is plain JSON-able data."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from edge.analysis.models import ModelSet, load_models
from edge.config import Config
from tools.validate.expression import model_class3
from tools.validate.labels import Clip, mirrored, verify_file
from tools.validate.metrics import (
    CHECKED_SEVERITIES,
    CONTRADICTED,
    Aligned,
    Table,
    align,
    check_findings,
    empty_table,
    feature_values,
    score,
)
from tools.validate.run import AS_RECORDED, AnalysedFrame, ClipRun, Variant, on_presenter, run_clip

logger = logging.getLogger(__name__)

MIN_LABELLED_FOR_FINDING = 10  # y/n labels of a metric needed before a finding can be called supported/contradicted


@dataclass
class ClipResult:
    run: ClipRun
    pairs: list[Aligned]
    table: Table
    unlabelled: int  # analysed frames without a label
    off_presenter: int  # analysed frames whose pose lies outside the presenter box
    findings: list[dict[str, Any]]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        c = self.run.clip
        missing = [p.label.where for p in self.pairs if p.values is None]
        return {
            "id": c.id,
            "kind": c.kind,
            "path": str(c.path),
            "screen_side": c.screen_side,
            "analysed_frames": len(self.run.frames),
            "labelled_frames": len(self.pairs),
            "labels_without_frame": missing,
            "frames_without_label": self.unlabelled,
            "frames_on_another_person": self.off_presenter,
            "error": self.run.error,
            "table": self.table.as_dict(),
            "findings": self.findings,
            "seconds": round(self.seconds, 2),
        }


def tolerance_s(cfg: Config) -> float:
    """Half the sampling period: a label belongs to the analysed frame nearest its time."""
    return 0.5 / cfg.analysis.fps


def score_run(run: ClipRun, cfg: Config, seconds: float = 0.0,
              min_labelled: int = MIN_LABELLED_FOR_FINDING) -> ClipResult:  # fmt: skip
    clip = run.clip
    analysed = [(f.t, f.index, {**feature_values(f.features), "emotion": model_class3(f.emotion)})
                for f in run.frames]
    pairs, unlabelled = align(clip.frames, analysed, tolerance_s(cfg))
    for p in pairs:
        if p.values is not None and p.index is not None and p.index != p.label.frame:
            logger.warning("%s: label for frame %d lines up with analysed frame %d (same time %.3f s)",
                           p.label.where, p.label.frame, p.index, p.label.time_s)
    # A frame whose pose is another person says nothing about the presenter's labels: it is left out
    # of the table and counted on its own (a pose-stage defect, not a rule's).
    off_keys = {(f.t, f.index) for f in run.frames
                if on_presenter(f, clip.presenter_box, run.frame_size, cfg.analysis.min_keypoint_score) is False}
    kept = [p for p in pairs if (p.t, p.index) not in off_keys]
    table = score(kept)
    table.other_person = len(pairs) - len(kept)
    need = min(min_labelled, len(clip.frames))  # a photo is judged on its one frame
    findings = check_findings(run.findings, clip.frames, need)
    return ClipResult(run, pairs, table, unlabelled, len(off_keys), findings, seconds)


def validate(clips: Sequence[Clip], cfg: Config, models: ModelSet | None = None,
             verify: bool = True, variant: Variant = AS_RECORDED) -> list[ClipResult]:  # fmt: skip
    """Run and score every clip (one shared model set; the analyser is reset for each clip), with
    every frame altered by `variant` first (and, for a mirror, the clip's labels mirrored)."""
    models = models if models is not None else load_models(cfg)
    results = []
    for clip in clips:
        if verify:
            verify_file(clip)
        t0 = time.perf_counter()
        run = run_clip(mirrored(clip) if variant.mirror else clip, cfg, models, variant=variant)
        results.append(score_run(run, cfg, time.perf_counter() - t0))
        logger.info("%s: %d frames analysed, %d labelled", clip.id, len(run.frames), len(clip.frames))
    return results


def person_frames(result: ClipResult, min_score: float) -> Iterator[tuple[Aligned, AnalysedFrame, bool]]:
    """Each label that lined up with an analysed frame showing a person, with that frame and whether
    the person is the labelled presenter (False: the pose lies outside the clip's presenter box)."""
    frames = {(f.t, f.index): f for f in result.run.frames}
    run = result.run
    for p in result.pairs:
        f = frames.get((p.t, p.index)) if p.values is not None else None
        if f is not None and f.features.present:
            yield p, f, on_presenter(f, run.clip.presenter_box, run.frame_size, min_score) is not False


def pooled(results: Sequence[ClipResult]) -> Table:
    total = empty_table()
    for r in results:
        total.merge(r.table)
    return total


def contradicted(results: Sequence[ClipResult], pressed: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(clip, finding) of every finding the labels contradict: the warnings and criticals (`pressed`),
    or else the info ones."""
    return [(r.run.clip.id, f) for r in results for f in r.findings
            if f.get("verdict") == CONTRADICTED and (f.get("severity") in CHECKED_SEVERITIES) == pressed]


def failures(results: Sequence[ClipResult], min_accuracy: float, min_coverage: float,
             min_judged: int, min_expression_agreement: float = 0.0) -> list[str]:  # fmt: skip
    """Why `--strict` fails: metrics under the bounds (pooled, with at least `min_judged` judged
    frames), the expression agreement under its bound (default off), and every contradicted finding."""
    out = []
    table = pooled(results)
    for name, c in table.metrics.items():
        if c.judged >= min_judged and c.accuracy is not None and c.accuracy < min_accuracy:
            out.append(f"{name}: accuracy {c.accuracy:.2f} < {min_accuracy:.2f} on {c.judged} frames")
        if c.labelled >= min_judged and (c.coverage or 0.0) < min_coverage:
            out.append(f"{name}: coverage {(c.coverage or 0.0):.2f} < {min_coverage:.2f} of {c.labelled} frames")
    e = table.expression
    if e.judged >= min_judged and e.agreement is not None and e.agreement < min_expression_agreement:
        out.append(f"expression: 3-class agreement {e.agreement:.2f} < {min_expression_agreement:.2f} on "
                   f"{e.judged} frames")
    for cid, f in contradicted(results):
        out.append(f"{cid}: finding {f['code']} ({f['severity']}) contradicted by the labels")
    return out
