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


def _command_line() -> str:
    return "python -m tools.quantize " + " ".join(shlex.quote(a) for a in sys.argv[1:])


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
    from tools.quantize import face as fq
    from tools.quantize.latency import median_invoke_ms
    from tools.quantize.manifest import record_model, update_entry
    from tools.quantize.sources import check_source

    sources = {"landmark": (str(args.landmark), check_source(args.landmark)),
               "iris": (str(args.iris), check_source(args.iris))}
    crops = fq.face_crops([*(args.images or []), *(args.video or [])], _pose_model(args.out_dir),
                          video_every=args.video_every, reference=args.landmark)
    print(f"{len(crops)} real face crops")
    res = fq.build(args.landmark, args.iris, args.out_dir, crops, args.int8_landmark, args.int8_iris)
    lat = median_invoke_ms({"landmark": res.landmark, "iris": res.iris}, threads=2, rounds=args.rounds)
    lat1 = median_invoke_ms({"landmark": res.landmark, "iris": res.iris}, threads=1, rounds=args.rounds)
    if args.manifest:
        for role, path, src, precision in (("face_landmark", res.landmark, "landmark", "float16 weights"),
                                           ("iris", res.iris, "iris", "float32 weights")):
            name = "landmark" if role == "face_landmark" else "iris"
            record_model(args.manifest, path, role=role, command=_command_line(),
                         sources={src: sources[src]},
                         extra={"precision": precision if "int8" not in path.name else "int8",
                                "quantization": {"choice": res.choice[role], "measured": res.measured,
                                                 "tolerance": {"mean_px": fq.MAX_MEAN_PX,
                                                               "angle_deg": fq.MAX_ANGLE_DEG},
                                                 "crops": len(crops)}})
            update_entry(args.manifest, path.name, latency_ms={
                "threads1": round(lat1[name], 3), "threads2": round(lat[name], 3), "references": [],
                "rounds": args.rounds, "machine": f"{os.uname().machine} {os.cpu_count()} cores",
                "command": _command_line()})
    for p in (res.landmark, res.iris):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    return 0


def cmd_fer_template(args: argparse.Namespace) -> int:
    from edge.analysis.facemesh import FaceMesh
    from tools.quantize import face as fq
    from tools.quantize.fer import load_fer

    x, _, _ = load_fer(args.data, limit=args.limit)
    mean, std, n = fq.fer_template(x, FaceMesh(args.landmark, None, threads=2))
    print(f"FER template from {n} of {len(x)} faces (48x48 pixel coordinates, mean +- sd):")
    for name, m, s in zip(("right eye", "left eye", "mouth"), mean, std, strict=True):
        print(f"  {name:9s} x={m[0]:.2f} +- {s[0]:.2f}  y={m[1]:.2f} +- {s[1]:.2f}")
    return 0


def cmd_face_size(args: argparse.Namespace) -> int:
    from edge.analysis.facemesh import FaceMesh
    from tools.quantize import face as fq

    crops = fq.face_crops([*(args.images or []), *(args.video or [])], _pose_model(args.models_dir),
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

    fa = sub.add_parser("face", help="MediaPipe face landmark + iris models: check, measure against the source, "
                                     "record (keeps float where int8 costs too much)")
    fa.add_argument("--landmark", type=Path, required=True, help="face_landmark.tflite (shared/models/face)")
    fa.add_argument("--iris", type=Path, required=True, help="iris_landmark.tflite (shared/models/face)")
    fa.add_argument("--images", type=Path, action="append", help="folder of real photos with faces")
    fa.add_argument("--video", type=Path, action="append", help="real video with faces")
    fa.add_argument("--video-every", type=int, default=5)
    fa.add_argument("--int8-landmark", type=Path, help="an int8 rebuild of the landmark model to measure and "
                                                        "keep if it agrees with the source")
    fa.add_argument("--int8-iris", type=Path, help="the same for the iris model")
    fa.add_argument("--rounds", type=int, default=100)
    fa.add_argument("--out-dir", type=Path, required=True)
    fa.add_argument("--manifest", type=Path)
    fa.set_defaults(func=cmd_face)

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
