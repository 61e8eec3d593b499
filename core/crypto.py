"""Encryption of stored secrets (supplier credentials) with ENCRYPTION_SECRET.

Decryption takes a list of keys, the current one first: during a rotation the previous keys
(ENCRYPTION_SECRET_PREVIOUS) still decrypt what they encrypted, and `reencrypt` moves a value to the
first key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def _fernet(secret: str) -> Fernet:
    key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
    return Fernet(key)


def _keys(secrets: str | Sequence[str]) -> MultiFernet:
    return MultiFernet([_fernet(secret) for secret in ([secrets] if isinstance(secrets, str) else secrets)])


def encrypt(plaintext: str, secret: str) -> bytes:
    return _fernet(secret).encrypt(plaintext.encode())


def decrypt(token: bytes, secrets: str | Sequence[str]) -> str:
    """The plaintext, with the first of `secrets` that opens it."""
    try:
        return _keys(secrets).decrypt(bytes(token)).decode()
    except InvalidToken:
        raise ValueError("stored secret cannot be decrypted with ENCRYPTION_SECRET"
                         " (nor ENCRYPTION_SECRET_PREVIOUS)") from None


def encrypted_with(token: bytes, secret: str) -> bool:
    try:
        _fernet(secret).decrypt(bytes(token))
    except InvalidToken:
        return False
    return True


def reencrypt(token: bytes, secrets: Sequence[str]) -> bytes:
    """`token` encrypted with the first of `secrets` (it may be encrypted with any of them)."""
    try:
        return _keys(secrets).rotate(bytes(token))
    except InvalidToken:
        raise ValueError("stored secret cannot be decrypted with ENCRYPTION_SECRET"
                         " (nor ENCRYPTION_SECRET_PREVIOUS)") from None


def hash_secret(secret: str, salt: bytes) -> str:
    """One-way hash for partner API client secrets (scrypt)."""
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1)
    return base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_secret(secret: str, stored: str) -> bool:
    import hmac

    salt_b64, _ = stored.split("$", 1)
    return hmac.compare_digest(hash_secret(secret, base64.b64decode(salt_b64)), stored)
