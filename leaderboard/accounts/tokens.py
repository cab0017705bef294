"""API token format: ``<prefix>.<secret>``; the prefix finds the row, the SHA-256 digest proves the secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX_BYTES = 6
SECRET_BYTES = 32


def new_token() -> tuple[str, str, str]:
    """A fresh token and its ``(prefix, digest)``."""
    prefix = "lb" + secrets.token_hex(PREFIX_BYTES)
    token = f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"
    return token, prefix, digest_of(token)


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def split_prefix(token: str) -> str | None:
    prefix, dot, secret = token.partition(".")
    return prefix if dot and prefix and secret else None


def matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(digest_of(token), digest)
