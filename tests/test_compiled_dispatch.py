"""Requests, dispatches, proposals and visits run compiled: a client's requests screen, staff's
requests list with its filters, a provider's Requests and Interventions, and ``node(id:)`` on
each type give the standard executor's exact JSON in one statement (besides authentication),
each reader seeing only what the rules of ``resolvers.dispatch.core`` and
``resolvers.intervention_listing`` let it see."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from models.dispatch import Dispatch, DispatchStatus
from presta import clock, jobs
from resolvers.dispatch.proposal import Answer, accept_proposal, respond_to_service_request
from resolvers.intervention import schedule_intervention
from schema.base import encode_id
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.dispatch import World, make_world
from tests.support.executors import both, post

CLIENT_REQUESTS = """
query ClientRequests($first: Int, $after: String) {
  serviceRequests(first: $first, after: $after) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node {
      id status postalCode city latitude longitude createdAt recurring service { name }
      rounds { number providersAsked startedAt }
      client { fullName }
      dispatches { id }
      proposal { sentAt trigger acceptedAt providers {
        providerId companyName services message price joinedAt late status } }
    } }
  }
}"""

STAFF_REQUESTS = """
query StaffRequests(
  $status: RequestStatus, $postalCode: String, $from: Date, $to: Date, $service: ID
) {
  serviceRequests(first: 10, status: $status, postalCode: $postalCode, createdFrom: $from,
                  createdTo: $to, serviceId: $service) {
    nodes { id status client { id fullName email }
      dispatches { id providerId round status message price answeredAt proposedAt
        answerHistory { fromStatus toStatus price round } }
      proposal { providers { companyName late status } } }
  }
}"""

PROVIDER_REQUESTS = """{
  serviceRequests(first: 20) { nodes { id status client { fullName }
    dispatches { status } myDispatch { status price } proposal { sentAt } } }
  interventions(first: 20) { nodes { id price startsAt serviceRequest { id status } } }
}"""

NODES = """
query Nodes($request: ID!, $dispatch: ID!, $visit: ID!) {
  request: node(id: $request) { __typename id ... on ServiceRequest { status
    rounds { number } dispatches { status } client { fullName } } }
  dispatch: node(id: $dispatch) { id ... on Dispatch { status price request { id status } } }
  visit: node(id: $visit) { id ... on Intervention { price companyName
    serviceRequest { id proposal { acceptedAt } } } }
}"""

VISITS = """
query Visits($status: InterventionStatus, $provider: ID, $from: Date, $before: Date) {
  interventions(first: 5, status: $status, providerId: $provider, startsFrom: $from,
                startsBefore: $before) {
    pageInfo { hasNextPage endCursor } nodes { id status startsAt price providerId clientId }
  }
}"""


async def _flow() -> tuple[World, list[int]]:
    """Three requests: one whose proposal the client accepted (its visit scheduled), one that
    the second provider declined and the first answered, one nobody answered."""
    world = await make_world(providers=2, proposals_required=1)
    extra = await make_service(world.marketplace, name="Windows")
    await offer(world.providers[0].membership, extra)
    first, second = world.providers
    for provider in world.providers:
        await give_zone(provider.membership, postal_codes=("75011", "75012"))
    accepted = await world.request(latitude=48.8566, longitude=2.3522)
    await respond_to_service_request(
        first.actor,
        request_id=accepted,
        answer=Answer(DispatchStatus.INTERESTED, "Je peux ✓", Decimal("90.50")),
    )
    await accept_proposal(world.client, request_id=accepted, membership_id=first.membership.id)
    start = clock.now().replace(microsecond=0) + timedelta(days=3)
    await schedule_intervention(
        world.staff,
        request_id=accepted,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal("90.50"),
    )
    answered = await world.request(postal_code="75012")
    await respond_to_service_request(
        second.actor, request_id=answered, answer=Answer(DispatchStatus.DECLINED)
    )
    await respond_to_service_request(
        first.actor, request_id=answered, answer=Answer(DispatchStatus.INTERESTED)
    )
    quiet = await world.request()
    await jobs.drain()  # the notifications of the flow read the database too
    return world, [accepted, answered, quiet]


async def test_a_client_reads_its_requests_and_proposals_compiled_page_by_page():
    world, ids = await _flow()
    body = await both(world.client, CLIENT_REQUESTS, {"first": 2})
    page = body["data"]["serviceRequests"]
    nodes = [e["node"] for e in page["edges"]]
    assert [n["id"] for n in nodes] == [str(encode_id("ServiceRequest", i)) for i in ids[:0:-1]]
    assert page["pageInfo"]["hasNextPage"] is True
    # A client sees the proposal, never the dispatches.
    assert all(n["dispatches"] == [] for n in nodes)
    assert nodes[1]["proposal"]["providers"][0]["status"] == "INTERESTED"
    rest = await both(
        world.client, CLIENT_REQUESTS, {"first": 2, "after": page["pageInfo"]["endCursor"]}
    )
    [accepted] = [e["node"] for e in rest["data"]["serviceRequests"]["edges"]]
    [chosen] = accepted["proposal"]["providers"]
    assert chosen["services"] == ["Cleaning", "Windows"]
    assert chosen["price"] == "90.50"
    assert accepted["latitude"] == 48.8566
    assert accepted["rounds"][0]["number"] == 1


async def test_staff_filter_the_requests_list_compiled():
    world, ids = await _flow()

    async def listed(**variables: str) -> Any:
        body = await both(world.staff, STAFF_REQUESTS, variables)
        return body["data"]["serviceRequests"]["nodes"]

    nodes = await listed()
    assert len(nodes) == 3
    assert {d["status"] for n in nodes for d in n["dispatches"]} >= {"DECLINED", "SELECTED"}
    assert len(await listed(postalCode=" 7501 ")) == 3
    paris12 = await listed(postalCode="75012")
    assert [n["id"] for n in paris12] == [str(encode_id("ServiceRequest", ids[1]))]
    assert len(await listed(status="ACCEPTED")) == 1
    today = clock.now().date()
    assert len(await listed(**{"from": str(today), "to": str(today)})) == 3
    assert await listed(**{"from": str(today + timedelta(days=1))}) == []
    assert len(await listed(service=str(encode_id("Service", world.service.id)))) == 3


async def test_a_provider_reads_what_was_sent_to_it_and_its_visits_compiled():
    world, ids = await _flow()
    first, second = world.providers
    mine = await both(first.actor, PROVIDER_REQUESTS)
    requests = mine["data"]["serviceRequests"]["nodes"]
    assert len(requests) == 3
    # The chosen provider sees the client; others' dispatches and the proposal stay hidden.
    shown = {n["id"]: n["client"] for n in requests}
    assert shown[str(encode_id("ServiceRequest", ids[0]))] is not None
    assert shown[str(encode_id("ServiceRequest", ids[1]))] is None
    assert all(len(n["dispatches"]) == 1 and n["proposal"] is None for n in requests)
    [visit] = mine["data"]["interventions"]["nodes"]
    assert visit["serviceRequest"]["status"] == "ACCEPTED"
    other = await both(second.actor, PROVIDER_REQUESTS)
    assert other["data"]["interventions"]["nodes"] == []


async def test_nodes_of_requests_dispatches_and_visits_compile_for_whoever_may_see_them():
    world, ids = await _flow()
    first, second = world.providers
    dispatch = await Dispatch.get(request_id=ids[0], membership_id=first.membership.id)
    visits = (await both(world.staff, VISITS, {}))["data"]["interventions"]["nodes"]
    variables = {
        "request": str(encode_id("ServiceRequest", ids[0])),
        "dispatch": str(encode_id("Dispatch", dispatch.id)),
        "visit": visits[0]["id"],
    }
    staff = (await both(world.staff, NODES, variables))["data"]
    assert staff["request"]["client"] is not None
    assert staff["dispatch"]["request"]["status"] == "ACCEPTED"
    assert staff["visit"]["serviceRequest"]["proposal"]["acceptedAt"]
    chosen = (await both(first.actor, NODES, variables))["data"]
    assert chosen["dispatch"]["price"] == "90.50"
    assert chosen["visit"]["serviceRequest"]["proposal"] is None
    # A client may not ask for a Dispatch at all (the policy): that id is left to the
    # standard executor, which answers null.
    client = await post(world.client, NODES, variables)
    assert client["extensions"] == {"executor": "standard"}
    assert client["data"]["dispatch"] is None
    assert client["data"]["visit"]["price"] == "90.50"
    mine = {**variables, "dispatch": variables["visit"]}
    own = (await both(world.client, NODES, mine))["data"]
    assert own["request"]["dispatches"] == []
    assert own["dispatch"] == {"id": variables["visit"]}
    # The other provider was asked too: it sees the request, not the dispatch nor the visit.
    other = (await both(second.actor, NODES, variables))["data"]
    assert other["request"]["client"] is None
    assert other["dispatch"] is None
    assert other["visit"] is None


async def test_the_visits_list_filters_compile_and_a_foreign_id_runs_standard():
    world, _ids = await _flow()
    first = world.providers[0]
    provider = str(encode_id("Membership", first.membership.id))
    today = clock.now().date()
    found = await both(world.staff, VISITS, {"provider": provider, "status": "SCHEDULED"})
    assert len(found["data"]["interventions"]["nodes"]) == 1
    later = {"from": str(today + timedelta(days=4)), "before": str(today + timedelta(days=9))}
    assert (await both(world.staff, VISITS, later))["data"]["interventions"]["nodes"] == []
    # An id of another type: the use case's NOT_FOUND, from the standard executor.
    wrong = await post(world.staff, VISITS, {"provider": str(encode_id("Service", 1))})
    assert wrong["extensions"] == {"executor": "standard"}
    assert wrong["errors"][0]["extensions"]["code"] == "NOT_FOUND"
