"""`python -m tools.quantize <command>`: rebuild and measure PPT Edge's int8 models."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tools.quantize.sources import SourceError  # noqa: E402

logger = logging.getLogger("tools.quantize")


_ARGV: list[str] | None = None  # the arguments `main` was called with (sys.argv[1:] from the shell)


def _command_line() -> str:
    """The command as recorded in the manifest: paths under the shared folder written as ../shared/...
    (the repository's layout), whatever absolute path this machine gave them."""
    shared = Path(os.environ.get("PPT_EDGE_SHARED") or Path(__file__).resolve().parents[3] / "shared").resolve()
    argv = _ARGV if _ARGV is not None else sys.argv[1:]
    return "python -m tools.quantize " + " ".join(shlex.quote(_portable(a, shared)) for a in argv)


def _portable(arg: str, shared: Path) -> str:
    prefix, eq, path = arg.rpartition("=") if "=" in arg and not arg.startswith("-") else ("", "", arg)
    if path.startswith(("/", "~")):
        try:
            path = str(Path("../shared") / Path(path).expanduser().resolve().relative_to(shared))
        except ValueError:
            pass
    return f"{prefix}{eq}{path}"


def cmd_emotion(args: argparse.Namespace) -> int:
    from tools.quantize.emotion import EmotionTrainConfig, parse_widths, train_prune, widths_spec
    from tools.quantize.emotion_export import calibration_faces, tflite_kernel_sparsity, to_tflite
    from tools.quantize.evaluate_emotion import evaluate_emotion
    from tools.quantize.fer import load_fer
    from tools.quantize.manifest import record_model

    cfg = EmotionTrainConfig(epochs=args.epochs, prune_epochs=args.prune_epochs, limit=args.limit,
                             sparsity=args.sparsity, flip_tta=not args.no_flip_tta, seed=args.seed,
                             widths=parse_widths(args.widths), lr=args.lr, batch=args.batch, minutes=args.minutes,
                             bf16=args.bf16)
    work = args.work or Path("build") / "quantize"
    work.mkdir(parents=True, exist_ok=True)
    result = train_prune(args.train, args.val, cfg)
    info = result.info
    x, _, _ = load_fer(args.train, limit=cfg.limit)
    files = {
        "float": work / "emotion_float32.tflite",
        "pruned": work / "emotion_pruned_float32.tflite",
    }
    files["float"].write_bytes(to_tflite(result.float_model, flip_tta=cfg.flip_tta))
    files["pruned"].write_bytes(to_tflite(result.pruned_model, flip_tta=cfg.flip_tta))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(to_tflite(result.pruned_model, flip_tta=cfg.flip_tta, int8_calib=calibration_faces(x)))
    files["int8"] = args.out
    file_sparsity, kernel_weights = tflite_kernel_sparsity(args.out)
    limit = None if cfg.limit is None else max(64, cfg.limit // 4)
    scores = {}
    for stage, path in files.items():
        s = evaluate_emotion(path, args.val, limit=limit)
        scores[stage] = {"accuracy7": round(s.accuracy7, 4), "accuracy3": round(s.accuracy3, 4), "n": s.n,
                         "recall7": [round(float(r), 4) for r in s.recall7()],
                         "confusion7": s.confusion7.tolist()}
        print(f"{stage:7s} {path.name:32s} {s.line()}")
    if args.manifest:
        record_model(args.manifest, args.out, role="emotion", command=_command_line(),
                     sources={"train": (str(args.train), info["train_sha256"]),
                              "val": (str(args.val), info["val_sha256"])},
                     extra={"training": {"epochs": info["epochs_run"], "minutes": cfg.minutes,
                                         "prune_epochs": cfg.prune_epochs, "bf16": cfg.bf16,
                                         "train_images": info["train_images"], "parameters": info["parameters"],
                                         "widths": widths_spec(cfg.widths), "batch": cfg.batch, "lr": cfg.lr,
                                         "sparsity": round(info["sparsity"], 4),
                                         "tflite_sparsity": round(file_sparsity, 4),
                                         "tflite_kernel_weights": kernel_weights, "flip_tta": cfg.flip_tta,
                                         "seed": cfg.seed, "sharpness": info["sharpness"],
                                         "seconds": info["seconds"]},
                            "accuracy": {"data": args.val.name, **scores}})
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), sparsity {info['sparsity']:.3f} "
          f"(in the int8 file: {file_sparsity:.3f} of {kernel_weights} kernel weights)")
    return 0


def cmd_movenet(args: argparse.Namespace) -> int:
    from tools.quantize import movenet as mn
    from tools.quantize.calibration import calibration_set
    from tools.quantize.manifest import record_model

    src = mn.load_source(args.source, args.variant, args.sha256)
    calib = calibration_set(args.calib, src.size, views_per_frame=args.views, photometric=args.photometric,
                            seed=args.seed)
    f32 = mn.float_tflite(src)
    float_nodes = mn.decode_nodes(f32)
    logger.info("movenet %s: %d decode ops kept in float", args.variant, len(float_nodes))
    calibrated = mn.calibrated_model(src, calib)
    sensitive: list[tuple[str, float]] = []
    if args.float_layers > 0:
        sensitive = mn.layer_sensitivity(src, calib, float_nodes)[: args.float_layers]
        for name, err in sensitive:
            logger.info("kept in float (rmse/scale %.3f): %s", err, name.split(";")[0])
    model = mn.quantize(calibrated, float_nodes + [n for n, _ in sensitive])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model)
    if args.float_out:
        args.float_out.parent.mkdir(parents=True, exist_ok=True)
        args.float_out.write_bytes(f32)
    if args.manifest:
        record_model(args.manifest, args.out, role="pose", command=_command_line(), sources=src.sources,
                     extra={"variant": args.variant, "calibration": {"inputs": len(calib),
                            "folders": [p.name for p in args.calib], "views_per_frame": args.views,
                            "photometric": args.photometric, "seed": args.seed},
                            "float_layers": [n.split(";")[0] for n, _ in sensitive],
                            "float_decode_ops": len(float_nodes)})
    print(f"wrote {args.out} ({len(model)} bytes) from {len(calib)} calibration inputs")
    return 0


def cmd_evaluate_pose(args: argparse.Namespace) -> int:
    import numpy as np

    from edge.analysis.imaging import letterbox
    from tools.quantize import movenet as mn
    from tools.quantize.calibration import collect_frames
    from tools.quantize.manifest import update_entry

    src = mn.load_source(args.float, args.variant, None)
    frames = collect_frames([*(args.images or []), *(args.video or [])], video_every=args.video_every)
    if not frames:
        raise SourceError("no evaluation images: give --images DIR and/or --video FILE")
    inputs = np.stack([letterbox(f, src.size) for _, f in frames])
    reference = mn.run_tflite(mn.float_tflite(src), inputs)
    results = {}
    for spec in args.int8:
        name, _, path = spec.partition("=")
        if not path:
            raise SourceError(f"--int8 {spec!r}: expected NAME=PATH")
        results[name] = (Path(path), mn.agreement(reference, mn.run_tflite(Path(path), inputs)))
        print(results[name][1].line(name))
    if args.manifest:
        here = args.manifest.parent.resolve()
        ours = [n for n, (p, _) in results.items() if p.parent.resolve() == here]
        for name in ours:
            a = results[name][1]
            record = {"images": len(frames), "mean_err": round(a.mean_err, 5), "p90_err": round(a.p90_err, 5),
                      "score_diff": round(a.score_diff, 4), "n": a.n, "command": _command_line()}
            others = [(n, r) for n, (_, r) in results.items() if n not in ours]
            if others:
                n, r = others[0]
                record["reference"] = {"name": n, "mean_err": round(r.mean_err, 5), "p90_err": round(r.p90_err, 5),
                                       "score_diff": round(r.score_diff, 4), "n": r.n}
            update_entry(args.manifest, results[name][0].name, agreement=record)
    return 0


def cmd_holdout_pose(args: argparse.Namespace) -> int:
    """Calibrate on one folder and measure on the other, both ways: agreement with no overlap."""
    import numpy as np

    from edge.analysis.imaging import letterbox
    from tools.quantize import movenet as mn
    from tools.quantize.calibration import calibration_set, collect_frames
    from tools.quantize.manifest import update_entry

    src = mn.load_source(args.source, args.variant, None)
    f32 = mn.float_tflite(src)
    float_nodes = mn.decode_nodes(f32)
    rows = []
    for calib_dir, eval_dir in ((args.a, args.b), (args.b, args.a)):
        frames = collect_frames([eval_dir], video_every=1)
        inputs = np.stack([letterbox(f, src.size) for _, f in frames])
        reference = mn.run_tflite(f32, inputs)
        calib = calibration_set([calib_dir], src.size, views_per_frame=args.views, seed=args.seed)
        calibrated = mn.calibrated_model(src, calib)
        sensitive = mn.layer_sensitivity(src, calib, float_nodes)[: args.float_layers] if args.float_layers else []
        ours = mn.quantize(calibrated, float_nodes + [n for n, _ in sensitive])
        row = {"calibrated_on": calib_dir.name, "measured_on": eval_dir.name, "images": len(frames)}
        a = mn.agreement(reference, mn.run_tflite(ours, inputs))
        print(a.line(f"ours[{calib_dir.name}->{eval_dir.name}]"))
        row["ours"] = {"mean_err": round(a.mean_err, 5), "p90_err": round(a.p90_err, 5), "n": a.n}
        if args.reference:
            r = mn.agreement(reference, mn.run_tflite(args.reference, inputs))
            print(r.line(f"reference[{eval_dir.name}]"))
            row["reference"] = {"mean_err": round(r.mean_err, 5), "p90_err": round(r.p90_err, 5), "n": r.n}
        rows.append(row)
    if args.manifest and args.entry:
        update_entry(args.manifest, args.entry, holdout={"rows": rows, "command": _command_line()})
    return 0


def cmd_latency(args: argparse.Namespace) -> int:
    import platform

    from tools.quantize.latency import median_invoke_ms
    from tools.quantize.manifest import read_manifest, update_entry

    models = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not path:
            raise SourceError(f"--model {spec!r}: expected NAME=PATH")
        models[name] = Path(path)
    results = {t: median_invoke_ms(models, threads=t, rounds=args.rounds) for t in (1, 2)}
    for name in models:
        print(f"{name} threads1={results[1][name]:.2f}ms threads2={results[2][name]:.2f}ms")
    if args.manifest:
        known = read_manifest(args.manifest)["models"]
        here = args.manifest.parent.resolve()
        ours = [n for n, p in models.items() if p.name in known and p.parent.resolve() == here]
        refs = [{"name": n, "threads1": round(results[1][n], 3), "threads2": round(results[2][n], 3)}
                for n in models if n not in ours]
        machine = f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip()
        for n in ours:
            update_entry(args.manifest, models[n].name, latency_ms={
                "threads1": round(results[1][n], 3), "threads2": round(results[2][n], 3), "references": refs,
                "rounds": args.rounds, "machine": machine, "command": _command_line()})
    return 0


def cmd_cards(args: argparse.Namespace) -> int:
    from tools.quantize.cards import write_cards

    for card in write_cards(args.manifest):
        print(f"wrote {card}")
    return 0


def cmd_evaluate_emotion(args: argparse.Namespace) -> int:
    from tools.quantize.evaluate_emotion import evaluate_emotion
    from tools.quantize.manifest import read_manifest, update_entry

    for model in args.model:
        s = evaluate_emotion(model, args.data, limit=args.limit)
        print(f"{model.name}: {s.line()}")
        print(s.table())
        if args.manifest and args.stage:
            entry = read_manifest(args.manifest)["models"].get(args.entry, {})
            acc = dict(entry.get("accuracy", {"data": args.data.name}))
            acc[args.stage] = {"accuracy7": round(s.accuracy7, 4), "accuracy3": round(s.accuracy3, 4), "n": s.n,
                               "recall7": [round(float(r), 4) for r in s.recall7()],
                               "confusion7": s.confusion7.tolist(), "model": model.name, "command": _command_line()}
            update_entry(args.manifest, args.entry, accuracy=acc)
    return 0


def cmd_emotion_crops(args: argparse.Namespace) -> int:
    from tools.quantize.emotion_crops import run_emotion_crops

    return run_emotion_crops(args, _command_line())


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
        command = _command_line()
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
            update_entry(args.manifest, res.path.name, latency_ms={
                "threads1": round(res.latency[res.adopted][1], 3), "threads2": round(res.latency[res.adopted][2], 3),
                "references": refs, "rounds": args.rounds, "machine": machine, "command": command})
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.quantize", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("emotion", help="train, prune (>=50%% sparsity) and int8-quantize the emotion model")
    e.add_argument("--train", type=Path, required=True, help="FER2013 train.npz")
    e.add_argument("--val", type=Path, required=True, help="FER2013 public_test.npz")
    e.add_argument("--out", type=Path, required=True, help="output int8 .tflite")
    e.add_argument("--work", type=Path, help="folder for the float and pruned float models (default: build/quantize)")
    e.add_argument("--epochs", type=int, default=60)
    e.add_argument("--minutes", type=float,
                   help="train the float model for this wall-clock time (cosine over the time) instead of --epochs: "
                        "for a shared machine; the manifest records the epochs that fitted")
    e.add_argument("--bf16", action="store_true",
                   help="mixed bfloat16 compute while training (2-3x faster on CPUs with AMX/AVX512-BF16; "
                        "slow where the CPU lacks it); the exported model is float32 then int8 as always")
    e.add_argument("--prune-epochs", type=int, default=8)
    e.add_argument("--sparsity", type=float, default=0.55,
                   help="per-layer target for every conv and dense kernel (>= 0.5 is the contract)")
    e.add_argument("--widths", default="32,32:48,48:80,80:160",
                   help="conv widths per stage, stages split by ':' (48, 24, 12, 6 px)")
    e.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, warm-up + cosine)")
    e.add_argument("--batch", type=int, default=64)
    e.add_argument("--limit", type=int, help="train on this many images only (smoke tests)")
    e.add_argument("--seed", type=int, default=1234)
    e.add_argument("--no-flip-tta", action="store_true", help="do not fold the mirror-image average into the model")
    e.add_argument("--manifest", type=Path, help="record the build in this manifest.json")
    e.set_defaults(func=cmd_emotion)

    m = sub.add_parser("movenet", help="float MoveNet source -> full int8 TFLite (float decode)")
    m.add_argument("--variant", choices=["lightning", "thunder"], required=True)
    m.add_argument("--source", type=Path, required=True, help="TF.js model.json (+.bin beside it) or SavedModel dir")
    m.add_argument("--sha256", help="expected sha256 of the source (model.json or saved_model.pb)")
    m.add_argument("--calib", type=Path, nargs="+", required=True, help="folders/files of real person images/videos")
    m.add_argument("--views", type=int, default=2, help="extra zoomed/mirrored views per calibration frame")
    m.add_argument("--photometric", action="store_true",
                   help="also vary light and contrast in the extra views (measured: more keypoint flips)")
    m.add_argument("--float-layers", type=int, default=6,
                   help="keep this many most quantization-sensitive layers in float (debugger ranking)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--float-out", type=Path, help="also write the float32 TFLite here")
    m.add_argument("--manifest", type=Path)
    m.set_defaults(func=cmd_movenet)

    ep = sub.add_parser("evaluate-pose", help="keypoint agreement of int8 MoveNets with the float model")
    ep.add_argument("--float", type=Path, required=True, help="the float source (TF.js model.json or SavedModel)")
    ep.add_argument("--variant", choices=["lightning", "thunder"], default="lightning")
    ep.add_argument("--int8", action="append", required=True, metavar="NAME=PATH")
    ep.add_argument("--images", type=Path, action="append")
    ep.add_argument("--video", type=Path, action="append")
    ep.add_argument("--video-every", type=int, default=1, help="use every Nth video frame")
    ep.add_argument("--manifest", type=Path, help="record the figures for models that live beside it")
    ep.set_defaults(func=cmd_evaluate_pose)

    ho = sub.add_parser("holdout-pose", help="calibrate on folder A, measure on B, and the other way round")
    ho.add_argument("--variant", choices=["lightning", "thunder"], required=True)
    ho.add_argument("--source", type=Path, required=True)
    ho.add_argument("--a", type=Path, required=True, help="first folder of images/videos")
    ho.add_argument("--b", type=Path, required=True, help="second folder of images/videos")
    ho.add_argument("--reference", type=Path, help="another int8 model to measure on the same frames")
    ho.add_argument("--views", type=int, default=2)
    ho.add_argument("--float-layers", type=int, default=6)
    ho.add_argument("--seed", type=int, default=0)
    ho.add_argument("--manifest", type=Path)
    ho.add_argument("--entry", help="manifest entry to record the figures under")
    ho.set_defaults(func=cmd_holdout_pose)

    la = sub.add_parser("latency", help="median invoke time at 1 and 2 threads, models interleaved")
    la.add_argument("--model", action="append", required=True, metavar="NAME=PATH")
    la.add_argument("--rounds", type=int, default=50)
    la.add_argument("--manifest", type=Path, help="record the figures for models that live beside it")
    la.set_defaults(func=cmd_latency)

    ca = sub.add_parser("cards", help="write one model card (.md) per manifest entry")
    ca.add_argument("--manifest", type=Path, required=True)
    ca.set_defaults(func=cmd_cards)

    ee = sub.add_parser("evaluate-emotion", help="7- and 3-class accuracy of emotion models on a FER2013 split")
    ee.add_argument("--model", type=Path, action="append", required=True,
                    help="a .tflite model, or the TF.js mini-Xception model.json (baseline); repeatable")
    ee.add_argument("--data", type=Path, required=True)
    ee.add_argument("--limit", type=int)
    ee.add_argument("--manifest", type=Path, help="record the result in this manifest ...")
    ee.add_argument("--entry", default="emotion_int8.tflite", help="... under this model's entry ...")
    ee.add_argument("--stage", help="... as this stage (e.g. baseline)")
    ee.set_defaults(func=cmd_evaluate_emotion)

    ec = sub.add_parser("emotion-crops", help="contact sheet of the faces the runtime's emotion model reads, "
                        "and their framing against FER2013")
    ec.add_argument("--images", type=Path, action="append", help="photo or folder of photos (repeatable)")
    ec.add_argument("--videos", type=Path, action="append", help="video or folder of videos (repeatable)")
    ec.add_argument("--every", type=int, default=3, help="analyse every Nth video frame")
    ec.add_argument("--fer", type=Path, required=True, help="FER2013 split for the framing reference")
    ec.add_argument("--fer-faces", type=int, default=600, help="FER faces measured with the landmark model")
    ec.add_argument("--landmarks", type=Path, required=True, help="MediaPipe face_landmark.tflite")
    ec.add_argument("--max-faces", type=int, default=40, help="crops drawn on the sheet (all are measured)")
    ec.add_argument("--out", type=Path, required=True, help="the PNG contact sheet")
    ec.add_argument("--manifest", type=Path, help="record the figures in this manifest.json ...")
    ec.add_argument("--entry", default="emotion_int8.tflite", help="... under this model's entry")
    ec.set_defaults(func=cmd_emotion_crops)

    fa = sub.add_parser("face", help="MediaPipe face landmark + iris models: rebuild, quantize (int8, dynamic-range "
                                     "int8, float16), measure against the source on held-out real crops, adopt "
                                     "what keeps the bounds (else float16), record")
    fa.add_argument("--landmark", type=Path, required=True, help="face_landmark.tflite (shared/models/face)")
    fa.add_argument("--iris", type=Path, required=True, help="iris_landmark.tflite (shared/models/face)")
    fa.add_argument("--calib-images", type=Path, action="append", help="calibration: folder of real photos with faces")
    fa.add_argument("--calib-video", type=Path, action="append", help="calibration: real video with faces")
    fa.add_argument("--calib-every", type=int, default=1, help="calibration: use every Nth video frame")
    fa.add_argument("--calib-fer", type=Path, help="calibration: also FER2013 faces from this .npz (up-scaled)")
    fa.add_argument("--fer-limit", type=int, default=300, help="calibration: this many FER faces at most")
    fa.add_argument("--images", type=Path, action="append", help="evaluation: folder of real photos with faces")
    fa.add_argument("--video", type=Path, action="append", help="evaluation: real video with faces")
    fa.add_argument("--video-every", type=int, default=2, help="evaluation: use every Nth video frame")
    fa.add_argument("--float-layers", type=int, default=2,
                    help="int8 candidate: keep this many most quantization-sensitive layers in float (besides the "
                         "output heads)")
    fa.add_argument("--rounds", type=int, default=200, help="invoke-time rounds per thread count")
    fa.add_argument("--work", type=Path, help="folder for all candidates (default: build/quantize/face)")
    fa.add_argument("--out-dir", type=Path, required=True)
    fa.add_argument("--manifest", type=Path)
    fa.set_defaults(func=cmd_face)

    fc = sub.add_parser("face-cost", help="ms of each step of a face check against the bare pose invoke")
    fc.add_argument("--video", type=Path, action="append", required=True, help="real video (or photo) with a face")
    fc.add_argument("--video-every", type=int, default=5)
    fc.add_argument("--models-dir", type=Path, default=Path("models/quantized"))
    fc.add_argument("--landmark", action="append", metavar="NAME=PATH", help="another landmark model to time too")
    fc.add_argument("--iris", action="append", metavar="NAME=PATH", help="another iris model to time too")
    fc.add_argument("--threads", type=int, default=2)
    fc.add_argument("--rounds", type=int, default=300)
    fc.set_defaults(func=cmd_face_cost)

    ft = sub.add_parser("fer-template", help="mean eye and mouth centres of FER2013 faces (the emotion crop)")
    ft.add_argument("--landmark", type=Path, default=Path("../shared/models/face/face_landmark.tflite"))
    ft.add_argument("--data", type=Path, required=True, help="FER2013 .npz")
    ft.add_argument("--limit", type=int, default=600)
    ft.set_defaults(func=cmd_fer_template)

    fs = sub.add_parser("face-size", help="head-angle error against full size as faces shrink")
    fs.add_argument("--landmark", type=Path, default=Path("../shared/models/face/face_landmark.tflite"))
    fs.add_argument("--images", type=Path, action="append")
    fs.add_argument("--video", type=Path, action="append")
    fs.add_argument("--video-every", type=int, default=3)
    fs.add_argument("--min-px", type=float, default=150.0, help="faces at least this large are the references")
    fs.add_argument("--models-dir", type=Path, default=Path("models/quantized"))
    fs.set_defaults(func=cmd_face_size)

    fr = sub.add_parser("face-readings", help="head yaw/pitch the runtime's face stage reads over real videos")
    fr.add_argument("--video", type=Path, action="append", required=True)
    fr.add_argument("--fps", type=float, default=5.0, help="frames read per second of video")
    fr.add_argument("--until", type=float, help="also report the first this many seconds on their own")
    fr.set_defaults(func=cmd_face_readings)
    return p


def main(argv: list[str] | None = None) -> int:
    global _ARGV
    _ARGV = list(argv) if argv is not None else sys.argv[1:]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
