"""The mutations of the mixed load (``bench load``) cost a fixed number of statements, and each
holds the event order lock for its last statement only.

Every transaction that records an event waits for the one before it to commit (event ids
become visible in id order, ``resolvers.events``): whatever a use case does after taking that
lock delays every other writer of events. Under load each statement is a round trip that waits
for a busy machine's scheduler, so these counts are what a delivery waits for.
"""

from __future__ import annotations

from typing import Any

from models.dispatch import Dispatch
from models.events import Event
from models.messaging import Participant
from presta import jobs
from resolvers.actor import Actor
from schema.base import encode_id
from tests.factories.account import actor_of
from tests.factories.dispatch import make_world
from tests.factories.messaging import make_cast, make_conversation
from tests.support.counting import counting
from tests.support.graphql import ok

CREATE = """mutation($input: CreateServiceRequestInput!) { createServiceRequest(input: $input) {
  userErrors { code message } serviceRequest { id } } }"""
ANSWER = """mutation($input: RespondToServiceRequestInput!) { respondToServiceRequest(
  input: $input) { userErrors { code message } dispatch { status } } }"""
SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  userErrors { code message } message { id } } }"""
LOCK = "pg_advisory_xact_lock"


async def _run(query: str, variables: dict[str, Any], actor: Actor) -> tuple[list[str], Any]:
    with counting() as statements:
        data = await ok(query, variables, actor=actor)
    await jobs.drain()
    return list(statements), data


def _after_lock(statements: list[str]) -> list[str]:
    """The statements from the one taking the event order lock to the end of the mutation."""
    [at] = [n for n, s in enumerate(statements) if LOCK in s]
    return statements[at:]


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().startswith("SELECT")]


async def test_a_request_sent_to_20_providers_costs_14_statements_and_two_under_the_lock():
    world = await make_world(providers=20, proposals_required=1000)
    service = str(encode_id("Service", world.service.id))
    variables = {"input": {"serviceId": service, "postalCode": "75011", "city": "Paris"}}

    runs = [await _run(CREATE, variables, world.client) for _ in range(3)]
    statements, data = runs[-1]
    assert len({len(run[0]) for run in runs}) == 1, "the count moves from one request to the next"

    created = data["createServiceRequest"]
    assert created["userErrors"] == []
    # client, service with its marketplace, insert, matching, dispatches, round, request
    # update, the round's job and its outbox row, the two events (the first with the lock and
    # the webhook check), then the commit; the outbox row cleared; the payload's request and
    # service (the read path).
    assert len(statements) <= 14, "\n".join(s[:160] for s in statements)
    locked = _after_lock(statements)
    assert all("INSERT INTO" in s for s in locked[:2]), locked
    # Then the commit; after it, the outbox row is cleared once the job is queued.
    assert all("job_outbox" in s for s in _writes(locked[2:])), locked
    events = await Event.all().order_by("id")
    assert [e.topic for e in events[:2]] == [
        "service_request.dispatched",
        "service_request.updated",
    ]
    members = {f"membership:{p.membership.id}" for p in world.providers}
    assert set(events[0].audience) == members
    assert set(events[1].audience) - members == {
        f"staff:{world.marketplace.id}",
        f"client:{world.client_id}",
    }
    assert await Dispatch.all().count() == 3 * 20


async def test_an_answer_costs_11_statements_and_holds_the_lock_for_its_last_one():
    world = await make_world(providers=3, proposals_required=1000)
    request_id = await world.request()
    gid = str(encode_id("ServiceRequest", request_id))
    variables = {"input": {"requestId": gid, "answer": "INTERESTED", "message": "Tuesday"}}

    statements, data = await _run(ANSWER, variables, world.providers[0].actor)

    assert data["respondToServiceRequest"] == {
        "userErrors": [],
        "dispatch": {"status": "INTERESTED"},
    }
    assert len(statements) <= 11, "\n".join(s[:160] for s in statements)
    assert len(_after_lock(statements)) == 1
    answered = await Event.filter(topic="service_request.updated").order_by("-id").first()
    assert answered is not None
    assert answered.payload["change"] == "answered"
    # Every provider asked hears of it, as when the audience was read on its own.
    assert {f"membership:{p.membership.id}" for p in world.providers} <= set(answered.audience)


async def test_a_message_costs_6_statements_and_moves_the_senders_read_position():
    cast = await make_cast()
    conversation = await make_conversation(cast.membership)
    actor = await actor_of(cast.provider, cast.marketplace)
    gid = str(encode_id("Conversation", conversation.id))

    first, _ = await _run(SEND, {"input": {"conversationId": gid, "text": "first"}}, actor)
    second, data = await _run(SEND, {"input": {"conversationId": gid, "text": "second"}}, actor)

    assert len(first) <= 6, "\n".join(s[:160] for s in first)
    assert len(second) <= 6, "\n".join(s[:160] for s in second)
    assert len(_after_lock(second)) == 1
    [reader] = await Participant.filter(conversation_id=conversation.id)
    assert reader.user_id == cast.provider.id
    assert (
        str(encode_id("Message", reader.last_read_message_id))
        == data["sendMessage"]["message"]["id"]
    )
