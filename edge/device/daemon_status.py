"""What the daemon tells the outside while it runs: the live topic during a session, the retained status
(fps, camera counters, the running session), and systemd's READY, STATUS and WATCHDOG.

Why READY waits: it goes out once a frame was analysed and MQTT is up, or after `READY_MQTT_GRACE_S`
without the broker (the spool covers an outage), or after `READY_TIMEOUT_S` without a single frame
(then STATUS= says the camera is down); the rules are in edge.device.sdnotify's docstring. The
watchdog is fed only by a loop that analyses frames or waits for a camera being reopened.

`StatusReporting` is a part of `edge.device.daemon.Daemon`, split out by what it owns; `_periodic`
runs on the main loop, `_status_fields` on paho's thread (it only reads).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from edge.analysis.emotion import EMOTIONS7
from edge.session.feedback import evaluate_stats

if TYPE_CHECKING:
    from edge.analysis.features import FrameFeatures
    from edge.config import Config
    from edge.device.capture import LatestFrameReader
    from edge.device.publish import Publisher
    from edge.device.sdnotify import SdNotifier
    from edge.session.tracker import SessionTracker

logger = logging.getLogger(__name__)

READY_MQTT_GRACE_S = 10.0  # READY=1 without MQTT after this long: the spool covers a broker outage
READY_TIMEOUT_S = 60.0  # READY=1 without a single analysed frame after this long (camera down)
STATUS_INTERVAL_S = 30.0  # retained status refresh (fps, camera counters)
SD_STATUS_INTERVAL_S = 10.0  # systemd STATUS= refresh when nothing but the fps changed


class StatusReporting:
    """The reporting half of the daemon: live topic, retained status, systemd notifications."""

    cfg: Config
    tracker: SessionTracker
    reader: LatestFrameReader | None
    publisher: Publisher | None
    sd: SdNotifier
    _fps: float | None
    _frames_analysed: int
    _dropped_slots: float
    _errors: int
    _ready: bool
    _started_mono: float
    _camera_state: str
    _last_status: float
    _last_live: float
    _live_interval: float | None
    _sd_key: str
    _last_sd_status: float
    _last_ping: float
    _analysed_since_ping: bool

    if TYPE_CHECKING:  # the daemon's own, and SessionKeeping's (edge.device.daemon_sessions)

        @property
        def session_id(self) -> str | None: ...

        def _checkpoint(self, force: bool = False) -> None: ...

    def _live(self, t: float, features: FrameFeatures, emotion: int | None) -> None:
        session = self.tracker.active
        if session is None or self._live_interval is None or self.publisher is None:
            return
        now = time.monotonic()
        if now - self._last_live < self._live_interval or not self.publisher.connected:
            return
        try:
            findings = len(evaluate_stats(session.stats, self.cfg.feedback))
        except Exception:  # the live topic is a nicety: never let it break the loop
            logger.debug("live findings failed", exc_info=True)
            findings = None
        sent = self.publisher.publish_live({
            "session_id": session.meta.get("session_id"),
            "label": session.label,
            "elapsed_s": round(max(0.0, t - session.start_t), 1),
            "present": features.present,
            "facing": features.facing_audience,
            "gesturing": features.gesturing,
            "emotion": EMOTIONS7[emotion] if emotion is not None and 0 <= emotion < len(EMOTIONS7) else None,
            "findings": findings,
            "frames": session.stats.analysed,
            "fps": None if self._fps is None else round(self._fps, 1),
        })
        if sent:  # else the publisher's own throttle said "not yet": try again on the next frame
            self._last_live = now

    def _periodic(self, now: float) -> None:
        self._checkpoint()
        camera = self.reader.state.state if self.reader is not None else "stopped"
        publisher = self.publisher
        if camera != self._camera_state:
            self._camera_state = camera
            self._last_status = 0.0
        if publisher is not None and now - self._last_status >= STATUS_INTERVAL_S:
            if publisher.publish_status():
                self._last_status = now
        mqtt_up = publisher is not None and publisher.connected
        if not self._ready:
            waited = now - self._started_mono
            if self._frames_analysed and (mqtt_up or waited >= READY_MQTT_GRACE_S):
                self._ready = True
            elif waited >= READY_TIMEOUT_S:
                self._ready = True
            if self._ready:
                self.sd.ready(self._sd_status(camera, mqtt_up))
                logger.info("ready (%s)", self._sd_status(camera, mqtt_up))
        else:
            # STATUS= on every change of camera, MQTT or session, and every SD_STATUS_INTERVAL_S for fps.
            key = f"{camera}|{mqtt_up}|{self.session_id}"
            if key != self._sd_key or now - self._last_sd_status >= SD_STATUS_INTERVAL_S:
                self._sd_key, self._last_sd_status = key, now
                self.sd.status(self._sd_status(camera, mqtt_up))
        interval = self.sd.watchdog_interval_s
        if interval is not None and now - self._last_ping >= interval:
            # Only a loop that analyses frames, or one that is alive waiting for a camera the reader
            # is reopening (reported on the status topic), proves it is not wedged.
            if self._analysed_since_ping or camera == "reopening":
                self.sd.watchdog()
                self._last_ping = now
                self._analysed_since_ping = False

    def _sd_status(self, camera: str, mqtt_up: bool) -> str:
        session = self.tracker.active
        if self._fps is not None:
            fps = f"{self._fps:.1f} fps"
        else:
            fps = f"{self._frames_analysed} frames analysed" if self._frames_analysed else "no frame yet"
        return (
            f"camera {camera}, {fps}, MQTT {'connected' if mqtt_up else 'not connected (spooling)'}, "
            + (f"session {session.meta.get('session_id')}" if session else "no session")
        )

    def _status_fields(self) -> dict[str, Any]:
        """Extra fields of the retained status (called from paho's thread: reads only)."""
        reader = self.reader
        session = self.tracker.active
        return {
            "fps": None if self._fps is None else round(self._fps, 2),
            "target_fps": self.cfg.analysis.fps,
            "camera": reader.status() if reader is not None else None,
            "frames_analysed": self._frames_analysed,
            "analysis_slots_missed": int(self._dropped_slots),  # analyser slower than analysis.fps
            "analysis_errors": self._errors,
            "session": None if session is None else session.meta.get("session_id"),
            "ready": self._ready,
            "screen_side": self.cfg.analysis.screen_side,  # null: "turned to the screen" is not judged
        }
