"""Webhook signatures: `X-Hotel-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>` beside
`X-Hotel-Timestamp`. A receiver recomputes it over the raw body and refuses an old timestamp (replay)."""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
           tolerance_s: int = TOLERANCE_S) -> bool:
    """What a partner's receiver does: a valid signature over a recent timestamp."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)
