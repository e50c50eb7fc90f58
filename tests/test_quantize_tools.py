"""The committed int8 models and the tools that rebuild them, on real data.

These run the real tools end to end on tiny subsets (a broken tool cannot pass), check every
committed model against its manifest and card, and compare int8 keypoints with the float model.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models" / "quantized"
MANIFEST = MODELS / "manifest.json"
EXPECTED = ("movenet_lightning_int8.tflite", "movenet_thunder_int8.tflite", "emotion_int8.tflite")

pytest.importorskip("tensorflow", reason="the model tools need the `quantize` extra (pip install -e '.[quantize]')")


def _tool(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.quantize", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_model_matches_manifest_and_card(name: str, manifest: dict) -> None:
    from edge.analysis.inference import load_interpreter
    from tools.quantize.sources import sha256_file

    entry = manifest["models"][name]
    path = MODELS / name
    assert sha256_file(path) == entry["sha256"], f"{name}: sha256 differs from manifest.json"
    assert path.stat().st_size == entry["size_bytes"]
    interp = load_interpreter(path, threads=1)
    inp = interp.get_input_details()[0]
    assert list(inp["shape"]) == entry["input"]["shape"]
    assert inp["dtype"].__name__ == entry["input"]["dtype"] == "uint8"
    assert float(inp["quantization"][0]) == pytest.approx(entry["input"]["scale"])
    card = (MODELS / (Path(name).stem + ".md")).read_text()
    assert entry["sha256"] in card and entry["command"] in card


def test_emotion_model_is_small_pruned_and_int8(manifest: dict) -> None:
    """The shipped model's contract, read from the file itself: int8 kernels, >= 50% of them zero, <= 300 KB."""
    from edge.analysis.inference import load_interpreter
    from tools.quantize.emotion_export import tflite_kernel_sparsity

    path = MODELS / "emotion_int8.tflite"
    assert path.stat().st_size <= 300_000
    interp = load_interpreter(path, threads=1)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert list(inp["shape"]) == [1, 48, 48, 1] and inp["dtype"] == np.uint8
    assert list(out["shape"]) == [1, 7] and out["dtype"] == np.float32
    kernels = {int(op["inputs"][1]) for op in interp._get_ops_details() if op["op_name"] == "CONV_2D"}
    assert kernels and all(interp.get_tensor(k).dtype == np.int8 for k in kernels)
    sparsity, weights = tflite_kernel_sparsity(path)
    assert sparsity >= 0.5, f"only {sparsity:.3f} of {weights} kernel weights are zero"
    entry = manifest["models"]["emotion_int8.tflite"]
    assert entry["training"]["tflite_sparsity"] == pytest.approx(sparsity, abs=1e-4)


def test_emotion_accuracy_matches_card(fer_dir: Path, manifest: dict) -> None:
    """The shipped int8 model on all 3,589 public-test faces, through LiteRT: as the card says, and at
    least the 68% the issue asks for (69.3% measured; the published mini-Xception gets 65.4% the same way)."""
    from tools.quantize.evaluate_emotion import evaluate_emotion

    recorded = manifest["models"]["emotion_int8.tflite"]["accuracy"]["int8"]
    score = evaluate_emotion(MODELS / "emotion_int8.tflite", fer_dir / "public_test.npz")
    assert score.n == recorded["n"] == 3589
    assert score.accuracy7 >= 0.68, score.line()
    assert abs(score.accuracy7 - recorded["accuracy7"]) <= 0.005
    assert abs(score.accuracy3 - recorded["accuracy3"]) <= 0.005
    # the same faces land in the same cells (a different CPU may round a borderline face differently)
    assert np.abs(score.confusion7 - np.array(recorded["confusion7"])).sum() <= 0.01 * score.n


def test_the_negative_expression_threshold_allows_for_neutral_faces_read_as_negative(manifest: dict) -> None:
    """The statistics count faces the model *reads* as negative, and it reads about a quarter of neutral
    faces so. The rule's default is what a session whose faces are negative 30% of the time (neutral in
    the rest) reads with the shipped model's measured confusion, so a neutral presenter is not told to
    look less negative; a retrained model with other rates fails here until the default follows it.
    The positive rule stays at the share a face that never smiles reads (it fires on almost no smile)."""
    from edge.config import FeedbackConfig
    from tools.quantize.evaluate_emotion import read_rate, read_rates, session_share

    c7 = manifest["models"]["emotion_int8.tflite"]["accuracy"]["int8"]["confusion7"]
    cfg = FeedbackConfig()
    assert read_rate(c7, "neutral", "negative") > 0.2  # why the raw share needs the allowance
    assert abs(session_share(c7, 0.3, "negative") - cfg.negative_emotion_max) <= 0.01
    assert session_share(c7, 0.0, "negative") < cfg.negative_emotion_max  # a neutral face stays under it
    assert abs(session_share(c7, 0.0, "positive") - cfg.positive_emotion_min) <= 0.01
    text = read_rates(c7)
    assert "read as negative: 81.1% of negative faces, 24.7% of neutral faces" in text and "reads 41.6%" in text
    # what the report and the dashboard tell a reader a calm face gives
    from edge.analysis.emotion import NEUTRAL_READ_AS

    for cls, rate in NEUTRAL_READ_AS.items():
        assert abs(read_rate(c7, "neutral", cls) - rate) <= 0.001, cls
    assert 0.2 <= NEUTRAL_READ_AS["negative"] <= 0.3  # the page says "about one calm face in four"


def test_emotion_is_measured_on_a_folder_of_face_images(fer_dir: Path, tmp_path: Path) -> None:
    """Faces not in FER2013's arrays come as images in class folders: 140 real public-test faces
    written so (half as 48x48 grey PNG, half as 96x96 colour PNG, shrunk back on reading) score exactly
    as the same faces from the .npz; folder names are matched case-insensitively with the usual
    aliases; a wrong folder name and a look-alike .npz are refused by name."""
    import cv2

    from tools.quantize.evaluate_emotion import evaluate_emotion
    from tools.quantize.fer import CLASSES7, load_fer
    from tools.quantize.sources import SourceError

    x, y, _ = load_fer(fer_dir / "public_test.npz")
    pick = np.concatenate([np.flatnonzero(y == k)[:20] for k in range(7)])
    names = {k: c for k, c in enumerate(CLASSES7)} | {3: "Happiness", 4: "SAD"}
    folder = tmp_path / "faces"
    for i in pick:
        d = folder / names[int(y[i])]
        d.mkdir(parents=True, exist_ok=True)
        face = x[i] if i % 2 else cv2.cvtColor(cv2.resize(x[i], (96, 96), interpolation=cv2.INTER_NEAREST),
                                               cv2.COLOR_GRAY2BGR)
        cv2.imwrite(str(d / f"{i:05d}.png"), face)
    arrays = tmp_path / "public_test.npz"  # the shared split's name, other contents
    np.savez(arrays, x=x[pick], y=y[pick])
    model = MODELS / "emotion_int8.tflite"
    from_folder = evaluate_emotion(model, folder)
    from_arrays = evaluate_emotion(model, arrays, check=False)
    assert from_folder.n == from_arrays.n == 140
    assert np.array_equal(from_folder.confusion7, from_arrays.confusion7)
    assert from_folder.accuracy7 == from_arrays.accuracy7 > 0.3
    with pytest.raises(SourceError, match="does not match the expected"):
        evaluate_emotion(model, arrays)  # a build or a recorded number needs the shared file itself
    (folder / "bored").mkdir()
    with pytest.raises(SourceError, match="bored: not an emotion class folder"):
        evaluate_emotion(model, folder)


@pytest.mark.parametrize("variant", ["lightning", "thunder"])
def test_int8_keypoints_follow_float_model(variant: str, shared_dir: Path, images_dir: Path) -> None:
    from edge.analysis.imaging import letterbox
    from tools.quantize import movenet as mn
    from tools.quantize.calibration import collect_frames

    src = mn.load_source(shared_dir / "models" / "tfjs" / f"movenet-{variant}.json", variant)
    frames = collect_frames([images_dir])
    inputs = np.stack([letterbox(f, src.size) for _, f in frames])
    ref = mn.run_tflite(mn.float_tflite(src), inputs)
    ours = mn.run_tflite(MODELS / f"movenet_{variant}_int8.tflite", inputs)
    agreement = mn.agreement(ref, ours)
    assert agreement.n > 50
    assert agreement.mean_err < 0.02, agreement.line(variant)
    # every confidently seen keypoint stays within 8% of the image of the float model's (the worst
    # measured: 0.051, the elbow of crossed arms in tfjs_portrait.jpg, where the joint is ambiguous).
    # Not on the photo of three people: a single-pose model may put a joint on another person, and
    # which one can change with quantization (Thunder int8 moved a wrist by 0.59 to a neighbour).
    for (name, _), r, o in zip(frames, ref, ours, strict=True):
        if name == "tfjs_three_people.jpg":
            continue
        for k in np.flatnonzero(r[:, 2] > 0.5):
            d = float(np.hypot(*(r[k, :2] - o[k, :2])))
            assert d < 0.08, f"{name}: keypoint {k} moved {d:.3f} from the float model"


def test_movenet_tool_end_to_end_on_a_few_images(tmp_path: Path, shared_dir: Path, images_dir: Path) -> None:
    calib = tmp_path / "calib"
    calib.mkdir()
    for name in ("tfjs_pose.jpg", "coral_squat.bmp", "openpose_COCO_val2014_000000000294.jpg"):
        shutil.copy(images_dir / name, calib / name)
    out = tmp_path / "m.tflite"
    manifest = tmp_path / "manifest.json"
    src = shared_dir / "models" / "tfjs" / "movenet-lightning.json"
    r = _tool("movenet", "--variant", "lightning", "--source", str(src), "--calib", str(calib), "--views", "1",
              "--float-layers", "2", "--out", str(out), "--manifest", str(manifest))
    assert r.returncode == 0, r.stderr[-2000:]
    entry = json.loads(manifest.read_text())["models"]["m.tflite"]
    assert entry["input"]["dtype"] == "uint8" and entry["input"]["shape"] == [1, 192, 192, 3]
    assert len(entry["float_layers"]) == 2
    r = _tool("evaluate-pose", "--float", str(src), "--int8", f"tiny={out}", "--images", str(calib),
              "--manifest", str(manifest))
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("tiny "))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    assert float(fields["mean_err"]) < 0.05 and int(fields["n"]) > 10
    r = _tool("latency", "--model", f"tiny={out}", "--rounds", "2", "--manifest", str(manifest))
    assert r.returncode == 0 and "threads2=" in r.stdout
    r = _tool("cards", "--manifest", str(manifest))
    assert r.returncode == 0
    card = (tmp_path / "m.md").read_text()
    assert entry["sha256"] in card and "mean_err=" in card


def test_emotion_tool_end_to_end_on_a_subset(tmp_path: Path, fer_dir: Path, shared_dir: Path) -> None:
    out = tmp_path / "e.tflite"
    manifest = tmp_path / "manifest.json"
    r = _tool("emotion", "--train", str(fer_dir / "train.npz"), "--val", str(fer_dir / "public_test.npz"),
              "--out", str(out), "--work", str(tmp_path / "work"), "--limit", "256", "--minutes", "0.1",
              "--prune-epochs", "1", "--widths", "8:16", "--batch", "32", "--manifest", str(manifest))
    assert r.returncode == 0, r.stderr[-3000:]
    entry = json.loads(manifest.read_text())["models"]["e.tflite"]
    assert entry["input"]["shape"] == [1, 48, 48, 1] and entry["output"]["shape"] == [1, 7]
    assert entry["input"]["dtype"] == "uint8" and entry["training"]["epochs"] > 0  # what fitted in 6 s
    assert entry["training"]["sparsity"] >= 0.5 and entry["training"]["tflite_sparsity"] >= 0.5
    assert entry["training"]["sharpness"]["train"] > 0.25 * entry["training"]["sharpness"]["val"]
    assert len(entry["accuracy"]["int8"]["confusion7"]) == 7 and len(entry["accuracy"]["int8"]["recall7"]) == 7
    assert set(entry["accuracy"]) >= {"float", "pruned", "int8"}
    assert (tmp_path / "work" / "emotion_pruned_float32.tflite").exists()
    r = _tool("evaluate-emotion", "--model", str(out), "--model", str(shared_dir / "models/tfjs/emotion.json"),
              "--data", str(fer_dir / "public_test.npz"), "--limit", "200")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("accuracy7=") == 2 and "positive" in r.stdout


def test_erk_spreads_the_sparsity_by_layer_shape() -> None:
    """The shipped network's kernels: 55% zeros overall, the 288-weight first convolution and the
    7-way head dense, the larger a layer the sparser (Erdos-Renyi-kernel)."""
    from tools.quantize.emotion_prune import erk_sparsities

    shapes = {"c1": (3, 3, 1, 32), "c2": (3, 3, 32, 32), "c3": (3, 3, 32, 48), "c4": (3, 3, 48, 48),
              "c5": (3, 3, 48, 80), "c6": (3, 3, 80, 80), "c7": (3, 3, 80, 160), "head": (160, 7)}
    plan = erk_sparsities(shapes, 0.55)
    sizes = {n: int(np.prod(s)) for n, s in shapes.items()}
    zeros = sum(plan[n] * sizes[n] for n in shapes)
    assert zeros / sum(sizes.values()) == pytest.approx(0.55, abs=1e-6)
    assert plan["c1"] == 0.0 and plan["head"] == 0.0
    convs = [plan[f"c{i}"] for i in range(2, 8)]
    assert convs == sorted(convs) and 0.6 < plan["c7"] < 0.8


def test_pruning_starts_from_the_float_export(tmp_path: Path, fer_dir: Path) -> None:
    """The folded Keras network read back from a float export predicts what the export does."""
    from edge.analysis.inference import load_interpreter
    from tools.quantize.emotion import _as_float32, build_model
    from tools.quantize.emotion_export import to_tflite
    from tools.quantize.emotion_prune import load_folded
    from tools.quantize.fer import load_fer

    widths = ((8,), (16,))
    model = _as_float32(build_model(widths), widths)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial batch norms, so that the folding is exercised
        if "batch_normalization" in layer.name:
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, g.shape), rng.normal(0, 0.3, b.shape),
                               rng.normal(0, 0.3, m.shape), rng.uniform(0.5, 2, v.shape)])
    path = tmp_path / "f.tflite"
    path.write_bytes(to_tflite(model, flip_tta=False))
    folded = load_folded(path, widths)
    faces, _, _ = load_fer(fer_dir / "public_test.npz", limit=8)
    interp = load_interpreter(path, threads=1)
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    for face in faces:
        x = face[None, :, :, None].astype(np.float32)
        interp.set_tensor(inp, x)
        interp.invoke()
        np.testing.assert_allclose(folded.predict(x, verbose=0), interp.get_tensor(out), atol=1e-4)
    with pytest.raises(Exception, match="--widths"):
        load_folded(path, ((8,), (24,)))


def test_emotion_tool_refuses_a_blurred_training_split(tmp_path: Path, fer_dir: Path) -> None:
    """A blurred copy of a small subset is refused before any training, naming both files and figures."""
    import cv2

    from tools.quantize.emotion import check_sharpness

    with np.load(fer_dir / "train.npz") as data:
        x, y = data["x"][:200], data["y"][:200]
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in x])
    npz = tmp_path / "train_blurred.npz"
    np.savez(npz, x=blurred, y=y)
    out = tmp_path / "e.tflite"
    r = _tool("emotion", "--train", str(npz), "--val", str(fer_dir / "public_test.npz"), "--out", str(out),
              "--limit", "200", timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert str(npz) in r.stderr and "public_test.npz" in r.stderr and "blurrier" in r.stderr
    figures = re.search(r"Laplacian variance: ([\d.]+) against ([\d.]+)", r.stderr)
    assert figures is not None, r.stderr[-2000:]
    assert float(figures.group(1)) < 0.25 * float(figures.group(2))
    assert not out.exists()
    # the same subset unblurred passes the check
    with np.load(fer_dir / "public_test.npz") as data:
        val = data["x"][:64]
    sharp, ref = check_sharpness(x, val, fer_dir / "train.npz", fer_dir / "public_test.npz")
    assert sharp > 0.25 * ref


def test_emotion_crops_sheet_from_the_runtime_path(tmp_path: Path, shared_dir: Path, images_dir: Path,
                                                   fer_dir: Path) -> None:
    """The contact-sheet tool runs the device's FrameAnalyzer on real faces and measures their framing."""
    import cv2

    manifest = tmp_path / "manifest.json"
    out = tmp_path / "crops.png"
    video = shared_dir / "data" / "videos" / "slp_webcam_test_video.mp4"
    r = _tool("emotion-crops", "--images", str(images_dir / "tfjs_portrait.jpg"), "--images",
              str(images_dir / "coral_face.jpg"), "--videos", str(video), "--every", "6",
              "--fer", str(fer_dir / "public_test.npz"), "--fer-faces", "60",
              "--landmarks", str(shared_dir / "models/face/face_landmark.tflite"), "--out", str(out),
              "--manifest", str(manifest), timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] > 96 and sheet.shape[1] > 96
    entry = json.loads(manifest.read_text())["models"]["emotion_int8.tflite"]["real_faces"]
    assert entry["faces"] >= 5 and entry["runtime_framing"]["measured"] >= 3
    # FER2013 framing as the landmark model measures it: eyes a little above the middle, ~37% apart
    fer = entry["fer_framing"]
    assert 0.3 < fer["eye_y"]["median"] < 0.45 and 0.3 < fer["eye_dist"]["median"] < 0.45
    assert set(entry["gap"]) == {"eye_y", "eye_x", "eye_dist", "roll_deg"}


def test_baseline_is_measured_like_the_paper(fer_dir: Path, shared_dir: Path) -> None:
    from tools.quantize.evaluate_emotion import evaluate_emotion

    score = evaluate_emotion(shared_dir / "models/tfjs/emotion.json", fer_dir / "public_test.npz", limit=600)
    assert 0.55 < score.accuracy7 < 0.75  # 65.4% on the full split, 66% in its paper


def test_bad_sources_are_named(tmp_path: Path, shared_dir: Path, images_dir: Path, fer_dir: Path) -> None:
    tfjs = shared_dir / "models" / "tfjs"
    # missing file
    r = _tool("movenet", "--variant", "lightning", "--source", str(tmp_path / "movenet-lightning.json"),
              "--calib", str(images_dir), "--out", str(tmp_path / "x.tflite"))
    assert r.returncode == 2 and "movenet-lightning.json: source file not found" in r.stderr
    # sha256 mismatch: same name, one byte changed
    bad = tmp_path / "movenet-lightning.json"
    data = bytearray((tfjs / "movenet-lightning.json").read_bytes())
    data[-2] = ord(" ")
    bad.write_bytes(bytes(data))
    r = _tool("movenet", "--variant", "lightning", "--source", str(bad), "--calib", str(images_dir),
              "--out", str(tmp_path / "x.tflite"))
    assert r.returncode == 2 and str(bad) in r.stderr and "does not match" in r.stderr
    # not a model
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2, 3]")
    r = _tool("movenet", "--variant", "lightning", "--source", str(junk), "--calib", str(images_dir),
              "--out", str(tmp_path / "x.tflite"))
    assert r.returncode == 2 and "junk.json" in r.stderr and "TF.js graph model" in r.stderr
    # wrong shape: the Thunder graph given as Lightning
    r = _tool("movenet", "--variant", "lightning", "--source", str(tfjs / "movenet-thunder.json"),
              "--calib", str(images_dir), "--out", str(tmp_path / "x.tflite"))
    assert r.returncode == 2 and "movenet-thunder.json" in r.stderr and "1×192×192×3" in r.stderr
    # a data set with the wrong arrays
    npz = tmp_path / "train.npz"
    np.savez(npz, x=np.zeros((4, 32, 32), np.uint8), y=np.zeros(4, np.uint8))
    r = _tool("emotion", "--train", str(npz), "--val", str(fer_dir / "public_test.npz"),
              "--out", str(tmp_path / "e.tflite"), "--limit", "4")
    assert r.returncode == 2 and "train.npz" in r.stderr and "48×48" in r.stderr
    assert not (tmp_path / "x.tflite").exists()


def test_savedmodel_source_gives_the_same_float_model(tmp_path: Path, shared_dir: Path, images_dir: Path) -> None:
    """A user who downloads MoveNet from TF Hub/Kaggle has a SavedModel with an int32 input: accept it."""
    import tensorflow as tf

    from edge.analysis.imaging import letterbox
    from tools.quantize import movenet as mn
    from tools.quantize.calibration import collect_frames

    tfjs = mn.load_source(shared_dir / "models" / "tfjs" / "movenet-lightning.json", "lightning")

    class Hub(tf.Module):
        def __init__(self, fn: object) -> None:
            super().__init__()
            self.fn = fn

        @tf.function(input_signature=[tf.TensorSpec([1, 192, 192, 3], tf.int32, name="input")])
        def serve(self, input: tf.Tensor) -> dict:  # noqa: A002 (TF Hub's input name)
            out = self.fn(tf.cast(input, tf.float32))  # the pruned graph function returns a list
            return {"output_0": out[0] if isinstance(out, (list, tuple)) else out}

    hub = Hub(tfjs.function)
    tf.saved_model.save(hub, str(tmp_path / "sm"), signatures={"serving_default": hub.serve})
    saved = mn.load_source(tmp_path / "sm", "lightning")
    assert "saved_model.pb" in saved.sources
    frames = collect_frames([images_dir / "tfjs_pose.jpg", images_dir / "coral_squat.bmp"])
    inputs = np.stack([letterbox(f, 192) for _, f in frames])
    ref = mn.run_tflite(mn.float_tflite(tfjs), inputs)
    assert np.abs(mn.run_tflite(mn.float_tflite(saved), inputs) - ref).max() < 1e-5
    f32 = mn.float_tflite(saved)
    q = mn.quantize(mn.calibrated_model(saved, inputs), mn.decode_nodes(f32))
    assert mn.agreement(ref, mn.run_tflite(q, inputs)).mean_err < 0.05


def test_memory_tool_counts_what_each_model_holds(tmp_path: Path) -> None:
    """`memory` loads each model in a fresh process: the file-backed share is the model file's resident
    pages (about its size), and a model with larger float activations holds more anonymous memory; a
    missing or corrupt file is refused with a message naming it."""
    pose, emotion = MODELS / "movenet_lightning_int8.tflite", MODELS / "emotion_int8.tflite"
    r = _tool("memory", "--model", f"pose={pose}", "--model", f"emotion={emotion}")
    assert r.returncode == 0, r.stderr[-2000:]
    got = {}
    for line in r.stdout.splitlines():
        name, *fields = line.split()
        got[name] = {k: float(v.removesuffix("MiB")) for k, v in (f.split("=") for f in fields)}
    for name, path in (("pose", pose), ("emotion", emotion)):
        size = path.stat().st_size / 2**20
        assert 0.5 * size <= got[name]["file"] <= size + 0.01, (name, got[name], size)
        assert got[name]["total"] == pytest.approx(got[name]["anon"] + got[name]["file"], abs=0.02)
    assert got["pose"]["anon"] > 3 * got["emotion"]["anon"] > 0
    bad = _tool("memory", "--model", "x=models/quantized/no_such.tflite")
    assert bad.returncode != 0 and "no_such.tflite" in bad.stderr
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a model")
    bad = _tool("memory", "--model", f"x={corrupt}")
    assert bad.returncode == 2 and "corrupt.tflite is not a TFLite flatbuffer" in bad.stderr, bad.stderr[-500:]
