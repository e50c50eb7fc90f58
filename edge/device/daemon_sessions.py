"""The daemon's sessions once the tracker has decided: naming a new one, checkpointing it while it runs,
turning an ended one into a summary in the spool, and publishing the one a crash left behind.

Why the order matters: a summary is put in the spool (durable) before the checkpoint is removed, so a
power cut between the two publishes the session twice at worst (the collector keeps one), never zero
times. A summary that cannot be built or spooled keeps its evidence (the checkpoint set aside) rather
than retrying forever.

`SessionKeeping` is a part of `edge.device.daemon.Daemon`, split out by what it owns; like the rest of
the daemon it runs on the main loop only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.session.summary import new_session_id, parse_rfc3339, rfc3339, session_summary
from edge.session.tracker import Session, SessionEvent, SessionTracker

if TYPE_CHECKING:
    from edge.config import Config
    from edge.device.checkpoint import CheckpointStore
    from edge.device.publish import Publisher

logger = logging.getLogger(__name__)


def local_time(posix: float) -> str:
    """A POSIX time as the device's local wall-clock time for the log (the summaries carry UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(posix))



@dataclass
class SessionExtra:
    """Per-session bookkeeping the tracker does not keep."""

    dropped_at_start: float = 0.0


class SessionKeeping:
    """The session half of the daemon: what happens when the tracker starts or ends a session."""

    cfg: Config
    tracker: SessionTracker
    checkpoints: CheckpointStore
    publisher: Publisher | None
    models_info: dict[str, dict[str, str]]
    sessions_published: int
    sessions_dropped: int  # shorter than session.min_duration_s
    _dropped_slots: float
    _extra: SessionExtra
    _last_status: float
    _last_checkpoint: float
    _checkpoint_failed: bool

    def _recover(self) -> None:
        """Publish the session a crash or power cut left in the checkpoint as `interrupted`."""
        self.checkpoints.remove_partial()
        ck = self.checkpoints.load()
        if ck is None:
            return
        try:
            tracker = SessionTracker.from_dict(ck.tracker, self.cfg.session)
        except (KeyError, TypeError, ValueError) as exc:
            self.checkpoints.set_aside(f"session state does not restore: {exc!r}")
            return
        if tracker.active is None:
            logger.info("checkpoint without a running session (state %s): removed", tracker.state)
            self._remove_checkpoint()
            return
        session = tracker.active
        logger.warning(
            "found the checkpoint of session %s (saved %s): publishing it as interrupted",
            session.meta.get("session_id"), ck.saved_at,
        )
        events = tracker.finish("crash")
        for ev in events:
            if ev.kind == "ended":
                self._publish(ev.session, status="interrupted", frames_dropped=None, recovered=True)
            else:
                logger.info("interrupted session %s was too short to keep: dropped",
                            ev.session.meta.get("session_id"))
                self._remove_checkpoint()


    def _handle(self, events: list[SessionEvent]) -> None:
        for ev in events:
            if ev.kind == "started":
                self._started(ev.session)
            elif ev.kind == "ended":
                self._publish(
                    ev.session,
                    status="complete",
                    frames_dropped=int(self._dropped_slots - self._extra.dropped_at_start),
                )
            else:
                self.sessions_dropped += 1
                logger.info(
                    "session %s not kept (ended by %s): it lasted %.1f s, shorter than session.min_duration_s "
                    "= %g s (lower that key to keep shorter rehearsals)",
                    ev.session.meta.get("session_id"), ev.reason, ev.session.duration,
                    self.cfg.session.min_duration_s,
                )
                self._remove_checkpoint()
            self._last_status = 0.0  # the status names the running session: refresh it now

    def _started(self, session: Session) -> None:
        wall = time.time() - max(0.0, time.monotonic() - session.start_t)
        session.meta.update(
            session_id=new_session_id(self.cfg.device.id, wall),
            started_at=rfc3339(wall),
            device=self.cfg.device.id,
            models=self.models_info,
        )
        self._extra = SessionExtra(dropped_at_start=self._dropped_slots)
        logger.info("session %s started at %s%s", session.meta["session_id"], local_time(wall),
                    f" (label {session.label!r})" if session.label else "")
        self._checkpoint(force=True)

    def _publish(
        self, session: Session, *, status: str, frames_dropped: int | None, recovered: bool = False
    ) -> None:
        """Build the summary, put it in the spool (durable), then drop the checkpoint."""
        assert self.publisher is not None
        sid = session.meta.get("session_id")
        try:
            summary = session_summary(
                session,
                device=self.cfg.device.id,
                models=session.meta.get("models") or self.models_info,
                status=status,
                feedback_cfg=self.cfg.feedback,
                frames_dropped=frames_dropped,
            )
            self.publisher.publish_summary(summary)
        except OSError as exc:
            if recovered:  # set aside, or the next session's checkpoint would overwrite it
                self.checkpoints.set_aside(f"its summary could not be spooled: {exc}")
            else:
                logger.error("summary of session %s could not be spooled: %s", sid, exc)
            return
        except (ValueError, KeyError, TypeError) as exc:
            # A summary the collector would refuse anyway: keep the evidence, do not retry forever.
            logger.error("summary of session %s is invalid and was not published: %s", sid, exc)
            if recovered:
                self.checkpoints.set_aside(f"its summary is invalid: {exc}")
            else:
                self._remove_checkpoint()
            return
        self.sessions_published += 1
        logger.info(
            "session %s %s at %s (%s, %.1f s, %d findings)", summary["session_id"],
            "recovered" if recovered else "ended", local_time(parse_rfc3339(summary["ended_at"]).timestamp()),
            session.ended_by, summary["duration_s"], len(summary["feedback"]),
        )
        self._remove_checkpoint()

    def _checkpoint(self, force: bool = False) -> None:
        session = self.tracker.active
        if session is None:
            return
        now = time.monotonic()
        if not force and now - self._last_checkpoint < self.cfg.session.checkpoint_s:
            return
        self._last_checkpoint = now
        try:
            self.checkpoints.save(self.tracker.to_dict(), dict(session.meta, label=session.label))
        except (OSError, ValueError) as exc:
            if not self._checkpoint_failed:
                logger.error("cannot write the session checkpoint %s: %s", self.checkpoints.path, exc)
            self._checkpoint_failed = True
            return
        if self._checkpoint_failed:
            logger.info("session checkpoint written again")
        self._checkpoint_failed = False

    def _remove_checkpoint(self) -> None:
        try:
            self.checkpoints.remove()
        except OSError as exc:
            logger.error("cannot remove the checkpoint %s: %s", self.checkpoints.path, exc)
