"""`X-Marketplace` has one meaning: the marketplace the caller acts in. One the caller may not
act in is refused with `MARKETPLACE_NOT_FOUND`, the same whether it does not exist or belongs
to others, over HTTP and at a websocket's connection_init; never replaced by another one."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from strawberry import relay
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from models.account import ApiScope, StaffRole
from presta import events
from presta.security import make_access_token
from resolvers import account
from schema.base import encode_id
from tests.factories.account import (
    actor_of,
    make_client,
    make_marketplace,
    make_staff,
    make_user,
)
from tests.factories.membership import make_company, make_membership, make_provider_user
from tests.support.graphql import answer, http_client, serving

VIEWER = "{ viewer { actingMarketplaceId } }"
PRINCIPALS = (
    "anonymous",
    "client",
    "provider user",
    "staff ADMIN",
    "staff AGENT",
    "partner READ key",
    "partner READ_WRITE key",
    "platform admin",
)
# What each header names, from the point of view of a principal of marketplace `alpha`.
HEADERS = (
    "unknown slug",
    "unknown global ID",
    "foreign slug",
    "foreign global ID",
    "own slug",
    "own global ID",
)
REFUSED = "refused"


@dataclass
class World:
    credentials: dict[str, dict[str, str]]
    headers: dict[str, str]
    alpha: str
    beta: str


async def _world() -> World:
    alpha = await make_marketplace(slug="alpha")
    beta = await make_marketplace(slug="beta")
    admin = await make_staff(alpha, StaffRole.ADMIN)
    agent = await make_staff(alpha, StaffRole.AGENT)
    await make_staff(beta)
    client = await make_client(alpha)
    assert client.user_id is not None
    provider = await make_provider_user(await make_membership(alpha))
    root = await make_user(platform_admin=True)
    credentials: dict[str, dict[str, str]] = {"anonymous": {}}
    for name, user_id in (
        ("client", client.user_id),
        ("provider user", provider.id),
        ("staff ADMIN", admin.id),
        ("staff AGENT", agent.id),
        ("platform admin", root.id),
    ):
        credentials[name] = {"authorization": f"Bearer {make_access_token(user_id)[0]}"}
    for scope in ApiScope:
        _, secret = await account.create_api_key(
            await actor_of(admin, alpha), name=scope.value, scope=scope
        )
        credentials[f"partner {scope.value} key"] = {"apiKey": secret}
    gid = {m.slug: str(encode_id("Marketplace", m.id)) for m in (alpha, beta)}
    headers = {
        "unknown slug": "nowhere",
        "unknown global ID": str(encode_id("Marketplace", beta.id + 1000)),
        "foreign slug": "beta",
        "foreign global ID": gid["beta"],
        "own slug": "alpha",
        "own global ID": gid["alpha"],
    }
    return World(credentials, headers, alpha=gid["alpha"], beta=gid["beta"])


def _expected(world: World, principal: str, header: str) -> str:
    """The acting marketplace's global ID, or REFUSED."""
    if principal == "anonymous" or header.startswith("unknown"):
        return REFUSED
    if header.startswith("own"):
        return world.alpha
    # The platform admin acts in any marketplace that exists; nobody else is foreign to it.
    return world.beta if principal == "platform admin" else REFUSED


def _http_headers(credentials: dict[str, str], marketplace: str) -> dict[str, str]:
    headers = {"X-Marketplace": marketplace}
    if "authorization" in credentials:
        headers["Authorization"] = credentials["authorization"]
    if "apiKey" in credentials:
        headers["X-Api-Key"] = credentials["apiKey"]
    return headers


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_over_http_a_marketplace_the_caller_may_not_act_in_is_refused_alike(principal):
    world = await _world()
    refusals: list[Any] = []
    async with http_client() as client:
        for header in HEADERS:
            response = await client.post(
                "/graphql",
                json={"query": VIEWER},
                headers=_http_headers(world.credentials[principal], world.headers[header]),
            )
            body = answer(response)
            expected = _expected(world, principal, header)
            if expected == REFUSED:
                assert body["data"] is None, (header, body)
                assert [e["extensions"]["code"] for e in body["errors"]] == [
                    "MARKETPLACE_NOT_FOUND"
                ], (header, body)
                refusals.append(body)
            else:
                assert body == {"data": {"viewer": {"actingMarketplaceId": expected}}}, header
    # Unknown or foreign: one answer, so an outsider cannot tell which marketplaces exist.
    assert refusals
    assert all(refusal == refusals[0] for refusal in refusals)


WS_PROTOCOL = Subprotocol("graphql-transport-ws")


async def _ws_viewer(port: int, init: dict[str, str], *, refused: bool) -> str:
    """Connect with ``init``: the close reason when refused, else the actingMarketplaceId."""
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=[WS_PROTOCOL], open_timeout=5
    ) as socket_:
        await socket_.send(json.dumps({"type": "connection_init", "payload": init}))
        if refused:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket_.recv(), timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403
            return closed.value.rcvd.reason
        ack = json.loads(await asyncio.wait_for(socket_.recv(), timeout=5))
        assert ack["type"] == "connection_ack"
        await socket_.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": VIEWER}})
        )
        message = json.loads(await asyncio.wait_for(socket_.recv(), timeout=5))
        return str(message["payload"]["data"]["viewer"]["actingMarketplaceId"])


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_at_connection_init_a_marketplace_the_caller_may_not_act_in_closes_with_a_reason(
    principal,
):
    world = await _world()
    reasons: set[str] = set()
    async with serving() as port:
        await events.connect()
        for header in HEADERS:
            init = {**world.credentials[principal], "marketplace": world.headers[header]}
            expected = _expected(world, principal, header)
            answer = await _ws_viewer(port, init, refused=expected == REFUSED)
            if expected == REFUSED:
                assert answer.startswith("MARKETPLACE_NOT_FOUND: "), (header, answer)
                reasons.add(answer)
            else:
                assert answer == expected, header
    assert len(reasons) == 1


async def test_without_the_header_a_caller_with_one_marketplace_acts_there():
    world = await _world()
    async with http_client() as client:
        for principal in ("client", "staff ADMIN", "partner READ key"):
            headers = _http_headers(world.credentials[principal], "")
            del headers["X-Marketplace"]
            body = (await client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()
            assert body["data"]["viewer"]["actingMarketplaceId"] == world.alpha, principal


async def test_my_memberships_never_answers_for_another_marketplace_than_the_one_named():
    alpha = await make_marketplace(slug="alpha")
    beta = await make_marketplace(slug="beta")
    await make_marketplace(slug="gamma")
    company = await make_company()
    here = await make_membership(alpha, company=company)
    await make_membership(beta, company=company)
    provider = await make_provider_user(here)
    bearer = f"Bearer {make_access_token(provider.id)[0]}"
    query = "{ myMemberships { marketplaceName } }"

    async def memberships(marketplace: str | None) -> Any:
        headers = {"Authorization": bearer}
        if marketplace is not None:
            headers["X-Marketplace"] = marketplace
        async with http_client() as client:
            return (await client.post("/graphql", json={"query": query}, headers=headers)).json()

    assert len((await memberships(None))["data"]["myMemberships"]) == 2
    assert (await memberships("alpha"))["data"]["myMemberships"] == [
        {"marketplaceName": alpha.name}
    ]
    foreign = await memberships("gamma")
    assert foreign["data"] is None
    assert foreign["errors"][0]["extensions"]["code"] == "MARKETPLACE_NOT_FOUND"


async def test_a_global_id_too_large_or_with_other_digits_names_no_marketplace():
    world = await _world()
    oddities = [
        str(relay.GlobalID("Marketplace", "99999999999999999999")),
        str(relay.GlobalID("Marketplace", "²")),
        str(relay.GlobalID("User", "1")),
    ]
    async with http_client() as client:
        for header in oddities:
            body = (
                await client.post(
                    "/graphql",
                    json={"query": VIEWER},
                    headers=_http_headers(world.credentials["platform admin"], header),
                )
            ).json()
            assert body["errors"][0]["extensions"]["code"] == "MARKETPLACE_NOT_FOUND", header
