"""A provider's Requests, Interventions and Messaging tabs (read in one statement built once,
``presta.statements``): paged forward they give every row once, newest first, the same for
the provider and the marketplace's staff; another provider of the marketplace reads none."""

from __future__ import annotations

from typing import Any

from models.account import StaffMember, User
from models.marketplace import Marketplace
from resolvers.actor import Actor
from schema.base import encode_id
from tests.factories.account import actor_of
from tests.factories.membership import make_membership, make_provider_user
from tests.factories.screens import provider_with
from tests.support.graphql import ok

ROWS = 7

TAB = """
query($id: ID!, $first: Int!, $after: String) { node(id: $id) { ... on Membership {
  requests(first: $first, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } }
  interventions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id }
  }
  conversations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id }
  }
} } }"""

TABS = ("requests", "interventions", "conversations")


async def _walk(actor: Actor, membership_id: int, first: int) -> dict[str, list[str]]:
    """Each tab read page by page until its last."""
    gid = str(encode_id("Membership", membership_id))
    seen: dict[str, list[str]] = {}
    for tab in TABS:
        ids: list[str] = []
        after: str | None = None
        while True:
            data = await ok(TAB, {"id": gid, "first": first, "after": after}, actor=actor)
            page: dict[str, Any] = (data["node"] or {}).get(tab) or {"nodes": []}
            ids += [n["id"] for n in page["nodes"]]
            if not page["nodes"] or not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        seen[tab] = ids
    return seen


async def test_tabs_page_through_every_row_once_for_the_provider_and_for_staff() -> None:
    provider = await provider_with(ROWS)
    assert provider.membership_id is not None
    assert provider.marketplace_id is not None
    marketplace = await Marketplace.get(id=provider.marketplace_id)
    staff_member = await StaffMember.filter(marketplace_id=marketplace.id).first()
    assert staff_member is not None
    staff = await actor_of(await User.get(id=staff_member.user_id), marketplace)  # type: ignore[attr-defined]

    whole = await _walk(provider, provider.membership_id, first=100)
    for tab in TABS:
        assert len(whole[tab]) == ROWS
        assert whole[tab] == sorted(whole[tab], key=_pk, reverse=True), f"{tab}: newest first"
    for first in (1, 3):
        assert await _walk(provider, provider.membership_id, first) == whole
    assert await _walk(staff, provider.membership_id, first=3) == whole


async def test_another_provider_of_the_marketplace_reads_none_of_the_tabs() -> None:
    provider = await provider_with(3)
    assert provider.membership_id is not None
    assert provider.marketplace_id is not None
    marketplace = await Marketplace.get(id=provider.marketplace_id)
    other = await make_membership(marketplace)
    rival = await actor_of(await make_provider_user(other), marketplace)
    assert await _walk(rival, provider.membership_id, first=2) == {tab: [] for tab in TABS}
    # Its own tabs are empty too: none of the provider's rows are its.
    assert await _walk(rival, other.id, first=2) == {tab: [] for tab in TABS}


def _pk(gid: str) -> int:
    from strawberry import relay

    return int(relay.GlobalID.from_id(gid).node_id)
