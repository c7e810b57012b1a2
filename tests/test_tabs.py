"""A provider's Requests, Interventions and Messaging tabs (read in one statement built once,
``presta.statements``): paged forward they give every row once, newest first, the same for
the provider and the marketplace's staff, and the same rows as the general list filtered by
that provider; another provider of the marketplace reads none, and its use cases refuse it."""

from __future__ import annotations

from typing import Any

import pytest

from models.account import StaffMember, User
from models.dispatch import Dispatch
from models.marketplace import Marketplace
from resolvers.actor import Actor
from resolvers.dispatch.request import RequestFilter, list_service_requests, requests_tab
from resolvers.errors import UserError
from resolvers.intervention import InterventionFilter, interventions_tab, list_interventions
from resolvers.messaging.inbox import list_conversations
from schema.base import encode_id
from tests.factories.account import actor_of, make_client
from tests.factories.membership import make_membership, make_provider_user
from tests.factories.messaging import (
    make_cast,
    make_conversation,
    make_dispatched_request,
    make_intervention,
)
from tests.factories.screens import provider_with
from tests.support.graphql import execute, ok

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
    staff = await actor_of(await User.get(id=staff_member.user_id), marketplace)

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


async def _staff_of(marketplace_id: int) -> Actor:
    marketplace = await Marketplace.get(id=marketplace_id)
    staff_member = await StaffMember.filter(marketplace_id=marketplace.id).first()
    assert staff_member is not None
    return await actor_of(await User.get(id=staff_member.user_id), marketplace)


async def test_each_tab_is_the_general_list_filtered_by_the_provider() -> None:
    provider = await provider_with(3)
    assert provider.membership_id is not None
    assert provider.marketplace_id is not None
    mine = provider.membership_id
    marketplace = await Marketplace.get(id=provider.marketplace_id)
    # Rows of another provider of the marketplace, which the filter must leave out.
    other = await make_membership(marketplace)
    client = await make_client(marketplace, with_login=False)
    await make_dispatched_request(other, client)
    await make_intervention(other, client)
    await make_conversation(other, client=client)
    staff = await _staff_of(marketplace.id)

    for viewer in (provider, staff):
        requests = (await list_service_requests(viewer, RequestFilter(), first=100)).items
        sent = set(await Dispatch.filter(membership_id=mine).values_list("request_id", flat=True))
        tab = (await requests_tab(viewer, mine, first=100)).items
        assert [r.id for r in tab] == [r.id for r in requests if r.id in sent]

        visits = (await list_interventions(viewer, InterventionFilter(), first=100)).items
        visits_tab = (await interventions_tab(viewer, mine, first=100)).items
        theirs = [v.id for v in visits if v.membership_id == mine]
        assert [v.id for v in visits_tab] == theirs

        talks = (await list_conversations(viewer, first=100)).items
        talks_tab = (await list_conversations(viewer, membership_id=mine, first=100)).items
        theirs = [c.id for c in talks if c.membership_id == mine]
        assert [c.id for c in talks_tab] == theirs
        assert len(tab) == len(visits_tab) == len(talks_tab) == 3
    # The staff's general lists hold the other provider's rows too.
    assert len((await list_service_requests(staff, RequestFilter(), first=100)).items) == 4


async def test_another_providers_requests_and_interventions_tabs_are_refused_by_the_use_case():
    provider = await provider_with(2)
    assert provider.membership_id is not None
    assert provider.marketplace_id is not None
    marketplace = await Marketplace.get(id=provider.marketplace_id)
    other = await make_membership(marketplace)
    rival = await actor_of(await make_provider_user(other), marketplace)

    for tab in (requests_tab, interventions_tab):
        with pytest.raises(UserError) as refused:
            await tab(rival, provider.membership_id, first=10)
        assert (refused.value.code, refused.value.field) == ("NOT_FOUND", "membershipId")
        # Its own tab it reads (empty: none of the provider's rows are its).
        assert (await tab(rival, other.id, first=10)).items == []
        # The provider and the marketplace's staff read the provider's.
        assert len((await tab(provider, provider.membership_id, first=10)).items) == 2
        staff = await _staff_of(marketplace.id)
        assert len((await tab(staff, provider.membership_id, first=10)).items) == 2


async def test_a_client_shown_a_providers_file_gets_the_same_refusal_from_each_of_its_tabs():
    cast = await make_cast()
    await make_dispatched_request(cast.membership, cast.client)
    await make_intervention(cast.membership, cast.client)
    conversation = await make_conversation(cast.membership, client=cast.client)
    client = await actor_of(cast.client_user, cast.marketplace)
    gid = str(encode_id("Conversation", conversation.id))
    for tab in (
        "services { status }",
        "requests { nodes { id } }",
        "interventions { nodes { id } }",
    ):
        query = "query($id: ID!) { node(id: $id) { ... on Conversation { membership { TAB } } } }"
        result = await execute(query.replace("TAB", tab), {"id": gid}, actor=client)
        assert result.errors is not None, tab
        refusals = [(e["extensions"]["code"], e["extensions"]["field"]) for e in result.errors]
        assert refusals == [("NOT_FOUND", "membershipId")], tab


def _pk(gid: str) -> int:
    from strawberry import relay

    return int(relay.GlobalID.from_id(gid).node_id)
