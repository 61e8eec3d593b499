"""What every server-rendered page shares: the one Jinja environment over api/templates/, reading a posted
form, the staff sign-in (one server-side session for every area: `core.staff`) and the CSRF value every form
carries.

An `Area` is a group of pages under one URL prefix for the staff roles it admits (an admin is admitted
everywhere). Its routes do three things only: `await area.session(request)` (who is signed in, or None),
`await area.checked_form(request)` (a posted form whose CSRF value matches the session, else 401/403), and
`area.page(...)` of a template; the data comes from the core functions the JSON routes call.

The session cookie is HttpOnly, SameSite=Lax (analysts follow links to reports from the Dagster UI, another
origin; every form still carries the CSRF value) and Secure outside development.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from api import staff_sign_in
from api.auth import Principal, decode_token
from core import staff as staff_accounts
from core.db import engine_for
from core.money import Money

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
FORM_LIMIT = 64 * 1024
COOKIE = "staff_session"

templates = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]))


def to_minor_unit(amount: str, currency: str) -> str:
    """An exact amount as text shown to the currency's minor unit (the page's `title` keeps it exact)."""
    return str(Money.of(amount, currency).rounded().amount)


templates.filters["minor"] = to_minor_unit


def static_files() -> StaticFiles:
    """The shared stylesheet (and anything else under api/static/), mounted at /static."""
    return StaticFiles(directory=STATIC_DIR)


# Staff pages carry actions (approve, suspend, rotate): no other site may frame them to steer a click (the CSRF value
# does not stop that), post their forms elsewhere or have a response read as another type.
PAGE_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
}


def render(name: str, status_code: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status_code,
                        headers=PAGE_HEADERS)


def engine(request: Request) -> Engine:
    return engine_for(request.app.state.endpoints.database_url)


async def read_form(request: Request, limit: int = FORM_LIMIT) -> dict[str, str]:
    """A posted urlencoded form (first value of each field); 413 past `limit` bytes, read as it streams in."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, detail={"code": "payload_too_large", "message": f"form larger than {limit} bytes"})
    text = bytes(body).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal  # client_id is the staff member's username
    display_name: str
    csrf: str | None  # None for a bearer token (no forms)


async def signed_in_staff(request: Request) -> staff_accounts.Staff | None:
    """The staff member of the request's session cookie (looked up once per request)."""
    if not hasattr(request.state, "staff"):
        session_id = request.cookies.get(COOKIE, "")
        request.state.staff = (await staff_accounts.session_staff(request.app.state.pg, session_id)
                               if session_id else None)
    return request.state.staff


@dataclass(frozen=True)
class Area:
    """Pages under `prefix` behind a sign-in form, for callers with one of `roles`."""

    name: str  # the template folder and the CSRF key
    prefix: str
    roles: tuple[str, ...]  # staff roles admitted (and admin)
    title: str  # what the sign-in page calls these pages
    audience: str  # who they are for, said on the sign-in page
    refusal: str  # the sign-in page's answer to a staff member of another role
    bearer: bool = False  # also admit an `Authorization: Bearer` header (scripts fetching reports)
    nav: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (path, label) links in the page header

    def admits(self, role: str) -> bool:
        return role in self.roles or role == "admin"

    def csrf(self, request: Request, session_id: str) -> str:
        secret = request.app.state.settings.jwt_secret.get_secret_value().encode()
        return hmac.new(secret, f"{self.name}-csrf:{session_id}".encode(), hashlib.sha256).hexdigest()[:32]

    async def session(self, request: Request) -> Session | None:
        """Who is signed in to this area (a staff session or, where allowed, a bearer token), else None."""
        if self.bearer:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                try:
                    principal, _expires = decode_token(request.app.state.settings, token.strip())
                except HTTPException:
                    return None
                return Session(principal, principal.client_id, None) if self.admits(principal.role) else None
        found = await signed_in_staff(request)
        if found is None or not self.admits(found.role):
            return None
        principal = Principal(found.username, found.role, None)
        return Session(principal, found.display_name, self.csrf(request, request.cookies[COOKIE]))

    async def checked_form(self, request: Request, limit: int = FORM_LIMIT) -> tuple[Principal, dict[str, str]]:
        """The posted form of a signed-in caller whose CSRF value matches the session: 401 / 403 otherwise."""
        form = await read_form(request, limit)
        session = await self.session(request)
        if session is None:
            raise HTTPException(401, detail={"code": "unauthorized", "message": f"sign in to {self.prefix} first"})
        if session.csrf is None or not hmac.compare_digest(form.pop("csrf", ""), session.csrf):
            raise HTTPException(403, detail={"code": "forbidden", "message": "stale form: reload the page"})
        return session.principal, form

    async def page(self, request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        """A page of this area for the signed-in caller (the header shows who, with the area's links)."""
        session = await self.session(request)
        return render(f"{self.name}/{name}", status_code, area=self, session=session,
                      principal=session and session.principal, csrf=session and session.csrf, **context)

    async def login_page(self, request: Request, message: str | None = None, status_code: int = 200,
                         next_url: str | None = None) -> HTMLResponse:
        """The sign-in form (for a staff member signed in with another role: why these pages are closed)."""
        found = await signed_in_staff(request)
        if message is None and found is not None and not self.admits(found.role):
            message, status_code = f"Signed in as {found.username} ({found.role}). {self.refusal}", 403
        return render("login.html", status_code, area=self, message=message, next_url=next_url or self.prefix)

    def _next(self, value: str | None) -> str:
        # Only a path inside this area: never another site (`//host`) or another area.
        if not value or not value.startswith(self.prefix) or "//" in value or "\\" in value:
            return self.prefix
        return value

    def routes(self) -> APIRouter:
        """POST {prefix}/login (username and password → the session cookie) and POST {prefix}/logout."""
        router = APIRouter(include_in_schema=False)

        @router.post(f"{self.prefix}/login")
        async def login(request: Request) -> Response:
            form = await read_form(request)
            next_url = self._next(form.get("next"))
            username, password = form.get("username", "").strip().lower(), form.get("password", "")
            if not username or not password:
                return await self.login_page(request, "Enter your username and password.", 422, next_url)
            try:
                found = await staff_sign_in.sign_in(request, username, password)
            except staff_sign_in.SignInThrottled as error:
                page = await self.login_page(request, f"Too many failed sign-ins: {error}.", 429, next_url)
                page.headers["Retry-After"] = str(error.retry_after)
                return page
            if found is None:
                return await self.login_page(request, "That username and password do not match an active account.",
                                             401, next_url)
            if not self.admits(found.role):
                return await self.login_page(request, self.refusal, 403, next_url)
            address = request.client.host if request.client else ""
            session_id, max_age = await staff_accounts.open_session(request.app.state.pg, found, address)
            response = RedirectResponse(quote(next_url, safe="/?=&-_.%"), status_code=303)
            response.set_cookie(COOKIE, session_id, max_age=max_age, httponly=True, samesite="lax", path="/",
                                secure=not request.app.state.settings.development)
            return response

        @router.post(f"{self.prefix}/logout")
        async def logout(request: Request) -> Response:
            session_id = request.cookies.get(COOKIE)
            if session_id:
                await staff_accounts.close_session(request.app.state.pg, session_id)
            response = RedirectResponse(self.prefix, status_code=303)
            response.delete_cookie(COOKIE, path="/")
            return response

        return router


FLASH_MAX_AGE_S = 600
FLASH_MAX_CHARS = 300


def _flash_signature(request: Request, issued: int, message: str) -> str:
    secret = request.app.state.settings.jwt_secret.get_secret_value().encode()
    return hmac.new(secret, f"flash:{issued}:{message}".encode(), hashlib.sha256).hexdigest()[:32]


def signed_flash(request: Request, message: str, name: str = "flash") -> dict[str, str]:
    """The query parameters that carry an action's result to the page a redirect opens, signed with the app's
    secret so that a link made elsewhere cannot put its own text on a staff page."""
    message = message[:FLASH_MAX_CHARS]
    issued = int(time.time())
    return {name: message, f"{name}_sig": f"{issued}.{_flash_signature(request, issued, message)}"}


def verified_flash(request: Request, name: str = "flash") -> str:
    """The `?flash=` text if this server signed it in the last FLASH_MAX_AGE_S seconds, else ""."""
    message = request.query_params.get(name, "")
    issued, _, signature = request.query_params.get(f"{name}_sig", "").partition(".")
    if not message or not issued.isdigit() or not 0 <= time.time() - int(issued) <= FLASH_MAX_AGE_S:
        return ""
    return message if hmac.compare_digest(signature, _flash_signature(request, int(issued), message)) else ""
