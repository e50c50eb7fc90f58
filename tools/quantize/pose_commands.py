"""`python -m tools.quantize` commands of the MoveNet pose model: quantize it (`movenet`), measure the
int8 models against the float one (`evaluate-pose`), and calibrate on one folder, measure on the other
(`holdout-pose`).

Heavy imports (TensorFlow and the rest) happen inside each command, so the parser stays light."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tools.quantize.command_line import command_line
from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)


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
        record_model(args.manifest, args.out, role="pose", command=command_line(), sources=src.sources,
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
                      "score_diff": round(a.score_diff, 4), "n": a.n, "command": command_line()}
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
        update_entry(args.manifest, args.entry, holdout={"rows": rows, "command": command_line()})
    return 0
