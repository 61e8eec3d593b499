"""Named staff accounts: who runs the platform (operator, finance, admin), their passwords and console sessions.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile: 64 MiB, 3 passes), so a stolen
table costs an attacker memory per guess, not just time. A console session is a random id in an HttpOnly cookie;
only its SHA-256 is stored, with an expiry. Disabling an account or resetting its password ends its sessions.
An admin may do everything an operator or finance may. Every change here is written to the audit log in its
transaction (`core.audit`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from core import audit

ROLES = ("operator", "finance", "admin")
MIN_PASSWORD = 12
MAX_PASSWORD = 256
SESSION_HOURS = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")  # verified against for unknown names: timing reveals nothing


class StaffError(ValueError):
    """A refused staff change: `field` and a reason a person can act on."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.code = field, message, code


@dataclass(frozen=True, slots=True)
class Staff:
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool = False
    token_generation: int = 1  # staff bearer tokens carry it; disabling or a password reset bumps it

    def admitted(self, roles: tuple[str, ...]) -> bool:
        """May act where `roles` may (an admin wherever any staff role may)."""
        return self.role in roles or self.role == "admin"


def hash_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise StaffError("password", f"between {MIN_PASSWORD} and {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _staff(row) -> Staff:
    return Staff(row.id, row.username, row.display_name, row.role, row.disabled)


def _snapshot(row) -> dict:
    return {"username": row.username, "display_name": row.display_name, "role": row.role,
            "disabled": row.disabled}


_COLUMNS = "id, username, display_name, role, disabled"


def create_staff(engine: Engine, username: str, display_name: str, role: str, password: str,
                 actor: audit.Actor) -> Staff:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise StaffError("username", "2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise StaffError("role", f"one of {', '.join(ROLES)}")
    display_name = display_name.strip() or username
    password_hash = hash_password(password)
    with engine.begin() as conn:
        row = conn.execute(sa.text(
            f"INSERT INTO staff (username, display_name, role, password_hash) VALUES (:u, :n, :r, :h)"
            f" ON CONFLICT (username) DO NOTHING RETURNING {_COLUMNS}"),
            {"u": username, "n": display_name, "r": role, "h": password_hash}).first()
        if row is None:
            raise StaffError("username", f"{username!r} exists already", "conflict")
        audit.record(conn, actor, "staff.create", f"staff:{username}", None, _snapshot(row))
    return _staff(row)


def _change(engine: Engine, username: str, sets: str, params: dict, action: str, actor: audit.Actor,
            note: str = "") -> Staff:
    with engine.begin() as conn:
        before = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM staff WHERE username = :u FOR UPDATE"),
                              {"u": username}).first()
        if before is None:
            raise StaffError("username", f"no staff account {username!r}", "not_found")
        after = conn.execute(sa.text(f"UPDATE staff SET {sets} WHERE id = :id RETURNING {_COLUMNS}"),
                             {**params, "id": before.id}).one()
        conn.execute(sa.text("DELETE FROM staff_sessions WHERE staff_id = :id"), {"id": before.id})
        audit.record(conn, actor, action, f"staff:{username}", _snapshot(before), _snapshot(after), note)
    return _staff(after)


def disable_staff(engine: Engine, username: str, actor: audit.Actor, note: str = "") -> Staff:
    """Disable an account: it cannot sign in, its console sessions end and its bearer tokens are refused at once
    (and stay refused if it is enabled again: it signs in anew)."""
    return _change(engine, username, "disabled = true, token_generation = token_generation + 1", {}, "staff.disable",
                   actor, note)


def enable_staff(engine: Engine, username: str, actor: audit.Actor, note: str = "") -> Staff:
    return _change(engine, username, "disabled = false", {}, "staff.enable", actor, note)


def reset_password(engine: Engine, username: str, password: str, actor: audit.Actor) -> Staff:
    """A new password (its hash only in the log: neither); the account's console sessions and bearer tokens end."""
    return _change(engine, username,
                   "password_hash = :h, password_changed_at = now(), token_generation = token_generation + 1",
                   {"h": hash_password(password)}, "staff.reset_password", actor)


def list_staff(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.text(
            f"SELECT {_COLUMNS}, created_at, last_sign_in_at FROM staff ORDER BY username")).mappings()]


def ensure_demo_staff(engine: Engine, seed_secret: str) -> list[tuple[Staff, str]]:
    """Development only: an operator, a finance and an admin login, stable across restarts (their passwords
    derive from ENCRYPTION_SECRET so `hotelctl up` can print them every time without storing them)."""
    actor = audit.Actor("hotelctl-up", "system", "system")
    result = []
    for role in ROLES:
        username = f"demo-{role}"
        password = hmac.new(seed_secret.encode(), f"staff:{username}".encode(), hashlib.sha256).hexdigest()[:20]
        with engine.connect() as conn:
            row = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM staff WHERE username = :u"), {"u": username}).first()
        staff = _staff(row) if row else create_staff(engine, username, f"Demo {role.title()}", role, password, actor)
        result.append((staff, password))
    return result


# --- sign-in and sessions (asyncpg pool: the API's request path) --------------------------------------------

async def authenticate(pool, username: str, password: str) -> Staff | None:
    """The enabled account whose password this is, else None (argon2 runs in a thread: it is slow on purpose)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS}, password_hash, token_generation FROM staff WHERE username = $1",
                                  username.strip().lower())
    valid = await asyncio.to_thread(_verify, row["password_hash"] if row else _DUMMY_HASH, password)
    if not row or not valid or row["disabled"]:
        return None
    async with pool.acquire() as conn:
        await conn.execute("UPDATE staff SET last_sign_in_at = now() WHERE id = $1", row["id"])
    return Staff(row["id"], row["username"], row["display_name"], row["role"], row["disabled"],
                 row["token_generation"])


def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(pool, staff: Staff, address: str = "", hours: int = SESSION_HOURS) -> tuple[str, int]:
    """A new console session: its id (the cookie's value) and lifetime in seconds."""
    session_id = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM staff_sessions WHERE expires_at < now()")
        await conn.execute("INSERT INTO staff_sessions (id_hash, staff_id, expires_at, address)"
                           " VALUES ($1, $2, $3, $4)", _session_key(session_id), staff.id, expires, address[:100])
    return session_id, hours * 3600


async def session_staff(pool, session_id: str) -> Staff | None:
    """The enabled account of an unexpired session, else None."""
    if not session_id or len(session_id) > 100:
        return None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT s.id, s.username, s.display_name, s.role, s.disabled FROM staff_sessions x"
            " JOIN staff s ON s.id = x.staff_id WHERE x.id_hash = $1 AND x.expires_at > now() AND NOT s.disabled",
            _session_key(session_id))
    return Staff(row["id"], row["username"], row["display_name"], row["role"], row["disabled"]) if row else None


async def close_session(pool, session_id: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM staff_sessions WHERE id_hash = $1", _session_key(session_id))
