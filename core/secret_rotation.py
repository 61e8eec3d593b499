"""ENCRYPTION_SECRET rotation: re-encrypt stored supplier keys with the current key.

Set the new key as ENCRYPTION_SECRET and the old one(s) as ENCRYPTION_SECRET_PREVIOUS; everything keeps
decrypting with either. `rotate_supplier_keys` then moves each stored key to ENCRYPTION_SECRET, one row
per transaction: an interrupted rotation leaves every row readable (old or new key) and a rerun finishes
it. When it reports nothing left on an old key, ENCRYPTION_SECRET_PREVIOUS can go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import audit
from core.crypto import encrypted_with, reencrypt


@dataclass
class RotationResult:
    rotated: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # no configured key opens them: left as they are

    def summary(self) -> str:
        line = f"rotated {len(self.rotated)}, already on ENCRYPTION_SECRET {len(self.current)}"
        if self.unreadable:
            line += f", unreadable with every configured key: {', '.join(self.unreadable)}"
        return line


def rotate_supplier_keys(engine: Engine, keys: list[str], actor: audit.Actor | None = None) -> RotationResult:
    """Re-encrypt every supplier's stored API key with `keys[0]` (any of `keys` may have encrypted it).

    With `actor`, each re-encrypted key is audited in its row's transaction and the run ends with one
    `secrets.rotate` entry of counts; entries name suppliers only, never a key or a token."""
    result = RotationResult()
    with engine.connect() as conn:
        codes = conn.execute(sa.text(
            "SELECT code FROM suppliers WHERE api_key_encrypted IS NOT NULL ORDER BY code")).scalars().all()
    for code in codes:
        with engine.begin() as conn:
            token = conn.execute(sa.text("SELECT api_key_encrypted FROM suppliers WHERE code = :code FOR UPDATE"),
                                 {"code": code}).scalar_one()
            if encrypted_with(token, keys[0]):
                result.current.append(code)
                continue
            try:
                fresh = reencrypt(token, keys)
            except ValueError:
                result.unreadable.append(code)
                continue
            conn.execute(sa.text("UPDATE suppliers SET api_key_encrypted = :key, updated_at = now()"
                                 " WHERE code = :code"), {"key": fresh, "code": code})
            audit.record_by(conn, actor, "supplier.key_reencrypt", f"supplier:{code}")
            result.rotated.append(code)
    if actor is not None:
        with engine.begin() as conn:
            audit.record(conn, actor, "secrets.rotate", "secrets:supplier_api_keys", None,
                         {"rotated": len(result.rotated), "already_current": len(result.current),
                          "unreadable": result.unreadable})
    return result
