"""Contact sheets: every labelled frame of a clip as a tile, so that a reviewer checks a label in seconds.

A tile is the frame (downscaled) with the keypoints the real FrameAnalyzer found, its time and frame
number, and a small table: per metric the label (L) and the analysis (A) side by side (the last row:
the expression label against the emotion model's 3-class fold, "?" where the model did not run), a
red row where they disagree, grey where either is "?"/not judged. A red border marks a tile with any
disagreement. The presenter box of multi-person clips is drawn in yellow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.analysis.keypoints import Pose
from edge.config import Config
from tools.validate.labels import YES_NO, Clip, verify_file
from tools.validate.metrics import MISSING, Aligned
from tools.validate.run import AnalysedFrame, on_presenter, run_clip
from tools.validate.suite import score_run

logger = logging.getLogger(__name__)

THUMB = 320  # longest side of the frame in a tile
PANEL_W = 280
ROW_H = 17
SHEET_W = 1800  # sheet width to aim at, pixels
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, GREY, BLACK = (255, 255, 255), (150, 150, 150), (0, 0, 0)
RED_BG, GREEN = (40, 40, 200), (80, 200, 80)
EDGES = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
         (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))  # fmt: skip
SHORT = {
    "facing_audience": "facing", "turned_to_screen": "to screen", "back_to_audience": "back",
    "looking_down": "look down", "slouching": "slouch", "gesturing": "gesture",
    "hands_in_gesture_zone": "in zone", "hands_in_pockets": "pockets", "hands_behind_back": "behind",
    "arms_crossed": "crossed", "swaying": "sway",
}


def _yn(v: Any) -> str:
    if v is None or v is MISSING:
        return "?"
    if isinstance(v, bool):
        return "y" if v else "n"
    return str(v)


def draw_pose(img: np.ndarray, pose: Pose | None, scale: float, origin: tuple[int, int], min_score: float) -> None:
    if pose is None:
        return
    xy = (pose.xy - np.asarray(origin, dtype=np.float32)) * scale
    ok = pose.scores >= min_score
    for a, b in EDGES:
        if ok[a] and ok[b]:
            cv2.line(img, (int(xy[a, 0]), int(xy[a, 1])), (int(xy[b, 0]), int(xy[b, 1])), (0, 255, 255), 1,
                     cv2.LINE_AA)
    for i in range(17):
        p = (int(xy[i, 0]), int(xy[i, 1]))
        if ok[i]:
            # the person's left in orange, right in cyan, face in white
            color = WHITE if i < 5 and i % 2 == 0 else ((0, 140, 255) if i % 2 == 1 else (255, 200, 0))
            cv2.circle(img, p, 3, color, -1, cv2.LINE_AA)
        elif pose.scores[i] >= 0.1:
            cv2.circle(img, p, 3, GREY, 1, cv2.LINE_AA)


def _rows(pair: Aligned) -> list[tuple[str, str, str, str]]:
    """(name, label, analysis, state) with state in agree/disagree/open."""
    values = pair.values or {}
    out = []
    for name, lab, val in (
        ("posture", pair.label.posture, values.get("posture", MISSING)),
        ("head", pair.label.head, values.get("head_direction", MISSING)),
        *((SHORT[m], pair.label.metrics[m], values.get(m)) for m in YES_NO),
        ("expression", pair.label.expression, values.get("emotion")),
    ):
        ls, vs = _yn(lab), _yn(val)
        state = "open" if ls == "?" or vs == "?" else ("agree" if ls == vs else "disagree")
        out.append((name, ls, vs, state))
    return out


def _extra(frame: AnalysedFrame | None) -> str:
    if frame is None or not frame.features.present:
        return "no presenter found"
    f = frame.features
    parts = []
    for name, v, fmt in (("yaw", f.head_yaw, "{:+.0f}"), ("pitch", f.head_pitch, "{:+.2f}"),
                         ("wrist", f.wrist_speed, "{:.2f}"), ("slouch", f.slouch, "{:+.2f}")):
        if v is not None:
            parts.append(f"{name} {fmt.format(v)}")
    return " ".join(parts)


def tile(pair: Aligned, frame: AnalysedFrame | None, box: tuple[float, float, float, float] | None,
         size: tuple[int, int], min_score: float, other_person: bool = False) -> np.ndarray:  # fmt: skip
    rows = _rows(pair)
    thumb = frame.thumb if frame is not None and frame.thumb is not None else np.zeros((THUMB, THUMB, 3), np.uint8)
    img = thumb.copy()
    if frame is not None:
        draw_pose(img, frame.pose, frame.thumb_scale, frame.thumb_origin, min_score)
        if box is not None:
            s = frame.thumb_scale
            w, h = size
            ox, oy = frame.thumb_origin
            cv2.rectangle(img, (int((box[0] * w - ox) * s), int((box[1] * h - oy) * s)),
                          (int((box[2] * w - ox) * s), int((box[3] * h - oy) * s)), (0, 220, 255), 1)
    th, tw = img.shape[:2]
    height = max(th, 2 * ROW_H + 6 + ROW_H * len(rows) + 8)
    out = np.full((height, tw + PANEL_W, 3), 30, np.uint8)
    out[:th, :tw] = img
    x0 = tw + 6
    head = f"t={pair.label.time_s:.2f}s  #{pair.label.frame}"
    cv2.putText(out, head, (x0, ROW_H), FONT, 0.5, WHITE, 1, cv2.LINE_AA)
    if other_person:
        cv2.putText(out, "pose is ANOTHER PERSON", (x0, 2 * ROW_H), FONT, 0.42, (80, 80, 255), 1, cv2.LINE_AA)
    else:
        cv2.putText(out, _extra(frame)[:38], (x0, 2 * ROW_H), FONT, 0.38, GREY, 1, cv2.LINE_AA)
    cv2.putText(out, "L", (x0 + 100, 3 * ROW_H + 2), FONT, 0.42, GREY, 1, cv2.LINE_AA)
    cv2.putText(out, "A", (x0 + 185, 3 * ROW_H + 2), FONT, 0.42, GREY, 1, cv2.LINE_AA)
    y = 3 * ROW_H + 6
    for name, ls, vs, state in rows:
        if state == "disagree":
            cv2.rectangle(out, (tw + 2, y + 2), (tw + PANEL_W - 2, y + ROW_H), RED_BG, -1)
        color = GREY if state == "open" else WHITE
        cv2.putText(out, name, (x0, y + ROW_H - 3), FONT, 0.42, color, 1, cv2.LINE_AA)
        cv2.putText(out, ls[:11], (x0 + 100, y + ROW_H - 3), FONT, 0.42, color, 1, cv2.LINE_AA)
        vcolor = GREEN if state == "agree" else color
        cv2.putText(out, vs[:11], (x0 + 185, y + ROW_H - 3), FONT, 0.42, vcolor, 1, cv2.LINE_AA)
        y += ROW_H
    if any(r[3] == "disagree" for r in rows):
        cv2.rectangle(out, (0, 0), (out.shape[1] - 1, out.shape[0] - 1), (0, 0, 255), 3)
    return out


def compose(tiles: list[np.ndarray], cols: int | None = None) -> np.ndarray:
    """Tiles in a grid about SHEET_W wide (portrait frames give narrower tiles, so more per row)."""
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    cols = cols or max(1, min(len(tiles), SHEET_W // (w + 4)))
    padded = [cv2.copyMakeBorder(t, 0, h - t.shape[0] + 4, 0, w - t.shape[1] + 4, cv2.BORDER_CONSTANT, value=BLACK)
              for t in tiles]
    while len(padded) % cols:
        padded.append(np.zeros_like(padded[0]))
    return np.vstack([np.hstack(padded[i:i + cols]) for i in range(0, len(padded), cols)])


def write_sheets(clip: Clip, cfg: Config, out_dir: Path, per_sheet: int = 12) -> list[Path]:
    """Run the clip through the analysis and write its sheets as `<out>/<clip>_NN.png`."""
    verify_file(clip)
    run = run_clip(clip, cfg, thumb_px=THUMB)
    result = score_run(run, cfg)
    by_t: dict[tuple[float | None, int | None], AnalysedFrame] = {(f.t, f.index): f for f in run.frames}
    min_score = cfg.analysis.min_keypoint_score
    tiles = []
    for pair in result.pairs:
        frame = by_t.get((pair.t, pair.index)) if pair.t is not None else None
        other = frame is not None and on_presenter(frame, clip.presenter_box, run.frame_size, min_score) is False
        tiles.append(tile(pair, frame, clip.presenter_box, run.frame_size, min_score, other))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(0, len(tiles), per_sheet):
        path = out_dir / f"{clip.id}_{k // per_sheet + 1:02d}.png"
        if not cv2.imwrite(str(path), compose(tiles[k:k + per_sheet])):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths
