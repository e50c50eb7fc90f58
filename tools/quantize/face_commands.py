"""`python -m tools.quantize` commands of the face models (MediaPipe face landmark + iris): rebuild and
quantize them (`face`), and the measurements behind docs/face.md (`face-cost`, `fer-template`, `face-size`,
`face-readings`).

Heavy imports (TensorFlow and the rest) happen inside each command, so the parser stays light."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tools.quantize.command_line import command_line
from tools.quantize.sources import SourceError


def _pose_model(models_dir: Path) -> Path:
    from edge.analysis.models import POSE_FILE

    path = models_dir / POSE_FILE.format(variant="lightning")
    if not path.is_file():
        raise SourceError(f"{path}: the pose model that finds the faces is missing (python -m tools.quantize movenet)")
    return path


def cmd_face(args: argparse.Namespace) -> int:
    import platform

    from edge.analysis.facemesh import FaceMesh
    from tools.quantize import face as fq
    from tools.quantize.face_data import disjoint, face_crops, fer_crops
    from tools.quantize.face_eval import BOUNDS
    from tools.quantize.fer import load_fer
    from tools.quantize.manifest import record_model, remove_entries, update_entry
    from tools.quantize.sources import check_source

    calib_paths = [*(args.calib_images or []), *(args.calib_video or [])]
    eval_paths = [*(args.images or []), *(args.video or [])]
    disjoint(calib_paths, eval_paths)
    sources = {"face_landmark": ("landmark", str(args.landmark), check_source(args.landmark)),
               "iris": ("iris", str(args.iris), check_source(args.iris))}
    pose = _pose_model(args.out_dir)
    calib = face_crops(calib_paths, pose, video_every=args.calib_every, reference=args.landmark) if calib_paths else []
    fer = []
    if args.calib_fer:
        check_source(args.calib_fer)
        x, _, _ = load_fer(args.calib_fer, limit=max(1, round(args.fer_limit * 1.25)))  # spread over the classes
        fer = fer_crops(x, FaceMesh(args.landmark, None, threads=2), args.fer_limit)
    evaluation = face_crops(eval_paths, pose, video_every=args.video_every, reference=args.landmark)
    print(f"calibration: {len(calib)} face crops from photos/videos (both models) and {len(fer)} FER2013 faces "
          f"(landmark model only); evaluation: {len(evaluation)} face crops (+ one region beside each)")
    work = args.work or Path("build") / "quantize" / "face"
    results = fq.build(args.landmark, args.iris, args.out_dir, work, calib, evaluation, fer,
                       float_layers=args.float_layers, rounds=args.rounds)
    if args.manifest:
        command = command_line()
        machine = f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip()
        for res in results:
            key, path, digest = sources[res.role]
            removed = remove_entries(args.manifest, role=res.role, keep=res.path.name)
            for name in removed:  # the file and card of a model this role no longer uses
                for stale in (args.out_dir / name, args.out_dir / (Path(name).stem + ".md")):
                    if stale.is_file():
                        stale.unlink()
            cands = {name: {**m, "threads1": round(res.latency[name][1], 3), "threads2": round(res.latency[name][2], 3)}
                     for name, m in res.measured.items()}
            int8 = res.int8
            record_model(args.manifest, res.path, role=res.role, command=command, sources={key: (path, digest)},
                         extra={"precision": res.precision, "quantization": {
                             "adopted": res.adopted, "choice": res.choice, "bounds": BOUNDS,
                             "speed_margin": fq.SPEED_MARGIN, "rebuild_max_abs_diff": res.rebuild_diff,
                             "source_ops": res.op_counts,
                             "float_moved_1px": res.jitter,
                             "batch": res.batch,
                             "calibration": {"inputs": res.calibration_crops,
                                             "fer_faces": len(fer) if res.role == "face_landmark" else 0,
                                             "sources": [p.name for p in calib_paths]
                                             + ([args.calib_fer.name] if args.calib_fer and
                                                res.role == "face_landmark" else []),
                                             "int8_float_heads": int8.heads if int8 else [],
                                             "int8_float_layers": int8.float_layers if int8 else []},
                             "evaluation": {"crops": len(evaluation), "sources": [p.name for p in eval_paths]},
                             "candidates": cands,
                             "source": {"file": Path(path).name, "size_bytes": Path(path).stat().st_size,
                                        "threads1": round(res.latency["source"][1], 3),
                                        "threads2": round(res.latency["source"][2], 3)}}})
            refs = [{"name": n, "threads1": round(t[1], 3), "threads2": round(t[2], 3)}
                    for n, t in res.latency.items() if n != res.adopted]
            own = {"threads1": round(res.latency[res.adopted][1], 3), "threads2": round(res.latency[res.adopted][2], 3)}
            if res.batch.get("batch", 1) > 1:  # the shipped file reads both eyes per invoke
                pair = res.batch["pair_ms"]
                refs.insert(0, {"name": f"{res.adopted}, a batch of 1 (one eye)", **own})
                own = {"threads1": pair[1]["batched"], "threads2": pair[2]["batched"],
                       "label": f"this model (a batch of {res.batch['batch']}: both eyes, one invoke)"}
            update_entry(args.manifest, res.path.name, latency_ms={
                **own, "references": refs, "rounds": args.rounds, "machine": machine, "command": command})
    for res in results:
        print(f"wrote {res.path} ({res.path.stat().st_size} bytes): {res.choice}")
    return 0


def cmd_face_cost(args: argparse.Namespace) -> int:
    """Cost of one face check per step against the bare pose invoke (the table of docs/face.md)."""
    from edge.analysis.emotion import EmotionClassifier
    from edge.analysis.facemesh import FaceMesh
    from edge.analysis.models import load_models
    from edge.analysis.pose import PoseEstimator
    from edge.config import ModelsConfig
    from tools.quantize import face_cost as fc
    from tools.quantize.calibration import collect_frames

    ms = load_models(ModelsConfig(dir=args.models_dir, threads=args.threads))  # hashes checked
    assert ms.face_landmark is not None and ms.iris is not None
    pose = PoseEstimator(ms.pose.path, threads=args.threads)
    shipped = FaceMesh(ms.face_landmark.path, ms.iris.path, threads=args.threads)
    landmark = {ms.face_landmark.name: shipped}
    landmark |= {n: FaceMesh(p, None, args.threads) for n, p in fc.named_models(args.landmark).items()}
    iris = {ms.iris.name: shipped}
    iris |= {n: FaceMesh(ms.face_landmark.path, p, args.threads) for n, p in fc.named_models(args.iris).items()}
    emotion = EmotionClassifier(ms.emotion.path, threads=args.threads) if ms.emotion is not None else None
    frames = [f for _, f in collect_frames(args.video, video_every=args.video_every)]
    faces = fc.faces_of(frames, pose, shipped)
    costs = fc.check_costs(faces, pose, landmark, iris, emotion, args.rounds)
    print(f"{len(faces)} faces, {args.rounds} interleaved rounds, {args.threads} thread(s), medians:")
    print(fc.table(costs))
    return 0


def cmd_fer_template(args: argparse.Namespace) -> int:
    import numpy as np

    from edge.analysis.facemesh import FaceMesh
    from tools.quantize import face as fq
    from tools.quantize.fer import load_fer

    x, _, _ = load_fer(args.data, limit=args.limit)
    mean, std, n = fq.fer_template(x, FaceMesh(args.landmark, None, threads=2))
    print(f"FER template from {n} of {len(x)} faces (48x48 pixel coordinates, mean +- sd):")
    for name, m, s in zip(("right eye", "left eye", "mouth"), mean, std, strict=True):
        print(f"  {name:9s} x={m[0]:.2f} +- {s[0]:.2f}  y={m[1]:.2f} +- {s[1]:.2f}")
    angles = fq.fer_head_angles(x, FaceMesh(args.landmark, None, threads=2))
    print(f"head pose of {len(angles)} faces (degrees; yaw + = own left, pitch + = down), percentiles:")
    print("            p1     p5    p50    p95    p99")
    for k, name in enumerate(("yaw", "pitch", "roll")):
        v = angles[:, k][np.isfinite(angles[:, k])]
        print(f"  {name:6s}" + "".join(f"{q:7.1f}" for q in np.percentile(v, [1, 5, 50, 95, 99])))
    return 0


def cmd_face_size(args: argparse.Namespace) -> int:
    from edge.analysis.facemesh import FaceMesh
    from tools.quantize import face as fq
    from tools.quantize.face_data import face_crops

    crops = face_crops([*(args.images or []), *(args.video or [])], _pose_model(args.models_dir),
                       video_every=args.video_every, min_px=args.min_px, reference=args.landmark)
    from collections import Counter

    origin = Counter(c.name.split(":")[0].split("#")[0] for c in crops)
    print(f"{len(crops)} faces of at least {args.min_px:g} px (face box side): "
          + ", ".join(f"{k} {v}" for k, v in sorted(origin.items())))
    mesh = FaceMesh(args.landmark, None, threads=2)
    print(f"  {'face px':>8} {'faces':>6} {'found':>6} {'median deg':>11} {'p90 deg':>8}")
    for r in fq.size_sweep(crops, mesh):
        print(f"  {r['size_px']:8d} {r['faces']:6d} {r['found']:6d} {r['median_deg']:11.2f} {r['p90_deg']:8.2f}")
    return 0


def cmd_face_readings(args: argparse.Namespace) -> int:
    """Head readings of the runtime's face stage over real videos (the figures of docs/face.md)."""
    import dataclasses

    import cv2
    import numpy as np

    from edge.analysis.pipeline import FrameAnalyzer
    from edge.config import Config

    cfg = Config()
    cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, face_every=1))
    analyzer = FrameAnalyzer(cfg)
    for video in args.video:
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        step, i, rows = max(1, round(fps / args.fps)), 0, []
        analyzer.reset()
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                h = analyzer.analyze(frame, i / fps).head
                rows.append((i / fps, h.yaw_deg, h.pitch_deg, h.gaze_pitch_deg if h.gaze_pitch_deg is not None
                             else np.nan) if h else (i / fps, np.nan, np.nan, np.nan))
            i += 1
        cap.release()
        a = np.array(rows)
        for t0, t1 in [(0.0, np.inf)] + ([(0.0, args.until)] if args.until else []):
            part = a[(a[:, 0] >= t0) & (a[:, 0] < t1)]
            ok = np.isfinite(part[:, 1])
            if not ok.any():
                print(f"{video.name} [{t0:g}, {t1:g}) s: no face read in {len(part)} frames")
                continue
            y, p, g = part[ok, 1], part[ok, 2], part[ok, 3]
            print(f"{video.name} [{t0:g}, {t1:g}) s: {int(ok.sum())} of {len(part)} frames read; yaw {y.min():.1f} "
                  f"/ {np.median(y):.1f} / {y.max():.1f}; pitch {p.min():.1f} / {np.median(p):.1f} / {p.max():.1f} "
                  f"(min / median / max deg); gaze pitch median {np.nanmedian(g):.1f}")
    return 0
