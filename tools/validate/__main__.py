"""`python -m tools.validate`: the analysis against the labelled set.

    python -m tools.validate [--clip ID ...] [--json OUT] [--markdown OUT] [--strict --min-accuracy 0.9]
    python -m tools.validate sheets --clip ID [--clip ID ...] --out DIR
    python -m tools.validate check          # load and check the label files only (no models)
    python -m tools.validate scale --downscale 1 2 4 8 [--markdown OUT]   # accuracy by presenter size
    python -m tools.validate tilt --turn 0 90 180 270 [--markdown OUT]      # how upright the presenter stands
    python -m tools.validate pitch [--markdown OUT]     # how far down the eyes read, looking down or not
    python -m tools.validate yaw [--markdown OUT]       # how far to the side the head reads, facing or not

Exit codes: 0 done (and, with --strict, every bound met), 1 a bound missed or a finding contradicted
(--strict), 2 bad labels, missing clip or models.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge.config import Config, ConfigError, load_config
from tools.validate.labels import EXPRESSIONS, YES_NO, LabelError, load_clips, select

logger = logging.getLogger("tools.validate")


def _config(path: str | None) -> Config:
    return load_config(Path(path)) if path else Config()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip", action="append", metavar="ID", help="a clip id of labels/clips.json (repeatable; "
                   "default: every clip)")
    p.add_argument("--config", help="a ppt-edge TOML config (default: the built-in defaults, as `ppt-edge analyze`)")
    p.add_argument("-v", "--verbose", action="store_true")


def _run(args: argparse.Namespace) -> int:
    from tools.validate.report import as_json, markdown
    from tools.validate.suite import failures, validate

    clips = select(load_clips(), args.clip)
    from tools.validate.run import Variant

    try:
        variant = Variant(args.downscale, args.jpeg, args.mirror, args.turn, args.dim, args.cut, args.roll, args.blur)
    except ValueError as exc:  # names the flag
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = validate(clips, _config(args.config), variant=variant)
    title = "Validation against the labelled set" + (f" ({variant.describe()})" if variant.altered else "")
    text = markdown(results, title)
    bounds = {"min_accuracy": args.min_accuracy, "min_coverage": args.min_coverage, "min_judged": args.min_judged,
              "min_expression_agreement": args.min_expression_agreement}
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(results, bounds), indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(text)
    problems = failures(results, args.min_accuracy, args.min_coverage, args.min_judged,
                        args.min_expression_agreement)
    if problems:
        print("\nBelow the bounds:" if args.strict else "\nWould fail --strict:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
    return 1 if args.strict and problems else 0


def _sheets(args: argparse.Namespace) -> int:
    from tools.validate.sheets import write_sheets

    if not args.clip:
        print("sheets: name at least one --clip", file=sys.stderr)
        return 2
    clips = select(load_clips(), args.clip)
    cfg = _config(args.config)
    for clip in clips:
        for path in write_sheets(clip, cfg, Path(args.out), per_sheet=args.per_sheet):
            print(path)
    return 0


def _table_out(text: str, markdown: str | None) -> int:
    """A table command's result: on stdout, and in the --markdown file when one is named."""
    if markdown:
        Path(markdown).write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


def _scale(args: argparse.Namespace) -> int:
    from tools.validate.run import Variant
    from tools.validate.scale import by_scale, markdown

    try:
        variants = [Variant(d, args.jpeg) for d in args.downscale]
    except ValueError as exc:  # names the flag
        print(f"scale: {exc}", file=sys.stderr)
        return 2
    bins, heads = by_scale(select(load_clips(), args.clip), _config(args.config), variants)
    text = markdown(bins, variants, args.min_accuracy, args.min_judged, heads)
    return _table_out(text, args.markdown)


def _tilt(args: argparse.Namespace) -> int:
    from tools.validate.run import Variant
    from tools.validate.tilt import markdown, tilts

    try:
        variants = {t: Variant(turn=t) for t in args.turn}
    except ValueError as exc:  # names the flag
        print(f"tilt: {exc}", file=sys.stderr)
        return 2
    from edge.analysis.models import load_models

    clips, cfg = select(load_clips(), args.clip), _config(args.config)
    models = load_models(cfg)  # once for every turn
    text = markdown({t: tilts(clips, cfg, models, v) for t, v in variants.items()})
    return _table_out(text, args.markdown)


def _pitch(args: argparse.Namespace) -> int:
    from edge.analysis.models import load_models
    from tools.validate.pitch import eye_pitches, markdown

    clips, cfg = select(load_clips(), args.clip), _config(args.config)
    text = markdown(eye_pitches(clips, cfg, load_models(cfg)), cfg.features.looking_down_deg)
    return _table_out(text, args.markdown)


def _yaw(args: argparse.Namespace) -> int:
    from edge.analysis.models import load_models
    from tools.validate.yaw import head_yaws, markdown

    clips, cfg = select(load_clips(), args.clip), _config(args.config)
    text = markdown(head_yaws(clips, cfg, load_models(cfg)), cfg.features.facing_yaw_max_deg)
    return _table_out(text, args.markdown)


def _check(args: argparse.Namespace) -> int:
    clips = load_clips()
    for c in clips:
        counts = {m: "".join(
            {True: "y", False: "n", None: "?"}[f.metrics[m]] for f in c.frames) for m in YES_NO}
        y = sum(v.count("y") for v in counts.values())
        n = sum(v.count("n") for v in counts.values())
        expr = ", ".join(f"{sum(1 for f in c.frames if f.expression == e)} {e}" for e in EXPRESSIONS)
        unknown = sum(1 for f in c.frames if f.expression is None)
        print(f"{c.id}: {len(c.frames)} labelled frame(s), {y} y and {n} n labels; expression {expr}, {unknown} ?")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    handlers = {"run": _run, "sheets": _sheets, "check": _check, "scale": _scale, "tilt": _tilt, "pitch": _pitch,
                "yaw": _yaw}
    command = argv[0] if argv and argv[0] in handlers else "run"
    if command != "run":
        argv = argv[1:]
    p = argparse.ArgumentParser(prog=f"python -m tools.validate{'' if command == 'run' else ' ' + command}",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if command in ("run", "sheets", "scale", "tilt", "pitch", "yaw"):
        _common(p)
    if command in ("scale", "tilt", "pitch", "yaw"):
        p.add_argument("--markdown", help="write the table here too")
    if command == "tilt":
        p.add_argument("--turn", type=int, nargs="+", default=[0, 90, 180, 270],
                       help="turn every frame clockwise by these degrees (0, 90, 180, 270)")
    if command == "scale":
        p.add_argument("--downscale", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0],
                       help="factors to shrink every frame by (>= 1)")
        p.add_argument("--jpeg", type=int, default=0, help="JPEG-code every shrunk frame at this quality (1..100; "
                       "0, the default: not), as a compressed camera stream would")
        p.add_argument("--min-accuracy", type=float, default=0.9, help="the bound a trusted size must hold")
        p.add_argument("--min-judged", type=int, default=20, help="a metric counts in a bin from this many judged "
                       "frames")
    if command == "run":
        p.add_argument("--json", help="write the full result as JSON here")
        p.add_argument("--markdown", help="write the Markdown table here")
        p.add_argument("--downscale", type=float, default=1.0, help="shrink every frame by this factor first "
                       "(>= 1): how the metrics hold up on a smaller or farther presenter")
        p.add_argument("--jpeg", type=int, default=0, help="then JPEG-code it at this quality (1..100; 0, the "
                       "default: not)")
        p.add_argument("--mirror", action="store_true", help="mirror every frame left to right (and the labels "
                       "that say left or right)")
        p.add_argument("--turn", type=int, default=0, help="turn every frame clockwise by 90, 180 or 270 degrees: "
                       "a camera mounted turned, no camera.rotation set")
        p.add_argument("--roll", type=float, default=0.0, help="roll every frame clockwise by this many degrees "
                       "about its centre: a camera mounted out of level (-45..45)")
        p.add_argument("--blur", type=float, default=0.0, help="blur every frame with a Gaussian of this sigma in "
                       "pixels: a lens out of focus, a soft webcam (0..20)")
        p.add_argument("--cut", type=float, default=0.0, help="cut this share of every frame's height away at the "
                       "bottom: a desk or lectern in front, a waist-up framing (0..0.7)")
        p.add_argument("--dim", type=float, default=1.0, help="make every frame as if the room had this many times "
                       "less light and the camera's gain made up for it: noise, fewer grey levels (1..64; 1: off)")
        p.add_argument("--strict", action="store_true", help="exit 1 when a bound is missed or a finding is "
                       "contradicted by the labels")
        p.add_argument("--min-accuracy", type=float, default=0.9, help="per-metric frame accuracy bound (pooled)")
        p.add_argument("--min-coverage", type=float, default=0.0, help="per-metric coverage bound (default: off)")
        p.add_argument("--min-judged", type=int, default=20, help="bounds apply to metrics with at least this many "
                       "judged (accuracy) or labelled (coverage) y/n frames")
        p.add_argument("--min-expression-agreement", type=float, default=0.0, help="bound on the pooled 3-class "
                       "agreement of the emotion model with the expression labels (default: off)")
    if command == "sheets":
        p.add_argument("--out", required=True, help="folder for the PNG sheets")
        p.add_argument("--per-sheet", type=int, default=12, help="tiles per sheet")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return handlers[command](args)
    except (LabelError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # models missing, unreadable video: one line, not a trace
        from edge.analysis.inference import ModelError
        from edge.analyze import VideoError

        if isinstance(exc, (ModelError, VideoError)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
