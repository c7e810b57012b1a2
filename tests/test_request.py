"""Requests through GraphQL: creation and its typed errors, lists per role, manual assignment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from strawberry import relay

from models.dispatch import Dispatch, RequestStatus, ServiceRequest
from models.membership import Membership, MembershipStatus
from presta import clock
from resolvers.actor import Actor
from tests.factories.catalog import give_zone
from tests.factories.dispatch import World, make_world
from tests.factories.membership import make_membership
from tests.support.graphql import execute, ok

CREATE = """
mutation($input: CreateServiceRequestInput!) {
  createServiceRequest(input: $input) {
    userErrors { field code message }
    serviceRequest { id status round service { name } recurring frequency
                     rounds { number providersAsked } }
  }
}"""

LIST = """
query($status: RequestStatus, $postalCode: String) {
  serviceRequests(first: 50, status: $status, postalCode: $postalCode) {
    nodes { id status myDispatch { status } proposal { providers { companyName } } }
  }
}"""

RESPOND = """
mutation($input: RespondToServiceRequestInput!) {
  respondToServiceRequest(input: $input) {
    userErrors { field code }
    serviceRequest { status }
    dispatch { status price message }
  }
}"""


def gid(kind: str, pk: int) -> str:
    return str(relay.GlobalID(kind, str(pk)))


def _input(world: World, **kw: Any) -> dict[str, Any]:
    return {
        "serviceId": gid("Service", world.service.id),
        "postalCode": "75011",
        "city": "Paris",
        "description": "Ironing",
        **kw,
    }


async def test_a_client_creates_a_request_that_is_dispatched_at_once():
    world = await make_world(providers=2)
    data = await ok(CREATE, {"input": _input(world, frequency="WEEKLY")}, actor=world.client)
    payload = data["createServiceRequest"]
    assert payload["userErrors"] == []
    request = payload["serviceRequest"]
    assert request["status"] == "OPEN"
    assert request["recurring"] is True
    assert request["service"] == {"name": "Cleaning"}
    assert request["rounds"] == [{"number": 1, "providersAsked": 2}]


async def test_invalid_requests_report_every_field_and_create_nothing():
    world = await make_world(providers=1)
    bad = _input(
        world,
        postalCode="7501",
        latitude=95.0,
        longitude=2.0,
        wishedStart=(clock.now() - timedelta(days=1)).isoformat(),
        durationMinutes=5,
    )
    data = await ok(CREATE, {"input": bad}, actor=world.client)
    errors = {(e["field"], e["code"]) for e in data["createServiceRequest"]["userErrors"]}
    assert errors == {
        ("postalCode", "INVALID_POSTAL_CODE"),
        ("latitude", "INVALID_COORDINATES"),
        ("wishedStart", "WISHED_START_IN_PAST"),
        ("durationMinutes", "INVALID"),
    }
    assert await ServiceRequest.all().count() == 0


async def test_a_service_of_another_marketplace_is_not_found():
    world = await make_world(providers=1)
    other = await make_world(providers=0)
    data = await ok(
        CREATE,
        {"input": _input(world, serviceId=gid("Service", other.service.id))},
        actor=world.client,
    )
    assert data["createServiceRequest"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_staff_create_for_a_client_and_must_name_it():
    world = await make_world(providers=1)
    missing = await ok(CREATE, {"input": _input(world)}, actor=world.staff)
    assert missing["createServiceRequest"]["userErrors"][0]["field"] == "clientId"
    data = await ok(
        CREATE,
        {"input": _input(world, clientId=gid("Client", world.client_id))},
        actor=world.staff,
    )
    assert data["createServiceRequest"]["serviceRequest"]["status"] == "OPEN"


async def test_a_provider_may_not_create_a_request():
    world = await make_world(providers=1)
    result = await execute(CREATE, {"input": _input(world)}, actor=world.providers[0].actor)
    assert result.codes == ["FORBIDDEN"]


async def test_each_viewer_lists_only_what_it_may_see():
    world = await make_world(providers=2)
    far = await world.add_provider(postal_code="69001")
    first = await world.request()
    second = await world.request(postal_code="75011", description="Windows")
    await ok(
        "mutation($id: ID!) { cancelServiceRequest(input: {requestId: $id}) {"
        " userErrors { code } } }",
        {"id": gid("ServiceRequest", second)},
        actor=world.client,
    )
    other = await make_world(providers=1)
    await other.request()

    async def ids(actor: Actor, **variables: Any) -> set[str]:
        data = await ok(LIST, variables, actor=actor)
        return {n["id"] for n in data["serviceRequests"]["nodes"]}

    both = {gid("ServiceRequest", first), gid("ServiceRequest", second)}
    assert await ids(world.staff) == both
    assert await ids(world.staff, status="CANCELLED") == {gid("ServiceRequest", second)}
    assert await ids(world.staff, postalCode="69") == set()
    # The provider's Requests tab keeps the cancelled request.
    assert await ids(world.providers[0].actor) == both
    assert await ids(far.actor) == set()
    assert await ids(world.client) == both
    assert await ids(other.staff) == {
        gid("ServiceRequest", r.id)
        for r in await ServiceRequest.filter(marketplace=other.marketplace)
    }
    hidden = await ok(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": gid("ServiceRequest", first)},
        actor=other.staff,
    )
    assert hidden == {"node": None}


async def test_providers_answer_and_the_client_sees_the_proposal_but_providers_do_not():
    world = await make_world(providers=2, proposals_required=1)
    request_id = await world.request()
    data = await ok(
        RESPOND,
        {
            "input": {
                "requestId": gid("ServiceRequest", request_id),
                "answer": "INTERESTED",
                "price": "120.50",
                "message": "Tuesday works",
            }
        },
        actor=world.providers[0].actor,
    )
    payload = data["respondToServiceRequest"]
    assert payload["userErrors"] == []
    assert payload["serviceRequest"]["status"] == "PROPOSAL_SENT"
    assert payload["dispatch"] == {
        "status": "INTERESTED",
        "price": "120.50",
        "message": "Tuesday works",
    }

    client_view = (await ok(LIST, {}, actor=world.client))["serviceRequests"]["nodes"][0]
    assert client_view["proposal"]["providers"] == [
        {"companyName": world.providers[0].membership.company.name}
    ]
    provider_view = (await ok(LIST, {}, actor=world.providers[1].actor))["serviceRequests"][
        "nodes"
    ][0]
    assert provider_view["proposal"] is None
    assert provider_view["myDispatch"] == {"status": "PENDING"}


ASSIGN = """
mutation($input: AssignServiceRequestInput!) {
  assignServiceRequest(input: $input) {
    userErrors { field code message }
    warnings { providerId message }
    serviceRequest { status round }
  }
}"""


async def test_with_dispatch_off_staff_assign_by_hand_and_see_matching_warnings():
    world = await make_world(providers=1, dispatch_enabled=False)
    outside = await world.add_provider(postal_code="69001")
    request_id = await world.request()
    assert await Dispatch.filter(request_id=request_id).count() == 0
    assert (await ServiceRequest.get(id=request_id)).round == 0

    data = await ok(
        ASSIGN,
        {
            "input": {
                "requestId": gid("ServiceRequest", request_id),
                "providerIds": [
                    gid("Membership", world.providers[0].membership.id),
                    gid("Membership", outside.membership.id),
                ],
            }
        },
        actor=world.staff,
    )
    payload = data["assignServiceRequest"]
    assert payload["userErrors"] == []
    assert payload["serviceRequest"] == {"status": "OPEN", "round": 1}
    assert [w["providerId"] for w in payload["warnings"]] == [
        gid("Membership", outside.membership.id)
    ]
    assert await Dispatch.filter(request_id=request_id).count() == 2


async def test_only_accepted_providers_of_the_marketplace_can_be_assigned():
    world = await make_world(providers=0)
    request_id = await world.request()
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.UNMATCHED
    suspended = await make_membership(world.marketplace, status=MembershipStatus.SUSPENDED)
    foreign = await make_membership((await make_world(providers=0)).marketplace)

    async def assign(membership: Membership) -> list[dict[str, Any]]:
        data = await ok(
            ASSIGN,
            {
                "input": {
                    "requestId": gid("ServiceRequest", request_id),
                    "providerIds": [gid("Membership", membership.id)],
                }
            },
            actor=world.staff,
        )
        errors: list[dict[str, Any]] = data["assignServiceRequest"]["userErrors"]
        return errors

    assert [e["code"] for e in await assign(suspended)] == ["PROVIDER_UNAVAILABLE"]
    assert [e["code"] for e in await assign(foreign)] == ["NOT_FOUND"]
    accepted = await make_membership(world.marketplace)
    assert await assign(accepted) == []
    # Assigning by hand reopens a request nobody matched.
    assert (await ServiceRequest.get(id=request_id)).status is RequestStatus.OPEN


async def test_a_request_with_only_a_postal_code_reaches_the_circle_zones_around_its_centroid():
    world = await make_world(providers=0)
    near = await world.add_provider(postal_code="13001")
    far = await world.add_provider(postal_code="13001")
    # 75011's centroid (48.8574, 2.3795) is 2.0 km from this centre: inside 2.5 km, not 1.5 km.
    await give_zone(near.membership, circles=((48.8566, 2.3522, 2.5),))
    await give_zone(far.membership, circles=((48.8566, 2.3522, 1.5),))

    data = await ok(CREATE, {"input": _input(world)}, actor=world.client)
    request = data["createServiceRequest"]["serviceRequest"]
    assert request["rounds"] == [{"number": 1, "providersAsked": 1}]
    asked = await Dispatch.filter(request_id=int(relay.GlobalID.from_id(request["id"]).node_id))
    assert [d.membership_id for d in asked] == [near.membership.id]
