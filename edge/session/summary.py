"""The session summary (JSON schema v1, edge/schema/summary_v1.json): the only thing that leaves the
device. Built from `SessionStats` plus metadata; numbers are rounded to keep the message small
(4 decimals: far below what the measurements can tell apart)."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from edge.config import FeedbackConfig
from edge.schema import SCHEMA_VERSION
from edge.session.feedback import Finding, evaluate, not_judged
from edge.session.stats import SessionStats
from edge.session.tracker import Session

logger = logging.getLogger(__name__)

STATUSES = ("complete", "interrupted")
ENDED_BY = ("absence", "command", "end_of_video", "shutdown", "crash")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
DIGITS = 4


def rfc3339(when: datetime | float) -> str:
    """UTC time as RFC 3339 with milliseconds and a Z, e.g. 2025-03-01T09:30:00.250Z.

    Accepts an aware datetime, a naive one (taken as UTC) or a POSIX timestamp.
    """
    if isinstance(when, (int, float)):
        dt = datetime.fromtimestamp(when, tz=timezone.utc)
    elif when.tzinfo is None:
        dt = when.replace(tzinfo=timezone.utc)
    else:
        dt = when.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    """An aware datetime from an RFC 3339 string (Python 3.10's fromisoformat does not take Z)."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def new_session_id(device: str, started_at: datetime | float | None = None, suffix: str | None = None) -> str:
    """`<device>-<UTC start, basic ISO 8601>-<6 random hex>`, e.g. room-1-20250301T093000Z-a3f09c.

    Unique without coordination (the random suffix covers two sessions in the same second), readable,
    sortable per device, and within the schema's ^[A-Za-z0-9_.-]{8,80}$ (the device part is cut to 48).
    """
    if started_at is None:
        started_at = datetime.now(timezone.utc)
    if isinstance(started_at, (int, float)):
        started_at = datetime.fromtimestamp(started_at, tz=timezone.utc)
    elif started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=timezone.utc)
    stamp = started_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dev = _ID_UNSAFE.sub("_", device)[:48] or "device"
    return f"{dev}-{stamp}-{suffix if suffix is not None else os.urandom(3).hex()}"


def _r(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), DIGITS)


def _round_metric(m: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(m)
    for k in ("share", "mean", "p10", "p50", "p90"):
        if k in out:
            out[k] = _r(out[k])
    if out.get("kind") == "share" and out["share"] is None:
        out["share"] = 0.0
    return out


def _models(models: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for role, info in models.items():
        sha = str(info.get("sha256", "")).lower()
        if not _SHA256.match(sha):
            raise ValueError(f"model {role!r}: sha256 must be 64 hex digits, got {sha!r}")
        out[str(role)] = {"name": str(info["name"]), "sha256": sha}
    if "pose" not in out:
        raise ValueError("models must include the pose model")
    return out


def posture_shares(metrics: Mapping[str, Any], present: int) -> dict[str, float]:
    """Shares of the frames with the presenter in view read as standing, seated, or unknown posture
    (from the `seated` context metric: its share among frames of known posture, and their count)."""
    m = metrics.get("seated") or {}
    n = int(m.get("n", 0))
    if present <= 0:
        return {"standing": 0.0, "seated": 0.0, "unknown": 1.0}
    seated = float(m.get("share") or 0.0) * n / present
    known = min(1.0, n / present)
    return {
        "standing": _r(max(0.0, known - seated)) or 0.0,
        "seated": _r(seated) or 0.0,
        "unknown": _r(1.0 - known) or 0.0,
    }


def build_summary(
    stats: SessionStats,
    *,
    session_id: str,
    device: str,
    started_at: datetime,
    ended_at: datetime,
    models: Mapping[str, Mapping[str, str]],
    status: str = "complete",
    ended_by: str | None = None,
    label: str | None = None,
    feedback: list[Finding] | None = None,
    feedback_cfg: FeedbackConfig | None = None,
    frames_dropped: int | None = None,
    warnings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The schema-v1 summary of one session.

    `warnings`: what the reader must know about the input, as `{"code", "message"}` (e.g.
    `recording_cut_short`); left out of the summary when there is none.

    `feedback` defaults to running the rules (`edge.session.feedback.evaluate`) with `feedback_cfg`.
    Raises ValueError on metadata the schema would refuse (bad status, model hash...), so that a
    wrong summary fails where it is made, not at the collector.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if ended_by is not None and ended_by not in ENDED_BY:
        raise ValueError(f"ended_by must be one of {ENDED_BY}, got {ended_by!r}")
    duration = max(0.0, (ended_at - started_at).total_seconds())
    metrics = {name: _round_metric(m) for name, m in stats.metric_summaries().items()}
    emo = stats.emotion_shares()
    emotion = {
        "frames": emo["frames"],
        "classes7": {k: _r(v) for k, v in emo["classes7"].items()},
        "classes3": {k: _r(v) for k, v in emo["classes3"].items()},
    }
    raw_metrics = stats.metric_summaries()
    present = stats.with_person
    analysed_fps = stats.analysed_fps()
    rate = analysed_fps or None  # 0 (fewer than two frames): unknown
    if feedback is None:
        feedback = evaluate(raw_metrics, emo, feedback_cfg, present=present, rate_hz=rate)
    frames: dict[str, int] = stats.frames()
    if frames_dropped is not None:
        frames["dropped"] = int(frames_dropped)
    fps: dict[str, float] = {"analysed": _r(analysed_fps) or 0.0}
    source = stats.source_fps()
    if source is not None:
        fps["source"] = _r(source) or 0.0
    tl = stats.timeline_series(until=stats.duration())
    series = {k: [_r(v) for v in s] for k, s in tl["series"].items()}
    summary: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "session_id": session_id,
        "device": device,
        "label": label,
        "started_at": rfc3339(started_at),
        "ended_at": rfc3339(ended_at),
        "duration_s": round(duration, 3),
        "status": status,
        "frames": frames,
        "fps": fps,
        "models": _models(models),
        "metrics": metrics,
        "emotion": emotion,
        "timeline": {"bin_s": tl["bin_s"], "series": series},
        "feedback": [f.to_dict() for f in feedback],
        "posture": posture_shares(raw_metrics, present),
        "not_judged": not_judged(raw_metrics, emo, present, feedback_cfg, rate),
    }
    if ended_by is not None:
        summary["ended_by"] = ended_by
    if warnings:
        summary["warnings"] = [{"code": str(w["code"]), "message": str(w["message"])} for w in warnings]
    return summary


def session_summary(
    session: Session,
    *,
    device: str,
    models: Mapping[str, Mapping[str, str]],
    started_at: datetime | None = None,
    status: str = "complete",
    feedback_cfg: FeedbackConfig | None = None,
    frames_dropped: int | None = None,
) -> dict[str, Any]:
    """`build_summary` for a tracker `Session`.

    The wall-clock start comes from `started_at` or `session.meta["started_at"]` (RFC 3339), the id
    from `session.meta["session_id"]` when the caller set one (so a re-send after a restart keeps it);
    the end is the start plus the session's own duration, so both clocks agree.
    """
    if started_at is None:
        if "started_at" not in session.meta:
            raise ValueError("session has no wall-clock start: pass started_at or set meta['started_at']")
        started_at = parse_rfc3339(session.meta["started_at"])
    session_id = session.meta.get("session_id") or new_session_id(device, started_at)
    return build_summary(
        session.stats,
        session_id=session_id,
        device=device,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=session.duration),
        models=models,
        status=status,
        ended_by=session.ended_by,
        label=session.label,
        feedback_cfg=feedback_cfg,
        frames_dropped=frames_dropped,
    )
