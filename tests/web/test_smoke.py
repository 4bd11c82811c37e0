"""Login, health, the scoped incident list and the page — the first slice of the web API."""

from __future__ import annotations

from tests.web.conftest import PASSWORD


def test_health_is_public_and_reports_redis(web_server) -> None:
    with web_server.client() as http:
        r = http.get("/api/health")
    assert r.status_code == 200
    assert r.json()["redis"] is True


def test_login_returns_token_and_httponly_cookie(web_server) -> None:
    with web_server.client() as http:
        r = http.post("/api/auth/login", json={"username": "admin_t", "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer" and body["user"]["role"] == "admin"
        cookie = r.headers["set-cookie"]
        assert "xl_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        # the cookie alone authenticates reads (so <img src> works)
        assert http.get("/api/auth/me").json()["username"] == "admin_t"


def test_wrong_password_is_401_and_never_echoed(web_server) -> None:
    with web_server.client() as http:
        r = http.post("/api/auth/login", json={"username": "county_t", "password": "not-the-password"})
    assert r.status_code == 401
    assert "not-the-password" not in r.text


def test_page_is_chinese_and_self_contained(web_server) -> None:
    with web_server.client() as http:
        r = http.get("/")
        assert r.status_code == 200
        assert 'lang="zh-CN"' in r.text
        assert "http://" not in r.text and "https://" not in r.text, "no external assets"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        i18n = http.get("/static/i18n/zh-CN.json")
        assert i18n.status_code == 200 and i18n.json()["login.submit"] == "登录"
