"""`python -m tools.validate`: the label files, the arithmetic of the table, and one real run on the
labelled shared clips (the real models, the real analysis path)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tools.validate.__main__ import main
from tools.validate.expression import ExpressionCounts, model_class3
from tools.validate.labels import COLUMNS, EXPRESSIONS, YES_NO, FrameLabel, LabelError, load_clips, parse_rows
from tools.validate.metrics import (
    CONTRADICTED,
    MISSING,
    SUPPORTED,
    UNVERIFIABLE,
    CategoryCounts,
    MetricCounts,
    align,
    check_emotion_finding,
    check_finding,
    check_findings,
    feature_values,
    score,
)
from tools.validate.suite import failures


def _label(t: float, frame: int, expression: str | None = None, **metrics: bool | None) -> FrameLabel:
    values: dict[str, bool | None] = dict.fromkeys(YES_NO)
    values.update(metrics)
    return FrameLabel(t, frame, None, None, values, "", f"test:{frame}", expression)


# --- arithmetic on hand-made labels ------------------------------------------------------------------


def test_metric_counts_on_known_values() -> None:
    labels = [True, True, False, False, None, True, False]
    values = [True, False, False, None, True, None, True]
    c = MetricCounts()
    for lab, v in zip(labels, values, strict=True):
        c.add(lab, v)
    assert (c.labelled_y, c.labelled_n, c.labelled_unknown) == (3, 3, 1)
    assert (c.tp, c.fn, c.tn, c.fp) == (1, 1, 1, 1)
    assert (c.judged, c.unjudged, c.judged_on_unknown) == (4, 2, 1)
    assert c.accuracy == pytest.approx(2 / 4)
    assert c.precision == pytest.approx(1 / 2)
    assert c.recall == pytest.approx(1 / 2)
    assert c.coverage == pytest.approx(4 / 6)
    empty = MetricCounts()
    assert empty.accuracy is None and empty.precision is None and empty.recall is None and empty.coverage is None


def test_align_pairs_by_nearest_time_and_counts_leftovers() -> None:
    labels = [_label(0.0, 0), _label(0.1, 3), _label(0.2, 6)]
    analysed = [(0.0, 0, {"present": True}), (0.1004, 3, {"present": True}), (0.31, 9, {"present": True}),
                (0.4, 12, {"present": True})]
    pairs, unlabelled = align(labels, analysed, tolerance_s=0.05)
    assert [p.index for p in pairs] == [0, 3, None]
    assert pairs[2].values is None
    assert unlabelled == 2


def test_score_table_and_categories_read_optional_fields() -> None:
    labels = [_label(0.0, 0, gesturing=True), _label(0.1, 1, gesturing=False), _label(0.2, 2, gesturing=None)]
    old = SimpleNamespace(present=True, gesturing=True)  # an analysis without posture/head_direction fields
    analysed = [(lab.time_s, lab.frame, feature_values(old)) for lab in labels]
    pairs, _ = align(labels, analysed, 0.05)
    table = score(pairs)
    g = table.metrics["gesturing"]
    assert (g.tp, g.fp, g.judged_on_unknown) == (1, 1, 1)
    assert table.posture.as_dict()["status"] == "not measured"
    assert table.head.as_dict()["status"] == "not measured"
    assert feature_values(old)["posture"] is MISSING

    unmeasured = CategoryCounts()
    unmeasured.add("seated", MISSING)
    assert unmeasured.as_dict() == {"measured": False, "labelled": 1, "status": "not measured"}

    cat = CategoryCounts()
    for lab, val in (("seated", "seated"), ("seated", "standing"), ("standing", None), (None, "seated")):
        cat.add(lab, val)
    assert (cat.labelled, cat.judged, cat.agree) == (3, 2, 1)
    assert cat.agreement == pytest.approx(0.5) and cat.confusion == {"seated->standing": 1}


def test_an_unmatched_label_is_unjudged_not_an_absent_field() -> None:
    """At an `analysis.fps` other than the labels' 10, some labels line up with no analysed frame: they
    count as unjudged for posture and head direction too, not as "the analysis has no such field"."""
    labels = [replace(_label(t, i), posture="seated", head="down") for i, t in enumerate((0.0, 0.1))]
    features = SimpleNamespace(present=True, posture="seated", head_direction="down")
    pairs, _ = align(labels, [(0.0, 0, feature_values(features))], 0.05)  # the second label: no frame
    table = score(pairs)
    for counts in (table.posture, table.head):
        assert counts.measured and (counts.labelled, counts.judged, counts.agree) == (2, 1, 1)
        assert counts.coverage == pytest.approx(0.5)


def test_findings_are_checked_against_the_labelled_share() -> None:
    labels = [_label(i / 10, i, hands_in_pockets=(i < 3), looking_down=None) for i in range(10)]
    labels += [_label(1.0 + i / 10, 10 + i, hands_in_pockets=None) for i in range(4)]
    pockets = {"code": "hands_in_pockets", "severity": "critical", "metric": "hands_in_pockets",
               "value": 0.58, "threshold": 0.2}
    r = check_finding(pockets, labels, min_labelled=10)
    assert r["verdict"] == SUPPORTED and r["labelled_share"] == pytest.approx(0.3)
    assert r["bounds"] == pytest.approx([3 / 14, 7 / 14])
    r = check_finding({**pockets, "threshold": 0.4}, labels, min_labelled=10)
    assert r["verdict"] == CONTRADICTED
    low = {"code": "gesture_low", "severity": "warning", "metric": "hands_in_pockets", "value": 0.1,
           "threshold": 0.2}  # a "min" rule: fires below its threshold
    assert check_finding(low, labels, 10)["verdict"] == CONTRADICTED
    assert check_finding({**pockets, "metric": "looking_down"}, labels, 10)["verdict"] == UNVERIFIABLE
    assert check_finding({**pockets, "metric": "emotion.negative"}, labels, 10)["verdict"] == UNVERIFIABLE


def test_expression_counts_on_known_values() -> None:
    pairs = [  # (label, model's 3-class fold); None = "?" / the model did not run
        ("neutral", "neutral"), ("neutral", "negative"), ("neutral", "negative"), ("neutral", None),
        ("positive", "positive"), ("positive", "neutral"), ("negative", "negative"),
        (None, "negative"), (None, None),
    ]
    e = ExpressionCounts()
    for lab, model in pairs:
        e.add(lab, model)
    assert (e.frames, e.unknown, e.classified, e.classified_on_unknown, e.judged, e.agree) == (9, 2, 7, 1, 6, 3)
    assert e.labelled == {"positive": 2, "neutral": 4, "negative": 1}
    assert e.confusion["neutral"] == {"positive": 0, "neutral": 1, "negative": 2}
    assert e.confusion["positive"] == {"positive": 1, "neutral": 1, "negative": 0}
    assert e.agreement == pytest.approx(3 / 6)
    assert e.recall("neutral") == pytest.approx(1 / 3)  # 1 of the 3 judged neutral frames
    assert e.recall("positive") == pytest.approx(1 / 2) and e.recall("negative") == pytest.approx(1.0)
    assert e.precision("negative") == pytest.approx(1 / 3) and e.precision("neutral") == pytest.approx(1 / 2)
    # the model's shares count every classified frame (also those labelled ?), the labels' every labelled one
    assert e.model_shares == pytest.approx({"positive": 1 / 7, "neutral": 2 / 7, "negative": 4 / 7})
    assert e.labelled_shares == pytest.approx({"positive": 2 / 7, "neutral": 4 / 7, "negative": 1 / 7})
    total = ExpressionCounts()
    total.merge(e)
    total.merge(e)
    assert (total.judged, total.agree, total.classified) == (12, 6, 14)
    assert total.confusion["neutral"]["negative"] == 4 and total.agreement == pytest.approx(0.5)
    assert ExpressionCounts().agreement is None and ExpressionCounts().model_shares["positive"] is None
    with pytest.raises(ValueError, match="expression label"):
        e.add("happy", None)
    # the fold the summary uses: FER arg-max index -> 3 classes
    assert [model_class3(i) for i in range(7)] == ["negative", "negative", "negative", "positive", "negative",
                                                   "positive", "neutral"]
    assert model_class3(None) is None


def test_score_and_report_carry_the_expression_table() -> None:
    labels = [_label(0.0, 0, "neutral"), _label(0.1, 1, "neutral"), _label(0.2, 2, None), _label(0.3, 3, "positive")]
    models = ["negative", None, "negative", "positive"]
    analysed = [(lab.time_s, lab.frame, {"present": True, "emotion": m}) for lab, m in zip(labels, models, strict=True)]
    pairs, _ = align(labels, analysed, 0.05)
    e = score(pairs).expression
    assert (e.judged, e.agree, e.classified, e.unknown) == (2, 1, 3, 1)
    assert e.confusion["neutral"]["negative"] == 1 and e.confusion["positive"]["positive"] == 1
    assert score(pairs).as_dict()["expression"]["agreement"] == pytest.approx(0.5)
    # --strict: the agreement bound applies from `min_judged` judged frames on, and is off by default
    result = SimpleNamespace(table=score(pairs), findings=[], run=SimpleNamespace(clip=SimpleNamespace(id="c")))
    assert failures([result], 0.0, 0.0, 2) == []
    assert failures([result], 0.0, 0.0, 2, min_expression_agreement=0.6) == [
        "expression: 3-class agreement 0.50 < 0.60 on 2 frames"]
    assert failures([result], 0.0, 0.0, 3, min_expression_agreement=0.6) == []


def test_emotion_findings_are_checked_against_the_expression_labels() -> None:
    calm = [_label(i / 10, i, "neutral") for i in range(40)] + [_label(4 + i / 10, 40 + i, None) for i in range(60)]
    negative = {"code": "negative_emotion", "severity": "critical", "metric": "emotion.negative", "value": 1.0,
                "threshold": 0.3, "message": "negative 100%"}
    r = check_emotion_finding(negative, calm, min_labelled=10)
    assert r["verdict"] == CONTRADICTED and r["labelled_share"] == 0.0
    assert (r["labelled_class"], r["labelled_other"], r["labelled_unknown"]) == (0, 40, 60)
    assert r["bounds"] == pytest.approx([0.0, 0.6])  # every ? negative: 60%
    positive_low = {**negative, "code": "positive_emotion_low", "metric": "emotion.positive", "value": 0.0,
                    "threshold": 0.1}
    assert check_emotion_finding(positive_low, calm, 10)["verdict"] == SUPPORTED  # no smile labelled either

    def with_share(k: int, cls: str) -> list[FrameLabel]:
        return [_label(i / 10, i, cls if i < k else "neutral") for i in range(100)]

    # a 30% "max" threshold: contradicted only under logit(0.3) - 0.5 (20.6%); near it unverifiable
    assert check_emotion_finding(negative, with_share(35, "negative"), 10)["verdict"] == SUPPORTED
    assert check_emotion_finding(negative, with_share(25, "negative"), 10)["verdict"] == UNVERIFIABLE
    assert check_emotion_finding(negative, with_share(20, "negative"), 10)["verdict"] == CONTRADICTED
    # a 10% "min" threshold: contradicted only over logit(0.1) + 0.5 (15.5%)
    assert check_emotion_finding(positive_low, with_share(5, "positive"), 10)["verdict"] == SUPPORTED
    assert check_emotion_finding(positive_low, with_share(12, "positive"), 10)["verdict"] == UNVERIFIABLE
    assert check_emotion_finding(positive_low, with_share(16, "positive"), 10)["verdict"] == CONTRADICTED
    # too few labelled frames, or a class without labels
    few = [_label(i / 10, i, "neutral" if i < 9 else None) for i in range(30)]
    assert "only 9 frame(s)" in check_emotion_finding(negative, few, 10)["reason"]
    assert check_emotion_finding({**negative, "metric": "emotion.bored"}, calm, 10)["verdict"] == UNVERIFIABLE
    # check_findings routes emotion findings here, info findings too (a false hint is still false)
    out = check_findings([negative, {**positive_low, "severity": "info"}], calm, 10)
    assert [f["verdict"] for f in out] == [CONTRADICTED, check_emotion_finding(positive_low, calm, 10)["verdict"]]
    assert out[0]["kind"] == "expression"


# --- the label files ---------------------------------------------------------------------------------


def test_bad_label_rows_name_file_and_line(tmp_path: Path) -> None:
    good = ",".join(["0.0", "0", "standing", "frontal"] + ["n"] * len(YES_NO) + ["neutral", "ok"])
    path = tmp_path / "clip.csv"
    path.write_text(",".join(COLUMNS) + "\n" + good + "\n" + good.replace("frontal", "sideways") + "\n")
    with pytest.raises(LabelError, match=r"clip.csv:3: column 'head'"):
        parse_rows(path, with_source=False)
    path.write_text(",".join(COLUMNS) + "\n" + good.replace(",n,", ",maybe,", 1) + "\n")
    with pytest.raises(LabelError, match=r"clip.csv:2: column 'facing_audience' must be y, n or \?"):
        parse_rows(path, with_source=False)
    path.write_text(",".join(COLUMNS) + "\n" + good.replace("neutral", "happy") + "\n")
    with pytest.raises(LabelError, match=r"clip.csv:2: column 'expression' must be one of positive, neutral"):
        parse_rows(path, with_source=False)
    path.write_text(",".join(COLUMNS) + "\n" + good.replace("neutral", "?") + "\n" + good + "\n")
    assert [lab.expression for _, lab in parse_rows(path, with_source=False)] == [None, "neutral"]
    path.write_text("time_s,frame\n")
    with pytest.raises(LabelError, match=r"clip.csv:1: header must be exactly"):
        parse_rows(path, with_source=False)


def test_the_labelled_set_loads(tmp_path: Path) -> None:
    clips = load_clips(shared=tmp_path)  # no data needed to check the labels themselves
    kinds = {c.kind for c in clips}
    assert kinds == {"video", "photo"}
    assert all(c.frames and c.presenter and c.licence for c in clips)
    assert sum(len(c.frames) for c in clips if c.kind == "video") >= 150
    # every frame carries an expression label (or "?"), every recording some that are not "?"
    assert {f.expression for c in clips for f in c.frames} <= {*EXPRESSIONS, None}
    assert all(any(f.expression for f in c.frames) for c in clips if c.kind == "video")


# --- one real run ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_json(tmp_path_factory: pytest.TempPathFactory, videos_dir: Path, images_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("validate") / "result.json"
    md = out.with_suffix(".md")
    assert main(["--json", str(out), "--markdown", str(md)]) == 0  # without --strict: always 0
    text = md.read_text()
    assert text.startswith("# Validation against the labelled set")
    assert "## Expression: the emotion model against the labels" in text
    return json.loads(out.read_text())


def test_real_run_covers_every_label(run_json: dict) -> None:
    clips = {c.id: c for c in load_clips()}
    assert {c["id"] for c in run_json["clips"]} == set(clips)
    for c in run_json["clips"]:
        # the labels were made on the frames `ppt-edge analyze` picks: every label meets its frame
        assert c["labels_without_frame"] == [], c["id"]
        assert c["frames_without_label"] == 0, c["id"]
        assert c["analysed_frames"] == len(clips[c["id"]].frames)
        t = c["table"]
        assert t["frames"] + t["other_person"] == c["labelled_frames"]
        for name, m in t["metrics"].items():
            assert m["labelled_y"] + m["labelled_n"] + m["labelled_unknown"] == t["frames"], (c["id"], name)
            assert m["judged"] + m["unjudged"] == m["labelled"]
            assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == m["judged"]
        for f in c["findings"]:
            assert f["verdict"] in (SUPPORTED, CONTRADICTED, UNVERIFIABLE)
            if str(f["metric"]).startswith("emotion."):
                assert f["kind"] == "expression"  # checked against the expression labels, not left unverifiable
        e = t["expression"]
        assert e["frames"] == t["frames"] and sum(e["labelled"].values()) + e["unknown"] == e["frames"]
        assert sum(e["model_counts"].values()) == e["classified"] <= t["matched"]
        assert e["judged"] + e["classified_on_unknown"] == e["classified"]
        assert e["judged"] == sum(sum(row.values()) for row in e["confusion"].values())


def test_real_run_pools_the_clips(run_json: dict) -> None:
    pooled = run_json["pooled"]
    for name in YES_NO:
        for key in ("labelled_y", "labelled_n", "judged", "tp", "tn"):
            assert pooled["metrics"][name][key] == sum(c["table"]["metrics"][name][key] for c in run_json["clips"])
        m = pooled["metrics"][name]
        if m["judged"]:
            assert m["accuracy"] == pytest.approx((m["tp"] + m["tn"]) / m["judged"])
    e = pooled["expression"]
    for key in ("frames", "unknown", "classified", "judged", "agree"):
        assert e[key] == sum(c["table"]["expression"][key] for c in run_json["clips"])
    assert e["classified"] > 0  # the emotion model ran on the labelled frames
    if e["judged"]:
        assert e["agreement"] == pytest.approx(e["agree"] / e["judged"])
    listed = {(c["clip"], c["code"]) for c in run_json["contradicted"] + run_json["contradicted_info"]}
    found = {(c["id"], f["code"]) for c in run_json["clips"] for f in c["findings"] if f["verdict"] == CONTRADICTED}
    assert listed == found
    assert all(c["severity"] == "info" for c in run_json["contradicted_info"])


def test_strict_fails_on_a_missed_bound(images_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--clip", "coral_grace_hopper", "--min-judged", "1"]
    assert main([*args, "--strict", "--min-accuracy", "1.01"]) == 1  # no accuracy reaches 1.01
    assert "accuracy" in capsys.readouterr().err
    assert main([*args, "--strict", "--min-accuracy", "0.0"]) == 0
    assert main(["--clip", "no_such_clip"]) == 2


def test_sheets_draw_each_labelled_frame(tmp_path: Path, images_dir: Path) -> None:
    assert main(["sheets", "--clip", "tfjs_portrait", "--clip", "coral_squat", "--out", str(tmp_path)]) == 0
    for cid in ("tfjs_portrait", "coral_squat"):
        img = cv2.imread(str(tmp_path / f"{cid}_01.png"))
        assert img is not None and img.shape[0] >= 300 and img.shape[1] >= 400


def test_no_finding_is_contradicted_by_the_labels(run_json: dict) -> None:
    """The promise the report rests on: no warning or critical finding that a person watching the
    labelled frames would call false (an emotion finding on a calm face, pockets on hands in a lap).
    Info findings are checked too, and none is false either: the seated singer's looking down, held
    back to info by its caveat, is supported."""
    assert run_json["contradicted"] == [], run_json["contradicted"]
    assert run_json["contradicted_info"] == [], run_json["contradicted_info"]
    raga = next(c for c in run_json["clips"] if c["id"] == "raga_3people_seated")
    assert [(f["code"], f["severity"], f["verdict"]) for f in raga["findings"]] == [("looking_down", "info", SUPPORTED)]


def test_every_metric_holds_its_measured_floor(run_json: dict) -> None:
    """A regression floor, not the goal: the goal is 0.9 per metric (`--strict`); today
    hands_in_gesture_zone (0.85) is under it (docs/validation.md). No metric may fall below 0.8
    pooled, where at least 20 labelled frames were judged."""
    for name, m in run_json["pooled"]["metrics"].items():
        if m["judged"] >= 20 and m["accuracy"] is not None:
            assert m["accuracy"] >= 0.8, (name, m["accuracy"], m["judged"])


def test_head_from_the_face_agrees_with_the_labels(run_json: dict) -> None:
    """Measured 0.90 head-direction agreement and 0.94 looking-down accuracy (docs/validation.md); the
    floors leave one or two frames of slack for another CPU's float rounding, and catch a return to
    the single-pass landmarks (0.77 and 0.86)."""
    pooled = run_json["pooled"]
    assert pooled["head_direction"]["agreement"] >= 0.88, pooled["head_direction"]
    assert pooled["head_direction"]["coverage"] >= 0.95, pooled["head_direction"]
    face = pooled["head_direction_from_face"]  # faces big enough for the landmark model
    assert face["judged"] >= 100 and face["agreement"] >= 0.88, face
    assert pooled["metrics"]["looking_down"]["accuracy"] >= 0.9, pooled["metrics"]["looking_down"]


# --- accuracy by the presenter's size (`python -m tools.validate scale`) -------------------------------


def test_scale_bins_and_the_trusted_size_on_hand_made_counts() -> None:
    from tools.validate.scale import NO_SCALE, ScaleBin, bin_names, bin_of, smallest_trusted, wilson_upper

    assert bin_of(None) == NO_SCALE and bin_of(5.0) == "0-6" and bin_of(12.0) == "12-16" and bin_of(300.0) == ">=24"
    assert bin_names() == ["0-6", "6-8", "8-10", "10-12", "12-16", "16-24", ">=24"]
    assert wilson_upper(30, 33) > 0.9 > 30 / 33 - 0.01 and wilson_upper(23, 29) < 0.9  # 0.91 and 0.79
    assert wilson_upper(0, 0) == 1.0

    def bin_with(right: int, judged: int) -> ScaleBin:
        b = ScaleBin()
        for k in range(judged):
            b.metrics["arms_crossed"].add(False, k >= right)  # a wrong "yes" for every frame past `right`
        return b

    bins = {">=24": bin_with(98, 100), "16-24": bin_with(45, 50), "12-16": bin_with(40, 45),
            "10-12": bin_with(20, 30), "8-10": bin_with(30, 30)}  # fmt: skip
    assert smallest_trusted(bins, 0.9, 20) == 12.0  # 10-12 is significantly under; 8-10 below it does not count
    bins["16-24"] = bin_with(5, 5)  # too few frames to say anything: the range ends there
    assert smallest_trusted(bins, 0.9, 20) == 24.0
    assert smallest_trusted({">=24": bin_with(50, 100)}, 0.9, 20) is None


def test_scale_runs_the_labelled_photos_shrunk(images_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["scale", "--clip", "coral_grace_hopper", "--clip", "tfjs_portrait", "--min-judged", "1"]
    assert main([*args, "--downscale", "1", "8", "--jpeg", "50"]) == 0
    out = capsys.readouterr().out
    assert "Downscale factors 1, 8, JPEG quality 50" in out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert ">=24 px" in rows["metric"] and "arms_crossed" in rows  # the full-size photos, judged
    assert "from keypoints" in rows  # shrunk 8x, their faces are too small for the landmarks
    assert main([*args, "--downscale", "0.5"]) == 2
    assert "--downscale must be >= 1" in capsys.readouterr().err
    assert main(["--clip", "coral_grace_hopper", "--downscale", "0"]) == 2
    assert main(["--clip", "coral_grace_hopper", "--jpeg", "101"]) == 2
    assert main(["--clip", "coral_grace_hopper", "--downscale", "2", "--jpeg", "70", "--min-judged", "1"]) == 0


def test_a_mirrored_clip_swaps_what_says_left_or_right(images_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tools.validate.labels import mirrored
    from tools.validate.run import Variant

    clip = next(c for c in load_clips() if c.presenter_box is not None and c.screen_side == "left")
    m = mirrored(clip)
    assert m.screen_side == "right" and mirrored(m) == clip
    x0, y0, x1, y1 = clip.presenter_box
    assert m.presenter_box == pytest.approx((1 - x1, y0, 1 - x0, y1))
    swapped = {"image_left": "image_right", "image_right": "image_left"}
    assert [f.head for f in m.frames] == [swapped.get(f.head, f.head) for f in clip.frames]
    frame = np.zeros((40, 60, 3), np.uint8)
    frame[:, :10] = 255  # white on the image left
    out = Variant(downscale=2, mirror=True).apply(frame)
    assert out.shape == (20, 30, 3) and out[:, -3:].min() == 255 and out[:, :3].max() == 0
    assert Variant().describe() == "as recorded" and Variant(2, 60, True).describe() == (
        "shrunk 2x, mirrored, JPEG quality 60")
    assert main(["--clip", "tfjs_pose", "--mirror", "--min-judged", "1"]) == 0  # its head is turned: a side label
    assert "(mirrored)" in capsys.readouterr().out.splitlines()[0]


def test_only_rules_the_labelled_set_cannot_check_are_capped_at_info(run_json: dict) -> None:
    """A rule fires falsely when frames labelled against it read for it: n-labelled frames read yes
    for a "max" rule, y-labelled frames read no for a "min" rule. Where fewer than 20 such frames were
    judged, nothing measured its false findings and the rule may say at most "info"; where there are
    enough, it must not be capped that way (the cap goes once the footage is labelled)."""
    from edge.session.feedback import RULES, UNVALIDATED_MAX_SEVERITY

    pooled = run_json["pooled"]["metrics"]
    for rule in RULES:
        if rule.source.startswith("emotion."):
            continue  # the expression has its own table and its own cap
        c = pooled[rule.source]
        evidence = c["tn"] + c["fp"] if rule.direction == "max" else c["tp"] + c["fn"]
        capped = rule.max_severity == UNVALIDATED_MAX_SEVERITY
        assert capped == (evidence < 20), f"{rule.code}: {evidence} frames could show it firing falsely"


def test_a_turned_frame_s_pose_is_turned_back_to_the_recorded_frame() -> None:
    """`--turn` matches the pose found in a turned frame with the presenter box of the frame as
    recorded: `turned_back` undoes OpenCV's turn pixel for pixel."""
    from edge.analysis.keypoints import Pose
    from tools.validate.run import Variant, turned_back

    frame = np.zeros((5, 7, 3), np.uint8)  # 7 wide, 5 high
    frame[1, 2] = 255  # the pixel at x=2, y=1
    for degrees in (0, 90, 180, 270):
        out = Variant(turn=degrees).apply(frame)
        ys, xs = np.nonzero(out[:, :, 0])
        pose = Pose(np.tile([[float(xs[0]), float(ys[0])]], (17, 1)).astype(np.float32), np.ones(17, np.float32),
                    out.shape[1], out.shape[0])
        back = turned_back(pose, degrees)
        assert (back.frame_width, back.frame_height) == (7, 5), degrees
        assert back.xy[0].tolist() == [2.0, 1.0], degrees
    assert Variant(turn=90).describe() == "turned 90 degrees"
    with pytest.raises(ValueError, match="--turn must be one of 0, 90, 180, 270"):
        Variant(turn=45)


def test_a_rolled_frame_s_pose_is_rolled_back_to_the_recorded_frame() -> None:
    """`--roll` (a camera out of level): the frame turns clockwise about its centre, the size kept, and
    `rolled_back` puts a pose found in it back where the presenter box of the recorded frame is,
    also after a quarter turn."""
    from edge.analysis.keypoints import Pose
    from tools.validate.run import Variant, rolled_back, turned_back

    frame = np.zeros((101, 141, 3), np.uint8)
    frame[30:33, 100:103] = 255  # a bright 3x3 spot centred at (101, 31)
    for turn, roll in ((0, 15.0), (0, -20.0), (90, 10.0)):
        out = Variant(turn=turn, roll=roll).apply(frame)
        assert out.shape == (frame.shape if turn == 0 else (141, 101, 3))
        ys, xs = np.nonzero(out[:, :, 0] > 128)
        found = [float(xs.mean()), float(ys.mean())]
        pose = Pose(np.tile([found], (17, 1)).astype(np.float32), np.ones(17, np.float32), out.shape[1], out.shape[0])
        back = turned_back(rolled_back(pose, roll), turn)
        assert back.xy[0].tolist() == pytest.approx([101.0, 31.0], abs=0.6), (turn, roll)
    spot = Variant(roll=15.0).apply(frame)
    ys, xs = np.nonzero(spot[:, :, 0] > 128)
    assert ys.mean() > 31 + 5  # clockwise: a spot right of the centre and above it moves down
    assert Variant(roll=-7.5).describe() == "rolled -7.5 degrees"
    with pytest.raises(ValueError, match="--roll must be between -45 and 45"):
        Variant(roll=60.0)


def test_a_blurred_frame_keeps_its_size_and_mean_and_loses_its_edges() -> None:
    from tools.validate.run import Variant

    frame = np.zeros((60, 80, 3), np.uint8)
    frame[:, 40:] = 200  # one sharp vertical edge
    out = Variant(blur=3.0).apply(frame)
    assert out.shape == frame.shape and abs(float(out.mean()) - float(frame.mean())) < 1.0
    assert 0 < int(out[30, 38, 0]) < 200 and int(np.abs(np.diff(out[30, :, 0].astype(int))).max()) < 60
    assert Variant(blur=1.5).describe() == "blurred 1.5 px"
    with pytest.raises(ValueError, match="--blur must be a Gaussian sigma"):
        Variant(blur=-1.0)


def test_the_tilt_of_photos_upright_and_upside_down(images_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m tools.validate tilt` on two real photos of standing people: upright as recorded,
    past the gate upside down (MoveNet still finds both then; on many photos it finds nobody)."""
    args = ["tilt", "--clip", "coral_squat", "--clip", "tfjs_pose"]
    assert main([*args, "--turn", "0", "180"]) == 0
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ")}
    assert rows["0°"][1] == "2" and rows["0°"][-1].startswith("0 (0%)")  # both read, neither past the gate
    assert rows["180°"][-1].startswith("2 (100%)")
    assert main([*args, "--turn", "45"]) == 2
    assert "--turn must be one of" in capsys.readouterr().err


def test_the_eye_pitch_by_label_and_the_margin_under_the_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m tools.validate pitch` on the webcam clip (looking at the lens, labelled "no") and the
    seated clip (head bowed over her lap, labelled "yes"): the readings part at the threshold, and the
    margin line says how far under it the "no" frames stay (what a camera above the eyes eats)."""
    from edge.config import Config

    assert main(["pitch", "--clip", "slp_webcam_test_video", "--clip", "raga_3people_seated"]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    threshold = Config().features.looking_down_deg
    yes, no = rows["yes"], rows["no"]
    assert int(yes[1]) >= 90 and float(yes[4]) > threshold  # median of the bowed head past the threshold
    assert int(no[1]) == 20 and float(no[7]) < threshold and no[8].startswith("0 (0%)")  # max under it
    margin = threshold - float(no[7])
    assert f"under features.looking_down_deg ({threshold:g}°)" in out and f"{margin:.1f}° under" in out


def test_the_head_yaw_by_label_and_each_recording_s_side(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m tools.validate yaw` on the three labelled clips: nine in ten frames labelled facing
    read within about TOWARD_CAMERA_MAX_DEG of the camera's line (the caveat's bound is that p90, so a
    change to the analysis that moves it shows here); the squats presenter, filmed from about 30 degrees
    to the side of where she faces, reads to one side nine times in ten, the webcam and the seated
    singer across the line."""
    from edge.config import Config
    from edge.session.feedback import TOWARD_CAMERA_MAX_DEG

    clips = ["tfjs_pose_squats", "slp_webcam_test_video", "raga_3people_seated"]
    assert main(["yaw", *[a for c in clips for a in ("--clip", c)]]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    yes = rows["yes"]
    assert int(yes[1]) >= 60 and abs(float(yes[5]) - TOWARD_CAMERA_MAX_DEG) <= 1.0  # p90 of |yaw|, facing
    assert float(yes[4]) < TOWARD_CAMERA_MAX_DEG < Config().features.facing_yaw_max_deg
    squats = rows["tfjs_pose_squats"]
    assert squats[-1].strip(" |") == "yes" and float(squats[2]) > TOWARD_CAMERA_MAX_DEG  # p10
    assert rows["slp_webcam_test_video"][-1].strip(" |") == "no"
    assert rows["raga_3people_seated"][-1].strip(" |") == "no"


def test_a_soft_picture_of_a_room_with_three_people_presses_no_contradicted_finding() -> None:
    """Blurred 6 px, the three-person clip loses the seated singer: MoveNet follows the tanpura player
    beside her, his head turned to one side, and the session says "You faced the audience 13%" about
    him, which her labels contradict. His readings never come round to the camera's line, so the
    finding is a hint with that caveat, not the critical it was: nothing contradicted is pressed."""
    from edge.config import Config
    from edge.session.feedback import CAVEATS
    from tools.validate.labels import select
    from tools.validate.run import Variant
    from tools.validate.suite import contradicted, validate

    results = validate(select(load_clips(), ["raga_3people_seated"]), Config(), variant=Variant(blur=6.0))
    assert contradicted(results) == []
    facing = [f for _, f in contradicted(results, pressed=False) if f["code"] == "facing_audience_low"]
    assert all(f["message"].endswith(CAVEATS["head_never_toward_camera"]) for f in facing)


def test_less_light_is_noise_and_fewer_grey_levels_the_same_on_every_run(images_dir: Path) -> None:
    """`--dim F`: a room F times darker, the camera's gain making up for it. The picture keeps its
    brightness but has F times the sensor's noise and about 256/F grey levels; a run repeats exactly."""
    from tools.validate.run import SENSOR_NOISE, Variant, dimmed

    photo = cv2.imread(str(images_dir / "tfjs_pose.jpg"))
    assert photo is not None
    errors = []
    for factor in (4.0, 16.0):
        out = dimmed(photo, factor)
        assert out.shape == photo.shape and out.dtype == np.uint8
        assert np.array_equal(out, dimmed(photo, factor))  # seeded by the frame: runs repeat
        assert len(np.unique(out)) <= 256 / factor + 2
        assert abs(float(out.mean()) - float(photo.mean())) < 3.0  # the gain keeps the brightness
        errors.append(float(np.abs(out.astype(np.float64) - photo).mean()))
    # the error grows with the factor: quantisation and noise, both F times wider
    assert errors[1] > 3.0 * errors[0] > 3.0 * SENSOR_NOISE
    assert Variant(dim=8).describe() == "8x less light"
    with pytest.raises(ValueError, match="--dim must be between 1"):
        Variant(dim=0.5)


def test_a_cut_frame_is_matched_as_the_whole_frame(images_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--cut F` hides the bottom of every frame (a desk, a lectern, a waist-up framing). A cut moves
    no pixel, so the pose found in the cut frame is matched with the presenter box of the whole frame:
    `frame_size` is the whole frame's."""
    from edge.analysis.models import load_models
    from tools.validate.__main__ import _config
    from tools.validate.run import RecordingAnalyzer, Variant

    photo = cv2.imread(str(images_dir / "tfjs_pose.jpg"))
    assert photo is not None
    h, w = photo.shape[:2]
    cut = Variant(cut=0.3)
    assert cut.apply(photo).shape[:2] == (round(h * 0.7), w) and cut.describe() == "bottom 30% cut away"
    cfg = _config(None)
    analyzer = RecordingAnalyzer(cfg, load_models(cfg), variant=cut)
    result = analyzer.analyze(photo, 0.0)
    assert analyzer.frame_size == (w, h)
    assert result.pose is not None and result.pose.frame_height == round(h * 0.7)  # found in the cut frame
    with pytest.raises(ValueError, match="--cut must be a share between 0"):
        Variant(cut=0.8)
    assert main(["--clip", "tfjs_pose", "--cut", "0.3", "--min-judged", "1"]) == 0
    assert "(bottom 30% cut away)" in capsys.readouterr().out.splitlines()[0]
