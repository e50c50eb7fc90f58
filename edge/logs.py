"""Logging of every command: one format, the level from -v, and other libraries' log lines out of the way.

What the person at the terminal (or journald) reads should be ours: one line per thing that matters.
Libraries below us print on their own, partly from native code where Python's logging never sees it:

- FFmpeg (inside OpenCV) prints `moov atom not found`, `[h264 @ 0x...] ...` on stderr from C; OpenCV
  prints `[ WARN:0@0.01] global cap_v4l.cpp ...`. Both read their level from environment variables
  when cv2 loads (OPENCV_FFMPEG_LOGLEVEL, OPENCV_LOG_LEVEL), so `quiet_third_party` sets those before
  any cv2 import (and OpenCV's runtime level too, should cv2 be loaded already). Our own messages say
  what went wrong (`cannot read X: not a video ...`, the camera state on the status topic).
- LiteRT prints `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` from C++: see
  `edge.analysis.inference`, which catches it while an interpreter is built and logs it at DEBUG.
- amqtt (the embedded broker) logs warnings about clients it does not understand (an MQTT 5 CONNECT).

At the default level all of this is silent; with `-v` (DEBUG) the environment is left alone, so the
native lines appear as the libraries print them, and the Python loggers are let through.
"""

from __future__ import annotations

import logging
import os
import sys

# Environment variables that silence native log output, read by OpenCV when it loads.
NATIVE_QUIET_ENV = {
    "OPENCV_LOG_LEVEL": "SILENT",  # OpenCV's own [ WARN:...] / [ERROR:...] lines
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET: FFmpeg's demuxer and decoder messages
}
# Python loggers of libraries whose warnings are about their internals, not about our results.
THIRD_PARTY_LOGGERS = ("amqtt", "transitions")


def quiet_third_party(verbose: bool) -> None:
    """Silence other libraries' log output unless `verbose`. Call before anything imports cv2.

    A variable the user set already is kept (`OPENCV_LOG_LEVEL=DEBUG ppt-edge ...` still works).
    """
    if verbose:
        for name in THIRD_PARTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        return
    for key, value in NATIVE_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:  # loaded before us: the variables came too late, set the runtime level
        try:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        except AttributeError:  # pragma: no cover - an OpenCV build without utils.logging
            pass
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def setup_logging(level: int, *, timestamps: bool | None = None) -> None:
    """Configure the root logger once: stderr; no timestamps of our own under journald, which adds them.

    Third-party output is silenced unless `level` is DEBUG (`-v`).
    """
    if timestamps is None:
        timestamps = not os.environ.get("JOURNAL_STREAM")
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if timestamps else "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    quiet_third_party(verbose=level <= logging.DEBUG)
