"""Who may see the dashboard, and what a page may do in the browser.

Why it is built this way:
- Loopback by default: on 127.0.0.1 only this laptop's user can connect, and the Host header must
  name the loopback too, so a web page elsewhere cannot read the dashboard through DNS rebinding.
- Any other address needs `--allow-remote` and a token file (HTTP Basic: any user name, the token
  as password, compared in constant time). Basic keeps it working for every page, for the event
  stream of the live view and for `curl`, with no login form or session state on the server; put
  TLS in front of it (`--tls-cert/--tls-key`) on a network you do not trust.
- Read-only: only GET and HEAD are allowed (and the database connection refuses writes).
- Every response carries a Content-Security-Policy that allows scripts and styles from the
  dashboard itself only: even if some text from a device escaped the templates' escaping, the
  browser would not run it.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class TokenError(ValueError):
    """The token file cannot be used (missing, empty, too short)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    """The token: the file's first line, stripped; at least MIN_TOKEN_CHARS characters."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        raise TokenError(f"token file {path}: {exc.strerror or exc}") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(
            f"token file {path}: the token must be at least {MIN_TOKEN_CHARS} characters "
            "(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > FILE`)"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning("token file %s is readable by other users: chmod 600 it", path)
    return token


def host_of(header: str) -> str:
    """The host name of a Host header value, without the port (`[::1]:8080` -> `::1`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def basic_password(authorization: str | None) -> str | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[1] if ":" in decoded else None


class SecurityMiddleware:
    """ASGI middleware: Host check, token check, GET/HEAD only, security headers on every response."""

    def __init__(self, app: Any, *, token: str | None, allowed_hosts: Iterable[str] | None) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.allowed_hosts is not None and host_of(headers.get("host", "")) not in self.allowed_hosts:
            await _plain(send, 421, "unexpected Host header (open the dashboard by its loopback address)")
            return
        if self.token is not None:
            given = basic_password(headers.get("authorization"))
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _plain(send, 401, "the dashboard needs its token (as the password)",
                             [(b"www-authenticate", b'Basic realm="PPT Edge dashboard", charset="UTF-8"')])  # fmt: skip
                return
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, "the dashboard is read-only", [(b"allow", b"GET, HEAD")])
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                    *SECURITY_HEADERS, *(extra or [])],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
