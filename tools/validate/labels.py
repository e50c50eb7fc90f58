"""The labelled set: `labels/clips.json` (which clips, where, who the presenter is) and one CSV of
per-frame labels per recording (`photos.csv` for the photos, with a `source` column naming the clip):
posture, head direction, the yes/no share metrics and the facial expression.

Everything is checked on load, and every problem names the file and the line: a label set that
silently drops a row would make the accuracy table lie. Definitions of the labels: labels/GUIDE.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

LABELS_DIR = Path(__file__).resolve().parent / "labels"
REPO = Path(__file__).resolve().parents[2]

# The share metrics with a y/n/? label; the same names as the analysis' share metrics
# (edge.analysis.features.SHARE_METRICS) so that a label and a measure line up by name.
YES_NO = (
    "facing_audience",
    "turned_to_screen",
    "back_to_audience",
    "looking_down",
    "slouching",
    "gesturing",
    "hands_in_gesture_zone",
    "hands_in_pockets",
    "hands_behind_back",
    "arms_crossed",
    "swaying",
)
COLUMNS = ("time_s", "frame", "posture", "head", *YES_NO, "expression", "note")
PHOTO_COLUMNS = ("source", *COLUMNS)
POSTURES = ("standing", "seated")
HEADS = ("frontal", "image_left", "image_right", "down", "back")
# The facial expression as watched, in the emotion model's 3-class fold (edge.analysis.emotion.EMOTIONS3)
EXPRESSIONS = ("positive", "neutral", "negative")
UNKNOWN = "?"
KINDS = ("video", "photo")
ROOTS = ("shared", "repo")
SCREEN_SIDES = ("left", "right")


class LabelError(ValueError):
    """A label file that cannot be used; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class FrameLabel:
    """One labelled frame. Yes/no labels are True/False, None for "?" (can't tell); `expression` is
    one of EXPRESSIONS or None for "?"."""

    time_s: float
    frame: int
    posture: str | None
    head: str | None
    metrics: dict[str, bool | None]
    note: str
    where: str  # "file:line", for messages
    expression: str | None = None


@dataclass(frozen=True)
class Clip:
    id: str
    kind: str
    path: Path  # resolved
    sha256: str
    presenter: str
    screen_side: str
    licence: str
    source: str
    labels_file: str
    presenter_box: tuple[float, float, float, float] | None
    frames: list[FrameLabel] = field(default_factory=list)


MIRRORED_HEAD = {"image_left": "image_right", "image_right": "image_left"}


def mirrored(clip: Clip) -> Clip:
    """The clip as its frames read in a mirror (`python -m tools.validate --mirror`): the screen on
    the other side, the presenter box flipped, a head turned to the image left now turned to the
    right. Every other label says the same of a mirrored presenter."""
    box = clip.presenter_box
    return replace(
        clip,
        screen_side="left" if clip.screen_side == "right" else "right",
        presenter_box=None if box is None else (1.0 - box[2], box[1], 1.0 - box[0], box[3]),
        frames=[replace(f, head=MIRRORED_HEAD.get(f.head or "", f.head)) for f in clip.frames],
    )


def shared_root() -> Path:
    """$PPT_EDGE_SHARED, or ../shared beside the repository (as the tests do)."""
    return Path(os.environ.get("PPT_EDGE_SHARED", REPO.parent / "shared")).resolve()


def _yes_no(value: str, where: str, column: str) -> bool | None:
    if value == "y":
        return True
    if value == "n":
        return False
    if value == UNKNOWN:
        return None
    raise LabelError(f"{where}: column {column!r} must be y, n or ?, got {value!r}")


def _choice(value: str, allowed: tuple[str, ...], where: str, column: str) -> str | None:
    if value == UNKNOWN:
        return None
    if value not in allowed:
        raise LabelError(f"{where}: column {column!r} must be one of {', '.join(allowed)} or ?, got {value!r}")
    return value


def parse_rows(path: Path, with_source: bool) -> list[tuple[str, FrameLabel]]:
    """Rows of one label CSV as (source, label); source is '' without a `source` column."""
    expected = PHOTO_COLUMNS if with_source else COLUMNS
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != expected:
        raise LabelError(f"{path}:1: header must be exactly {','.join(expected)}; got {','.join(header or [])}")
    out: list[tuple[str, FrameLabel]] = []
    for line_no, row in enumerate(reader, start=2):
        where = f"{path.name}:{line_no}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(expected):
            raise LabelError(f"{where}: {len(row)} fields, expected {len(expected)}")
        cells = dict(zip(expected, (c.strip() for c in row), strict=True))
        try:
            t = float(cells["time_s"])
            frame = int(cells["frame"])
        except ValueError:
            raise LabelError(f"{where}: time_s must be a number and frame an integer") from None
        if not math.isfinite(t) or t < 0 or frame < 0:
            raise LabelError(f"{where}: time_s and frame must be >= 0")
        label = FrameLabel(
            time_s=t,
            frame=frame,
            posture=_choice(cells["posture"], POSTURES, where, "posture"),
            head=_choice(cells["head"], HEADS, where, "head"),
            metrics={m: _yes_no(cells[m], where, m) for m in YES_NO},
            note=cells["note"],
            where=where,
            expression=_choice(cells["expression"], EXPRESSIONS, where, "expression"),
        )
        out.append((cells.get("source", ""), label))
    return out


def _check_order(frames: list[FrameLabel], name: str) -> None:
    for a, b in zip(frames, frames[1:], strict=False):
        if not (b.time_s > a.time_s and b.frame > a.frame):
            raise LabelError(f"{b.where}: rows must be in increasing time and frame order ({name})")


def _box(value: Any, where: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise LabelError(f"{where}: presenter_box must be [x0, y0, x1, y1] fractions or null") from None
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise LabelError(f"{where}: presenter_box must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return (x0, y0, x1, y1)


def load_clips(labels_dir: Path = LABELS_DIR, shared: Path | None = None) -> list[Clip]:
    """Every clip of `clips.json` with its labelled frames, checked (LabelError on any problem)."""
    shared = shared if shared is not None else shared_root()
    index = labels_dir / "clips.json"
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelError(f"{index}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise LabelError(f"{index}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    entries = doc.get("clips") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise LabelError(f"{index}: needs a non-empty 'clips' list")
    required = ("id", "kind", "root", "path", "sha256", "labels", "presenter", "screen_side", "licence", "source")
    clips: list[Clip] = []
    seen: set[str] = set()
    rows_by_file: dict[str, list[tuple[str, FrameLabel]]] = {}
    for i, e in enumerate(entries):
        where = f"{index.name}: clips[{i}]"
        missing = [k for k in required if not isinstance(e, dict) or k not in e]
        if missing:
            raise LabelError(f"{where}: missing {', '.join(missing)}")
        cid = str(e["id"])
        where = f"{index.name}: clip {cid!r}"
        if cid in seen:
            raise LabelError(f"{where}: duplicate id")
        seen.add(cid)
        if e["kind"] not in KINDS or e["root"] not in ROOTS or e["screen_side"] not in SCREEN_SIDES:
            raise LabelError(f"{where}: kind must be one of {KINDS}, root one of {ROOTS}, "
                             f"screen_side one of {SCREEN_SIDES}")
        base = shared if e["root"] == "shared" else REPO
        labels_file = str(e["labels"])
        if labels_file not in rows_by_file:
            rows_by_file[labels_file] = parse_rows(labels_dir / labels_file, with_source=e["kind"] == "photo")
        rows = rows_by_file[labels_file]
        frames = [lab for src, lab in rows if e["kind"] == "video" or src == cid]
        if not frames:
            raise LabelError(f"{where}: no labelled rows in {labels_file}")
        if e["kind"] == "photo" and len(frames) != 1:
            raise LabelError(f"{where}: a photo has exactly one row in {labels_file}, found {len(frames)}")
        _check_order(frames, labels_file)
        clips.append(Clip(
            id=cid, kind=e["kind"], path=(base / e["path"]).resolve(), sha256=str(e["sha256"]).lower(),
            presenter=str(e["presenter"]), screen_side=e["screen_side"], licence=str(e["licence"]),
            source=str(e["source"]), labels_file=labels_file,
            presenter_box=_box(e.get("presenter_box"), where), frames=frames,
        ))
    ids = {c.id for c in clips}
    for rows in rows_by_file.values():
        for src, lab in rows:
            if src and src not in ids:
                raise LabelError(f"{lab.where}: source {src!r} is not a clip id in clips.json")
    return clips


def select(clips: list[Clip], ids: Iterable[str] | None) -> list[Clip]:
    """The clips named by `ids` (all when None), in the order given; LabelError names an unknown id."""
    if not ids:
        return list(clips)
    by_id = {c.id: c for c in clips}
    out = []
    for cid in ids:
        if cid not in by_id:
            raise LabelError(f"unknown clip {cid!r}; known: {', '.join(by_id)}")
        out.append(by_id[cid])
    return out


def verify_file(clip: Clip) -> None:
    """The clip's file exists and has the recorded sha256 (labels belong to exact bytes)."""
    if not clip.path.is_file():
        raise LabelError(f"clip {clip.id!r}: file not found: {clip.path}")
    h = hashlib.sha256()
    with clip.path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != clip.sha256:
        raise LabelError(f"clip {clip.id!r}: {clip.path} has sha256 {h.hexdigest()}, labels were made for "
                         f"{clip.sha256}")
