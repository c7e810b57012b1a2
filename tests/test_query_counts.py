"""SQL statements per screen stay flat as the lists grow (no N+1), authentication is one, and
a repeated compiled screen is one in all (its actor kept, guarded in the statement)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN
from models.catalog import ProviderServiceStatus
from models.dispatch import DispatchStatus
from presta import clock, jobs
from presta.security import make_access_token
from resolvers import account
from resolvers.actor import Actor
from resolvers.dispatch.proposal import Answer, respond_to_service_request
from schema.base import encode_id
from schema.context import Context
from schema.loaders import ServiceByIdLoader
from schema.root import schema
from tests.factories.account import (
    actor_of,
    make_client,
    make_marketplace,
    make_staff,
    make_user,
)
from tests.factories.catalog import make_service, offer
from tests.factories.dispatch import make_world
from tests.factories.document import make_company_document, require_types
from tests.factories.membership import make_membership
from tests.factories.messaging import make_cast
from tests.factories.screens import provider_with, staff_with
from tests.support.counting import counting
from tests.support.graphql import http_client, ok
from tests.support.polling import wait_for


async def _count(query: str, actor: Actor, variables: dict[str, Any]) -> tuple[int, Any]:
    # The fewest of three runs: a DataLoader batch that the event loop happens to split in two
    # is scheduling noise, not a statement per row (that would show at every run).
    best: list[str] | None = None
    for _ in range(3):
        with counting() as statements:
            # The standard executor's batching (the compiled path is one statement:
            # tests/test_compiled.py).
            data = await ok(query, variables, actor=actor, executor="standard")
        if best is None or len(statements) < len(best):
            best = list(statements)
    assert best is not None
    _LAST[:] = [s[:160] for s in best]
    return len(best), data


_LAST: list[str] = []


async def test_the_provider_dashboard_costs_the_same_statements_at_10_and_100_rows():
    small = await provider_with(10)
    small_count, small_data = await _count(PROVIDER_DASHBOARD, small, {"rows": 100})
    large = await provider_with(100)
    large_count, large_data = await _count(PROVIDER_DASHBOARD, large, {"rows": 100})

    file = large_data["myMemberships"][0]
    assert len(file["services"]) == 100
    assert len(file["requests"]["nodes"]) == 20
    assert file["requests"]["nodes"][0]["client"]["fullName"]
    assert file["requests"]["nodes"][0]["myDispatch"]["answerHistory"][0]["toStatus"] == (
        "INTERESTED"
    )
    assert len(file["interventions"]["nodes"]) == 100
    assert file["interventions"]["nodes"][0]["companyName"]
    conversations = file["conversations"]["nodes"]
    assert len(conversations) == 100
    assert conversations[0]["unreadCount"] == 1
    assert conversations[0]["lastMessage"]["text"]
    assert len(small_data["myMemberships"][0]["services"]) == 10
    assert large_count == small_count
    # memberships (with their companies, which the visits' companyName reads), terms in
    # force, catalogue, applications, requests, services (of requests and visits together),
    # clients, dispatches, answers, visits, conversations, unread counts, last messages: one
    # statement each.
    assert large_count <= 13, "\n".join(_LAST)


async def test_the_staff_providers_screen_costs_the_same_statements_at_10_and_100_rows():
    small = await staff_with(10)
    small_count, small_data = await _count(PROVIDERS_SCREEN, small, {"first": 100})
    large = await staff_with(100)
    large_count, large_data = await _count(PROVIDERS_SCREEN, large, {"first": 100})

    edges = large_data["providers"]["edges"]
    assert len(edges) == 100
    assert large_data["providerCounts"]["total"] == 100
    assert {e["node"]["documentState"] for e in edges} == {"MISSING"}
    assert {len(e["node"]["services"]) for e in edges} == {3}
    assert {len([s for s in e["node"]["services"] if s["status"]]) for e in edges} == {1, 2, 3}
    assert len(small_data["providers"]["edges"]) == 10
    assert large_count == small_count
    # counts, providers with companies, catalogue, applications, required types, documents:
    # one statement each.
    assert large_count <= 6


async def test_document_state_shows_the_worst_required_document_of_each_provider():
    marketplace = await make_marketplace()
    staff = await make_staff(marketplace)
    await require_types(marketplace, "KBIS")
    today = clock.now().date()
    states = {}
    for expires_in in (None, 100, 10, -1):
        membership = await make_membership(marketplace)
        if expires_in is not None:
            await make_company_document(
                membership.company, "KBIS", expires_on=today + timedelta(days=expires_in)
            )
        states[membership.id] = expires_in
    data = await ok(PROVIDERS_SCREEN, actor=await actor_of(staff, marketplace))
    shown = {_pk(e["node"]["id"]): e["node"]["documentState"] for e in data["providers"]["edges"]}
    expected = {None: "MISSING", 100: "VALID", 10: "EXPIRING_SOON", -1: "EXPIRED"}
    assert shown == {pk: expected[days] for pk, days in states.items()}


async def test_a_provider_sees_the_state_of_its_own_documents():
    cast = await make_cast()
    await require_types(cast.marketplace, "RC_PRO")
    query = "{ myMemberships { documentState } }"
    data = await ok(query, actor=await cast.provider_actor())
    assert data["myMemberships"] == [{"documentState": "MISSING"}]


async def test_a_bearer_request_is_authenticated_in_one_statement():
    cast = await make_cast()
    await make_membership(await make_marketplace(), company=cast.membership.company)
    token, _ = make_access_token(cast.provider.id)
    with counting() as statements:
        actor = await account.authenticate(
            bearer=token, api_key=None, marketplace_id=cast.marketplace.id
        )
    assert len(statements) == 1
    assert actor.membership_id == cast.membership.id
    assert actor.marketplace_id == cast.marketplace.id
    assert {g.role for g in actor.roles} == {"PROVIDER"}
    assert len(actor.roles) == 2


async def test_the_viewer_over_http_costs_the_authentication_statement_only():
    user = await make_user()
    token, _ = make_access_token(user.id)
    headers = {"Authorization": f"Bearer {token}"}
    query = {"query": "{ viewer { user { email fullName } } }"}
    async with http_client() as http:
        with counting() as statements:
            body = (await http.post("/graphql", json=query, headers=headers)).json()
        assert len(statements) == 1, statements
        assert body["data"]["viewer"]["user"] == {"email": user.email, "fullName": user.full_name}
        # Read again on every request: a change shows on the next one.
        renamed = {
            "query": "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) "
            "{ userErrors { message } } }",
            "variables": {"input": {"fullName": "Renamed Person"}},
        }
        assert (await http.post("/graphql", json=renamed, headers=headers)).status_code == 200
        body = (await http.post("/graphql", json=query, headers=headers)).json()
    assert body["data"]["viewer"]["user"]["fullName"] == "Renamed Person"


async def test_a_repeated_dashboard_or_providers_screen_costs_one_statement_in_all():
    from strawberry import relay

    screens = [
        (await provider_with(10), PROVIDER_DASHBOARD, {"rows": 100}),
        (await staff_with(10), PROVIDERS_SCREEN, {"first": 100}),
    ]
    async with http_client() as http:
        for actor, query, variables in screens:
            assert actor.user_id is not None
            token, _ = make_access_token(actor.user_id)
            headers = {
                "Authorization": f"Bearer {token}",
                "X-Marketplace": str(relay.GlobalID("Marketplace", str(actor.marketplace_id))),
            }
            request = {"query": query, "variables": variables}
            first = (await http.post("/graphql", json=request, headers=headers)).json()
            with counting() as statements:
                again = (await http.post("/graphql", json=request, headers=headers)).json()
            # The actor kept from the first request, its guard inside the compiled statement.
            assert len(statements) == 1, statements
            assert again == first
            assert again["extensions"] == {"executor": "compiled"}
            assert "errors" not in again


async def test_a_marketplace_slug_is_looked_up_once_a_minute_and_an_unknown_one_each_time():
    cast = await make_cast()
    token, _ = make_access_token(cast.provider.id)
    query = {"query": "{ viewer { user { email } } }"}

    async def statements_for(slug: str) -> list[str]:
        headers = {"Authorization": f"Bearer {token}", "X-Marketplace": slug}
        with counting() as statements:
            assert (await http.post("/graphql", json=query, headers=headers)).status_code == 200
        return list(statements)

    slug = cast.marketplace.slug
    async with http_client() as http:
        assert len(await statements_for(slug)) == 2  # the slug, then the user and its roles
        assert len(await statements_for(slug.upper())) == 1
        clock.advance(timedelta(seconds=61))
        assert len(await statements_for(slug)) == 2
        # A slug that names no marketplace is asked again: it may exist on the next request.
        assert len(await statements_for("not-yet")) == 2
        later = await make_marketplace(slug="not-yet")
        assert len(await statements_for("not-yet")) == 2
        assert len(await statements_for("not-yet")) == 1
    assert later.id != cast.marketplace.id


async def test_one_statement_authentication_finds_every_role_of_the_user():
    marketplace, other = await make_marketplace(), await make_marketplace()
    staff = await make_staff(marketplace)
    client = await make_client(other)
    await client.fetch_related("user")
    assert client.user is not None
    token, _ = make_access_token(staff.id)
    actor = await account.authenticate(bearer=token, api_key=None, marketplace_id=None)
    assert actor.marketplace_id == marketplace.id
    assert actor.is_admin
    token, _ = make_access_token(client.user.id)
    actor = await account.authenticate(bearer=token, api_key=None, marketplace_id=None)
    assert actor.client_id == client.id
    assert actor.marketplace_id == other.id
    assert [g.role for g in actor.roles] == ["CLIENT"]


def _pk(gid: str) -> int:
    from strawberry import relay

    return int(relay.GlobalID.from_id(gid).node_id)


async def test_operations_sharing_a_websocket_context_never_see_each_others_cached_rows():
    cast = await make_cast()
    service = await make_service(cast.marketplace, name="Ironing")
    application = await offer(cast.membership, service, ProviderServiceStatus.PENDING)
    # A websocket keeps one Context for every operation it carries.
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        actor=await cast.provider_actor(),
        request_id="ws",
    )
    query = "{ myMemberships { services { status service { name } } } }"

    async def run() -> Any:
        result = await schema.execute(query, context_value=context)
        assert result.data is not None, result.errors
        return result.data["myMemberships"][0]["services"]

    assert await run() == [{"status": "PENDING", "service": {"name": "Ironing"}}]
    application.status = ProviderServiceStatus.ACCEPTED
    await application.save()
    assert await run() == [{"status": "ACCEPTED", "service": {"name": "Ironing"}}]


async def test_a_subscription_reads_the_answers_as_they_are_at_each_event():
    world = await make_world(providers=2, proposals_required=3)
    request_id = await world.request()
    talker = world.providers[0]
    subscription = """subscription { serviceRequestUpdated {
      serviceRequest { dispatches { providerId status } } } }"""
    context = Context(request=None, response=None, actor=world.staff, request_id="ws")  # type: ignore[arg-type]
    events = await schema.subscribe(subscription, context_value=context)
    seen: list[str] = []

    async def follow() -> None:
        async for result in events:
            assert result.data is not None, result.errors
            dispatches = result.data["serviceRequestUpdated"]["serviceRequest"]["dispatches"]
            mine = encode_id("Membership", talker.membership.id)
            seen.extend(d["status"] for d in dispatches if d["providerId"] == str(mine))

    task = asyncio.create_task(follow())
    try:
        await asyncio.sleep(0.2)
        for answer in (DispatchStatus.INTERESTED, DispatchStatus.DECLINED):
            await respond_to_service_request(
                talker.actor, request_id=request_id, answer=Answer(answer)
            )
            await wait_for(lambda n=len(seen): len(seen) > n)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert seen == ["INTERESTED", "DECLINED"]


PROPOSALS = """{ serviceRequests(first: 50) { nodes {
  proposal { providers { companyName services price } } } } }"""


async def _proposals(requests: int) -> tuple[int, Any]:
    world = await make_world(providers=2, proposals_required=1)
    extra = await make_service(world.marketplace, name="Windows")
    await offer(world.providers[0].membership, extra)
    for _ in range(requests):
        request_id = await world.request()
        await respond_to_service_request(
            world.providers[0].actor,
            request_id=request_id,
            answer=Answer(DispatchStatus.INTERESTED, price=Decimal("90.00")),
        )
    await jobs.drain()  # the notifications sent after each answer read the database too
    return await _count(PROPOSALS, world.client, {})


async def test_a_client_reads_many_proposals_with_each_providers_services_at_one_cost():
    few_count, few = await _proposals(2)
    many_count, many = await _proposals(8)
    nodes = many["serviceRequests"]["nodes"]
    assert len(nodes) == 8
    for node in nodes:
        [provider] = node["proposal"]["providers"]
        assert provider["services"] == ["Cleaning", "Windows"]
        assert provider["price"] == "90.00"
    assert len(few["serviceRequests"]["nodes"]) == 2
    assert many_count == few_count


async def test_batches_of_5_to_8_keys_send_one_statement_text_and_the_right_rows():
    marketplace = await make_marketplace()
    services = [await make_service(marketplace, name=f"Service {n}") for n in range(8)]
    texts = set()
    for size in (5, 6, 7, 8):
        wanted = services[:size]
        loader = ServiceByIdLoader(
            await actor_of(await make_staff(marketplace), marketplace), cache=False
        )
        with counting() as statements:
            found = await loader.load_many([s.id for s in wanted])
        assert [s.name for s in found] == [s.name for s in wanted]
        texts |= {statement.split(":")[0] for statement in statements}
    # One prepared statement per connection for the four batch sizes, not four.
    assert len(texts) == 1, texts


async def test_the_staff_clients_list_with_consent_costs_the_same_statements_at_10_and_100():
    from models.consent import ConsentChannel
    from resolvers.client import gdpr

    query = """query($first: Int) { clients(first: $first) {
      nodes { id fullName email hasLogin consent { channel granted } } } }"""
    counts = []
    for size in (10, 100):
        marketplace = await make_marketplace()
        staff = await actor_of(await make_staff(marketplace), marketplace)
        for _ in range(size):
            client = await make_client(marketplace, with_login=False)
            await gdpr.set_client_marketing_consent(
                staff, client_id=client.id, channel=ConsentChannel.EMAIL, granted=True,
                wording_version="v1", source="test",
            )  # fmt: skip
        count, data = await _count(query, staff, {"first": 100})
        assert len(data["clients"]["nodes"]) == size
        assert {n["consent"][0]["granted"] for n in data["clients"]["nodes"]} == {True}
        counts.append(count)
    assert counts[0] == counts[1]
    # the clients page, their consent: one statement each.
    assert counts[1] <= 2, "\n".join(_LAST)
