"""Authentication and authorization for every router: JWT bearer tokens and role checks.

Other routers import exactly two things from here (a stable interface):

    from api.auth import Principal, current_principal, require_role

    @router.get("/v1/things")
    async def things(principal: Principal = Depends(require_role("operator"))): ...

Tokens are HS256 JWTs signed with JWT_SECRET; the algorithm and audience are fixed on the server,
so `alg: none`, other algorithms, tampered, expired and wrong-audience tokens are all 401.
Verified tokens (never secrets) are cached in-process until they expire. Every request is also checked against
the process's access list (`core.access`: suspended partners, revoked or rotated credentials), held in memory and
reloaded when PostgreSQL notifies a change, so a suspension or revocation refuses the next request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt
from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer

from core.access import AccessRefused
from core.audit import Actor
from core.crypto import verify_secret
from core.settings import Settings

ALGORITHM = "HS256"
AUDIENCE = "hotel-platform"
ISSUER = "hotel-platform-api"
ROLES = ("partner", "operator", "finance", "admin")
STAFF_ROLES = ("operator", "finance", "admin")
_TOKEN_CACHE_SIZE = 10_000

@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the API client, its role, and (for partners) the partner it acts for."""

    client_id: str  # a partner's client id, or a staff member's username
    role: str
    partner_id: str | None  # UUID text; None for staff
    generation: int = 1  # the credential's secret generation the token was issued under


def actor(principal: Principal, source: str = "api") -> Actor:
    """A staff caller as the audit log names it (the username a staff token carries as its subject)."""
    return Actor(principal.client_id, principal.role, source)


def unauthorized(message: str = "missing or invalid bearer token") -> HTTPException:
    return HTTPException(401, detail={"code": "unauthorized", "message": message},
                         headers={"WWW-Authenticate": 'Bearer realm="hotel-platform"'})


def refusal(refused: AccessRefused) -> HTTPException:
    headers = {"WWW-Authenticate": 'Bearer realm="hotel-platform"'} if refused.status == 401 else None
    return HTTPException(refused.status, detail={"code": refused.code, "message": refused.message}, headers=headers)


def issue_token(settings: Settings, principal: Principal) -> tuple[str, int]:
    """A signed token for `principal` and its lifetime in seconds."""
    now = int(time.time())
    expires_in = settings.jwt_expiry_hours * 3600
    claims = {
        "sub": principal.client_id, "role": principal.role, "pid": principal.partner_id,
        "gen": principal.generation, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "nbf": now, "exp": now + expires_in,
    }
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
    return token, expires_in


def decode_token(settings: Settings, token: str) -> tuple[Principal, int]:
    """The principal a token names and its expiry; raises 401 for anything not signed by us, for us, still valid."""
    try:
        claims = jwt.decode(
            token, settings.jwt_secret.get_secret_value(), algorithms=[ALGORITHM], audience=AUDIENCE,
            issuer=ISSUER, options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("token expired") from None
    except jwt.PyJWTError:
        raise unauthorized("invalid token") from None
    role = claims.get("role")
    partner_id = claims.get("pid")
    generation = claims.get("gen", 1)
    if role not in ROLES or (role == "partner") != bool(partner_id) or type(generation) is not int:
        raise unauthorized("invalid token")
    return (Principal(str(claims["sub"]), role, str(partner_id) if partner_id else None, generation),
            int(claims["exp"]))


class _TokenCache:
    """Verified tokens → principal, until their `exp` (bounded, least recently used out first)."""

    def __init__(self, size: int = _TOKEN_CACHE_SIZE) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[Principal, int]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        hit = self.items.get(token)
        if hit is None:
            return None
        principal, expires = hit
        if expires <= time.time():
            self.items.pop(token, None)
            return None
        return principal

    def put(self, token: str, principal: Principal, expires: int) -> None:
        self.items[token] = (principal, expires)
        if len(self.items) > self.size:
            self.items.popitem(last=False)

    def clear(self) -> None:
        self.items.clear()


token_cache = _TokenCache()


class BearerAuth(HTTPBearer):
    """The bearer security scheme that also authenticates: the caller, if its valid token has one of `roles`.

    One dependency rather than a chain (scheme → principal → role): FastAPI solves every level of a chain on
    every request, and on the quote path the chain cost more than pricing the offers. OpenAPI shows the same
    `HTTPBearer` scheme either way.
    """

    def __init__(self, roles: tuple[str, ...] = ROLES) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        super().__init__(auto_error=False, scheme_name="HTTPBearer",
                         description="`POST /v1/auth/token` returns the bearer token")
        self.roles = roles
        # An admin may do whatever any staff role may.
        self.admitted = (*roles, "admin") if set(roles) & set(STAFF_ROLES) else roles

    async def __call__(self, request: Request) -> Principal:
        principal = authenticate(request)
        access = getattr(request.app.state, "access", None)
        if access is not None:
            if access.needs_load():  # only after a change (or every STALE_AFTER_S): no round trip per request
                await access.load(request.app.state.pg)
            try:
                access.check(principal.client_id, principal.partner_id, principal.generation)
            except AccessRefused as refused:
                raise refusal(refused) from None
        if principal.role not in self.admitted:
            raise HTTPException(403, detail={"code": "forbidden",
                                             "message": f"this operation needs the role {' or '.join(self.roles)}"})
        return principal


def authenticate(request: Request) -> Principal:
    """The caller named by the request's bearer token; 401 without a valid one."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized()
    principal = token_cache.get(token)
    if principal is None:
        principal, expires = decode_token(request.app.state.settings, token)
        token_cache.put(token, principal, expires)
    return principal


current_principal = BearerAuth()
"""The authenticated caller, any role: `Depends(current_principal)`."""


def require_role(*roles: str) -> BearerAuth:
    """A dependency admitting only callers with one of `roles` (403 for other authenticated roles)."""
    return BearerAuth(roles)


async def authenticate_client(pool, client_id: str, client_secret: str) -> Principal:
    """Check a partner client's secret against its scrypt hash (in a thread: scrypt is CPU-bound on purpose).

    Only partners sign in with client credentials: staff sign in by name (`core.staff`), so rows of the old
    shared operator/finance credentials are refused like unknown ones."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_CLIENT_SQL, client_id)
    # Verify against a dummy hash when the client is unknown so timing does not reveal which ids exist.
    stored = row["secret_hash"] if row else _DUMMY_HASH
    valid = await asyncio.to_thread(verify_secret, client_secret, stored)
    if not row or not valid or row["role"] != "partner":
        raise unauthorized("invalid client credentials")
    if not row["active"]:
        raise refusal(AccessRefused(401, "credential_revoked", "this credential has been revoked"))
    if row["suspended"]:
        raise refusal(AccessRefused(403, "partner_suspended", "this partner account is suspended"))
    async with pool.acquire() as conn:
        await conn.execute("UPDATE api_credentials SET last_used_at = now() WHERE client_id = $1", client_id)
    partner_id = row["partner_id"]
    return Principal(client_id, row["role"], str(partner_id) if partner_id else None, row["generation"])


# The credential, and whether its partner or any partner above it is suspended.
_CLIENT_SQL = """
WITH RECURSIVE chain AS (
    SELECT p.id, p.parent_id, p.status, 0 AS depth FROM partners p
    JOIN api_credentials c ON c.partner_id = p.id WHERE c.client_id = $1
    UNION ALL
    SELECT p.id, p.parent_id, p.status, chain.depth + 1 FROM partners p JOIN chain ON p.id = chain.parent_id
    WHERE chain.depth < 32
)
SELECT c.secret_hash, c.role, c.partner_id, c.active, c.generation,
       EXISTS (SELECT 1 FROM chain WHERE status <> 'active') AS suspended
FROM api_credentials c WHERE c.client_id = $1
"""


def _dummy_hash() -> str:
    from core.crypto import hash_secret

    return hash_secret("not-a-real-secret", b"\x00" * 16)


_DUMMY_HASH = _dummy_hash()
