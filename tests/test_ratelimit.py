"""Rate limits: per principal and per marketplace, shared through Redis, with a retry hint.

Time moves with ``presta.clock.advance``; each test gets its own Redis namespace so that its
buckets start full.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from presta import clock, ratelimit
from presta.security import make_access_token
from presta.settings import get_settings
from tests.factories.account import make_marketplace, make_staff, make_user
from tests.support.api_server import clean_env, presta_serve
from tests.support.graphql import answer, http_client, serving
from tests.support.this_run import SERVERS

TYPENAME = "{ __typename }"
LOG_IN = """mutation($input: LogInInput!) {
  logIn(input: $input) { userErrors { code } accessToken }
}"""


@pytest.fixture
def limits() -> Iterator[Callable[..., None]]:
    """Turn rate limiting on with the given settings, in a namespace of this test's own."""
    saved = dict(os.environ)

    def apply(**values: object) -> None:
        os.environ.update({f"PRESTA_{k.upper()}": str(v) for k, v in values.items()})
        get_settings.cache_clear()

    apply(rate_limit_enabled="true", redis_namespace=f"presta-rl-{uuid.uuid4().hex[:8]}")
    yield apply
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def _limiters() -> list[ratelimit.Limiter]:
    return [
        ratelimit.MemoryLimiter(),
        ratelimit.RedisLimiter(SERVERS.redis_url, f"rl-{uuid.uuid4().hex[:8]}"),
    ]


def _bucket(key: str = "user:1", limit: int = 5, cost: int = 1) -> ratelimit.Bucket:
    return ratelimit.Bucket(key, limit=limit, window_seconds=60, cost=cost)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_bucket_allows_exactly_its_limit_then_refuses_until_one_unit_refills(kind):
    limiter = _limiters()[0 if kind == "memory" else 1]
    bucket = _bucket(limit=5)  # one unit every 12 s

    assert [(await limiter.hit([bucket])).allowed for _ in range(5)] == [True] * 5
    refused = await limiter.hit([bucket])
    assert not refused.allowed
    # The clock runs (a few ms per Redis round trip) besides being moved.
    assert refused.retry_after == pytest.approx(12.0, abs=0.1)
    assert refused.retry_after_seconds == 12
    assert refused.scope == "user"

    clock.advance(timedelta(seconds=11, milliseconds=500))
    almost = await limiter.hit([bucket])
    assert not almost.allowed
    assert almost.retry_after == pytest.approx(0.5, abs=0.1)
    assert almost.retry_after_seconds == 1  # never "retry in 0 s"

    clock.advance(timedelta(milliseconds=500))
    assert (await limiter.hit([bucket])).allowed
    assert not (await limiter.hit([bucket])).allowed


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_request_refused_by_one_bucket_spends_nothing_from_the_other(kind):
    limiter = _limiters()[0 if kind == "memory" else 1]
    mine, market = _bucket("user:1", limit=2), _bucket("marketplace:1", limit=3)
    assert (await limiter.hit([mine, market])).allowed
    assert (await limiter.hit([mine, market])).allowed
    for _ in range(5):
        assert (await limiter.hit([mine, market])).scope == "user"
    # The marketplace still holds its third unit for somebody else.
    assert (await limiter.hit([_bucket("user:2", limit=2), market])).allowed
    assert (await limiter.hit([_bucket("user:2", limit=2), market])).scope == "marketplace"


async def test_two_limiters_on_one_redis_share_the_allowance():
    namespace = f"rl-{uuid.uuid4().hex[:8]}"
    first = ratelimit.RedisLimiter(SERVERS.redis_url, namespace)
    second = ratelimit.RedisLimiter(SERVERS.redis_url, namespace)
    bucket = _bucket(limit=4)
    try:
        assert (await first.hit([bucket])).allowed
        assert (await second.hit([bucket])).allowed
        assert (await first.hit([bucket])).allowed
        assert (await second.hit([bucket])).allowed
        assert not (await first.hit([bucket])).allowed
        assert not (await second.hit([bucket])).allowed
    finally:
        await first.close()
        await second.close()


async def test_when_redis_does_not_answer_requests_pass_and_the_failure_is_counted():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    limiter = ratelimit.RedisLimiter(f"redis://127.0.0.1:{closed_port}/0", "rl-down")
    before = ratelimit.RATE_LIMIT_FAILURES._value.get()
    try:
        decisions = [await limiter.hit([_bucket(limit=1)]) for _ in range(3)]
    finally:
        await limiter.close()
    assert all(d.allowed for d in decisions)
    assert ratelimit.RATE_LIMIT_FAILURES._value.get() == before + 3


async def _post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def test_over_the_limit_an_http_operation_gets_429_rate_limited_and_a_retry_hint(limits):
    limits(rate_limit_per_principal=3)
    async with http_client() as client:
        passed = [await _post(client, TYPENAME) for _ in range(3)]
        refused = await _post(client, TYPENAME)
    assert [r.status_code for r in passed] == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "20"
    body = refused.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": 20,
        "scope": "ip",
    }
    clock.advance(timedelta(seconds=20))
    async with http_client() as client:
        assert answer(await _post(client, TYPENAME)) == {"data": {"__typename": "Query"}}


async def test_log_in_attempts_cost_more_than_queries(limits):
    limits(rate_limit_per_principal=10, rate_limit_auth_cost=4)
    await make_user(email="victim@example.test")
    attempt = {"input": {"email": "victim@example.test", "password": "wrong password!"}}
    async with http_client() as client:
        first = await _post(client, LOG_IN, attempt)
        second = await _post(client, LOG_IN, attempt)
        third = await _post(client, LOG_IN, attempt)
        # Two units remain: enough for two queries, not for a third attempt.
        queries = [await _post(client, TYPENAME) for _ in range(2)]
    assert first.json()["data"]["logIn"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert second.status_code == 200
    assert third.status_code == 429
    assert third.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert [q.status_code for q in queries] == [200, 200]


async def test_client_sign_up_and_invitation_attempts_cost_as_much_as_a_log_in(limits):
    limits(rate_limit_per_principal=10, rate_limit_auth_cost=4)
    await make_marketplace(slug="menage")
    sign_up = """mutation($input: SignUpClientInput!) {
      signUpClient(input: $input) { userErrors { code } } }"""
    accept = """mutation($input: AcceptClientInvitationInput!) {
      acceptClientInvitation(input: $input) { userErrors { code } } }"""
    guess = {"input": {"token": "guessed", "password": "a long password 1"}}
    new = {"input": {"marketplace": "menage", "email": "x@example.com", "password": "short",
                     "fullName": "X"}}  # fmt: skip
    async with http_client() as client:
        first = await _post(client, accept, guess)
        second = await _post(client, sign_up, new)
        third = await _post(client, accept, guess)
    assert first.json()["data"]["acceptClientInvitation"]["userErrors"] == [
        {"code": "INVITATION_INVALID"}
    ]
    assert second.status_code == 200
    assert third.status_code == 429


async def test_each_user_has_an_allowance_and_the_marketplace_caps_them_all(limits):
    limits(rate_limit_per_principal=2, rate_limit_per_marketplace=3)
    market = await make_marketplace()
    alice, bob = await make_staff(market), await make_staff(market)

    def as_(user: Any) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {make_access_token(user.id)[0]}",
            "X-Marketplace": market.slug,
        }

    async with http_client() as client:
        alice_calls = [await _post(client, TYPENAME, headers=as_(alice)) for _ in range(3)]
        bob_calls = [await _post(client, TYPENAME, headers=as_(bob)) for _ in range(2)]
    assert [r.status_code for r in alice_calls] == [200, 200, 429]
    assert alice_calls[2].json()["errors"][0]["extensions"]["scope"] == "user"
    assert [r.status_code for r in bob_calls] == [200, 429]
    assert bob_calls[1].json()["errors"][0]["extensions"]["scope"] == "marketplace"


async def test_mutations_cost_more_than_queries(limits):
    limits(rate_limit_per_principal=6, rate_limit_mutation_cost=5)
    market = await make_marketplace()
    admin = await make_staff(market)
    headers = {
        "Authorization": f"Bearer {make_access_token(admin.id)[0]}",
        "X-Marketplace": market.slug,
    }
    create = 'mutation { createService(input: {name: "Ironing"}) { userErrors { code } } }'
    async with http_client() as client:
        created = await _post(client, create, headers=headers)
        again = await _post(client, create, headers=headers)
        query = await _post(client, TYPENAME, headers=headers)
    assert created.json()["data"]["createService"]["userErrors"] == []
    assert again.status_code == 429
    assert query.status_code == 200


WS = Subprotocol("graphql-transport-ws")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with serving() as port:
        yield f"127.0.0.1:{port}"


async def test_subscription_starts_on_a_websocket_are_limited_too(limits, server):
    # Two starts fit (5 units each out of 12); the third waits for 3 units: 15 s.
    limits(rate_limit_per_principal=12, rate_limit_subscription_cost=5)
    user = await make_user()
    init = {"authorization": f"Bearer {make_access_token(user.id)[0]}"}
    query = "subscription { viewerUpdated { cursor } }"
    async with websockets.connect(f"ws://{server}/graphql", subprotocols=[WS]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for n in range(3):
            message = {"id": str(n), "type": "subscribe", "payload": {"query": query}}
            await ws.send(json.dumps(message))
        answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), timeout=0.3)  # the other two run
    assert answer["type"] == "error", answer
    extensions = answer["payload"][0]["extensions"]
    assert extensions["code"] == "RATE_LIMITED"
    # The three starts race: their timestamps may differ by a millisecond or two.
    assert extensions["retryAfter"] in (15, 16)


@pytest.mark.e2e
async def test_two_server_processes_share_one_limit_through_redis(tmp_path: Path):
    env = clean_env(
        PRESTA_DATABASE_URL=SERVERS.database_url,
        PRESTA_REDIS_URL=SERVERS.redis_url,
        PRESTA_REDIS_NAMESPACE=f"presta-rl-{uuid.uuid4().hex[:8]}",
        PRESTA_DB_POOL_MIN="1",
        PRESTA_DB_POOL_MAX="2",
        PRESTA_RATE_LIMIT_ENABLED="true",
        PRESTA_RATE_LIMIT_PER_PRINCIPAL="4",
    )
    with presta_serve(env, tmp_path, "a") as a, presta_serve(env, tmp_path, "b") as b:
        async with httpx.AsyncClient(timeout=10) as client:
            statuses = []
            for base in (a.base, b.base, a.base, b.base, a.base, b.base):
                response = await client.post(f"{base}/graphql", json={"query": TYPENAME})
                statuses.append(response.status_code)
            assert statuses == [200, 200, 200, 200, 429, 429]
            assert 1 <= int(response.headers["Retry-After"]) <= 15
