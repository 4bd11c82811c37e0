"""Passwords, tokens and the login rate limit."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.web.conftest import PASSWORD, SECRET
from web.app import ConfigError, create_app
from web.auth import decode_token, hash_password, issue_token, verify_password, TokenError
from xueliang.settings import Settings


def test_password_hash_is_argon2id_and_salted() -> None:
    a, b = hash_password("同一个密码"), hash_password("同一个密码")
    assert a.startswith("$argon2id$") and a != b
    assert verify_password(a, "同一个密码") and not verify_password(a, "another")
    assert not verify_password(None, "anything")  # unknown user: same work, still False


def test_expired_and_forged_tokens_are_refused(web_server) -> None:
    expired, _ = issue_token(SECRET, username="op_a", role="township_operator", jurisdiction_code="330381101", ttl_s=-5)
    forged = jwt.encode({"sub": "admin_t", "role": "admin", "jur": "330381", "exp": int(time.time()) + 600},
                        "not-the-server-key-0123456789abcdef", algorithm="HS256")
    unsigned = jwt.encode({"sub": "admin_t", "exp": int(time.time()) + 600}, None, algorithm="none")
    with pytest.raises(TokenError, match="expired"):
        decode_token(SECRET, expired)
    with web_server.client() as http:
        for token in (expired, forged, unsigned):
            r = http.get("/api/incidents", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, token


def test_token_claims_cannot_widen_scope(web_server) -> None:
    """The role and jurisdiction come from the user row, not from the token."""
    token, _ = issue_token(SECRET, username="op_a", role="admin", jurisdiction_code="330381", ttl_s=600)
    with web_server.client() as http:
        me = http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "township_operator" and me["jurisdiction_code"] == "330381101"


def test_login_is_rate_limited_per_username_and_address(web_server) -> None:
    with web_server.client() as http:
        for _ in range(5):
            assert http.post("/api/auth/login", json={"username": "viewer_a", "password": "wrong"}).status_code == 401
        r = http.post("/api/auth/login", json={"username": "viewer_a", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right password waits
        # other accounts from the same address are not locked out
        assert http.post("/api/auth/login", json={"username": "op_b", "password": PASSWORD}).status_code == 200
    import redis

    client = redis.Redis.from_url(web_server.redis_url)
    client.delete("xl:login-attempts:account:viewer_a")
    client.close()


def test_logout_clears_the_cookie(web_server) -> None:
    with web_server.client() as http:
        token = http.post("/api/auth/login", json={"username": "op_a", "password": PASSWORD}).json()["access_token"]
        r = http.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 204 and "xl_token=" in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]


def test_app_refuses_to_start_without_a_strong_secret_key() -> None:
    with pytest.raises(ConfigError, match="XUELIANG_SECRET_KEY is not set"):
        create_app(Settings(secret_key=None, redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(ConfigError, match="too short"):
        create_app(Settings(secret_key="short", redis_url="redis://127.0.0.1:1/0"))


def test_admin_manages_users_in_scope_and_a_disabled_account_stops_at_once(web_server) -> None:
    with web_server.client("admin_t") as admin:
        r = admin.post("/api/users", json={"username": "new_op", "password": "long-enough-pw", "role": "village_operator",
                                           "jurisdiction_code": "330381101202"})
        assert r.status_code == 201, r.text
        assert "password" not in r.text and "hash" not in r.text
        assert admin.post("/api/users", json={"username": "new_op", "password": "long-enough-pw", "role": "viewer",
                                              "jurisdiction_code": "330381"}).status_code == 409
        token = web_server.token("new_op", "long-enough-pw")
        with web_server.client() as http:
            assert http.get("/api/incidents", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert admin.post("/api/users/new_op/active", json={"active": False}).status_code == 200
            assert http.get("/api/incidents", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with web_server.client("op_a") as op:  # not an admin
        assert op.get("/api/users").status_code == 403


def test_a_township_admin_cannot_create_or_see_users_elsewhere(web_server) -> None:
    with web_server.client("admin_a") as admin:
        names = {u["username"] for u in admin.get("/api/users").json()["items"]}
        assert "op_a" in names and "op_b" not in names and "county_t" not in names
        r = admin.post("/api/users", json={"username": "sneaky", "password": "long-enough-pw", "role": "admin",
                                           "jurisdiction_code": "330381"})
        assert r.status_code == 403
        assert admin.post("/api/users/op_b/active", json={"active": False}).status_code == 404
