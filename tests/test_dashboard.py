"""The dashboard without a browser: the Store's read queries, languages, security rules, the
self-contained report, the live event stream, and `ppt-collect listen --serve` in one process.

Real parts: summaries from `ppt-edge analyze` on the shared recordings, a real SQLite store, the real
app served by uvicorn on a free port and read over HTTP, a real mosquitto for `listen --serve`.
"""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from broker_fixtures import Mosquitto, free_port, wait_until
from dashboard_fixtures import REPO, XSS_LABEL, env, real_summaries, session_set

from edge.collector.store import Store
from edge.config import FeedbackConfig

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from edge.collector.web import catalog  # noqa: E402
from edge.collector.web.app import STATIC_DIR, DashboardSettings  # noqa: E402
from edge.collector.web.commands import WebSetupError, access_settings  # noqa: E402
from edge.collector.web.i18n import negotiate, translations  # noqa: E402
from edge.collector.web.live import LiveHub  # noqa: E402
from edge.collector.web.metrics import Target  # noqa: E402  (after the skip, like the rest)
from edge.collector.web.report import render_report  # noqa: E402
from edge.collector.web.server import DashboardServer  # noqa: E402
from edge.collector.web.session_view import reason_sentence, session_view, stretches  # noqa: E402


@pytest.fixture(scope="module")
def summaries(videos_dir: Path, models_dir: Path) -> list[dict[str, Any]]:
    return session_set(real_summaries(videos_dir, models_dir))


@pytest.fixture
def db(tmp_path: Path, summaries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "collector.sqlite3"
    with Store(path) as store:
        for s in summaries:
            assert store.add_session(s)
        store.add_status("room-1", "online", {"state": "online", "version": "0.1.0"})
        store.add_status("room-2", "online", {"state": "online"})
        store.add_status("room-2", "offline", {"state": "offline", "reason": "lost"})
        store.add_status("room-3", "offline", {"state": "offline", "reason": "shutdown"})
    return path


class Served:
    def __init__(self, db: Path, **settings: Any) -> None:
        self.hub = settings.pop("hub", LiveHub())
        port = free_port()
        self.server = DashboardServer(DashboardSettings(db=db, hub=self.hub, **settings), "127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}"
        self.server.start()
        assert self.server.ready.wait(15), "dashboard did not start"

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, str], str]:
        req = urllib.request.Request(self.url + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()


@pytest.fixture
def served(db: Path) -> Iterator[Served]:
    s = Served(db)
    try:
        yield s
    finally:
        s.server.stop()


# -- Store: the read queries ---------------------------------------------------------------------
def test_store_pages_filters_and_counts_newest_first(db: Path, summaries: list[dict[str, Any]]) -> None:
    newest = sorted(summaries, key=lambda s: (s["started_at"], s["session_id"]), reverse=True)
    with Store(db) as store:
        store.make_read_only()
        page1 = store.session_page(limit=3)
        page3 = store.session_page(limit=3, offset=6)
        assert [r.session_id for r in page1] == [s["session_id"] for s in newest[:3]]
        assert [r.session_id for r in page3] == [newest[6]["session_id"]]
        assert page1[0].summary == newest[0]
        assert store.count_session_page() == len(summaries) == 7
        room2 = store.session_page(device="room-2")
        assert [r.label for r in room2] == [XSS_LABEL] and store.count_session_page(device="room-2") == 1
        march = store.session_page(since="2026-03-03T00:00:00.000Z", until="2026-03-05T00:00:00.000Z")
        assert [r.session_id for r in march] == ["room-1-20260304T090000Z-cccccc", "room-1-20260303T090000Z-bbbbbb"]
        assert store.rooms() == ["room-1", "room-2", "room-3"]
        assert store.labels()[0] == newest[0]["label"] and "Ada rehearsal" in store.labels()
        assert store.latest_session("room-2").session_id == "room-2-20260305T090000Z-dddddd"
        assert store.latest_session("nobody") is None
        devices = {d.device: d for d in store.device_overview()}
        assert devices["room-1"].sessions == 6 and devices["room-1"].last_session_id == newest[0]["session_id"]
        assert devices["room-2"].status.state == "offline" and devices["room-2"].status.status["reason"] == "lost"
        assert devices["room-3"].sessions == 0 and devices["room-3"].last_session_id is None
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            store.db.execute("DELETE FROM sessions")
    with Store(db) as store:
        assert store.count_sessions() == 7  # nothing was deleted


# -- languages -----------------------------------------------------------------------------------
def test_accept_language_picks_korean_or_english() -> None:
    assert negotiate("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7") == "ko"
    assert negotiate("en-GB,en;q=0.9,ko;q=0.8") == "en"
    assert negotiate("fr-FR,fr;q=0.9,ko;q=0.5") == "ko"
    assert negotiate("fr, de;q=0.5") is None
    assert negotiate("ko;q=0, en") == "en"
    assert negotiate("") is None


def test_korean_catalogue_is_complete_and_compiles_in_memory() -> None:
    from edge.session.feedback import RULES

    assert catalog.main(["--check"]) == 0
    ko = translations("ko")
    for rule in RULES:  # every feedback sentence has a Korean form with both numbers in it
        text = ko.gettext(rule.message)
        assert text != rule.message and "{value}" in text and "{threshold}" in text, rule.code


# -- pages over HTTP -----------------------------------------------------------------------------
def test_pages_escape_device_text_and_speak_the_browsers_language(
    served: Served, summaries: list[dict[str, Any]]
) -> None:
    code, headers, html = served.get("/sessions?room=room-2")
    assert code == 200
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=" in html
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "script-src 'self'" in headers["content-security-policy"]
    xss = next(s for s in summaries if s["label"] == XSS_LABEL)
    code, _, html = served.get(f"/session/{xss['session_id']}")
    assert code == 200 and "<script>window.pwned" not in html
    data = re.search(r'<script type="application/json" id="ppt-session">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data  # tojson escapes markup inside the data block
    code, _, html = served.get("/sessions", {"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert code == 200 and '<html lang="ko">' in html and "세션" in html
    code, _, html = served.get("/sessions", {"Accept-Language": "en-US"})
    assert '<html lang="en">' in html and "Every rehearsal the collector received" in html
    code, headers, js = served.get("/static/vendor/chart.umd.min.js")
    assert code == 200 and js.startswith("/*!\n * Chart.js v4") and "javascript" in headers["content-type"]
    assert served.get("/session/no-such-session")[0] == 404
    for path in ("/trends", "/trends?by=label", "/devices", "/live", "/live/room-2", "/sessions?page=999&from=bad"):
        code, _, html = served.get(path)
        assert code == 200, path
        assert "<script>window.pwned" not in html, path


def test_nothing_writes_and_foreign_hosts_are_refused(served: Served, db: Path) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        code, headers, _ = served.get("/sessions", method=method)
        assert code == 405 and headers["allow"] == "GET, HEAD", method
    assert served.get("/sessions", {"Host": "evil.example:8080"})[0] == 421  # DNS rebinding
    assert served.get("/sessions", {"Host": "localhost:8080"})[0] == 200
    with Store(db) as store:
        assert store.count_sessions() == 7


def test_another_address_needs_the_flag_and_a_token(tmp_path: Path, db: Path) -> None:
    def args(**kw: Any) -> Namespace:
        base = {"http_host": "127.0.0.1", "http_port": 8080, "allow_remote": False, "token_file": None,
                "https_cert": None, "https_key": None, "lang": None, "page_size": 50}  # fmt: skip
        return Namespace(**{**base, **kw})

    settings, _ = access_settings(args(), db)
    assert settings.token is None and "127.0.0.1" in settings.allowed_hosts
    with pytest.raises(WebSetupError, match="--allow-remote"):
        access_settings(args(http_host="0.0.0.0"), db)
    with pytest.raises(WebSetupError, match="--token-file"):
        access_settings(args(http_host="0.0.0.0", allow_remote=True), db)
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(WebSetupError, match="at least 16"):
        access_settings(args(http_host="0.0.0.0", allow_remote=True, token_file=short), db)
    token_file = tmp_path / "token"
    token_file.write_text("correct-horse-battery-staple\n")
    token_file.chmod(0o600)
    settings, kw = access_settings(args(http_host="0.0.0.0", allow_remote=True, token_file=token_file), db)
    assert settings.token == "correct-horse-battery-staple" and settings.allowed_hosts is None

    s = Served(db, token=settings.token, allowed_hosts=None)
    try:
        code, headers, _ = s.get("/sessions")
        assert code == 401 and headers["www-authenticate"].startswith("Basic")
        wrong = base64.b64encode(b"me:wrong-token-wrong-token").decode()
        assert s.get("/sessions", {"Authorization": f"Basic {wrong}"})[0] == 401
        right = base64.b64encode(b"anyone:correct-horse-battery-staple").decode()
        assert s.get("/sessions", {"Authorization": f"Basic {right}"})[0] == 200
        assert s.get("/static/app.css")[0] == 401  # every path, static files included
    finally:
        s.server.stop()


# -- the live stream -----------------------------------------------------------------------------
def test_live_events_carry_status_and_live_messages(db: Path) -> None:
    hub = LiveHub()
    hub.publish("room-1", "status", {"state": "online", "session": "room-1-x"})
    s = Served(db, hub=hub)
    got: list[str] = []
    try:

        def read() -> None:
            with urllib.request.urlopen(s.url + "/live/room-1/events", timeout=10) as r:
                for raw in r:
                    got.append(raw.decode())
                    if raw.startswith(b"data: ") and len(got) > 1 and got[-2].startswith("event: live"):
                        return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert wait_until(lambda: any("room-1-x" in line for line in got), 10)
        hub.publish("room-2", "live", {"elapsed_s": 1})  # another device: not on this stream
        hub.publish("room-1", "live", {"elapsed_s": 3.5, "label": "a\nb</script>"})
        reader.join(10)
        text = "".join(got)
        assert "event: status" in text and '"css":"online"' in text
        assert "event: session" in text and "room-1-" in text
        live = [line for line in got if line.startswith("data: ") and "elapsed_s" in line]
        assert len(live) == 1 and json.loads(live[0][6:])["label"] == "a\nb</script>"
    finally:
        s.server.stop()


# -- one session: optional sections, odd input, the report file -----------------------------------
def test_session_view_shows_optional_sections_and_survives_odd_summaries(summaries: list[dict[str, Any]]) -> None:
    s = json.loads(json.dumps(summaries[-1]))  # the seated session: looking down, held back by a caveat
    assert s["feedback"][0]["code"] == "looking_down" and s["feedback"][0]["caveat"] == "eyes_never_level"
    s["status"], s["ended_by"] = "interrupted", "crash"
    s["feedback"][0]["basis"] = {"frames": 62, "share": 0.95}
    s["not_judged"] = [{"metric": "slouching", "reason": "the hips were out of view"}]
    s["posture"] = {"standing": 0.8, "seated": 0.15, "unknown": 0.05}
    s["warnings"] = [{"code": "recording_cut_short", "message": "The recording ended early."}]
    en = translations("en")
    v = session_view(s, "en", en)
    assert v.findings[0].basis == "Based on 62 frames (95% of the analysed frames)."
    # when: from the finding's own timeline against its target (under 20% for looking down), bin by bin
    bins = s["timeline"]["series"]["looking_down"]
    off = [i for i, x in enumerate(bins) if x is not None and x > 0.2]
    if len(off) == len([x for x in bins if x is not None]):
        assert v.findings[0].when == "Throughout the session."
    else:
        assert v.findings[0].when.startswith("Mostly at 0:") and v.findings[0].when.endswith("into the session.")
    assert v.not_judged == [("Slouching", "the hips were out of view")] and not v.not_judged_derived
    assert ("Standing", "80%") in v.posture
    assert any("interrupted" in w for w in v.warnings) and "The recording ended early." in v.warnings
    assert any("crash" in w for w in v.warnings)
    ko = session_view(s, "ko", translations("ko"))
    share = round(100 * s["feedback"][0]["value"])  # the finding's own measured share
    assert ko.findings[0].sentence.startswith(f"아래를 본 시간이 {share}%")
    # the caveat is translated too, after the rule's sentence (the English one ends the device's message)
    assert v.findings[0].sentence == s["feedback"][0]["message"]
    assert ko.findings[0].sentence.endswith(" 시선이 한 번도 카메라 높이까지 올라오지 않았습니다. 카메라가 눈높이보다 "
                                            "높이 있으면 모든 시선이 실제보다 낮게 읽힙니다.")
    s["feedback"][0].pop("caveat")  # an older device's finding: the rule's sentence alone
    assert session_view(s, "ko", translations("ko")).findings[0].sentence.endswith("미만).")
    odd = {"session_id": "odd-session-1", "device": "d", "started_at": "not a time", "duration_s": float("nan"),
           "metrics": {"facing_audience": {"kind": "share", "share": None, "n": "x"}, "mystery": {"kind": "continuous",
           "unit": "parsec", "mean": 1, "p10": None, "p50": 1, "p90": None, "n": 3}},
           "timeline": {"bin_s": 0, "series": {"mystery": [1, None, "x"]}}, "feedback": [{"code": "new_rule"}],
           "emotion": {"frames": 0}}  # fmt: skip
    v = session_view(odd, "en", en)
    assert v.started == "?" and v.length == "?" and v.findings[0].sentence == "new_rule"
    assert render_report(odd, "en")  # renders rather than raising


def test_an_expression_read_on_too_few_faces_is_shown_as_not_judged(summaries: list[dict[str, Any]]) -> None:
    """The seated session classifies only a handful of faces (her bowed head is outside the emotion
    model's poses): their shares would be a guess ("negative 100%" of 2 faces), so the page says the
    expression is not judged and draws its chart greyed, never marking a bin off target."""
    s = json.loads(json.dumps(summaries[-1]))
    faces = s["emotion"]["frames"]
    assert 0 < faces < FeedbackConfig().min_emotion_frames
    reasons = {i["metric"]: i["reason"] for i in s["not_judged"]}
    v = session_view(s, "en", translations("en"))
    assert v.emotion_line == f"{faces} faces classified: too few to judge the expression."
    assert ("Facial expression", reasons["emotion"]) in v.not_judged
    assert v.charts["emotion"] and all(line["judged"] is False for line in v.charts["emotion"])
    ko = session_view(s, "ko", translations("ko"))
    assert ko.emotion_line == f"얼굴 {faces}개 분류: 표정을 판단하기에는 너무 적습니다."
    # The same faces counted as enough (a summary that does not list emotion as not judged): shares shown.
    s["not_judged"] = [i for i in s["not_judged"] if i["metric"] != "emotion"]
    v = session_view(s, "en", translations("en"))
    assert v.emotion_line.startswith(f"{faces} faces classified: positive ")
    assert v.charts["emotion"] and all(line["judged"] is True for line in v.charts["emotion"])


def test_stretches_find_the_weak_minutes() -> None:
    assert stretches([0.9, 0.2, 0.1, 0.8, 0.3], Target(lo=0.6), 5.0) == [(5.0, 15.0), (20.0, 25.0)]
    assert stretches([0.1, None, 0.9], Target(hi=0.2), 5.0) == [(10.0, 15.0)]
    assert stretches([], Target(lo=0.5), 5.0) == []


def test_report_file_is_self_contained_and_allows_only_its_own_scripts(summaries: list[dict[str, Any]]) -> None:
    html = render_report(summaries[-1], "en")  # the seated session, with a finding
    assert not re.findall(r"<(?:script|img|link|iframe|source)\b[^>]*\b(?:src|href)\s*=", html)
    csp = htmllib.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1))
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 2 and scripts[0].startswith("/*!\n * Chart.js v4")
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert summaries[-1]["feedback"][0]["message"] in htmllib.unescape(html)


def test_report_of_a_summary_file_needs_no_database(tmp_path: Path, videos_dir: Path, models_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """`ppt-collect report FILE.json`: the pictures of a recording `ppt-edge analyze` read on a laptop,
    without a broker or a database; a file that is not a summary is refused by name, nothing written."""
    from dashboard_fixtures import analyzed_files

    from edge.collector import cli

    text = analyzed_files(videos_dir, models_dir)[2]  # the seated clip, with a finding
    summary_file = tmp_path / "raga.summary.json"
    summary_file.write_text(text)
    out = tmp_path / "raga.html"
    no_db = tmp_path / "never-made.sqlite3"
    assert cli.main(["--db", str(no_db), "report", str(summary_file), "--html", str(out)]) == 0
    summary = json.loads(text)
    assert out.read_text(encoding="utf-8") == render_report(summary, "en")
    assert f"report of {summary['session_id']} written to {out}" in capsys.readouterr().err
    assert not no_db.exists()

    bad = tmp_path / "raga-edited.json"
    bad.write_text(json.dumps({**summary, "status": "finished"}))
    out2 = tmp_path / "edited.html"
    assert cli.main(["--db", str(no_db), "report", str(bad), "--html", str(out2)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: not a session summary: status: 'finished' is not one of" in err
    assert not out2.exists()
    assert cli.main(["--db", str(no_db), "report", str(tmp_path / "missing.json"), "--html", str(out2)]) == 1
    assert "missing.json: not a session summary: cannot read it: No such file or directory" in capsys.readouterr().err


def test_vendored_chart_library_is_the_documented_file() -> None:
    readme = (STATIC_DIR / "vendor" / "README.md").read_text()
    digest = hashlib.sha256((STATIC_DIR / "vendor" / "chart.umd.min.js").read_bytes()).hexdigest()
    assert f"`{digest}`" in readme
    assert "MIT" in (STATIC_DIR / "vendor" / "chart.js.LICENSE.md").read_text()


# -- one process: listen --serve ----------------------------------------------------------------
def test_listen_serve_stores_and_shows_in_one_process(tmp_path: Path, summaries: list[dict[str, Any]],
                                                      mosquitto: Mosquitto) -> None:  # fmt: skip
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port = free_port()
    db = tmp_path / "one.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.collector.cli", "--db", str(db), "listen", "--broker", mosquitto.url, "--serve",
         "--http-port", str(port)], cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="one-process-device", protocol=mqtt.MQTTv311)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    s = summaries[-3]

    def shown() -> bool:
        pub.publish(f"ppt/{s['device']}/session/{s['session_id']}", json.dumps(s), qos=1).wait_for_publish(5)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/sessions", timeout=2) as r:
                return s["session_id"] in r.read().decode()
        except OSError:
            return False

    try:
        assert wait_until(shown, 30, interval=0.5)
    finally:
        pub.loop_stop()
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"dashboard: http://127.0.0.1:{port}/sessions" in err


def test_not_judged_reasons_are_shown_in_the_page_s_language(summaries: list[dict[str, Any]]) -> None:
    """The device writes why a measure was not judged in English, from a fixed set of sentences
    (`REASON_TEMPLATES`); the Korean page shows each in Korean with its numbers, the English page as
    stored, and a sentence this collector does not know (a newer device) as it came."""
    from edge.session.feedback import REASON_TEMPLATES

    en, ko = translations("en"), translations("ko")
    sample = {"p": "92%", "c": "17%", "n": "17", "counted": "6", "minimum": "50"}
    for template in REASON_TEMPLATES:
        reason = template.format(**sample)
        assert reason_sentence(reason, en) == reason
        korean = reason_sentence(reason, ko)
        assert korean != reason and not any(w in korean for w in ("frames", "view", "judged", "only"))
        assert all(v in korean for k, v in sample.items() if "{" + k + "}" in template), (template, korean)
    # every reason of the real sessions is one of them (the page never falls back to English on them)
    reasons = [i["reason"] for s in summaries for i in s["not_judged"]]
    assert reasons and all(reason_sentence(r, ko) != r for r in reasons), reasons
    s = summaries[-1]  # the seated session: seven measures not judged
    v = session_view(s, "ko", ko)
    assert [reason for _, reason in v.not_judged] == [reason_sentence(i["reason"], ko) for i in s["not_judged"]]
    assert "프레임의 99%에서 발표자가 앉아 있었습니다" in " ".join(reason for _, reason in v.not_judged)
    assert reason_sentence("a reason from a newer device", ko) == "a reason from a newer device"


def test_a_chart_not_judged_shows_its_reason_and_no_share(summaries: list[dict[str, Any]]) -> None:
    """A measure the session did not judge shows no share on its chart card (the summary's 0.0 for
    "turned to the screen" with no screen side set, n = 0, would read as "never turned") and says why,
    the same reason as the not-judged list, in the page's language; a judged one keeps its share."""
    s = summaries[0]  # squats: no screen side set, hands in the gesture zone on too few frames
    reasons = {i["metric"]: i["reason"] for i in s["not_judged"]}
    assert s["metrics"]["turned_to_screen"] == {"kind": "share", "share": 0.0, "n": 0}
    for locale in ("en", "ko"):
        t = translations(locale)
        v = session_view(s, locale, t)
        cards = {line["name"]: line for g in v.charts["groups"] for line in g["series"]}
        for name in ("turned_to_screen", "hands_in_gesture_zone"):
            assert cards[name]["judged"] is False and cards[name]["share"] is None
            assert cards[name]["reason"] == reason_sentence(reasons[name], t)
        assert cards["gesturing"]["judged"] is True
        assert cards["gesturing"]["share"] == round(s["metrics"]["gesturing"]["share"] * 100, 1)
    page = htmllib.unescape(re.sub(r"\s+", " ", render_report(s, "en")))
    card = page[page.index('id="fig-s-turned_to_screen"'):page.index('id="fig-s-back_to_audience"')]
    assert "<span class=\"big\">–</span>" in card and "0%" not in card
    assert f"not judged: {reasons['turned_to_screen']}" in card
    ko_page = htmllib.unescape(render_report(s, "ko"))
    assert f"판단하지 않음: {reason_sentence(reasons['turned_to_screen'], translations('ko'))}" in ko_page


def test_devices_page_says_when_a_device_has_no_screen_side() -> None:
    """An online device whose status says `screen_side: null` judges no turn to the screen: the
    devices page says which key to set; a set side, an old device that does not report it, or an
    offline device say nothing."""
    from edge.collector.store import DeviceOverview, StatusRow
    from edge.collector.web.overview import device_line

    def line(status: dict[str, Any], locale: str = "en") -> list[str]:
        row = StatusRow("room-9", str(status.get("state")), "2026-11-29T10:00:00Z", status)
        return device_line(DeviceOverview("room-9", row, 0, None, None, None), None, locale,
                           translations(locale)).notes

    assert line({"state": "online", "screen_side": None}) == [
        "Screen side not set (analysis.screen_side): turning to the screen is not judged."]
    assert line({"state": "online", "screen_side": None}, "ko")[0].startswith("화면 방향이 설정되지 않았습니다")
    assert line({"state": "online", "screen_side": "left"}) == []
    assert line({"state": "online"}) == []  # an older device
    assert line({"state": "offline", "screen_side": None}) == []
