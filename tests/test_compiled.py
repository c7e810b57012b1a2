"""The compiled read path: the screens run as one statement, with the standard executor's
exact JSON, tenant isolation and the provider-only fields kept; what does not compile runs
standard; a second request plans nothing; the metrics say which executor ran."""

from __future__ import annotations

from typing import Any

import orjson
from strawberry import relay

from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN
from models.account import StaffRole
from models.marketplace import Marketplace
from presta.security import make_access_token
from resolvers.actor import Actor
from tests.factories.account import actor_of, make_staff
from tests.factories.screens import provider_with, staff_with
from tests.support.graphql import http_client
from tests.test_query_counts import counting

VIEWER = "{ viewer { user { email fullName } } }"


def _headers(actor: Actor, executor: str | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if actor.user_id is not None:
        token, _ = make_access_token(actor.user_id)
        headers["Authorization"] = f"Bearer {token}"
    if actor.marketplace_id is not None:
        headers["X-Marketplace"] = str(relay.GlobalID("Marketplace", str(actor.marketplace_id)))
    if executor is not None:
        headers["X-Presta-Executor"] = executor
    return headers


async def _post(actor: Actor, query: str, variables: Any = None, executor: str | None = None):
    async with http_client() as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=_headers(actor, executor),
        )
    assert response.status_code == 200, response.text
    return response.json()


async def _both(actor: Actor, query: str, variables: Any = None) -> dict[str, Any]:
    """Both executors' bodies, equal but for which one ran; the compiled one returned."""
    standard = await _post(actor, query, variables, "standard")
    with counting() as statements:
        fast = await _post(actor, query, variables)
    assert standard.pop("extensions") == {"executor": "standard"}
    assert fast.pop("extensions") == {"executor": "compiled"}, statements
    assert _sorted(fast) == _sorted(standard)
    return fast


def _sorted(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


async def test_the_providers_screen_gives_the_standard_json():
    staff = await staff_with(7)
    body = await _both(staff, PROVIDERS_SCREEN, {"first": 5})
    assert len(body["data"]["providers"]["edges"]) == 5
    cursor = body["data"]["providers"]["pageInfo"]["endCursor"]
    rest = await _both(staff, PROVIDERS_SCREEN, {"first": 5, "after": cursor})
    assert len(rest["data"]["providers"]["edges"]) == 2


async def test_viewer_gives_the_standard_json():
    staff = await staff_with(1)
    await _both(staff, VIEWER)
    await _both(
        staff,
        "{ viewer { isPlatformAdmin actingMarketplaceId roles { marketplaceId role } "
        "user { id } } }",
    )


async def test_the_provider_dashboard_gives_the_standard_json():
    provider = await provider_with(4)
    body = await _both(provider, PROVIDER_DASHBOARD, {"rows": 3})
    file = body["data"]["myMemberships"][0]
    assert len(file["requests"]["nodes"]) == 4
    assert file["requests"]["nodes"][0]["client"]["fullName"]
    assert len(file["interventions"]["nodes"]) == 3
    assert file["conversations"]["nodes"][0]["unreadCount"] == 1


TABS = """
query($id: ID!, $first: Int!, $after: String) { node(id: $id) { ... on Membership {
  requests(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id status createdAt client { fullName } }
  }
  interventions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id startsAt price companyName }
  }
  conversations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id kind clientName unreadCount }
  }
} } }"""


async def test_the_tabs_give_the_standard_json_to_the_provider_and_to_staff():
    provider = await provider_with(3)
    gid = str(relay.GlobalID("Membership", str(provider.membership_id)))
    first = await _both(provider, TABS, {"id": gid, "first": 2})
    tabs = first["data"]["node"]
    assert [len(tabs[t]["nodes"]) for t in ("requests", "interventions", "conversations")] == [2] * 3
    after = tabs["requests"]["pageInfo"]["endCursor"]
    await _both(provider, TABS, {"id": gid, "first": 2, "after": after})
    marketplace = await Marketplace.get(id=provider.marketplace_id)
    staff = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)
    await _both(staff, TABS, {"id": gid, "first": 5})
