"""`python -m tools.quantize face` and the face models it ships, on real data through the real interpreter.

The shipped landmark and iris models are measured against MediaPipe's sources on a few real crops with
the bounds the tool adopted them by; the tool itself runs end to end on a tiny calibration set (a
broken rebuild, conversion or measurement cannot pass), including a full-int8 candidate with a uint8
input that the runtime must feed through its own input quantization.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_models import face_sources, pose_source

from edge.analysis import models as M
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceMesh
from edge.analysis.inference import load_interpreter

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models" / "quantized"
CANDIDATES = ("int8", "dynamic_int8", "float16")


@pytest.fixture(scope="module")
def entries() -> dict[str, dict]:
    """The manifest entries of the shipped face models, by role."""
    faces = face_sources()
    if len(faces) != 2:
        pytest.skip("no face models in models/quantized (python -m tools.quantize face ...)")
    manifest = json.loads((MODELS / "manifest.json").read_text())["models"]
    return {role: manifest[path.name] for role, path in faces.items()}


@pytest.fixture(scope="module")
def sources(shared_dir: Path) -> tuple[Path, Path]:
    src = shared_dir / "models" / "face"
    return src / "face_landmark.tflite", src / "iris_landmark.tflite"


def test_shipped_face_models_match_manifest_and_card(entries: dict[str, dict]) -> None:
    from edge.analysis.models import sha256_file

    for role, e in entries.items():
        path = MODELS / e["file"]
        assert sha256_file(path) == e["sha256"] and path.stat().st_size == e["size_bytes"]
        assert len([n for n, x in json.loads((MODELS / "manifest.json").read_text())["models"].items()
                    if x.get("role") == role]) == 1, f"one manifest entry per role ({role})"
        assert M.FACE_FILES[role] == e["file"], "the runtime's default name is the adopted file"
        q = e["quantization"]
        assert set(q["candidates"]) == set(CANDIDATES)
        adopted = q["candidates"][q["adopted"]]
        assert adopted["within_bounds"] and not adopted["broken"]
        assert q["rebuild_max_abs_diff"] <= 1e-3
        assert q["evaluation"]["crops"] >= 50
        assert not set(q["evaluation"]["sources"]) & set(q["calibration"]["sources"])
        for c in q["candidates"].values():  # every candidate measured and timed
            assert c["size_bytes"] > 0 and c["threads1"] > 0 and c["threads2"] > 0 and np.isfinite(c["gaze_p90_deg"])
            assert c["xnnpack_partitions"] >= 1
        assert "../shared/models/face/" in e["command"] and "/work/" not in e["command"]
        card = (MODELS / (Path(e["file"]).stem + ".md")).read_text()
        assert e["sha256"] in card and e["command"] in card and "| **yes** |" in card
        interp = load_interpreter(path, threads=1)  # the contract the runtime reads from the model
        inp = interp.get_input_details()[0]
        assert list(inp["shape"]) == e["input"]["shape"] and inp["dtype"].__name__ == e["input"]["dtype"]
        if role == "face_landmark":
            FaceMesh(path, None, 1)
        else:
            FaceMesh.check_iris(path)


def test_shipped_face_models_keep_their_bounds_on_real_crops(entries: dict[str, dict], sources: tuple[Path, Path],
                                                             images_dir: Path, videos_dir: Path) -> None:
    """Against the sources, on crops of a photo and a webcam clip, the shipped models stay within the
    bounds they were adopted by (landmarks, head angle, gaze, face/no-face)."""
    from tools.quantize.face_data import face_crops
    from tools.quantize.face_eval import BOUNDS, iris_agreement, landmark_agreement

    landmark_src, iris_src = sources
    crops = face_crops([images_dir / "coral_grace_hopper.bmp", videos_dir / "slp_webcam_test_video.mp4"],
                       pose_source(), video_every=15, reference=landmark_src)
    assert len(crops) >= 4
    faces = face_sources()
    ref = FaceMesh(landmark_src, iris_src, threads=2)
    lm = landmark_agreement(ref, FaceMesh(faces["face_landmark"], iris_src, threads=2), crops)
    assert lm.p90_px <= BOUNDS["landmark_p90_px"] and lm.angle_p90_deg <= BOUNDS["angle_p90_deg"]
    assert lm.gaze_p90_deg <= BOUNDS["gaze_p90_deg"] and lm.score_agreement == 1.0
    ir = iris_agreement(ref, FaceMesh(landmark_src, faces["iris"], threads=2), crops)
    assert ir.eyes == 2 * len(crops) and ir.gaze_p90_deg <= BOUNDS["gaze_p90_deg"]


@pytest.mark.slow
def test_face_tool_end_to_end_on_a_tiny_set(tmp_path: Path, shared_dir: Path, images_dir: Path,
                                            videos_dir: Path, sources: tuple[Path, Path]) -> None:
    """Rebuild, three candidates, measurement, choice, manifest and cards, on 6 video crops + 6 FER faces
    (calibration) and 2 photos (evaluation); stale entries of a role are dropped with their files."""
    pytest.importorskip("tensorflow", reason="the model tools need the `quantize` extra")
    from tools.quantize.__main__ import main
    from tools.quantize.cards import write_cards

    landmark_src, iris_src = sources
    out, work = tmp_path / "models", tmp_path / "work"
    out.mkdir()
    (out / "movenet_lightning_int8.tflite").write_bytes(pose_source().read_bytes())
    (out / "iris_landmark_f32.tflite").write_bytes(b"stale")
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "models": {
        "iris_landmark_f32.tflite": {"file": "iris_landmark_f32.tflite", "role": "iris", "sha256": "0" * 64}}}))
    evaluation = ["--images", str(images_dir / "coral_grace_hopper.bmp"),
                  "--images", str(images_dir / "tfjs_portrait.jpg")]
    rc = main(["face", "--landmark", str(landmark_src), "--iris", str(iris_src),
               "--calib-video", str(videos_dir / "slp_webcam_test_video.mp4"), "--calib-every", "10",
               "--calib-fer", str(shared_dir / "data" / "fer2013" / "public_test.npz"), "--fer-limit", "6",
               *evaluation, "--float-layers", "0", "--rounds", "3", "--work", str(work),
               "--out-dir", str(out), "--manifest", str(manifest)])
    assert rc == 0
    models = json.loads(manifest.read_text())["models"]
    assert "iris_landmark_f32.tflite" not in models and not (out / "iris_landmark_f32.tflite").exists()
    for role in ("face_landmark", "iris"):
        (name, e), = [(n, x) for n, x in models.items() if x.get("role") == role]
        q = e["quantization"]
        assert (out / name).is_file() and q["adopted"] in CANDIDATES and name.endswith(".tflite")
        assert q["rebuild_max_abs_diff"] <= 1e-3 and q["evaluation"]["crops"] == 2
        f16 = q["candidates"]["float16"]
        assert f16["xnnpack_partitions"] == 1  # the float graph runs whole in XNNPACK
        if role == "face_landmark":
            assert f16["p90_px"] < 0.05 and f16["score_agreement"] == 1.0 and q["calibration"]["fer_faces"] == 6
            assert q["float_moved_1px"]["mean_px"] > f16["mean_px"]
        else:
            assert f16["iris_p90_px"] < 0.05 and q["calibration"]["fer_faces"] == 0
            # both eyes in one invoke when the batched rebuild reads them as the single one does and is faster
            batch = q["batch"]
            assert batch["batch"] in (1, 2) and batch["why"]
            assert int(load_interpreter(out / name, 1).get_input_details()[0]["shape"][0]) == batch["batch"]
            if "max_abs_diff" in batch:
                assert batch["eyes"] == 4 and batch["max_abs_diff"] <= 1e-3
        batched = role == "iris" and q["batch"]["batch"] == 2  # the batch-1 timing is then one more reference
        assert e["latency_ms"]["threads2"] > 0 and len(e["latency_ms"]["references"]) == 3 + batched
    assert any(c.name.startswith("iris_landmark_") for c in write_cards(manifest))
    # the full-int8 candidate takes uint8 pixels: the runtime feeds it through its input quantization
    int8 = work / "face_landmark_int8.tflite"
    assert load_interpreter(int8, 1).get_input_details()[0]["dtype"] == np.uint8
    from tools.quantize.face_data import face_crops

    crop = face_crops([images_dir / "coral_grace_hopper.bmp"], pose_source(), reference=landmark_src)[0]
    a = FaceMesh(landmark_src, None, 1).landmarks(crop.frame, crop.roi)
    b = FaceMesh(int8, None, 1).landmarks(crop.frame, crop.roi)
    assert b.score > MIN_FACE_SCORE
    assert float(np.median(np.hypot(*(a.points[:, :2] - b.points[:, :2]).T))) * 192 / crop.roi.side < 3.0


def test_face_tool_refuses_bad_sources_and_shared_files(tmp_path: Path, images_dir: Path,
                                                        sources: tuple[Path, Path]) -> None:
    pytest.importorskip("tensorflow", reason="the model tools need the `quantize` extra")
    from tools.quantize.__main__ import main
    from tools.quantize.sources import SourceError
    from tools.quantize.tflite_graph import read_tflite_graph

    landmark_src, iris_src = sources
    out = tmp_path / "models"
    out.mkdir()
    (out / "movenet_lightning_int8.tflite").write_bytes(pose_source().read_bytes())
    bad = tmp_path / "face_landmark.tflite"
    bad.write_bytes(b"TFL3 not the right model")
    assert main(["face", "--landmark", str(bad), "--iris", str(iris_src), "--calib-images", str(images_dir),
                 "--images", str(tmp_path), "--out-dir", str(out)]) == 2  # sha256 differs
    portrait = images_dir / "tfjs_portrait.jpg"
    assert main(["face", "--landmark", str(landmark_src), "--iris", str(iris_src), "--calib-images", str(images_dir),
                 "--images", str(portrait), "--out-dir", str(out)]) == 2  # evaluation file also calibrates
    with pytest.raises(SourceError, match="quantized|not supported"):  # an int8 model is no float source
        read_tflite_graph(pose_source())
    with pytest.raises(SourceError, match="not a TFLite flatbuffer"):
        read_tflite_graph(portrait)


def test_face_cost_times_every_step(images_dir: Path, sources: tuple[Path, Path], entries: dict[str, dict],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`face-cost` (the per-check table of docs/face.md) times each step on a real face, the source next to
    the shipped model."""
    from tools.quantize.__main__ import main

    rc = main(["face-cost", "--video", str(images_dir / "coral_grace_hopper.bmp"), "--models-dir", str(MODELS),
               "--iris", f"source={sources[1]}", "--rounds", "3", "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "1 faces" in out
    for step in ("bare MoveNet invoke", f"iris, both eyes ({entries['iris']['file']})", "iris, both eyes (source)",
                 "solvePnP", "emotion crop (align_face)"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {step} |"))
        assert float(row.split("|")[2]) > 0
