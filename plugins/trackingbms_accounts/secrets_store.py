"""Token material: the JWT signing secret on disk, random tokens, their hashes, and password hashing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_TOKEN_PREFIX = "tbms_"
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def load_secret(path: Path) -> bytes:
    """The HS256 secret; created (0600, 64 random bytes) when the file does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes().strip()
        if len(secret) < 32:
            raise ValueError(f"JWT secret in {path} is shorter than 32 bytes") from None
        return secret
    secret = secrets.token_hex(64).encode()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret


def new_token(prefix: str = "") -> str:
    """A high-entropy token (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a token: its SHA-256 (the token is random, no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """A random id for users, tokens and sessions."""
    return secrets.token_hex(12)


async def hash_password(password: str) -> str:
    """An argon2id hash, computed off the event loop (it is slow on purpose)."""
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored: str | None, password: str) -> tuple[bool, bool]:
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, _HASHER.check_needs_rehash(stored)


async def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """(the password matches, the hash should be recomputed with today's parameters)."""
    return await asyncio.to_thread(_verify, stored, password)
