"""What every server-rendered page shares: the one Jinja environment over api/templates/, reading a posted
form, the cookie sign-in of an area (its login and logout routes) and the CSRF value every form carries.

An `Area` is a group of pages under one URL prefix with its own cookie (scoped to that prefix) and the roles
it admits. Its routes do three things only: `area.session(request)` (who is signed in, or None),
`await area.checked_form(request)` (a posted form whose CSRF value matches the session, else 401/403), and
`render(...)` of a template; the data comes from the core functions the JSON routes call.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from api.auth import Principal, authenticate_client, decode_token, issue_token
from core.db import engine_for

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
FORM_LIMIT = 64 * 1024

templates = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]))


def static_files() -> StaticFiles:
    """The shared stylesheet (and anything else under api/static/), mounted at /static."""
    return StaticFiles(directory=STATIC_DIR)


def render(name: str, status_code: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status_code)


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
    principal: Principal
    token: str
    csrf: str


@dataclass(frozen=True)
class Area:
    """Pages under `prefix` behind a sign-in form, for callers with one of `roles`."""

    name: str  # the template folder and the CSRF key
    prefix: str
    cookie: str
    roles: tuple[str, ...]
    title: str  # what the sign-in page calls these pages
    audience: str  # who they are for, said on the sign-in page
    refusal: str  # the sign-in page's answer to a valid caller of another role
    samesite: str = "strict"
    bearer: bool = False  # also admit an `Authorization: Bearer` header (scripts fetching reports)
    nav: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (path, label) links in the page header

    def csrf(self, request: Request, token: str) -> str:
        secret = request.app.state.settings.jwt_secret.get_secret_value().encode()
        return hmac.new(secret, f"{self.name}-csrf:{token}".encode(), hashlib.sha256).hexdigest()[:32]

    def session(self, request: Request) -> Session | None:
        """Who is signed in to this area (a valid token of an admitted role), else None."""
        token = None
        if self.bearer:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        token = token or request.cookies.get(self.cookie)
        if not token:
            return None
        try:
            principal, _expires = decode_token(request.app.state.settings, token)
        except HTTPException:
            return None
        if principal.role not in self.roles:
            return None
        return Session(principal, token, self.csrf(request, token))

    async def checked_form(self, request: Request, limit: int = FORM_LIMIT) -> tuple[Principal, dict[str, str]]:
        """The posted form of a signed-in caller whose CSRF value matches the session: 401 / 403 otherwise."""
        form = await read_form(request, limit)
        session = self.session(request)
        if session is None:
            raise HTTPException(401, detail={"code": "unauthorized", "message": f"sign in to {self.prefix} first"})
        if not hmac.compare_digest(form.pop("csrf", ""), session.csrf):
            raise HTTPException(403, detail={"code": "forbidden", "message": "stale form: reload the page"})
        return session.principal, form

    def page(self, request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        """A page of this area for the signed-in caller (the header shows who, with the area's links)."""
        session = self.session(request)
        return render(f"{self.name}/{name}", status_code, area=self, principal=session and session.principal,
                      csrf=session and session.csrf, **context)

    def login_page(self, message: str | None = None, status_code: int = 200,
                   next_url: str | None = None) -> HTMLResponse:
        return render("login.html", status_code, area=self, message=message, next_url=next_url or self.prefix)

    def _next(self, value: str | None) -> str:
        # Only a path inside this area: never another site (`//host`) or another area.
        if not value or not value.startswith(self.prefix) or "//" in value or "\\" in value:
            return self.prefix
        return value

    def routes(self) -> APIRouter:
        """POST {prefix}/login (client id and secret → the cookie) and POST {prefix}/logout."""
        router = APIRouter(include_in_schema=False)

        @router.post(f"{self.prefix}/login")
        async def login(request: Request) -> Response:
            form = await read_form(request)
            next_url = self._next(form.get("next"))
            client_id, secret = form.get("client_id", "").strip(), form.get("client_secret", "")
            if not client_id or not secret:
                return self.login_page("Enter the client id and the secret.", 422, next_url)
            try:
                principal = await authenticate_client(request.app.state.pg, client_id, secret)
            except HTTPException:
                return self.login_page("Those credentials are not valid.", 401, next_url)
            if principal.role not in self.roles:
                return self.login_page(self.refusal, 403, next_url)
            token, expires_in = issue_token(request.app.state.settings, principal)
            response = RedirectResponse(quote(next_url, safe="/?=&-_.%"), status_code=303)
            response.set_cookie(self.cookie, token, max_age=expires_in, httponly=True, samesite=self.samesite,
                                path=self.prefix, secure=request.url.scheme == "https")
            return response

        @router.post(f"{self.prefix}/logout")
        def logout() -> Response:
            response = RedirectResponse(self.prefix, status_code=303)
            response.delete_cookie(self.cookie, path=self.prefix)
            return response

        return router
