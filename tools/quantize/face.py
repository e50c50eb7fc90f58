"""MediaPipe's face landmark and iris models for the device: rebuilt, quantized, measured, adopted.

`build` checks each source's sha256, rebuilds the flatbuffer as a TensorFlow function (checked against
the source on real crops), converts it three ways (`face_models.CANDIDATES`: full int8 calibrated on
real face crops, dynamic-range int8, float16), measures every candidate against the source on held-out
real crops (`face_eval`) and times it (median invoke, interleaved, 1 and 2 threads), and ships the first
of int8, dynamic-range int8 that keeps every bound of `face_eval.BOUNDS` and is not slower than float16
(`SPEED_MARGIN`) on this machine; otherwise float16. The adopted iris model is then rebuilt to read both
eyes in one invoke (`IRIS_BATCH`), kept so only when it reads the evaluation eyes as the batch-1 file does
(to `face_models.MAX_REBUILD_DIFF`) and a pair of eyes costs it less than two invokes at 1 and 2 threads.

Also here, measured with the runtime's own code:
- `fer_template`: where FER2013 faces have their eye and mouth centres (the emotion crop's template);
- `size_sweep`: head-angle error against the full-size reading as the face shrinks (the minimum face size).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.analysis.face import SquareRoi, face_centres
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceMesh
from edge.analysis.headpose import PNP_IDS, solve_head_pose
from tools.quantize import face_models as fm
from tools.quantize.face_data import LANDMARK_SIZE, FaceCrop, eye_inputs, landmark_inputs, read_fer_face
from tools.quantize.face_eval import IrisAgreement, LandmarkAgreement, iris_agreement, landmark_agreement, moved
from tools.quantize.latency import median_invoke_ms
from tools.quantize.sources import SourceError, check_source
from tools.quantize.tflite_graph import max_abs_diff, run_model

logger = logging.getLogger(__name__)

SPEED_MARGIN = 1.05  # a quantized candidate may take at most this much of float16's invoke time
SIZES_PX = (160, 120, 96, 80, 64, 48, 40, 32, 24)
MIN_SIZE_SWEEP_PX = 150  # faces at least this large (face box side) are the full-size references
ROLES = {"face_landmark": "face_landmark", "iris": "iris_landmark"}  # role -> file stem
IRIS_BATCH = 2  # eyes per iris invoke (edge.analysis.facemesh reads a batch of 1 or 2)


@dataclass
class RoleResult:
    """What `build` decided for one model: the adopted candidate, the file written, and every figure."""

    role: str
    source: Path
    adopted: str
    path: Path
    choice: str
    rebuild_diff: float
    op_counts: dict[str, int]
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)  # candidate -> figures, size, bounds
    latency: dict[str, dict[int, float]] = field(default_factory=dict)  # source and candidates -> threads -> ms
    int8: fm.Int8Model | None = None
    calibration_crops: int = 0
    jitter: dict[str, Any] = field(default_factory=dict)  # the source against itself, region moved 1 input px
    batch: dict[str, Any] = field(default_factory=lambda: {"batch": 1})  # inputs per invoke, and why

    @property
    def precision(self) -> str:
        return fm.PRECISION[self.adopted]


def _angles(points: np.ndarray, frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    a = solve_head_pose(points[list(PNP_IDS), :2], w, h)
    return np.array([a.yaw_deg, a.pitch_deg, a.roll_deg]) if a is not None else np.full(3, np.nan)


def build(landmark_src: Path, iris_src: Path, out_dir: Path, work: Path, calibration: list[FaceCrop],
          evaluation: list[FaceCrop], fer: list[FaceCrop] | None = None, float_layers: int = 2,
          rounds: int = 100) -> list[RoleResult]:
    """Write the device's face models into `out_dir` (see the module docstring); candidates go to `work`.

    `calibration` (photo/video crops) calibrates both models, `fer` (FER2013 crops) the landmark model
    only: the eye regions of a 48-pixel grey face are a few blurred pixels, and calibrating the iris model
    on them was measured to triple its int8 error on real eyes."""
    check_source(landmark_src)
    check_source(iris_src)
    fer = fer or []
    if not calibration or not evaluation:
        raise SourceError(f"face crops: {len(calibration)} for calibration (photos/videos), {len(evaluation)} for "
                          "evaluation; both sets need real faces of at least 40 px (--calib-images/--calib-video "
                          "and --images/--video)")
    out_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    ref = FaceMesh(landmark_src, iris_src, threads=2)
    inputs = {"face_landmark": (landmark_inputs(calibration + fer), landmark_inputs(evaluation)),
              "iris": (eye_inputs(calibration, ref), eye_inputs(evaluation, ref))}
    results = []
    for role, src in (("face_landmark", landmark_src), ("iris", iris_src)):
        calib, check = inputs[role]
        model = fm.rebuild_source(src, check)
        cands, int8 = fm.candidates(model, calib, float_layers)
        paths = {}
        for name, blob in cands.items():
            paths[name] = work / f"{ROLES[role]}_{fm.SUFFIX[name]}.tflite"
            paths[name].write_bytes(blob)
        res = RoleResult(role, src, "float16", out_dir, "", model.max_abs_diff, model.op_counts, int8=int8,
                         calibration_crops=len(calib))
        for name, path in paths.items():
            res.measured[name] = _measure(role, ref, landmark_src, iris_src, path, evaluation)
            res.measured[name]["size_bytes"] = path.stat().st_size
            res.measured[name]["xnnpack_partitions"] = fm.delegate_partitions(path)
            print(f"{role} {name:13s} {path.stat().st_size:9,d} B, {res.measured[name]['xnnpack_partitions']} "
                  f"XNNPACK piece(s)  {res.measured[name].pop('line')}")
        jitter = (landmark_agreement(ref, ref, evaluation, [moved(c, 1.0, LANDMARK_SIZE) for c in evaluation])
                  if role == "face_landmark" else iris_agreement(ref, ref, evaluation, move_px=1.0))
        res.jitter = jitter.as_dict()
        print(f"{role} float, region moved 1 input px: {jitter.line()}")
        res.latency = _latency({"source": src, **paths}, rounds)
        for name in res.latency:
            print(f"{role} {name:13s} invoke {res.latency[name][1]:.2f} ms (1 thread) "
                  f"{res.latency[name][2]:.2f} ms (2 threads)")
        res.adopted, res.choice = _choose(res)
        res.path = out_dir / f"{ROLES[role]}_{fm.SUFFIX[res.adopted]}.tflite"
        shutil.copyfile(paths[res.adopted], res.path)
        if role == "iris":
            res.batch = _batch_iris(res, model, paths[res.adopted], check, rounds)
            print(f"iris: {res.batch['why']}")
        if role == "face_landmark":  # the runtime loads it and checks its contract
            FaceMesh(res.path, None, 1)
        else:
            FaceMesh.check_iris(res.path)
        print(f"{role}: {res.choice}")
        results.append(res)
    return results


def _batch_iris(res: RoleResult, model: fm.FloatModel, single: Path, eyes: np.ndarray, rounds: int) -> dict[str, Any]:
    """Rebuild the adopted iris candidate with a batch of `IRIS_BATCH` and ship it in `res.path` when it
    reads `eyes` (2N eye regions, uint8 RGB) as the batch-1 file `single` does and is faster per pair."""
    blob = fm.batched(model, res.adopted, IRIS_BATCH)
    if blob is None:
        return {"batch": 1, "why": f"{res.adopted} is calibrated per eye: kept at a batch of 1"}
    path = single.with_name(f"{single.stem}_b{IRIS_BATCH}.tflite")
    path.write_bytes(blob)
    x = eyes[: len(eyes) - len(eyes) % IRIS_BATCH].astype(np.float32) / 255.0
    diff = max_abs_diff(run_model(single, x), run_model(path, x))
    lat = _latency({"single": single, "batched": path}, rounds)
    pair = {t: {"single_x2": round(2 * lat["single"][t], 3), "batched": round(lat["batched"][t], 3)} for t in (1, 2)}
    out: dict[str, Any] = {"max_abs_diff": diff, "eyes": len(x), "pair_ms": pair}
    slower = [t for t in (1, 2) if lat["batched"][t] >= 2 * lat["single"][t]]
    if not diff <= fm.MAX_REBUILD_DIFF:
        return {**out, "batch": 1, "why": f"the batch-{IRIS_BATCH} model differs by {diff:.3g}: kept at a batch of 1"}
    if slower:
        return {**out, "batch": 1, "why": f"a batch of {IRIS_BATCH} is not faster per pair at {slower} thread(s): "
                                         "kept at a batch of 1"}
    shutil.copyfile(path, res.path)
    return {**out, "batch": IRIS_BATCH,
            "why": f"both eyes in one invoke: {pair[1]['batched']:.2f} / {pair[2]['batched']:.2f} ms a pair at 1 / 2 "
                   f"threads against {pair[1]['single_x2']:.2f} / {pair[2]['single_x2']:.2f} ms for two invokes, "
                   f"outputs within {diff:.1e} of the batch-1 file on {len(x)} evaluation eyes"}


def _latency(models: dict[str, Path], rounds: int, repeats: int = 3) -> dict[str, dict[int, float]]:
    """Median invoke ms per model and thread count: the median of `repeats` interleaved runs, 1 and 2
    threads alternating, so that a burst of load on a shared machine does not decide alone."""
    runs: dict[str, dict[int, list[float]]] = {n: {1: [], 2: []} for n in models}
    for _ in range(repeats):
        for threads in (1, 2):
            for name, ms in median_invoke_ms(models, threads=threads, rounds=rounds).items():
                runs[name][threads].append(ms)
    return {n: {t: float(np.median(v)) for t, v in per.items()} for n, per in runs.items()}


def _measure(role: str, ref: FaceMesh, landmark_src: Path, iris_src: Path, path: Path,
             crops: list[FaceCrop]) -> dict[str, Any]:
    a: LandmarkAgreement | IrisAgreement
    if role == "face_landmark":
        a = landmark_agreement(ref, FaceMesh(path, iris_src, threads=2), crops)
    else:
        a = iris_agreement(ref, FaceMesh(landmark_src, path, threads=2), crops)
    broken = a.within()
    return {**a.as_dict(), "within_bounds": not broken, "broken": broken, "line": a.line()}


def _choose(res: RoleResult) -> tuple[str, str]:
    """The adopted candidate and why (see the module docstring)."""
    f16 = res.latency["float16"]
    reasons = []
    for name in fm.CANDIDATES:
        if name == "float16":
            break
        m, lat = res.measured[name], res.latency[name]
        slower = [t for t in (1, 2) if lat[t] > f16[t] * SPEED_MARGIN]
        if m["within_bounds"] and not slower:
            return name, f"{name} adopted: within every bound and not slower than float16"
        why = list(m["broken"]) + [f"{lat[t]:.2f} ms vs float16 {f16[t]:.2f} ms at {t} thread(s)" for t in slower]
        reasons.append(f"{name} not adopted ({'; '.join(why)})")
    if not res.measured["float16"]["within_bounds"]:
        logger.warning("%s: even float16 breaks a bound: %s", res.role, res.measured["float16"]["broken"])
    return "float16", "float16 kept: " + "; ".join(reasons)


def fer_template(x: np.ndarray, mesh: FaceMesh) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and standard deviation (3 x 2, 48-pixel coordinates) of the (right eye, left eye, mouth)
    centres over FER faces where the landmark model finds a face, and how many it found (each face read
    as `face_data.read_fer_face` reads it)."""
    found = []
    for img in x:
        lm = read_fer_face(img, mesh)
        if lm is not None:
            found.append(face_centres(lm.points))
    arr = np.stack(found) if found else np.full((1, 3, 2), np.nan)
    return arr.mean(axis=0), arr.std(axis=0), len(found)


def fer_head_angles(x: np.ndarray, mesh: FaceMesh) -> np.ndarray:
    """Head (yaw, pitch, roll) in degrees of every FER face the landmark model finds (N x 3), read as
    the runtime reads a face: the head poses the emotion model was trained on, which bound the poses
    the runtime lets it classify (`edge.analysis.facecheck.EMOTION_YAW_DEG`)."""
    out = []
    for img in x:
        lm = read_fer_face(img, mesh)
        if lm is not None:
            out.append(_angles(lm.points, cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2BGR)))
    return np.array(out) if out else np.full((0, 3), np.nan)


def size_sweep(crops: list[FaceCrop], mesh: FaceMesh, sizes: Iterable[int] = SIZES_PX) -> list[dict[str, float]]:
    """Per target face size: how the head angles read on the frame shrunk so that the face box has
    that side differ from the full-size reading (median and p90 of the largest of |d yaw|, |d pitch|),
    and the share of faces the model still finds. The face box is the full-size one, scaled with the
    frame, so that only the landmark model's reliability is measured, not the pose's."""
    refs = []
    for c in crops:
        lm = mesh.landmarks(c.frame, c.roi)
        if lm.score >= MIN_FACE_SCORE:
            refs.append((c, _angles(lm.points, c.frame)))
    rows = []
    for size in sizes:
        errs, found = [], 0
        for c, ref in refs:
            f = size / c.box.size
            if f >= 1.0:
                continue
            h, w = c.frame.shape[:2]
            small = cv2.resize(c.frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / w, small.shape[0] / h
            roi = SquareRoi((c.roi.cx + 0.5) * fx - 0.5, (c.roi.cy + 0.5) * fy - 0.5, c.roi.side * fx, c.roi.angle)
            lm = mesh.landmarks(small, roi)
            if lm.score < MIN_FACE_SCORE:
                errs.append(np.inf)
                continue
            found += 1
            errs.append(float(np.max(np.abs(_angles(lm.points, small) - ref)[:2])))
        e = np.array(errs) if errs else np.array([np.nan])
        rows.append({"size_px": size, "faces": len(errs), "found": found,
                     "median_deg": float(np.median(e)), "p90_deg": float(np.percentile(e, 90))})
    return rows
