"""Kept actors (``resolvers.credentials``): a repeated compiled read costs one statement, and a
change to the rows an actor was built from, between two requests, gives the second one
exactly what a fresh authentication gives (compared with the same request after the kept
actors are forgotten)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from strawberry import relay
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN
from models.account import ApiKey, StaffMember, StaffRole, User
from models.membership import Membership, MembershipStatus
from presta import clock, events
from presta.security import make_access_token
from resolvers import credentials
from resolvers.actor import Actor
from tests.factories.account import make_marketplace, make_staff
from tests.factories.screens import provider_with, staff_with
from tests.support.counting import counting
from tests.support.graphql import http_client, serving

ROLES_AND_COUNTS = "{ viewer { roles { marketplaceId role } } providerCounts { total } }"
RENAME = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { userErrors { code } } }"""
CREATE_KEY = """mutation { createApiKey(input: {name: "CRM", scope: READ}) {
  userErrors { code } secret } }"""


def _headers(actor: Actor, **more: str) -> dict[str, str]:
    assert actor.user_id is not None
    assert actor.marketplace_id is not None
    token, _ = make_access_token(actor.user_id)
    return {
        "Authorization": f"Bearer {token}",
        "X-Marketplace": str(relay.GlobalID("Marketplace", str(actor.marketplace_id))),
        **more,
    }


async def _ask(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any, int]:
    """Status, body and statements of one request."""
    with counting() as statements:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    return response.status_code, response.json(), len(statements)


async def _then_fresh(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    """The same request answered with the kept actors forgotten: a fresh authentication."""
    credentials.forget_all()
    status, body, _ = await _ask(http, query, variables, headers)
    return status, body


async def _kept(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> Any:
    """Two requests: the first authenticates (after looking the marketplace's name up), the
    second is compiled with the kept actor and its guard."""
    first = await _ask(http, query, variables, headers)
    second = await _ask(http, query, variables, headers)
    assert first[0] == second[0] == 200
    assert first[1] == second[1]
    assert second[1]["extensions"] == {"executor": "compiled"}
    looked_up = 1 if "X-Marketplace" in headers else 0
    assert (first[2], second[2]) == (2 + looked_up, 1)
    return second[1]


VIEWER = """{ viewer { isPlatformAdmin actingMarketplaceId roles { marketplaceId role }
  user { id email fullName } } }"""


async def test_the_viewer_of_a_kept_actor_is_verified_and_answered_as_on_a_first_request():
    staff = await staff_with(1)
    headers = _headers(staff)
    async with http_client() as http:
        first = await _ask(http, VIEWER, {}, headers)
        with counting() as statements:
            second = await _ask(http, VIEWER, {}, headers)
        # One statement: the compiled viewer with the guard, not the user and its roles again.
        assert len(statements) == 1
        assert "md5" in statements[0]
        assert "UNION ALL" not in statements[0]
        await User.filter(id=staff.user_id).update(full_name="Renamed Elsewhere")
        renamed = await _ask(http, VIEWER, {}, headers)
    # Table-free: a first request's standard executor answers from what authentication read;
    # a kept actor's, compiled, from its guarded statement (a name changed since is seen).
    assert first[1].pop("extensions") == {"executor": "standard"}
    assert second[1].pop("extensions") == {"executor": "compiled"}
    assert first[1] == second[1]
    assert second[2] == 1
    assert renamed[1]["data"]["viewer"]["user"]["fullName"] == "Renamed Elsewhere"
    assert second[1]["data"]["viewer"]["roles"] == [
        {
            "marketplaceId": str(relay.GlobalID("Marketplace", str(staff.marketplace_id))),
            "role": "ADMIN",
        }
    ]


async def test_a_removed_staff_member_is_refused_on_the_next_request_as_on_a_fresh_one():
    staff = await staff_with(3)
    headers = _headers(staff)
    async with http_client() as http:
        await _kept(http, PROVIDERS_SCREEN, {"first": 10}, headers)
        await StaffMember.filter(user_id=staff.user_id).delete()
        status, body, _ = await _ask(http, PROVIDERS_SCREEN, {"first": 10}, headers)
        assert (status, body) == await _then_fresh(http, PROVIDERS_SCREEN, {"first": 10}, headers)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["MARKETPLACE_NOT_FOUND"]


async def test_a_changed_staff_role_answers_with_the_new_role_as_a_fresh_request_does():
    staff = await staff_with(2)
    headers = _headers(staff)
    async with http_client() as http:
        before = await _kept(http, ROLES_AND_COUNTS, {}, headers)
        await StaffMember.filter(user_id=staff.user_id).update(role=StaffRole.AGENT)
        status, body, statements = await _ask(http, ROLES_AND_COUNTS, {}, headers)
        # The guard failed, authentication ran again, then the new actor's statement.
        assert statements == 3
        assert (status, body) == await _then_fresh(http, ROLES_AND_COUNTS, {}, headers)
    assert [r["role"] for r in before["data"]["viewer"]["roles"]] == ["ADMIN"]
    assert [r["role"] for r in body["data"]["viewer"]["roles"]] == ["AGENT"]


async def test_a_suspended_provider_gets_on_the_next_request_what_a_fresh_one_gets():
    provider = await provider_with(3)
    headers = _headers(provider)
    async with http_client() as http:
        before = await _kept(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        await Membership.filter(id=provider.membership_id).update(status=MembershipStatus.SUSPENDED)
        status, body, _ = await _ask(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        fresh = await _then_fresh(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
    assert (status, body) == fresh
    assert before["data"]["myMemberships"][0]["status"] == "ACCEPTED"
    assert body["data"]["myMemberships"][0]["status"] == "SUSPENDED"


async def test_a_colleague_taken_off_the_company_gets_on_the_next_request_what_a_fresh_one_gets():
    provider = await provider_with(2)
    headers = _headers(provider)
    async with http_client() as http:
        await _kept(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        # As removeColleague leaves the user: no company, so no membership.
        await User.filter(id=provider.user_id).update(provider_company_id=None)
        status, body, _ = await _ask(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        fresh = await _then_fresh(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
    assert (status, body) == fresh
    assert [e["extensions"]["code"] for e in body["errors"]] == ["MARKETPLACE_NOT_FOUND"]


async def test_a_deactivated_user_is_unauthenticated_on_the_next_request_as_on_a_fresh_one():
    provider = await provider_with(2)
    headers = _headers(provider)
    async with http_client() as http:
        await _kept(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        await User.filter(id=provider.user_id).update(is_active=False)
        status, body, _ = await _ask(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        assert (status, body) == await _then_fresh(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
    assert body == {
        "data": None,
        "errors": [
            {"message": "Jeton d'accès invalide.", "extensions": {"code": "UNAUTHENTICATED"}}
        ],
    }


async def test_a_revoked_api_key_is_unauthenticated_on_the_next_request_as_on_a_fresh_one():
    staff = await staff_with(2)
    async with http_client() as http:
        created = await _ask(http, CREATE_KEY, {}, _headers(staff))
        secret = created[1]["data"]["createApiKey"]["secret"]
        headers = {"X-Api-Key": secret}
        await _kept(http, PROVIDERS_SCREEN, {"first": 10}, headers)
        # Revoked elsewhere (another API process): this one's kept actor must not serve it.
        await ApiKey.filter(marketplace_id=staff.marketplace_id).update(revoked_at=clock.now())
        status, body, _ = await _ask(http, PROVIDERS_SCREEN, {"first": 10}, headers)
        assert (status, body) == await _then_fresh(http, PROVIDERS_SCREEN, {"first": 10}, headers)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_the_standard_executor_and_mutations_verify_a_kept_actor_first():
    provider = await provider_with(1)
    headers = _headers(provider)
    async with http_client() as http:
        await _kept(http, PROVIDER_DASHBOARD, {"rows": 10}, headers)
        await User.filter(id=provider.user_id).update(is_active=False)
        standard = await _ask(
            http, PROVIDER_DASHBOARD, {"rows": 10}, {**headers, "X-Presta-Executor": "standard"}
        )
        renamed = await _ask(http, RENAME, {"input": {"fullName": "Not Allowed"}}, headers)
    for status, body, _ in (standard, renamed):
        assert status == 200
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert (await User.get(id=provider.user_id)).full_name != "Not Allowed"


async def test_a_kept_actor_is_authenticated_again_after_a_minute():
    staff = await staff_with(1)
    headers = _headers(staff)
    async with http_client() as http:
        await _kept(http, PROVIDERS_SCREEN, {"first": 10}, headers)
        clock.advance(credentials.KEPT_FOR + timedelta(seconds=1))
        # The marketplace's name (kept a minute too), authentication, the statement.
        assert (await _ask(http, PROVIDERS_SCREEN, {"first": 10}, headers))[2] == 3


async def test_an_expired_token_is_refused_though_its_actor_is_kept():
    staff = await staff_with(1)
    # Without X-Marketplace: staff of one marketplace act in it unasked.
    headers = {"Authorization": _headers(staff)["Authorization"]}
    async with http_client() as http:
        await _kept(http, PROVIDERS_SCREEN, {"first": 10}, headers)
        clock.advance(timedelta(days=2))
        status, body, statements = await _ask(http, PROVIDERS_SCREEN, {"first": 10}, headers)
    assert (status, statements) == (200, 0)
    assert [e["message"] for e in body["errors"]] == ["Jeton d'accès expiré."]


@pytest.fixture
async def server() -> Any:
    async with serving() as port:
        await events.connect()
        yield f"127.0.0.1:{port}"


async def test_a_websocket_authenticates_in_full_though_the_actor_is_kept(server):
    marketplace = await make_marketplace()
    user = await make_staff(marketplace)
    token, _ = make_access_token(user.id)
    async with http_client() as http:
        status, _, _ = await _ask(http, ROLES_AND_COUNTS, {}, {"Authorization": f"Bearer {token}"})
    assert status == 200
    await User.filter(id=user.id).update(is_active=False)
    socket = await websockets.connect(
        f"ws://{server}/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
        open_timeout=5,
    )
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_a_guarded_statement_computes_the_fingerprint_once() -> None:
    """The guard is read twice (whether it holds, and the data only then): PostgreSQL must
    not inline it into both places and read the user's rows twice per request."""
    from tortoise import connections

    from resolvers.authentication import USER_FINGERPRINT
    from resolvers.compiled import Plan
    from resolvers.credentials import Guard

    statement = Plan("SELECT 1", ()).guarded(Guard(USER_FINGERPRINT, 1, "unchanged?"))
    _, rows = await connections.get("default").execute_query(
        f"EXPLAIN {statement}", [1, "unchanged?"]
    )
    plan = "\n".join(str(row[0]) for row in rows)
    assert plan.count("on account_user fu") == 1, plan
