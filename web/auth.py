"""Passwords (argon2), access tokens (JWT, HS256, with expiry) and the login rate limit.

Tokens carry only the username, role and jurisdiction; the user row is re-read on
every request so a disabled account or a changed jurisdiction takes effect at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_ALGORITHM = "HS256"
# A fixed hash so that logins for unknown users cost the same time as wrong passwords.
_DUMMY_HASH = _HASHER.hash("xueliang-timing-equaliser")

MIN_SECRET_KEY_LENGTH = 32  # HS256 wants a key at least as long as its output (RFC 7518 3.2)


class TokenError(Exception):
    """The token is missing, malformed, forged or expired."""


def hash_password(password: str) -> str:
    """An argon2id hash (salt and parameters embedded) for storing in ``users.password_hash``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; constant work even when the user does not exist."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    username: str
    role: str
    jurisdiction_code: str
    expires_at: int


def issue_token(secret_key: str, *, username: str, role: str, jurisdiction_code: str, ttl_s: int) -> tuple[str, int]:
    """A signed access token and its expiry (unix seconds)."""
    now = int(time.time())
    exp = now + ttl_s
    claims = {"sub": username, "role": role, "jur": jurisdiction_code, "iat": now, "exp": exp}
    return jwt.encode(claims, secret_key, algorithm=_ALGORITHM), exp


def decode_token(secret_key: str, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(token, secret_key, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired: log in again") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    return TokenClaims(
        username=str(claims["sub"]),
        role=str(claims.get("role", "")),
        jurisdiction_code=str(claims.get("jur", "")),
        expires_at=int(claims["exp"]),
    )


class LoginRateLimiter:
    """At most ``max_attempts`` failed logins per (username, client IP) per ``window_s``.

    Counters live in Redis so every web worker shares them and a restart does not
    reset an attack in progress.
    """

    def __init__(self, redis_client, *, max_attempts: int = 5, window_s: int = 300) -> None:
        self._redis = redis_client
        self.max_attempts = max_attempts
        self.window_s = window_s

    def _key(self, username: str, ip: str) -> str:
        return f"xl:login-fail:{username.lower()}:{ip}"

    async def retry_after(self, username: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        key = self._key(username, ip)
        count = await self._redis.get(key)
        if count is not None and int(count) >= self.max_attempts:
            ttl = await self._redis.ttl(key)
            return max(int(ttl), 1)
        return 0

    async def record_failure(self, username: str, ip: str) -> None:
        key = self._key(username, ip)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s, nx=True)
            await pipe.execute()

    async def reset(self, username: str, ip: str) -> None:
        await self._redis.delete(self._key(username, ip))
