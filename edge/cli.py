"""`ppt-edge`: check, analyze, bench, run.

Every expected failure (a bad config, a missing or corrupt model, an unreadable video, a video with
nobody in it) ends with a one-line (or one-line-per-problem) message on stderr and exit code 2, never
a traceback: the person at the terminal, or journald, gets the reason and nothing else. Logging is
configured once here; under systemd (JOURNAL_STREAM set) without timestamps of our own, since the
journal adds them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge import __version__
from edge.config import QUARTER_TURNS

if TYPE_CHECKING:
    from edge.config import Config, ConfigError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 2  # bad input: config, models, video, or nothing to analyse


def setup_logging(level: int) -> None:
    """Configure the root logger once (edge.logs): stderr, no timestamps under journald, and other
    libraries' output silenced below DEBUG."""
    from edge.logs import setup_logging as _setup

    _setup(level)


def _error(message: str) -> int:
    for line in str(message).splitlines() or [""]:
        print(f"ppt-edge: {line}", file=sys.stderr)
    return EXIT_ERROR


def _load(path: Path | None) -> Config:
    from edge.config import load_config

    return load_config(path)


def config_message(exc: ConfigError) -> str:
    """`bad config F: key: reason`, one problem per line (the file named once)."""
    src = str(exc.source) if exc.source is not None else ""
    head = "bad config" if not src or any(e.startswith(src) for e in exc.errors) else f"bad config {src}"
    if len(exc.errors) == 1:
        return f"{head}: {exc.errors[0]}"
    return f"{head}:\n" + "\n".join(f"  {e}" for e in exc.errors)


# --- check -------------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config and the models; list every problem, exit 2 when there is one."""
    from edge.analysis.models import check_models
    from edge.config import ConfigError, missing_files, models_dir_origin

    where = str(args.config) if args.config else "the defaults"
    try:
        cfg = _load(args.config)
    except ConfigError as exc:
        print(f"config {where}: {len(exc.errors)} problem(s); models not checked until it loads",
              file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return EXIT_ERROR
    problems = missing_files(cfg)
    if cfg.models.dir.is_dir():  # else missing_files said where they were looked for
        problems += [f"models: {p}" for p in check_models(cfg)]
    if problems:
        print(f"config {where}: {len(problems)} problem(s)", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_ERROR
    emotion = "on" if cfg.models.emotion else "off"
    print(f"config {where}: OK (pose {cfg.models.pose_variant}, emotion {emotion})")
    print(f"models: {cfg.models.dir} (from {models_dir_origin(cfg.models)})")
    if cfg.analysis.screen_side is None:
        print('note: analysis.screen_side is not set, so "turned to the screen" is not judged; set it to '
              '"left" or "right", the screen\'s side as the presenter sees it')
    return EXIT_OK


# --- analyze -----------------------------------------------------------------------------------------


def cmd_analyze(args: argparse.Namespace) -> int:
    from edge.analyze import analyze_video
    from edge.session.report import render_report

    cfg = _load(args.config)
    if args.screen_side is not None:
        cfg = dataclasses.replace(cfg, analysis=dataclasses.replace(cfg.analysis, screen_side=args.screen_side))
    out = args.json if args.json is not None else Path(f"{Path(args.video).stem}.summary.json")
    result = analyze_video(Path(args.video), cfg, progress=None if not args.quiet else False,
                           rotation=args.rotate)
    text = json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n"
    if str(out) == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            return _error(f"cannot write {out}: {exc.strerror or exc}")
    if not args.quiet:
        print(render_report(result.summary))
        print()
        if str(out) != "-":
            print(f"summary written to {out}")
    return EXIT_OK


# --- bench -------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from edge.bench import bench_config, default_video, run_bench

    cfg = bench_config(_load(args.config), args.variant, args.threads)
    video = args.video or default_video(cfg)
    if video is None:
        return _error("bench needs a recording: --video FILE (or a config with camera.backend = \"file\")")
    result = run_bench(cfg, Path(video), loop_minutes=args.loop_minutes)
    print(result.report())
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    try:
        from edge.device.daemon import main_run
    except ImportError as exc:
        return _error(f"the daemon is not available in this installation ({exc})")
    return int(main_run(cfg))


# --- main --------------------------------------------------------------------------------------------


def _threads(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 8:
        raise argparse.ArgumentTypeError("must be between 1 and 8")
    return n


def _minutes(text: str) -> float:
    v = float(text)
    if not 0 <= v <= 24 * 60:
        raise argparse.ArgumentTypeError("must be between 0 and 1440")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ppt-edge",
                                description="PPT Edge: on-device presentation-rehearsal monitor")
    p.add_argument("--version", action="version", version=f"ppt-edge {__version__}")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="debug log output, including other libraries' own lines (silenced by default)")
    sub = p.add_subparsers(dest="command", required=True)

    def config_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, help="TOML config file (default: built-in defaults)")

    c = sub.add_parser("check", help="validate the config and the models; exit 2 listing every problem")
    config_arg(c)
    c.set_defaults(func=cmd_check)

    a = sub.add_parser("analyze", help="analyse a recording: report on stdout, summary JSON to a file")
    a.add_argument("video", type=Path, help="the recording (any format OpenCV reads)")
    config_arg(a)
    a.add_argument("--json", type=Path, metavar="OUT",
                   help="where to write the summary (default: ./<video name>.summary.json; - for stdout)")
    a.add_argument("--quiet", action="store_true", help="no progress bar and no report")
    a.add_argument("--rotate", type=int, choices=QUARTER_TURNS, default=0, metavar="DEG",
                   help="turn the picture clockwise by 90, 180 or 270 degrees first: a camera mounted turned "
                        "(a phone's own rotation is applied already)")
    a.add_argument("--screen-side", choices=["left", "right"],
                   help="the screen's side as the presenter sees it (analysis.screen_side); without it "
                        "\"turned to the screen\" is not judged")
    a.set_defaults(func=cmd_analyze)

    b = sub.add_parser("bench", help="per-stage timings, analysed fps against the bare model, CPU and memory")
    config_arg(b)
    b.add_argument("--video", type=Path, help="recording to analyse (default: the config's file camera)")
    b.add_argument("--variant", choices=["lightning", "thunder"],
                   help="pose model (default: from the config)")
    b.add_argument("--threads", type=_threads, help="interpreter threads (default: from the config)")
    b.add_argument("--loop-minutes", type=_minutes, default=0.0, metavar="M",
                   help="play the video again and again for M minutes (memory-flatness check)")
    b.set_defaults(func=cmd_bench)

    r = sub.add_parser("run", help="run the service: camera, analysis, sessions, MQTT")
    config_arg(r)
    r.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # -v is DEBUG: our details and the other libraries' own lines (silenced by default, edge.logs)
    if args.command == "run":
        setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    else:
        setup_logging(logging.DEBUG if args.verbose else logging.WARNING)
    from edge.analysis.inference import ModelError
    from edge.analyze import VideoError
    from edge.config import ConfigError
    from edge.schema import SummaryError

    try:
        return int(args.func(args))
    except ConfigError as exc:
        return _error(config_message(exc))
    except (ModelError, VideoError, SummaryError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ppt-edge analyze x.mp4 | head`: the reader left, nothing to say
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no second error at exit)
        except OSError:
            pass
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
