"""The membership lifecycle: every state x every action, its guards, audit and live events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from models.intervention import InterventionStatus
from models.membership import Membership, MembershipAudit, MembershipStatus
from presta import clock, jobs
from resolvers import lifecycle as use_cases
from resolvers.application import refuse_application
from resolvers.errors import UserError
from resolvers.membership import MembershipErrorCode
from schema.base import encode_id
from schema.context import Context
from schema.http.live import encode_event_cursor
from schema.root import schema
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.membership import make_membership, make_provider_user
from tests.factories.messaging import make_intervention
from tests.support.graphql import execute, ok

S = MembershipStatus

# The action, who performs it, and the transitions it allows (from -> to).
ACTIONS: dict[str, tuple[str, dict[MembershipStatus, MembershipStatus]]] = {
    "submitApplication": ("provider", {S.INVITED: S.APPLIED}),
    "acceptApplication": ("staff", {S.APPLIED: S.ACCEPTED}),
    "refuseApplication": ("staff", {S.APPLIED: S.REFUSED}),
    "suspendProvider": ("staff", {S.ACCEPTED: S.SUSPENDED}),
    "reinstateProvider": ("staff", {S.SUSPENDED: S.ACCEPTED}),
    "deactivateProvider": ("staff", {S.ACCEPTED: S.DEACTIVATED, S.SUSPENDED: S.DEACTIVATED}),
    "reactivateProvider": ("staff", {S.DEACTIVATED: S.ACCEPTED}),
    "deleteProviderRelationship": ("staff", {s: S.DELETED for s in S if s is not S.DELETED}),
}


def mutation(name: str) -> str:
    return f"""
mutation($input: {name[0].upper()}{name[1:]}Input!) {{
  {name}(input: $input) {{
    userErrors {{ field code message }}
    membership {{ id status }}
  }}
}}"""


def input_for(name: str, membership: Membership) -> dict[str, str]:
    data = {"membershipId": str(encode_id("Membership", membership.id))}
    if name != "submitApplication":
        data["reason"] = "Because." if name == "refuseApplication" else ""
    return data


@pytest.mark.parametrize("start", list(S), ids=lambda s: s.value)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_every_action_in_every_state_is_allowed_or_refused_naming_the_state(start, action):
    marketplace = await make_marketplace()
    staff = await make_staff(marketplace)
    membership = await make_membership(marketplace, start)
    provider = await make_provider_user(membership)
    who, allowed = ACTIONS[action]
    actor = await actor_of(staff if who == "staff" else provider, marketplace)

    result = await execute(mutation(action), {"input": input_for(action, membership)}, actor=actor)

    await membership.refresh_from_db()
    audits = await MembershipAudit.filter(membership_id=membership.id).count()
    if start in allowed:
        assert not result.errors, result.errors
        assert result.data[action]["userErrors"] == []
        assert result.data[action]["membership"]["status"] == allowed[start].value
        assert membership.status is allowed[start]
        assert audits == 1
        return
    assert membership.status is start
    assert audits == 0
    if who == "provider" and start is S.DELETED:
        # A deleted relationship grants its users nothing in the marketplace any more.
        assert result.codes == ["FORBIDDEN"]
        return
    [error] = result.data[action]["userErrors"]
    assert error["code"] == "ILLEGAL_TRANSITION"
    assert start.value in error["message"]
    assert result.data[action]["membership"] is None


async def test_deactivation_is_refused_while_an_intervention_is_upcoming_and_names_it():
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)
    client = await make_client(marketplace)
    upcoming = await make_intervention(membership, client)

    for use_case in (use_cases.deactivate_provider, use_cases.delete_provider_relationship):
        with pytest.raises(UserError) as refused:
            await use_case(staff, membership_id=membership.id)
        assert refused.value.code is MembershipErrorCode.INTERVENTIONS_PENDING
        assert f"intervention {upcoming.id}" in refused.value.message
        assert client.full_name in refused.value.message
    await membership.refresh_from_db()
    assert membership.status is S.ACCEPTED
    assert not await MembershipAudit.filter(membership_id=membership.id).exists()


async def test_an_intervention_in_progress_also_blocks_and_a_finished_one_does_not():
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)
    intervention = await make_intervention(membership, await make_client(marketplace))
    intervention.status = InterventionStatus.IN_PROGRESS
    await intervention.save()
    with pytest.raises(UserError):
        await use_cases.deactivate_provider(staff, membership_id=membership.id)

    intervention.status = InterventionStatus.DONE
    await intervention.save()
    done = await use_cases.deactivate_provider(staff, membership_id=membership.id)
    assert done.status is S.DEACTIVATED


async def test_every_transition_is_audited_and_readable_by_staff_only():
    marketplace = await make_marketplace()
    staff_user = await make_staff(marketplace)
    staff = await actor_of(staff_user, marketplace)
    membership = await make_membership(marketplace)
    provider = await actor_of(await make_provider_user(membership), marketplace)

    await use_cases.suspend_provider(staff, membership_id=membership.id, reason="Late twice.")
    clock.advance(timedelta(minutes=5))
    await use_cases.reinstate_provider(staff, membership_id=membership.id)

    query = """query($id: ID!) { node(id: $id) { ... on Membership {
      status auditEntries { fromStatus toStatus reason actorName at } } } }"""
    gid = str(encode_id("Membership", membership.id))
    entries = (await ok(query, {"id": gid}, actor=staff))["node"]["auditEntries"]
    assert [(e["fromStatus"], e["toStatus"], e["reason"]) for e in entries] == [
        ("ACCEPTED", "SUSPENDED", "Late twice."),
        ("SUSPENDED", "ACCEPTED", ""),
    ]
    assert entries[0]["actorName"] == staff_user.full_name
    assert entries[0]["at"] < entries[1]["at"]
    mine = (await ok(query, {"id": gid}, actor=provider))["node"]
    assert mine["status"] == "ACCEPTED"
    assert mine["auditEntries"] is None


async def test_a_refusal_needs_a_reason_and_the_provider_receives_it_by_e_mail(mailbox):
    marketplace = await make_marketplace(name="Ménage Plus")
    staff = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace, S.APPLIED)
    provider_user = await make_provider_user(membership)

    with pytest.raises(UserError) as missing:
        await refuse_application(staff, membership_id=membership.id, reason="  ")
    assert missing.value.code is MembershipErrorCode.REASON_REQUIRED
    await refuse_application(staff, membership_id=membership.id, reason="No insurance in 2025.")
    await jobs.drain()

    [message] = mailbox.to(provider_user.email)
    assert message["Subject"] == "Ménage Plus : Votre candidature a été refusée"
    assert "Motif donné par Ménage Plus :\nNo insurance in 2025." in mailbox.body(message)


async def test_each_user_of_the_provider_reads_the_decision_in_their_own_language(mailbox):
    marketplace = await make_marketplace(name="Ménage Plus")
    staff = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace, S.APPLIED)
    french = await make_provider_user(membership)
    english = await make_provider_user(membership, locale="en")

    await refuse_application(staff, membership_id=membership.id, reason="No insurance.")
    await jobs.drain()

    [in_french] = mailbox.to(french.email)
    [in_english] = mailbox.to(english.email)
    assert in_french["Subject"] == "Ménage Plus : Votre candidature a été refusée"
    assert in_english["Subject"] == "Ménage Plus: Your application was refused"
    assert "Reason given by Ménage Plus:\nNo insurance." in mailbox.body(in_english)
    html = in_english.get_body(("html",)).get_content()
    assert '<html lang="en">' in html
    assert "Your application was refused." in html


async def test_two_staff_suspending_at_once_make_one_transition_and_one_typed_refusal():
    marketplace = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    other = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)

    results = await asyncio.gather(
        use_cases.suspend_provider(staff, membership_id=membership.id),
        use_cases.suspend_provider(other, membership_id=membership.id),
        return_exceptions=True,
    )

    refused = [r for r in results if isinstance(r, UserError)]
    assert len(refused) == 1
    assert refused[0].code is MembershipErrorCode.ILLEGAL_TRANSITION
    assert "SUSPENDED" in refused[0].message
    assert await MembershipAudit.filter(membership_id=membership.id).count() == 1


async def test_staff_of_another_marketplace_cannot_change_a_provider_it_does_not_have():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    intruder = await actor_of(await make_staff(elsewhere), elsewhere)
    membership = await make_membership(marketplace)

    result = await ok(
        mutation("suspendProvider"),
        {"input": input_for("suspendProvider", membership)},
        actor=intruder,
    )

    assert result["suspendProvider"]["userErrors"][0]["code"] == "NOT_FOUND"
    await membership.refresh_from_db()
    assert membership.status is S.ACCEPTED


MEMBERSHIP_UPDATED = """
subscription($after: String) {
  membershipUpdated(after: $after) { cursor membership { id status } }
}"""


async def _subscribe(actor, after: int | None = 0):
    context = Context(request=None, response=None, actor=actor, request_id="test")  # type: ignore[arg-type]
    cursor = encode_event_cursor(after) if after is not None else None
    return await schema.subscribe(
        MEMBERSHIP_UPDATED, variable_values={"after": cursor}, context_value=context
    )


async def _next(stream, within: float = 5.0):
    result = await asyncio.wait_for(stream.__anext__(), within)
    assert not result.errors, result.errors
    return result.data["membershipUpdated"]


async def test_transitions_are_pushed_live_to_staff_and_to_the_provider_only():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    staff = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)
    other = await make_membership(marketplace)
    provider = await actor_of(await make_provider_user(membership), marketplace)
    stranger = await actor_of(await make_staff(elsewhere), elsewhere)
    gid = str(encode_id("Membership", membership.id))

    staff_stream = await _subscribe(staff, after=None)
    provider_stream = await _subscribe(provider, after=None)
    first = asyncio.ensure_future(_next(staff_stream))
    mine = asyncio.ensure_future(_next(provider_stream))
    await asyncio.sleep(0.1)
    await use_cases.suspend_provider(staff, membership_id=other.id)
    await use_cases.suspend_provider(staff, membership_id=membership.id, reason="Check.")

    seen_by_staff = await first
    assert seen_by_staff["membership"]["id"] == str(encode_id("Membership", other.id))
    assert (await _next(staff_stream))["membership"] == {"id": gid, "status": "SUSPENDED"}
    # The provider never hears about the other provider's file.
    assert (await mine)["membership"] == {"id": gid, "status": "SUSPENDED"}
    await staff_stream.aclose()
    await provider_stream.aclose()

    # Replaying from the start: staff of another marketplace get nothing of these events.
    replay = await _subscribe(stranger, after=0)
    with pytest.raises(asyncio.TimeoutError):
        await _next(replay, within=0.3)
    await replay.aclose()
