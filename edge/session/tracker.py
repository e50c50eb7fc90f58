"""Session tracker: when does a rehearsal start and end? A pure state machine, no I/O.

Fed one `(t, person_present)` per analysed frame (t in seconds on a monotonic clock or video time)
plus `command_start()` / `command_stop()` / `finish()`, it returns events:

- `started`: the presenter has been in view for `start_after_s` (presence flickers shorter than
  `start_gap_s` do not restart the countdown). The session's start time is the first frame of that
  presence, and its statistics include the countdown frames (they are recorded from the first one).
- `ended(reason)`: `absence` after `end_after_s` without the presenter, `command`, `end_of_video`,
  `shutdown` or `crash`. Except for a command, the end time is the presenter's last frame in view,
  not the moment the absence was noticed, and the statistics are cut back to that frame.
- `dropped(reason)`: as `ended`, but the session was shorter than `min_duration_s` (someone walking
  past the camera is not a rehearsal).

While a session runs (or is counting down) the tracker owns its `SessionStats` (`tracker.stats`); the
caller adds each frame's features to it after `update()` (or uses `observe()`, which does both).
After a stop command the tracker does not start again on its own until the presenter has been out of
view for `end_after_s`: the person who just pressed stop is still standing there.
`to_dict()`/`from_dict()` checkpoint everything, including the caller's `meta` of the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.analysis.features import FrameFeatures
from edge.config import SessionConfig
from edge.session.stats import SessionStats

logger = logging.getLogger(__name__)

EndReason = Literal["absence", "command", "end_of_video", "shutdown", "crash"]
END_REASONS: tuple[str, ...] = ("absence", "command", "end_of_video", "shutdown", "crash")
State = Literal["idle", "pending", "active", "cooldown"]
TRACKER_VERSION = 1


@dataclass
class Session:
    """One session: its times, statistics, label and the caller's metadata (e.g. session id)."""

    start_t: float
    stats: SessionStats
    label: str | None = None
    commanded: bool = False  # started by a command: no auto end before the presenter was seen
    last_present_t: float | None = None
    end_t: float | None = None
    ended_by: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able, owned by the caller

    @property
    def duration(self) -> float:
        """Seconds from start to end (to the last presence while it still runs)."""
        end = self.end_t if self.end_t is not None else self.last_present_t
        return 0.0 if end is None else max(0.0, end - self.start_t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_t": self.start_t,
            "stats": self.stats.to_dict(),
            "label": self.label,
            "commanded": self.commanded,
            "last_present_t": self.last_present_t,
            "end_t": self.end_t,
            "ended_by": self.ended_by,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Session:
        return cls(
            start_t=float(d["start_t"]),
            stats=SessionStats.from_dict(d["stats"]),
            label=d.get("label"),
            commanded=bool(d.get("commanded", False)),
            last_present_t=d.get("last_present_t"),
            end_t=d.get("end_t"),
            ended_by=d.get("ended_by"),
            meta=dict(d.get("meta") or {}),
        )


@dataclass(frozen=True)
class SessionEvent:
    """Something the caller must act on: publish a summary (`ended`), log (`started`, `dropped`)."""

    kind: Literal["started", "ended", "dropped"]
    t: float  # started: the session start; ended/dropped: the session end
    session: Session
    reason: str | None = None  # ended/dropped: one of END_REASONS


class SessionTracker:
    """Auto start/stop of sessions from presence, plus commands. See the module docstring."""

    def __init__(
        self,
        cfg: SessionConfig | None = None,
        stats_factory: Callable[[float], SessionStats] | None = None,
    ) -> None:
        self.cfg = cfg or SessionConfig()
        self._stats_factory = stats_factory or (
            lambda t0: SessionStats(t0, bin_s=self.cfg.bin_s, max_bins=self.cfg.max_bins)
        )
        self.state: State = "idle"
        self.session: Session | None = None  # the running session, or the pending one counting down
        self.last_t: float | None = None
        self.next_label: str | None = None  # a label that arrived while no session ran
        self._last_seen: float | None = None  # pending: last presence; cooldown: last presence or stop
        self.sessions_started = 0

    # --- queries ----------------------------------------------------------------------------------

    @property
    def active(self) -> Session | None:
        """The running session (not a pending one), if any."""
        return self.session if self.state == "active" else None

    @property
    def stats(self) -> SessionStats | None:
        """Where the current frame's statistics go: the running or pending session's, else None."""
        return self.session.stats if self.session is not None else None

    # --- inputs -----------------------------------------------------------------------------------

    def update(self, t: float, present: bool) -> list[SessionEvent]:
        """Advance to time `t` with the presenter in view or not; returns the events it caused."""
        if self.last_t is not None and t < self.last_t:
            logger.warning("session tracker: time went back (%.3f < %.3f); frame ignored", t, self.last_t)
            return []
        self.last_t = t
        cfg = self.cfg
        events: list[SessionEvent] = []
        if self.state == "cooldown":
            if present:
                self._last_seen = t
            elif self._last_seen is None or t - self._last_seen >= cfg.end_after_s:
                self.state = "idle"
                self._last_seen = None
        if self.state == "idle" and present:
            self.state = "pending"
            self.session = Session(start_t=t, stats=self._stats_factory(t))
            self._last_seen = t
        if self.state == "pending":
            assert self.session is not None
            if present:
                self._last_seen = t
                self.session.last_present_t = t
                if t - self.session.start_t >= cfg.start_after_s:
                    events.append(self._start(self.session))
            elif self._last_seen is not None and t - self._last_seen > cfg.start_gap_s:
                logger.debug("presence at %.1f s too short to start a session", self.session.start_t)
                self.state = "idle"
                self.session = None
                self._last_seen = None
        elif self.state == "active":
            assert self.session is not None
            if present:
                self.session.last_present_t = t
            else:
                last = self.session.last_present_t
                if last is not None and t - last >= cfg.end_after_s:
                    events += self._end("absence", last)
        return events

    def observe(self, t: float, features: FrameFeatures) -> list[SessionEvent]:
        """`update(t, features.present)`, then add the frame to the current statistics if any."""
        events = self.update(t, features.present)
        if self.stats is not None and (self.last_t == t):
            self.stats.add_frame(t, features)
        return events

    def command_start(self, t: float) -> list[SessionEvent]:
        """Start a session now (a pending countdown becomes the session). No-op while one runs."""
        if self.state == "active":
            return []
        self.last_t = t if self.last_t is None else max(self.last_t, t)
        if self.state == "pending" and self.session is not None:
            self.session.commanded = True
            return [self._start(self.session)]
        session = Session(start_t=t, stats=self._stats_factory(t), commanded=True)
        return [self._start(session)]

    def command_stop(self, t: float) -> list[SessionEvent]:
        """End the running session at `t` (or cancel a countdown); no auto start until the presenter
        has been away for `end_after_s`."""
        self.last_t = t if self.last_t is None else max(self.last_t, t)
        events: list[SessionEvent] = []
        if self.state == "active":
            events = self._end("command", t)
        elif self.state == "pending":
            self.session = None
        elif self.state != "cooldown":
            return []
        self.state = "cooldown"
        self._last_seen = t
        return events

    def finish(self, reason: EndReason = "end_of_video", t: float | None = None) -> list[SessionEvent]:
        """End whatever runs because the input stops (end of video, shutdown, crash recovery).

        The end time is the presenter's last frame in view (`t` only when they were never seen).
        """
        if reason not in END_REASONS:
            raise ValueError(f"unknown end reason {reason!r}")
        events: list[SessionEvent] = []
        if self.state == "active" and self.session is not None:
            end = self.session.last_present_t
            if end is None:
                end = t if t is not None else self.last_t
            if end is None:
                end = self.session.start_t
            events = self._end(reason, end)
        self.state = "idle"
        self.session = None
        self._last_seen = None
        return events

    def set_label(self, label: str | None) -> None:
        """Attach a label to the running session, or to the next one when none runs."""
        if self.state == "active" and self.session is not None:
            self.session.label = label
        else:
            self.next_label = label

    # --- transitions ------------------------------------------------------------------------------

    def _start(self, session: Session) -> SessionEvent:
        self.state = "active"
        self.session = session
        if self.next_label is not None:
            session.label = self.next_label
            self.next_label = None
        self.sessions_started += 1
        # t is the caller's clock (monotonic or video time): the caller logs the wall-clock time
        logger.debug("session started at t=%.1f s%s", session.start_t, " (command)" if session.commanded else "")
        return SessionEvent("started", session.start_t, session)

    def _end(self, reason: str, end_t: float) -> list[SessionEvent]:
        session = self.session
        assert session is not None
        session.end_t = max(end_t, session.start_t)
        session.ended_by = reason
        if reason != "command":
            session.stats.trim_to_last_presence()
        self.state = "idle"
        self.session = None
        self._last_seen = None
        if session.duration < self.cfg.min_duration_s:
            logger.debug(
                "session dropped (%s): %.1f s < %.1f s", reason, session.duration, self.cfg.min_duration_s
            )
            return [SessionEvent("dropped", session.end_t, session, reason)]
        logger.debug("session ended (%s) after %.1f s", reason, session.duration)
        return [SessionEvent("ended", session.end_t, session, reason)]

    # --- checkpoint -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (the config is not included: it comes from the config file on restore)."""
        return {
            "version": TRACKER_VERSION,
            "state": self.state,
            "session": None if self.session is None else self.session.to_dict(),
            "last_t": self.last_t,
            "next_label": self.next_label,
            "last_seen": self._last_seen,
            "sessions_started": self.sessions_started,
        }

    @classmethod
    def from_dict(
        cls,
        d: Mapping[str, Any],
        cfg: SessionConfig | None = None,
        stats_factory: Callable[[float], SessionStats] | None = None,
    ) -> SessionTracker:
        if d.get("version") != TRACKER_VERSION:
            raise ValueError(f"unsupported session checkpoint version {d.get('version')!r}")
        tr = cls(cfg, stats_factory)
        state = d["state"]
        if state not in ("idle", "pending", "active", "cooldown"):
            raise ValueError(f"bad tracker state {state!r}")
        tr.state = state
        tr.session = None if d["session"] is None else Session.from_dict(d["session"])
        if tr.state in ("pending", "active") and tr.session is None:
            raise ValueError(f"tracker state {state!r} without a session")
        tr.last_t = d["last_t"]
        tr.next_label = d["next_label"]
        tr._last_seen = d["last_seen"]
        tr.sessions_started = int(d.get("sessions_started", 0))
        return tr
