"""The dashboard as a Starlette application: pages over the collector database, a live event stream.

Why it is built this way:
- Starlette (ASGI) served by uvicorn: small, maintained, and a server-sent event stream is a plain
  async generator, so the live view needs no websocket layer. Pages are sync functions that Starlette
  runs in its thread pool; they share one read-only Store behind a lock (each query takes
  milliseconds, see tools/dashboard_bench.py).
- Jinja2 templates with autoescaping on for every template, one environment per language with the
  gettext catalogue installed (`edge.collector.web.i18n`). Data for the charts goes into the page
  as `<script type="application/json">` through `tojson`, which escapes `<`, `>` and `&`.
- Nothing here writes: the Store connection is put in query-only mode, and `SecurityMiddleware`
  refuses every method but GET and HEAD.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge import __version__
from edge.collector.store import Store
from edge.collector.web import overview
from edge.collector.web.i18n import LANGUAGE_NAMES, LOCALES, choose_locale, format_when, translations
from edge.collector.web.live import LiveHub, status_text
from edge.collector.web.security import LOOPBACK_NAMES, SecurityMiddleware
from edge.collector.web.session_view import session_view

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
SSE_KEEPALIVE_S = 15.0
SSE_DB_POLL_S = 2.0
T = TypeVar("T")


@dataclass
class DashboardSettings:
    db: Path | str
    lang: str | None = None  # force one language (--lang); None: per request
    token: str | None = None  # HTTP Basic password required when set
    allowed_hosts: list[str] | None = field(default_factory=lambda: list(LOOPBACK_NAMES))  # None: any
    hub: LiveHub = field(default_factory=LiveHub)
    page_size: int = overview.PAGE_SIZE


class Reader:
    """One read-only Store shared by the request threads."""

    def __init__(self, db: Path | str) -> None:
        self.store = Store(db)
        self.store.make_read_only()
        self._lock = threading.Lock()

    def __call__(self, fn: Callable[[Store], T]) -> T:
        with self._lock:
            return fn(self.store)

    def close(self) -> None:
        with self._lock:
            self.store.close()


def urlpart(text: Any) -> str:
    """One path segment, percent-encoded (device names come from MQTT topics)."""
    return quote(str(text), safe="")


class Renderer:
    """Jinja2 environments, one per language, with the catalogue installed; autoescape always on."""

    def __init__(self) -> None:
        self._envs: dict[str, jinja2.Environment] = {}
        self._lock = threading.Lock()

    def env(self, locale: str) -> jinja2.Environment:
        with self._lock:
            env = self._envs.get(locale)
            if env is None:
                env = jinja2.Environment(
                    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                    autoescape=True,
                    extensions=["jinja2.ext.i18n"],
                    undefined=jinja2.StrictUndefined,
                    trim_blocks=True,
                    lstrip_blocks=True,
                )
                env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
                env.filters["urlpart"] = urlpart
                env.globals["version"] = __version__
                self._envs[locale] = env
            return env

    def render(self, name: str, locale: str, **context: Any) -> str:
        context.setdefault("standalone", False)
        context.setdefault("lang", locale)
        context.setdefault("languages", [])
        return self.env(locale).get_template(name).render(**context)


def sse(event: str, data: Any) -> str:
    """One server-sent event; json.dumps escapes newlines, so a payload cannot end the event early."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=True, separators=(',', ':'))}\n\n"


def create_app(settings: DashboardSettings) -> Starlette:
    reader = Reader(settings.db)
    renderer = Renderer()
    hub = settings.hub

    def locale_of(request: Request) -> str:
        return choose_locale(
            settings.lang,
            request.query_params.get("lang"),
            request.cookies.get("lang"),
            request.headers.get("accept-language"),
        )

    def languages(request: Request) -> list[tuple[str, str, str]]:
        if settings.lang:
            return []
        out = []
        for code in LOCALES:
            params = dict(request.query_params)
            params["lang"] = code
            out.append((code, LANGUAGE_NAMES[code], f"{request.url.path}?{urlencode(params)}"))
        return out

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        locale = locale_of(request)
        html = renderer.render(name, locale, languages=languages(request), **context)
        response = HTMLResponse(html, status_code=status_code)
        chosen = request.query_params.get("lang")
        if chosen in LOCALES and not settings.lang:
            response.set_cookie("lang", chosen, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
        response.headers["cache-control"] = "no-store"
        return response

    def home(request: Request) -> Response:
        return RedirectResponse("/sessions", status_code=303)

    def sessions_page(request: Request) -> HTMLResponse:
        locale = locale_of(request)
        t = translations(locale)
        q = request.query_params
        room = q.get("room") or None
        day_from, day_to = overview.parse_day(q.get("from")), overview.parse_day(q.get("to"))
        try:
            page_no = int(q.get("page", "1"))
        except ValueError:
            page_no = 1
        filt = overview.SessionFilter(room=room, day_from=day_from, day_to=day_to, page=page_no)
        since, until = filt.bounds()

        def fetch(store: Store) -> tuple[int, list[Any], list[str]]:
            total = store.count_session_page(device=room, since=since, until=until)
            pages = overview.Pages.of(page_no, total, settings.page_size)
            rows = store.session_page(
                device=room, since=since, until=until, limit=settings.page_size,
                offset=(pages.page - 1) * settings.page_size,
            )  # fmt: skip
            return total, rows, store.rooms()

        total, rows, rooms = reader(fetch)
        pages = overview.Pages.of(page_no, total, settings.page_size)
        base = {k: v for k, v in (("room", room), ("from", q.get("from")), ("to", q.get("to"))) if v}

        def page_url(n: int) -> str:
            return "/sessions?" + urlencode({**base, "page": n})

        return page(
            request, "sessions.html", page_name="sessions",
            lines=[overview.session_line(r, locale, t) for r in rows],
            pages=pages, page_url=page_url, rooms=rooms, room=room,
            day_from=day_from.isoformat() if day_from else "", day_to=day_to.isoformat() if day_to else "",
            bad_dates=bool(q.get("from") and not day_from) or bool(q.get("to") and not day_to),
            filtered=bool(base),
        )  # fmt: skip

    def _find(session_id: str) -> Any:
        rows = reader(lambda s: s.find_session(session_id))
        exact = [r for r in rows if r.session_id == session_id]
        if not exact:
            raise HTTPException(404, "no such session")
        return exact[0]

    def session_page(request: Request) -> HTMLResponse:
        row = _find(request.path_params["session_id"])
        locale = locale_of(request)
        view = session_view(row.summary, locale, translations(locale))
        return page(request, "session.html", page_name="session", v=view)

    def session_report(request: Request) -> Response:
        from edge.collector.web.report import render_report

        row = _find(request.path_params["session_id"])
        html = render_report(row.summary, locale_of(request), renderer)
        return HTMLResponse(html, headers={
            "content-disposition": f'attachment; filename="ppt-session-{row.session_id}.html"',
            "cache-control": "no-store",
        })  # fmt: skip

    def trends_page(request: Request) -> HTMLResponse:
        locale = locale_of(request)
        t = translations(locale)
        q = request.query_params
        by = "label" if q.get("by") == "label" else "room"
        try:
            last = min(overview.MAX_TREND_SESSIONS, max(2, int(q.get("last", "20"))))
        except ValueError:
            last = 20
        key = q.get("key") or None

        def fetch(store: Store) -> tuple[list[str], str | None, list[Any]]:
            choices = store.rooms() if by == "room" else store.labels()
            chosen = key
            if chosen is None and choices:
                newest = store.session_page(limit=1)
                if by == "room":
                    chosen = newest[0].device if newest else choices[0]
                else:
                    chosen = choices[0]
            rows: list[Any] = []
            if chosen is not None:  # the newest `last`, shown oldest first (as `ppt-collect trend`)
                rows = store.session_page(device=chosen if by == "room" else None,
                                          label=chosen if by == "label" else None, limit=last)[::-1]  # fmt: skip
            return choices, chosen, rows

        choices, chosen, rows = reader(fetch)
        if chosen is not None and chosen not in choices:
            choices = [chosen, *choices]
        data = overview.trend_data(rows, locale, t)
        return page(request, "trends.html", page_name="trends", by=by, key=chosen, choices=choices,
                    last=last, data=data, rows=rows)  # fmt: skip

    def devices_page(request: Request) -> HTMLResponse:
        locale = locale_of(request)
        t = translations(locale)
        devices = reader(lambda s: s.device_overview())
        live = hub.statuses()
        known = {d.device for d in devices}
        from edge.collector.store import DeviceOverview

        for name in sorted(set(live) - known):  # a device heard on MQTT but not yet in the database
            devices.append(DeviceOverview(name, None, 0, None, None, None))
        lines = [overview.device_line(d, live.get(d.device), locale, t) for d in devices]
        return page(request, "devices.html", page_name="devices", lines=lines, feed=hub.source,
                    feed_connected=hub.connected)  # fmt: skip

    def live_index(request: Request) -> Response:
        devices = reader(lambda s: s.rooms())
        names = sorted(set(devices) | set(hub.statuses()))
        if len(names) == 1:
            return RedirectResponse(f"/live/{urlpart(names[0])}", status_code=303)
        return page(request, "live_index.html", page_name="live", names=names, feed=hub.source,
                    feed_connected=hub.connected)  # fmt: skip

    def _status_of(device: str) -> dict[str, Any]:
        ev = hub.latest(device, "status")
        if ev is not None:
            return dict(ev.data)
        rows = reader(lambda s: s.status_history(device))
        if rows:
            return dict(rows[-1].status or {"state": rows[-1].state})
        return {}

    def live_page(request: Request) -> HTMLResponse:
        device = request.path_params["device"]
        locale = locale_of(request)
        t = translations(locale)
        status = _status_of(device)
        css, words = status_text(status.get("state"), status.get("reason"), t.gettext)
        last = reader(lambda s: s.latest_session(device))
        live_ev = hub.latest(device, "live")
        return page(
            request, "live.html", page_name="live", device=device, status_css=css, status_words=words,
            status=status, last=last, last_started=format_when(last.started_at, locale) if last else "",
            feed=hub.source, feed_connected=hub.connected,
            initial={"status": status, "live": live_ev.data if live_ev else None,
                     "live_age_s": None if live_ev is None else round(time.time() - live_ev.at, 1)},
        )  # fmt: skip

    async def live_events(request: Request) -> Response:
        device = request.path_params["device"]
        locale = locale_of(request)
        t = translations(locale)

        def status_payload(data: dict[str, Any]) -> dict[str, Any]:
            css, words = status_text(data.get("state"), data.get("reason"), t.gettext)
            return {"css": css, "words": words, "status": data}

        def latest_session() -> dict[str, Any] | None:
            row = reader(lambda s: s.latest_session(device))
            if row is None:
                return None
            return {"session_id": row.session_id, "label": row.label, "url": f"/session/{urlpart(row.session_id)}",
                    "started": format_when(row.started_at, locale)}  # fmt: skip

        async def stream() -> AsyncIterator[str]:
            token, queue = hub.subscribe(device)
            try:
                yield "retry: 2000\n\n"
                yield sse("feed", {"connected": hub.connected, "source": hub.source})
                status = await run_in_threadpool(_status_of, device)
                if status:
                    yield sse("status", status_payload(status))
                ev = hub.latest(device, "live")
                if ev is not None:
                    yield sse("live", {**ev.data, "_age_s": round(time.time() - ev.at, 1)})
                last = await run_in_threadpool(latest_session)
                yield sse("session", last)
                loop = asyncio.get_running_loop()
                next_poll = loop.time() + SSE_DB_POLL_S
                next_ping = loop.time() + SSE_KEEPALIVE_S
                connected = hub.connected
                while not hub.closed.is_set():
                    try:
                        ev = await asyncio.wait_for(queue.get(), timeout=0.5)
                        if ev.kind == "status":
                            yield sse("status", status_payload(ev.data))
                        else:
                            yield sse("live", {**ev.data, "_age_s": 0})
                    except asyncio.TimeoutError:
                        pass
                    now = loop.time()
                    if hub.connected != connected:
                        connected = hub.connected
                        yield sse("feed", {"connected": connected, "source": hub.source})
                    if now >= next_poll:
                        next_poll = now + SSE_DB_POLL_S
                        newest = await run_in_threadpool(latest_session)
                        if newest != last:
                            last = newest
                            yield sse("session", last)
                    if now >= next_ping:
                        next_ping = now + SSE_KEEPALIVE_S
                        yield ": keepalive\n\n"
            finally:
                hub.unsubscribe(token)

        return StreamingResponse(
            stream(), media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )  # fmt: skip

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        return await run_in_threadpool(
            page, request, "error.html", status_code=code, page_name="error", code=code,
        )  # fmt: skip

    routes = [
        Route("/", home),
        Route("/sessions", sessions_page),
        Route("/session/{session_id}", session_page),
        Route("/session/{session_id}/report.html", session_report),
        Route("/trends", trends_page),
        Route("/devices", devices_page),
        Route("/live", live_index),
        Route("/live/{device}", live_page),
        Route("/live/{device}/events", live_events),
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityMiddleware, token=settings.token, allowed_hosts=settings.allowed_hosts),
        ],
        exception_handlers={404: not_found},
    )
    app.state.reader = reader
    app.state.hub = hub
    return app
