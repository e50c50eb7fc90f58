"""The device daemon behind `ppt-edge run`: camera -> analyser -> sessions -> summaries over MQTT.

One main loop owns all session state (tracker, statistics, checkpoint); nothing else touches it:

- camera: `LatestFrameReader` keeps only the newest frame on its own thread. The loop takes the newest
  frame when an analysis slot is due (`analysis.fps`) and never queues; a camera that fails or stalls
  is reopened by the reader with backoff and reported on the status topic, never a crash.
- analysis: `edge.analysis.pipeline.FrameAnalyzer`, reset whenever a new session's statistics begin (the
  countdown of an automatic start, or a `start` command), so baselines and speeds are the presenter's own.
- sessions: `SessionTracker` (auto start on presence, end on absence, commands). While a session runs
  its state is checkpointed atomically every `session.checkpoint_s` (edge/device/checkpoint.py). On start, a
  checkpoint left by a crash or a power cut is published as `interrupted` (ended by `crash`), and the
  checkpoint is removed only once the summary is in the spool.
- MQTT: `Publisher` (retained status with Last Will, spooled QoS 1 summaries, live topic, commands).
  Commands arrive on the publisher's worker thread; they are queued to the main loop, executed there,
  and the worker sends the ack with the main loop's answer (or a refusal when the loop did not take
  the command within `COMMAND_TIMEOUT_S`: then it is cancelled and changes nothing).
- systemd: READY/WATCHDOG/STATUS/STOPPING through `edge.device.sdnotify` (the rules are in its docstring).

The `Daemon` class is split by what each part owns: this module has the loop, setup, commands and
shutdown; `edge.device.daemon_sessions` what happens when a session starts or ends (summary, spool,
checkpoint, crash recovery); `edge.device.daemon_status` the live topic, the retained status and
systemd; `edge.device.command_inbox` the handover of commands between the two threads.

SIGTERM/SIGINT end a running session as complete (ended by `shutdown`), spool its summary, wait briefly
for the broker's acks, publish `offline` and exit 0. A non-looping recording that ends does the same
with `end_of_video`.

Exit codes (as `ppt-edge`'s): 0 stopped cleanly; 1 a runtime failure (systemd restarts it); 2 a setup
problem a restart cannot fix: a configured file missing, models missing or corrupt, MQTT settings
that can never work (the message names the config key).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from edge.analysis.features import FrameFeatures
from edge.config import Config, missing_files
from edge.device.capture import LatestFrameReader
from edge.device.checkpoint import CheckpointStore
from edge.device.command_inbox import COMMAND_TIMEOUT_S, CommandInbox
from edge.device.commands import Command
from edge.device.daemon_sessions import SessionExtra, SessionKeeping, local_time
from edge.device.daemon_status import (
    READY_MQTT_GRACE_S,
    READY_TIMEOUT_S,
    SD_STATUS_INTERVAL_S,
    STATUS_INTERVAL_S,
    StatusReporting,
)
from edge.device.publish import MqttSetupError, Publisher
from edge.device.sdnotify import SdNotifier
from edge.session.tracker import SessionTracker

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2  # = edge.cli.EXIT_ERROR (bad config, models, video); RestartPreventExitStatus=2

FRAME_WAIT_S = 0.5  # longest wait for a new frame before the loop does its other work
MAX_CONSECUTIVE_ERRORS = 50  # analyser failures in a row before the daemon gives up (exit 1)
SHUTDOWN_FLUSH_S = 5.0  # Publisher.close: time for the last acks and the `offline` status
FPS_SMOOTHING = 0.1


class Analyzer(Protocol):
    """What the daemon needs from `edge.analysis.pipeline.FrameAnalyzer` (tests may pass a stand-in)."""

    def analyze(self, frame_bgr: np.ndarray, t: float) -> Any: ...

    def reset(self) -> None: ...

    @property
    def models_info(self) -> dict[str, dict[str, str]]: ...


class SetupError(RuntimeError):
    """The daemon cannot start; `exit_code` says whether a restart could help."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Daemon(SessionKeeping, StatusReporting):
    """The daemon's main loop; `run(stop)` blocks until `stop` is set, the recording ends or it fails.

    `analyzer`: a ready analyser (default: `FrameAnalyzer(cfg)` with verified models).
    `publisher_options`: extra keyword arguments for `Publisher` (e.g. `connack_timeout_s`).
    """

    def __init__(
        self,
        cfg: Config,
        *,
        analyzer: Analyzer | None = None,
        notifier: SdNotifier | None = None,
        publisher_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.analyzer = analyzer
        self.sd = notifier if notifier is not None else SdNotifier()
        self.publisher_options = dict(publisher_options or {})
        self.reader: LatestFrameReader | None = None
        self.publisher: Publisher | None = None
        self.tracker = SessionTracker(cfg.session)
        self.checkpoints = CheckpointStore(cfg.storage.state_dir)
        self.models_info: dict[str, dict[str, str]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._commands = CommandInbox(self._wake)
        self._period = 1.0 / cfg.analysis.fps
        self._started_mono = time.monotonic()
        self._next_due = 0.0
        self._last_index = -1
        self._last_t: float | None = None  # capture time of the last analysed frame
        self._fps: float | None = None
        self._frames_analysed = 0
        self._dropped_slots = 0.0  # analysis slots lost because the analyser was slower than analysis.fps
        self._errors = 0
        self._consecutive_errors = 0
        self._analysed_since_ping = False
        self._last_ping = 0.0
        self._last_checkpoint = 0.0
        self._checkpoint_failed = False
        self._last_status = 0.0
        self._last_live = 0.0
        self._live_interval = 1.0 / cfg.mqtt.live_hz if cfg.mqtt.live_hz > 0 else None
        self._ready = False
        self._camera_state = "starting"
        self._sd_key = ""
        self._last_sd_status = 0.0
        self._extra = SessionExtra()
        self.sessions_published = 0
        self.sessions_dropped = 0  # shorter than session.min_duration_s

    # -- public state (read from other threads: tests, the demo) --------------------------------
    @property
    def session_id(self) -> str | None:
        """Id of the running session, if any."""
        session = self.tracker.active
        return None if session is None else session.meta.get("session_id")

    @property
    def ready(self) -> bool:
        return self._ready

    def wake(self) -> None:
        """Make the main loop look at its stop flag and command queue now (signal-safe)."""
        self._wake.set()

    # -- entry ----------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> int:
        """Set up, loop until stopped, shut down; the exit code."""
        if stop is not None:
            self._stop = stop
        try:
            self._setup()
        except SetupError as exc:
            logger.error("cannot start: %s", exc)
            self.sd.status(f"failed: {exc}")
            self._teardown()
            return exc.exit_code
        except Exception as exc:
            logger.exception("cannot start")
            self.sd.status(f"failed: {exc!r}")
            self._teardown()
            return EXIT_FAILURE
        crashed = False
        try:
            self._loop()
        except Exception:
            logger.exception("daemon main loop failed")
            crashed = True
        finally:
            self._shutdown(crashed)
        return EXIT_FAILURE if crashed else EXIT_OK

    # -- setup ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        problems = missing_files(cfg)
        if self.analyzer is not None:
            problems = [p for p in problems if not p.startswith("models.")]
        if problems:
            raise SetupError("; ".join(problems))
        try:
            cfg.storage.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SetupError(f"storage.state_dir: cannot create {cfg.storage.state_dir}: {exc}") from None

        if self.analyzer is None:
            self.sd.status("loading models")
            self.analyzer = self._load_analyzer()
        self.models_info = dict(self.analyzer.models_info)

        self.sd.status("opening the camera")
        try:
            # picamera2 sizes its lores stream from the pose model's input (edge.device.capture.lores_size)
            estimator = getattr(self.analyzer, "pose_estimator", None)  # a test's stand-in may have none
            model_input = estimator.input_size if estimator is not None and cfg.camera.backend == "picamera2" else None
            self.reader = LatestFrameReader.from_config(cfg.camera, model_input=model_input, name="ppt-capture")
        except (ValueError, RuntimeError) as exc:
            raise SetupError(f"camera: {exc}") from None
        self.reader.start()

        self.sd.status("connecting to MQTT")
        try:
            self.publisher = Publisher.from_config(
                cfg,
                models=self.models_info,
                status_provider=self._status_fields,
                on_command=self._on_command,
                **self.publisher_options,
            )
            self.publisher.start()
        except (MqttSetupError, OSError, ValueError) as exc:
            self.publisher = None
            raise SetupError(f"mqtt: {exc}") from None
        logger.info(
            "daemon up: device %s, camera %s, analysing at %g fps, MQTT %s:%d, screen side %s",
            cfg.device.id, cfg.camera.backend, cfg.analysis.fps, cfg.mqtt.host, cfg.mqtt.port,
            cfg.analysis.screen_side or 'not set (analysis.screen_side: "turned to the screen" is not judged)',
        )
        self._recover()

    def _load_analyzer(self) -> Analyzer:
        from edge.analysis.inference import ModelError
        from edge.analysis.models import load_models

        try:
            models = load_models(self.cfg)
        except ModelError as exc:
            raise SetupError(f"models: {exc}") from None
        try:
            from edge.analysis.pipeline import FrameAnalyzer

            return FrameAnalyzer(self.cfg, models)
        except ModelError as exc:
            raise SetupError(f"models: {exc}") from None

    # -- main loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self.reader is not None
        # READY's MQTT grace counts from here (model loading can be slow); `online` went out in on_connect.
        self._next_due = self._last_status = self._started_mono = time.monotonic()
        while not self._stop.is_set():
            self._run_commands()
            now = time.monotonic()
            self._periodic(now)
            if self.reader.ended:
                self._handle(self.tracker.finish("end_of_video", t=self._last_t))
                logger.info("the recording ended: stopping (%d session(s) published, %d too short to keep)",
                            self.sessions_published, self.sessions_dropped)
                return
            if now < self._next_due:
                self._sleep(self._next_due - now)
                continue
            frame = self.reader.get(after=self._last_index, timeout=FRAME_WAIT_S)
            got = time.monotonic()
            if frame is None:
                self._no_frame(got)
                continue
            self._analyse(frame.image, frame.timestamp, frame.index)
            after = time.monotonic()
            due = max(self._next_due, got) + self._period
            if due < after:  # slower than analysis.fps: skip the lost slots, never catch up
                self._dropped_slots += (after - due) / self._period
                due = after
            self._next_due = due

    def _sleep(self, seconds: float) -> None:
        if self._wake.wait(min(seconds, 0.5)):
            self._wake.clear()

    def _no_frame(self, now: float) -> None:
        """No new frame within FRAME_WAIT_S: the camera is slow, stalled or being reopened."""
        self._next_due = now  # a camera outage is not analysis lag
        if self.tracker.session is not None and self.reader is not None:
            state = self.reader.state.state
            if state not in ("ok",):
                # A camera that is gone cannot see the presenter: time passes as absence, so a long
                # outage ends the session (at the presenter's last frame), a short hiccup does not.
                t = max(now, self._last_t or now)
                self._handle(self.tracker.update(t, False))

    def _analyse(self, image: np.ndarray, t: float, index: int) -> None:
        assert self.analyzer is not None
        gap = index - self._last_index if self._last_index >= 0 else 1
        self._last_index = index
        try:
            result = self.analyzer.analyze(image, t)
        except Exception:
            self._errors += 1
            self._consecutive_errors += 1
            if self._consecutive_errors == 1 or self._consecutive_errors % 10 == 0:
                logger.exception("analysing a frame failed (%d in a row)", self._consecutive_errors)
            if self._consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                raise RuntimeError(f"{self._consecutive_errors} frames in a row failed to analyse") from None
            return
        self._consecutive_errors = 0
        self._frames_analysed += 1
        self._analysed_since_ping = True
        if self._last_t is not None and t > self._last_t:
            inst = 1.0 / (t - self._last_t)
            self._fps = inst if self._fps is None else (1 - FPS_SMOOTHING) * self._fps + FPS_SMOOTHING * inst
        self._last_t = t

        features: FrameFeatures = result.features
        previous = self.tracker.session
        events = self.tracker.update(t, features.present)
        stats = self.tracker.stats
        if stats is not None and self.tracker.last_t == t:
            new = self.tracker.session is not previous
            stats.add_seen(1 if new else gap, t)
            stats.add_frame(t, features)
            if result.emotion is not None and features.present:
                stats.add_emotion(t, int(result.emotion))
            if new:
                self.analyzer.reset()  # this session's baselines, speeds and crop are its own
        self._handle(events)
        self._live(t, features, result.emotion)

    # -- commands -------------------------------------------------------------------------------
    def _on_command(self, cmd: Command) -> str | None:
        """Publisher worker thread: hand the command to the main loop and wait for its answer."""
        return self._commands.submit(cmd)

    def _run_commands(self) -> None:
        self._commands.run_pending(self._execute)

    def _command_time(self) -> float:
        """The tracker's clock for a command: just after the last analysed frame while frames flow."""
        now = time.monotonic()
        if self._last_t is not None and now - self._last_t < 1.0:
            return self._last_t
        return max(now, self.tracker.last_t or now)

    def _execute(self, cmd: Command) -> str | None:
        """Run one command on the main loop; None when done, else why it was refused (nothing changed)."""
        assert self.analyzer is not None
        t = self._command_time()
        if cmd.cmd == "start":
            running = self.tracker.active
            if running is not None:
                return f"a session is already running ({running.meta.get('session_id')})"
            previous = self.tracker.session
            if cmd.label is not None:
                self.tracker.set_label(cmd.label)
            events = self.tracker.command_start(t)
            if self.tracker.session is not previous:
                self.analyzer.reset()
            self._handle(events)
            return None
        if cmd.cmd == "stop":
            if self.tracker.state == "active":
                self._handle(self.tracker.command_stop(t))
                return None
            if self.tracker.state == "pending":
                self.tracker.command_stop(t)  # cancels the countdown
                logger.info("session countdown cancelled by a stop command")
                return None
            return "no session is running"
        if cmd.cmd == "label":
            self.tracker.set_label(cmd.label)
            running = self.tracker.active
            logger.info(
                "label %r set for %s", cmd.label,
                f"session {running.meta.get('session_id')}" if running else "the next session",
            )
            self._checkpoint(force=True)
            return None
        return f"unknown command {cmd.cmd!r}"  # parse_command refuses these already

    # -- shutdown -------------------------------------------------------------------------------
    def _shutdown(self, crashed: bool) -> None:
        self.sd.stopping("shutting down")
        if crashed:
            self._checkpoint(force=True)  # published as interrupted on the next start
        else:
            try:
                self._handle(self.tracker.finish("shutdown", t=self._last_t))
            except Exception:
                logger.exception("could not finish the running session; its checkpoint stays")
        self._commands.refuse_all("the device is shutting down")  # commands still waiting
        self._teardown()
        logger.info("stopped")

    def _teardown(self) -> None:
        if self.publisher is not None:
            try:
                self.publisher.close(SHUTDOWN_FLUSH_S)
            except Exception:
                logger.exception("closing the MQTT publisher failed")
            self.publisher = None
        if self.reader is not None:
            self.reader.stop()
        self.sd.close()


def main_run(cfg: Config) -> int:
    """`ppt-edge run`: the daemon until SIGTERM/SIGINT (or the end of a non-looping recording)."""
    stop = threading.Event()
    daemon = Daemon(cfg)

    def on_signal(signum: int, frame: Any) -> None:
        if not stop.is_set():
            logger.info("%s received: finishing the session and stopping", signal.Signals(signum).name)
        stop.set()
        daemon.wake()

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, on_signal)
    try:
        return daemon.run(stop)
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


__all__ = [
    "Daemon",
    "SetupError",
    "main_run",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_CONFIG",
    # from the parts of the daemon split out by what they own
    "COMMAND_TIMEOUT_S",
    "READY_MQTT_GRACE_S",
    "READY_TIMEOUT_S",
    "SD_STATUS_INTERVAL_S",
    "STATUS_INTERVAL_S",
    "local_time",
]
