"""Schemathesis, in GraphQL mode, against the real server for each kind of caller.

A `presta serve` process runs on the test database; schemathesis loads its schema by
introspection and generates queries and mutations for every root field, valid ones and
deliberately invalid ones (wrong types, missing arguments), spread over all operations. Each
role sends them with its own credentials. Every answer must be a well-formed GraphQL
response below 500, carry no masked unexpected error, and every top-level error code must be
one of the documented set (`schema.http.errors.ERROR_CODES`, listed in the README).

`make test` runs a small sample per role; `PRESTA_FUZZ_EXAMPLES=1000` makes the nightly run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from models.account import ApiScope
from presta.security import make_access_token
from resolvers import account as account_use_cases
from schema.http.errors import ERROR_CODES
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import answer
from tests.support.processes import free_port, stop
from tests.support.this_run import SERVERS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("PRESTA_FUZZ_EXAMPLES", "60"))
ROLES = ["anonymous", "client", "provider", "staff_admin", "partner_key"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`presta serve` on the test database, rate limits off (the fuzzer is not a flood test)."""
    port = free_port()
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESTA_")}
    env.update(
        {
            "PRESTA_ENVIRONMENT": "test",
            "PRESTA_DATABASE_URL": SERVERS.database_url,
            "PRESTA_JOBS_BACKEND": "inline",
            "PRESTA_MAIL_ENABLED": "false",
            "PRESTA_LOG_FORMAT": "text",
            "PRESTA_LOG_LEVEL": "WARNING",
            "PRESTA_RATE_LIMIT_ENABLED": "false",
            "PRESTA_STORAGE_DIR": str(log.parent / "storage"),
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "server did not answer in 30 s"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="module")
def graphql_schema(api: str) -> Any:
    import schemathesis
    from hypothesis import strategies as st
    from schemathesis.graphql import nodes

    # Our own scalars: well-formed values and junk alike (an Upload cannot be inline).
    junk = st.text(max_size=30).map(nodes.String)
    schemathesis.graphql.scalar(
        "Decimal",
        st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False, places=2).map(nodes.String),
            junk,
        ),
    )
    schemathesis.graphql.scalar(
        "JSON", st.one_of(junk, st.integers().map(nodes.Int), st.booleans().map(nodes.Boolean))
    )
    schemathesis.graphql.scalar("Upload", junk)
    return schemathesis.graphql.from_url(f"{api}/graphql", timeout=30)


async def _headers_for(role: str) -> dict[str, str]:
    """Credentials of one principal of a fresh marketplace, with some data around it."""
    market = await make_marketplace()
    admin = await make_staff(market)
    membership = await make_membership(market)
    provider = await make_provider_user(membership)
    client = await make_client(market)
    acting = {"X-Marketplace": market.slug}
    if role == "anonymous":
        return {}
    if role == "partner_key":
        _, secret = await account_use_cases.create_api_key(
            await actor_of(admin, market), name="fuzz", scope=ApiScope.READ
        )
        return {"X-Api-Key": secret, **acting}
    user = {"client": client.user, "provider": provider, "staff_admin": admin}[role]
    assert user is not None
    token, _ = make_access_token(user.id)
    return {"Authorization": f"Bearer {token}", **acting}


def _problem(response: requests.Response) -> str | None:
    """What is wrong with one answer, if anything."""
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} with a body that is not JSON"
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        return "not a GraphQL response"
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            return f"masked unexpected error: {error.get('message')}"
        if code not in ERROR_CODES:
            return f"undocumented error code {code!r}: {error.get('message')}"
    return None


def _fuzz(
    schema: Any, base: str, headers: dict[str, str], examples: int
) -> tuple[Counter[str], list[str]]:
    """Send `examples` generated operations; the outcomes (data, or first error code) and the
    problems seen."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    strategy = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    session = requests.Session()
    outcomes: Counter[str] = Counter()
    problems: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=30)
        outcomes[_outcome(response)] += 1
        problem = _problem(response)
        if problem is not None:
            problems.append(f"{case.operation.label}: {problem}\n  {case.body}")

    run()
    return outcomes, problems


def _outcome(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    return (errors[0].get("extensions") or {}).get("code", "?") if errors else "data"


@pytest.mark.parametrize("role", ROLES)
async def test_generated_operations_get_clean_answers_with_documented_codes(
    role, api, graphql_schema
):
    headers = await _headers_for(role)
    outcomes, problems = await asyncio.to_thread(_fuzz, graphql_schema, api, headers, EXAMPLES)
    sent = sum(outcomes.values())
    print(f"\nfuzz {role}: {sent} operations, {len(problems)} problems; {dict(outcomes)}")
    assert not problems, "\n".join(problems[:20])
    assert sent >= EXAMPLES // 2
    # The server is still healthy and still answers this caller.
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200
        after = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert answer(after) == {"data": {"__typename": "Query"}}
