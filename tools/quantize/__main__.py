"""`python -m tools.quantize <command>`: rebuild and measure PPT Edge's int8 models."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tools.quantize.command_line import command_line, record_argv  # noqa: E402
from tools.quantize.emotion_commands import cmd_emotion, cmd_emotion_crops, cmd_evaluate_emotion  # noqa: E402
from tools.quantize.face_commands import (  # noqa: E402
    cmd_face,
    cmd_face_cost,
    cmd_face_readings,
    cmd_face_size,
    cmd_fer_template,
)
from tools.quantize.pose_commands import cmd_evaluate_pose, cmd_holdout_pose, cmd_movenet  # noqa: E402
from tools.quantize.sources import SourceError  # noqa: E402


def _named_models(specs: list[str]) -> dict[str, Path]:
    """`--model NAME=PATH` arguments; SourceError naming the argument that is malformed or not a file."""
    models = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not name or not path or not Path(path).is_file():
            raise SourceError(f"--model {spec!r}: expected NAME=PATH of an existing .tflite file")
        models[name] = Path(path)
    return models


def cmd_latency(args: argparse.Namespace) -> int:
    import platform

    from tools.quantize.latency import median_invoke_ms
    from tools.quantize.manifest import read_manifest, update_entry

    models = _named_models(args.model)
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
                "rounds": args.rounds, "machine": machine, "command": command_line()})
    return 0


def cmd_memory(args: argparse.Namespace) -> int:
    from tools.quantize.model_memory import model_memory

    for name, m in model_memory(_named_models(args.model), threads=args.threads).items():
        print(f"{name} anon={m['anon_mib']:.2f}MiB file={m['file_mib']:.2f}MiB total={m['total_mib']:.2f}MiB")
    return 0


def cmd_cards(args: argparse.Namespace) -> int:
    from tools.quantize.cards import write_cards

    for card in write_cards(args.manifest):
        print(f"wrote {card}")
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
    e.add_argument("--from-float", type=Path,
                   help="skip the float training: prune this emotion_float32.tflite from an earlier run")
    e.add_argument("--prune-epochs", type=int, default=30, help="epochs of the distilled pruning fine-tune")
    e.add_argument("--prune-lr", type=float, default=5e-4, help="peak learning rate of the pruning fine-tune")
    e.add_argument("--distill", type=float, default=0.5,
                   help="weight of the float model's probabilities in the pruning targets (0: labels only)")
    e.add_argument("--sparsity", type=float, default=0.55,
                   help="share of zero weights over all conv and dense kernels, spread per layer by the "
                        "Erdos-Renyi-kernel rule (>= 0.5 is the contract)")
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

    me = sub.add_parser("memory", help="resident memory each model costs once loaded (packed weights, activations, "
                                       "file pages), one fresh process per model")
    me.add_argument("--model", action="append", required=True, metavar="NAME=PATH")
    me.add_argument("--threads", type=int, default=2)
    me.set_defaults(func=cmd_memory)

    ca = sub.add_parser("cards", help="write one model card (.md) per manifest entry")
    ca.add_argument("--manifest", type=Path, required=True)
    ca.set_defaults(func=cmd_cards)

    ee = sub.add_parser("evaluate-emotion", help="7- and 3-class accuracy of emotion models on a FER2013 split, "
                        "or on a folder of face images in class subfolders (angry/, happy/, ...)")
    ee.add_argument("--model", type=Path, action="append", required=True,
                    help="a .tflite model, or the TF.js mini-Xception model.json (baseline); repeatable")
    ee.add_argument("--data", type=Path, required=True,
                    help="a FER2013 .npz (x N×48×48 uint8, y 0..6), or a folder with one subfolder of face images "
                         "per class, named angry, disgust, fear, happy, sad, surprise, neutral")
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
    record_argv(argv)
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
