"""Encryption of stored secrets (supplier credentials) with ENCRYPTION_SECRET."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


def _fernet(secret: str) -> Fernet:
    key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
    return Fernet(key)


def encrypt(plaintext: str, secret: str) -> bytes:
    return _fernet(secret).encrypt(plaintext.encode())


def decrypt(token: bytes, secret: str) -> str:
    try:
        return _fernet(secret).decrypt(bytes(token)).decode()
    except InvalidToken:
        raise ValueError("stored secret cannot be decrypted with ENCRYPTION_SECRET") from None


def hash_secret(secret: str, salt: bytes) -> str:
    """One-way hash for partner API client secrets (scrypt)."""
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1)
    return base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_secret(secret: str, stored: str) -> bool:
    import hmac

    salt_b64, _ = stored.split("$", 1)
    return hmac.compare_digest(hash_secret(secret, base64.b64decode(salt_b64)), stored)
