"""The README and the docs pages say what the code does: their commands run, their examples hold, their links
resolve.

The convention, in README.md and the docs pages listed in RUN_PAGES:

- a ```sh block is run, from a folder that looks like the repository's root (its top-level entries linked
  in), with this environment's `ppt-edge`, `ppt-collect`, `ppt-edge-demo` and `python3` first on PATH,
  `bash -euo pipefail`, and no $PPT_EDGE_SHARED: what a fresh clone has. The blocks of one page run in
  order in one folder, so a later block may use what an earlier one made;
- a ```sh block right under `<!-- no-run: reason -->` is not run (hardware, root, network, minutes); it
  needs a reason, and each `ppt-edge`/`ppt-collect`/`ppt-edge-demo` command in it must still parse
  with the real argument parser;
- a ```toml block is a config fragment: it must load as a valid config;
- a ```text block right under `<!-- report: COMMAND -->` is that command's report: the command is run
  and its output must have the same lines, numbers and sparklines aside (they move with the models and
  the CPU; the layout, the labels, the units and the key must not).

Links: every relative link in README.md and docs/*.md must resolve (and a `#anchor` into a page must
name one of its headings), and the README links every docs page.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge.config import config_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
RUN_PAGES = ("README.md", "docs/getting-started.md", "docs/report.md", "docs/device.md", "docs/mqtt.md",
             "docs/collector.md", "docs/models.md")
README_MAX_BYTES = 10 * 1024
TEST_COMMAND = ".venv/bin/python -m pytest -q"
BLOCK_TIMEOUT_S = 120

FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(no-run|report):\s*(.*?)\s*-->\s*$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclass
class Block:
    page: str
    lang: str
    text: str
    marker: str | None  # "no-run" / "report" / None
    note: str  # the marker's reason or command
    line: int

    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: str) -> list[Block]:
    text = (REPO / page).read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mk = MARKER.search(before)
        out.append(Block(page, m.group(1), m.group(2), mk.group(1) if mk else None, mk.group(2) if mk else "",
                         text.count("\n", 0, m.start()) + 1))
    return out


def all_blocks(lang: str) -> list[Block]:
    return [b for page in RUN_PAGES for b in blocks(page) if b.lang == lang]


# --- the command lines ----------------------------------------------------------------------------------


def logical_lines(script: str) -> list[str]:
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


PROGRAMS = ("ppt-edge", "ppt-collect", "ppt-edge-demo")
SEPARATORS = ("|", "||", "&&", ";", "&")


def our_commands(script: str) -> list[tuple[str, list[str]]]:
    """(program, argv) of every ppt-edge / ppt-collect / ppt-edge-demo call in a shell block: a word in
    command position (line start, after | && ; or `sudo [-u USER]` and VAR=value), up to a separator or
    a redirection."""
    found = []
    for line in logical_lines(script):
        try:
            words = shlex.split(line.replace("$(", "$( "), comments=True)
        except ValueError:
            continue
        i, at_command = 0, True
        while i < len(words):
            w = words[i]
            if w in SEPARATORS or w == "$(":
                at_command = True
            elif at_command and (w == "sudo" or re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", w)):
                pass
            elif at_command and w == "-u" and i > 0 and words[i - 1] == "sudo":
                i += 1  # sudo -u USER
            elif at_command:
                at_command = False
                name = w.rsplit("/", 1)[-1]
                if name in PROGRAMS:
                    argv = []
                    for arg in words[i + 1:]:
                        if arg in SEPARATORS or arg in ("<", "2>&1") or arg.startswith((">", "2>", ")")):
                            break
                        argv.append(arg)
                    found.append((name, argv))
            i += 1
    return found


def parse(program: str, argv: list[str]) -> None:
    from edge import cli, demo
    from edge.collector import cli as collector_cli

    parser = {"ppt-edge": cli.build_parser, "ppt-collect": collector_cli.build_parser,
              "ppt-edge-demo": demo.build_parser}[program]()
    if "--help" in argv or "-h" in argv:
        return
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"`{program} {' '.join(argv)}` does not parse") from exc


def test_every_block_that_is_not_run_says_why_and_its_commands_parse() -> None:
    skipped = [b for b in all_blocks("sh") if b.marker == "no-run"]
    assert skipped, "no block is marked no-run: has the convention changed?"
    for b in skipped:
        assert len(b.note) > 10, f"{b.where()}: a no-run block needs a reason"
        for program, argv in our_commands(b.text):
            parse(program, argv)


def test_every_sh_block_is_either_run_or_marked() -> None:
    for page in RUN_PAGES:
        for b in blocks(page):
            assert b.lang in ("sh", "toml", "text", ""), f"{b.where()}: unknown block language {b.lang!r}"
            assert b.lang != "", f"{b.where()}: give the block a language (sh, toml or text)"


# --- running the cheap blocks ---------------------------------------------------------------------------


def _workdir(tmp: Path) -> Path:
    """A folder that looks like the repository root to a command (links to its top-level entries)."""
    work = tmp / "repo"
    work.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", ".venv", "build", "dist") and not entry.name.endswith(".egg-info"):
            (work / entry.name).symlink_to(entry)
    return work


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PPT_EDGE_SHARED", "PPT_EDGE_MODELS") and not k.startswith(("OPENCV_", "NOTIFY_"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_block(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=BLOCK_TIMEOUT_S)


@pytest.mark.parametrize("page", [p for p in RUN_PAGES if any(b.lang == "sh" and b.marker != "no-run"
                                                              for b in blocks(p))])
def test_the_runnable_blocks_run(page: str, tmp_path: Path) -> None:
    pytest.importorskip("amqtt")  # the demo's embedded broker (the `broker` extra)
    work = _workdir(tmp_path)
    for b in blocks(page):
        if b.lang != "sh" or b.marker == "no-run":
            continue
        for program, argv in our_commands(b.text):
            parse(program, argv)
        proc = run_block(b.text, work)
        assert proc.returncode == 0, f"{b.where()} failed ({proc.returncode}):\n{b.text}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, f"{b.where()}:\n{proc.stderr[-3000:]}"


# --- examples -------------------------------------------------------------------------------------------


def test_every_toml_example_is_a_valid_config() -> None:
    examples = all_blocks("toml")
    assert examples
    for b in examples:
        data = tomllib.loads(b.text)
        config_from_dict(data, base_dir=REPO)  # raises ConfigError naming the key


_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_SPARK_TAIL = re.compile(r"  [_.:\-=+*#%@ ]+$")


def report_shape(text: str) -> list[str]:
    """A report without what moves with the models: numbers, sparklines; the first two lines (id, date)."""
    lines = text.strip("\n").splitlines()[2:]
    return [_SPARK_TAIL.sub("", _NUMBER.sub("N", line)).rstrip() for line in lines]


def test_report_examples_match_what_the_command_prints(tmp_path: Path) -> None:
    examples = [b for page in RUN_PAGES for b in blocks(page) if b.marker == "report"]
    assert examples, "docs/report.md shows no report"
    work = _workdir(tmp_path)
    for b in examples:
        proc = run_block(b.note + " --json /dev/null", work)
        assert proc.returncode == 0, proc.stderr
        printed = proc.stdout.split("\nsummary written to ")[0]
        assert report_shape(b.text) == report_shape(printed), (
            f"{b.where()}: the report example no longer matches `{b.note}`; it prints now:\n{proc.stdout}")


def test_the_documented_session_id_and_listen_line_are_what_the_code_makes() -> None:
    from edge.collector.cli import session_line
    from edge.session.summary import new_session_id

    sid = new_session_id("room-1", datetime(2025, 3, 1, 10, 15, tzinfo=timezone.utc), suffix="a3f09c")
    assert sid == "room-1-20250301T101500Z-a3f09c"
    line = session_line({"session_id": sid, "device": "room-1", "label": "Ana", "status": "complete",
                         "started_at": "2025-03-01T10:15:00.000Z", "duration_s": 760.0,
                         "feedback": [{"code": "turned_to_screen"}, {"code": "arms_crossed"}]})
    assert line in (DOCS / "collector.md").read_text(encoding="utf-8")
    everything = "\n".join((REPO / p).read_text(encoding="utf-8") for p in RUN_PAGES)
    ids = set(re.findall(r"\b[\w-]*\d{8}T\d{6}Z[\w-]*", everything))
    wrong = {i for i in ids if not re.fullmatch(r"[A-Za-z0-9_-]+-\d{8}T\d{6}Z-[0-9a-f]{6}", i)}
    assert not wrong, f"session ids in a format the code never makes: {sorted(wrong)}"


# --- README ---------------------------------------------------------------------------------------------


def test_readme_is_short() -> None:
    size = (REPO / "README.md").stat().st_size
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; move the details into docs/"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    readme = "\n".join(b.text for b in blocks("README.md") if b.lang == "sh")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in readme.splitlines(), "the README's test command changed: change TEST_COMMAND and .ci/run"
    assert TEST_COMMAND in [line.strip() for line in ci.splitlines()], ".ci/run does not run the README's tests"
    apt = re.search(r"apt-get install -y (.+)", readme)
    assert apt is not None
    ci_apt = " ".join(logical_lines(ci))
    for package in apt.group(1).split():
        assert re.search(rf"\b{re.escape(package)}\b", ci_apt), f".ci/run does not install {package}"


# --- links ----------------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}


def broken_links() -> list[str]:
    """Relative links that do not resolve, or name a heading their page does not have."""
    broken = []
    pages = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
    for page in pages:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#") and not target[1:]:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(REPO)} -> {target}"
            if not dest.exists():
                broken.append(where)
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{where} (no such heading)")
    return broken


def test_relative_links_resolve() -> None:
    broken = broken_links()
    assert not broken, "links that go nowhere:\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(readme) if t.startswith("docs/")}
    present = {p.name for p in DOCS.glob("*.md")}
    assert present <= linked, f"docs pages the README does not link: {sorted(present - linked)}"
