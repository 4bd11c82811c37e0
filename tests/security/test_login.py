"""Issue #13 item 5: login attempts are counted before the password is checked (concurrent guesses
cannot all get through), and a flood of bogus logins does not hold up a real one for seconds."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.security.conftest import PASSWORD


def _login(url: str, username: str, password: str, local_address: str = "127.0.0.1") -> tuple[int, float]:
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=local_address)) as http:
        r = http.post("/api/auth/login", json={"username": username, "password": password})
    return r.status_code, time.perf_counter() - started


def test_concurrent_guesses_are_counted_before_the_check(web_process) -> None:
    web_process.reset_login_counters()
    passwords = [f"wrong-{i}" for i in range(24)] + [PASSWORD]
    with ThreadPoolExecutor(len(passwords)) as pool:
        results = list(pool.map(lambda p: _login(web_process.url, "viewer_a", p, "127.0.0.3"), passwords))
    codes = [code for code, _ in results]
    checked = [code for code in codes if code != 429]
    # At most the account's allowance (5) is checked at all; the rest wait, the right password included.
    assert len(checked) <= 5, codes
    assert codes.count(429) >= 20, codes
    web_process.reset_login_counters()


def test_a_flood_of_bogus_logins_does_not_hold_up_a_real_one(web_process) -> None:
    web_process.reset_login_counters()
    baseline = min(_login(web_process.url, "op_a", PASSWORD)[1] for _ in range(2))
    with ThreadPoolExecutor(41) as pool:
        flood = [pool.submit(_login, web_process.url, f"nobody-{i}", "guess-123456", "127.0.0.2") for i in range(40)]
        time.sleep(0.3)  # the flood is queued before the real logins arrive
        real = [_login(web_process.url, "op_a", PASSWORD) for _ in range(3)]  # while the flood is still being checked
        flood_codes = [f.result()[0] for f in flood]
    assert all(code == 200 for code, _ in real)
    assert set(flood_codes) <= {401, 429} and 401 in flood_codes and 429 in flood_codes
    took = min(t for _, t in real)
    print(f"real login alone {baseline:.3f}s, during 40 concurrent bogus logins {took:.3f}s (best of 3)")
    # Before the fix the bogus argon2 checks all ran ahead of it (7.9 s in the report). One
    # address's guesses now take turns among themselves; a real login shares the cores with at
    # most one of them. Generous: the two cores are shared with other work.
    assert took < 3 * baseline + 0.5, (baseline, took)
    web_process.reset_login_counters()
