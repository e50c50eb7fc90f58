"""Shared by the dashboard tests: real summaries from `ppt-edge analyze` on the shared recordings
(computed once per test run), derived sessions for trends, and a Chromium driven by Selenium.

The browser is Debian's chromium with its chromedriver (`.ci/run` installs both): never one that a
test tool downloads. Tests skip with a clear reason when either is missing.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VIDEOS = ("tfjs_pose_squats.mp4", "slp_webcam_test_video.mp4", "seated/raga_3people_seated.mp4")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
XSS_LABEL = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


@functools.cache
def _analyze(videos_dir: str) -> tuple[str, ...]:
    out = Path(tempfile.mkdtemp(prefix="ppt-dashboard-analyze-"))
    texts = []
    for name in VIDEOS:
        target = out / (Path(name).stem + ".json")
        proc = subprocess.run(
            [sys.executable, "-m", "edge", "analyze", "--quiet", "--json", str(target), str(Path(videos_dir) / name)],
            cwd=REPO, env=env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        texts.append(target.read_text())
    shutil.rmtree(out, ignore_errors=True)
    return tuple(texts)


def analyzed_files(videos_dir: Path, models_dir: Path) -> tuple[str, ...]:
    """The summary files `ppt-edge analyze --json` writes for the three shared recordings, as text."""
    if not (models_dir / "manifest.json").is_file():
        pytest.skip(f"no models in {models_dir}")
    for name in VIDEOS:
        if not (videos_dir / name).is_file():
            pytest.skip(f"recording {videos_dir / name} not found")
    return _analyze(str(videos_dir))


def real_summaries(videos_dir: Path, models_dir: Path) -> list[dict[str, Any]]:
    """The summaries `ppt-edge analyze` writes for the three shared recordings (fresh copies)."""
    return [json.loads(t) for t in analyzed_files(videos_dir, models_dir)]


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def derived(summary: dict[str, Any], *, session_id: str, start: datetime, device: str | None = None,
            label: str | None | object = ...) -> dict[str, Any]:  # fmt: skip
    """A real summary under another id, start and optionally device/label (its numbers unchanged)."""
    s = copy.deepcopy(summary)
    s["session_id"] = session_id
    s["started_at"] = _stamp(start)
    s["ended_at"] = _stamp(start + timedelta(seconds=float(s["duration_s"])))
    if device is not None:
        s["device"] = device
    if label is not ...:
        s["label"] = label
    return s


def session_set(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the dashboard tests store: the three real sessions, earlier rehearsals of room-1 made from
    them (for trends), a room-2 session with a markup label."""
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    squats, webcam, seated = summaries
    out = [
        derived(squats, session_id="room-1-20260302T090000Z-aaaaaa", start=t0, label="Ada rehearsal"),
        derived(seated, session_id="room-1-20260303T090000Z-bbbbbb", start=t0 + timedelta(days=1),
                label="Ada rehearsal"),
        derived(squats, session_id="room-1-20260304T090000Z-cccccc", start=t0 + timedelta(days=2),
                label="Ada rehearsal"),
        derived(webcam, session_id="room-2-20260305T090000Z-dddddd", start=t0 + timedelta(days=3), device="room-2",
                label=XSS_LABEL),
        *summaries,
    ]  # fmt: skip
    return out


def chrome(download_dir: Path | None = None, lang: str = "en") -> Any:
    """Headless Debian chromium through its chromedriver, with a fresh profile."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="ppt-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--window-size=1280,900", f"--user-data-dir={profile}",
                f"--lang={lang}"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver._ppt_profile = profile  # removed by close_chrome
    return driver


def close_chrome(driver: Any) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "_ppt_profile", ""), ignore_errors=True)


def full_page_screenshot(driver: Any, path: Path, width: int = 1280, max_height: int = 6000) -> None:
    """The whole page as one PNG (the window is grown to the page's height, then put back)."""
    chrome_px = int(driver.execute_script("return window.outerHeight - window.innerHeight"))
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(max_height, max(600, height)) + chrome_px)
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 900)


def docs_image(src: Path, dst: Path, scale: float = 0.75, max_bytes: int = 300_000, crop_px: int = 0) -> Path:
    """A smaller copy of a screenshot for docs/img: the top `crop_px` pixels (0: all), scaled down until
    the PNG (max compression) is under `max_bytes`."""
    import cv2

    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if crop_px:
        img = img[:crop_px]
    while True:
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".png", small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        assert ok
        if len(buf) <= max_bytes or scale < 0.3:
            break
        scale *= 0.85
    dst.write_bytes(buf.tobytes())
    return dst
