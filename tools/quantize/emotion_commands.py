"""`python -m tools.quantize` commands of the emotion model: train, prune and quantize it (`emotion`),
measure it on FER2013 (`evaluate-emotion`), and show the faces the runtime gives it (`emotion-crops`).

Heavy imports (TensorFlow and the rest) happen inside each command, so the parser stays light."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from tools.quantize.command_line import command_line


def cmd_emotion(args: argparse.Namespace) -> int:
    from tools.quantize.emotion import (
        EmotionTrainConfig,
        parse_widths,
        prepare_data,
        sparsity,
        train_float,
        widths_spec,
    )
    from tools.quantize.emotion_export import calibration_faces, tflite_kernel_sparsity, to_tflite
    from tools.quantize.emotion_prune import PruneConfig, prune_finetune
    from tools.quantize.evaluate_emotion import evaluate_emotion
    from tools.quantize.manifest import record_model
    from tools.quantize.sources import SourceError

    cfg = EmotionTrainConfig(epochs=args.epochs, limit=args.limit, flip_tta=not args.no_flip_tta, seed=args.seed,
                             widths=parse_widths(args.widths), lr=args.lr, batch=args.batch, minutes=args.minutes,
                             bf16=args.bf16)
    pcfg = PruneConfig(epochs=args.prune_epochs, sparsity=args.sparsity, lr=args.prune_lr, distill=args.distill)
    work = args.work or Path("build") / "quantize"
    work.mkdir(parents=True, exist_ok=True)
    files = {"float": work / "emotion_float32.tflite", "pruned": work / "emotion_pruned_float32.tflite"}
    data = prepare_data(args.train, args.val, cfg)
    if args.from_float:
        if not args.from_float.is_file():
            raise SourceError(f"--from-float {args.from_float}: no such file; it is the emotion_float32.tflite "
                              "an earlier `python -m tools.quantize emotion` run wrote to its --work folder")
        files["float"] = args.from_float
        training: dict[str, Any] = {"from_float": str(args.from_float)}
    else:
        float_model, training = train_float(data, cfg)
        files["float"].write_bytes(to_tflite(float_model, flip_tta=cfg.flip_tta))
    t0 = time.monotonic()
    pruned, plan = prune_finetune(files["float"], cfg.widths, data.ds, data.steps, data.val, pcfg)
    prune_s = round(time.monotonic() - t0)
    files["pruned"].write_bytes(to_tflite(pruned, flip_tta=cfg.flip_tta))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(to_tflite(pruned, flip_tta=cfg.flip_tta, int8_calib=calibration_faces(data.x)))
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
    info = data.info
    if args.manifest:
        record_model(args.manifest, args.out, role="emotion", command=command_line(),
                     sources={"train": (str(args.train), info["train_sha256"]),
                              "val": (str(args.val), info["val_sha256"])},
                     extra={"training": {**training, "minutes": cfg.minutes, "bf16": cfg.bf16,
                                         "seconds": {**training.get("seconds", {}), "prune": prune_s,
                                                     "per_prune_epoch": round(prune_s / max(1, pcfg.epochs), 1)},
                                         "train_images": info["train_images"], "parameters": int(pruned.count_params()),
                                         "widths": widths_spec(cfg.widths), "batch": cfg.batch, "lr": cfg.lr,
                                         "prune_epochs": pcfg.epochs,
                                         "pruning": plan, "sparsity": round(sparsity(pruned), 4),
                                         "tflite_sparsity": round(file_sparsity, 4),
                                         "tflite_kernel_weights": kernel_weights, "flip_tta": cfg.flip_tta,
                                         "seed": cfg.seed, "sharpness": info["sharpness"]},
                            "accuracy": {"data": args.val.name, **scores}})
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), sparsity {sparsity(pruned):.3f} "
          f"(in the int8 file: {file_sparsity:.3f} of {kernel_weights} kernel weights)")
    return 0


def cmd_evaluate_emotion(args: argparse.Namespace) -> int:
    from tools.quantize.evaluate_emotion import evaluate_emotion
    from tools.quantize.manifest import read_manifest, update_entry

    for model in args.model:
        # measuring needs no known file; numbers recorded into a manifest must come from the shared split
        s = evaluate_emotion(model, args.data, limit=args.limit, check=bool(args.manifest and args.stage))
        print(f"{model.name}: {s.line()}")
        print(s.table())
        print(s.read_rates())
        if args.manifest and args.stage:
            entry = read_manifest(args.manifest)["models"].get(args.entry, {})
            acc = dict(entry.get("accuracy", {"data": args.data.name}))
            acc[args.stage] = {"accuracy7": round(s.accuracy7, 4), "accuracy3": round(s.accuracy3, 4), "n": s.n,
                               "recall7": [round(float(r), 4) for r in s.recall7()],
                               "confusion7": s.confusion7.tolist(), "model": model.name, "command": command_line()}
            update_entry(args.manifest, args.entry, accuracy=acc)
    return 0


def cmd_emotion_crops(args: argparse.Namespace) -> int:
    from tools.quantize.emotion_crops import run_emotion_crops

    return run_emotion_crops(args, command_line())
