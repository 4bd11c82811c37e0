"""Passwords (argon2), access tokens (JWT, HS256, with expiry and an id for revocation) and the login rate limit.

Tokens carry only the username, role and jurisdiction; the user row is re-read on
every request so a disabled account or a changed jurisdiction takes effect at once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

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
    token_id: str | None = None  # jti; tokens issued before revocation existed have none


def issue_token(secret_key: str, *, username: str, role: str, jurisdiction_code: str, ttl_s: int) -> tuple[str, int]:
    """A signed access token and its expiry (unix seconds)."""
    now = int(time.time())
    exp = now + ttl_s
    claims = {"sub": username, "role": role, "jur": jurisdiction_code, "iat": now, "exp": exp,
              "jti": secrets.token_urlsafe(16)}
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
        token_id=str(claims["jti"]) if claims.get("jti") else None,
    )


class TokenRevocations:
    """Logout revokes the token: its id is kept in Redis until the token would have expired anyway,
    so every web worker (and every open WebSocket's re-check) refuses it."""

    PREFIX = "xl:token-revoked:"

    def __init__(self, redis_sync: Redis, redis_async: AsyncRedis) -> None:
        self._sync = redis_sync
        self._async = redis_async

    def is_revoked(self, token_id: str) -> bool:
        return bool(self._sync.exists(self.PREFIX + token_id))

    async def revoke(self, token_id: str, expires_at: int) -> None:
        ttl = max(int(expires_at - time.time()), 1)
        await self._async.set(self.PREFIX + token_id, b"1", ex=ttl)


@dataclass(frozen=True)
class LoginVerdict:
    allowed: bool
    retry_after_s: int = 0
    reason: str = ""  # "account", "address" or "global" when refused


class LoginRateLimiter:
    """Login attempts, counted in Redis *before* the password is checked, so concurrent guesses
    cannot all slip through between a check and a later failure count.

    Three windows: per account (any address), per client address (any account) and for the whole
    service. One Lua script increments all three atomically and refuses when any is over its
    limit; a successful login gives its attempt back. Counters live in Redis so every web worker
    shares them. Password hashing runs behind two semaphores — at most ``per_address_hashes`` per
    address and ``max_hashes`` in all — so a flood from one address queues behind itself instead
    of in front of everyone else's login.
    """

    # KEYS: account, address, global; ARGV: limits (3), windows (3). Returns {0|1|2|3, ttl}.
    _SCRIPT = """
    local counts = {}
    for i = 1, 3 do
      counts[i] = redis.call('INCR', KEYS[i])
      if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3 + i]) end
    end
    for i = 1, 3 do
      if counts[i] > tonumber(ARGV[i]) then
        redis.call('DECR', KEYS[i])
        local ttl = redis.call('TTL', KEYS[i])
        for j = 1, 3 do if j ~= i then redis.call('DECR', KEYS[j]) end end
        return {i, ttl}
      end
    end
    return {0, 0}
    """
    _REASONS = {1: "account", 2: "address", 3: "global"}
    # KEYS: account, address, global. A key that expired meanwhile is left alone (a DECR would
    # recreate it at -1 with no expiry).
    _REFUND = """
    redis.call('DEL', KEYS[1])
    for i = 2, 3 do
      local n = tonumber(redis.call('GET', KEYS[i]) or '0')
      if n > 0 then redis.call('DECR', KEYS[i]) end
    end
    return 0
    """

    def __init__(self, redis_client: AsyncRedis, *, per_account: int = 5, per_address: int = 20, global_limit: int = 600,
                 window_s: int = 300, global_window_s: int = 60, max_hashes: int = 2, per_address_hashes: int = 1) -> None:
        self._redis = redis_client
        self.per_account = per_account
        self.per_address = per_address
        self.global_limit = global_limit
        self.window_s = window_s
        self.global_window_s = global_window_s
        self._script = redis_client.register_script(self._SCRIPT)
        self._refund = redis_client.register_script(self._REFUND)
        self._hashing = asyncio.Semaphore(max_hashes)
        self._per_address_hashes = per_address_hashes
        self._address_slots: dict[str, list] = {}  # ip -> [semaphore, requests using it]

    @property
    def max_attempts(self) -> int:
        return self.per_account

    def _keys(self, username: str, ip: str) -> list[str]:
        return [f"xl:login-attempts:account:{username.lower()}", f"xl:login-attempts:address:{ip}",
                "xl:login-attempts:global"]

    async def attempt(self, username: str, ip: str) -> LoginVerdict:
        """Count one attempt; refused (with the seconds to wait) when a window is full."""
        which, ttl = await self._script(keys=self._keys(username, ip),
                                        args=[self.per_account, self.per_address, self.global_limit,
                                              self.window_s, self.window_s, self.global_window_s])
        if int(which) == 0:
            return LoginVerdict(True)
        return LoginVerdict(False, max(int(ttl), 1), self._REASONS[int(which)])

    async def succeeded(self, username: str, ip: str) -> None:
        """A correct password: give this attempt back and clear the account's failures."""
        await self._refund(keys=self._keys(username, ip))

    async def verify(self, ip: str, password_hash: str | None, password: str) -> bool:
        """:func:`verify_password` off the event loop, with bounded concurrency (see the class doc)."""
        entry = self._address_slots.setdefault(ip, [asyncio.Semaphore(self._per_address_hashes), 0])
        entry[1] += 1
        try:
            async with entry[0], self._hashing:
                return await asyncio.to_thread(verify_password, password_hash, password)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._address_slots.pop(ip, None)
