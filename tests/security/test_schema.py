"""A bounded schemathesis run over every operation of the API, as the county administrator and as a
township operator: no 5xx, every answer's status documented, every body matching its schema
(issue #13, item 9). Tokens are minted with the test's own key: logging in per example would spend
the run on argon2, and fuzzing /api/auth/logout must revoke only throwaway tokens."""

from __future__ import annotations

import time
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.security.conftest import SECRET, TOWNSHIP_A
from web.auth import issue_token

EXAMPLES = 6  # per operation and account; the whole run stays well under 4 minutes on 2 shared cores
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ACCOUNTS = (("admin_t", "admin", "330381"), ("op_a", "township_operator", TOWNSHIP_A))


def _token(username: str, role: str, code: str) -> str:
    return issue_token(SECRET, username=username, role=role, jurisdiction_code=code, ttl_s=600)[0]


def _runner(operation, base_url: str, statuses: dict[str, Counter], succeeded: set[tuple[str, str]]):
    # Hypothesis drives schemathesis's strategy directly (its pytest plugin does not load on this
    # pytest): a fixed seed, no shrinking, so the run is bounded and repeatable.
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        for account in ACCOUNTS:
            response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30,
                                              headers={"Authorization": f"Bearer {_token(*account)}"})
            statuses[account[0]][response.status_code] += 1
            if 200 <= response.status_code < 300:
                succeeded.add((account[0], operation.label))

    return run


def test_every_operation_conforms(web_process) -> None:
    schema = schemathesis.openapi.from_url(f"{web_process.url}/api/openapi.json",
                                           headers={"Authorization": f"Bearer {_token(*ACCOUNTS[0])}"})
    failures: list[str] = []
    operations = 0
    statuses: dict[str, Counter] = {account[0]: Counter() for account in ACCOUNTS}
    succeeded: set[tuple[str, str]] = set()
    started = time.monotonic()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            run = _runner(operation, web_process.url, statuses, succeeded)
            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label}: {str(exc)[:1500]}")
    finally:
        web_process.reset_login_counters()  # the fuzzed /api/auth/login spent this address's allowance
    took = time.monotonic() - started
    print(f"schemathesis: {operations} operations x {len(ACCOUNTS)} accounts x <= {EXAMPLES} examples in {took:.0f}s; "
          f"statuses {dict((name, dict(c)) for name, c in statuses.items())}")
    assert operations > 40
    # The run reached the handlers, not only the login check: both accounts succeeded on many operations.
    for name, _role, _code in ACCOUNTS:
        assert sum(1 for who, _ in succeeded if who == name) >= 20, (name, statuses[name])
    assert not failures, "\n\n".join(failures)
    assert took < 240
