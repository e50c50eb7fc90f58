"""What one face check costs, step by step, set against the bare pose invoke of the same run.

Each step is timed as the runtime runs it (`FaceMesh.landmarks`: crop, invoke, decode; `FaceMesh.eyes`:
both eye crops, two invokes, decode; `solve_head_pose`; `align_face`; the emotion invoke) on the faces
of real frames, all steps interleaved round by round (in a rotating order) so that load on a shared
machine shifts them alike; medians. Extra landmark or iris models (e.g. the unquantized source) are timed
in the same rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.analysis.emotion import EmotionClassifier
from edge.analysis.face import align_face, face_box, landmark_roi
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceLandmarks, FaceMesh
from edge.analysis.headpose import PNP_IDS, solve_head_pose
from edge.analysis.pose import PoseEstimator
from tools.quantize.sources import SourceError

MIN_FACE_PX = 48.0  # the runtime's default analysis.min_face_landmark_px


@dataclass
class Face:
    frame: np.ndarray
    landmarks: FaceLandmarks


def faces_of(frames: list[np.ndarray], pose: PoseEstimator, mesh: FaceMesh) -> list[Face]:
    """The frames' faces the landmark model reads (face box at least `MIN_FACE_PX`)."""
    out = []
    for f in frames:
        box = face_box(pose.estimate(f), 0.3)
        if box is None or box.size < MIN_FACE_PX:
            continue
        lm = mesh.landmarks(f, landmark_roi(box))
        if lm.score >= MIN_FACE_SCORE:
            out.append(Face(f, lm))
    if not out:
        raise SourceError("no face of at least 48 px in these frames: give a video with a presenter's face")
    return out


def check_costs(faces: list[Face], pose: PoseEstimator, landmark: dict[str, FaceMesh], iris: dict[str, FaceMesh],
                emotion: EmotionClassifier | None, rounds: int) -> dict[str, float]:
    """Median ms of each step (see the module docstring), keyed by a printable step name."""
    crop = np.empty((48, 48), dtype=np.uint8)
    steps: dict[str, Callable[[Face], object]] = {"bare MoveNet invoke": lambda _: pose.invoke()}
    for name, m in landmark.items():
        steps[f"face landmarks ({name})"] = _landmarks_step(m)
    for name, m in iris.items():
        steps[f"iris, both eyes ({name})"] = _eyes_step(m)

    def pnp(f: Face) -> object:
        h, w = f.frame.shape[:2]
        return solve_head_pose(f.landmarks.points[list(PNP_IDS), :2], w, h)

    steps["solvePnP"] = pnp
    steps["emotion crop (align_face)"] = lambda f: align_face(f.frame, f.landmarks.points, crop)
    if emotion is not None:
        steps["emotion invoke"] = lambda _: emotion.classify(crop)
    times: dict[str, list[float]] = {k: [] for k in steps}
    names = list(steps)
    for r in range(rounds + 5):
        face = faces[r % len(faces)]
        k = r % len(names)  # the order rotates: each step runs in every position (caches, thread wake-up) alike
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            steps[name](face)
            if r >= 5:  # warm-up rounds
                times[name].append((time.perf_counter() - t0) * 1000.0)
    return {k: float(np.median(v)) for k, v in times.items()}


def _landmarks_step(mesh: FaceMesh) -> Callable[[Face], object]:
    return lambda f: mesh.landmarks(f.frame, f.landmarks.roi)


def _eyes_step(mesh: FaceMesh) -> Callable[[Face], object]:
    return lambda f: mesh.eyes(f.frame, f.landmarks)


def table(costs: dict[str, float]) -> str:
    bare = costs["bare MoveNet invoke"]
    rows = ["| step | ms | x bare pose invoke |", "| --- | --- | --- |"]
    rows += [f"| {k} | {v:.2f} | {v / bare:.2f} |" for k, v in costs.items()]
    return "\n".join(rows)


def named_models(specs: list[str] | None) -> dict[str, Path]:
    out = {}
    for spec in specs or []:
        name, _, path = spec.partition("=")
        if not path:
            raise SourceError(f"{spec!r}: expected NAME=PATH")
        out[name] = Path(path)
    return out
