from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from strawberry import relay

from models.consent import ConsentChannel, ConsentRecord
from models.membership import Membership, MembershipStatus
from presta import clock
from resolvers import consent
from resolvers.actor import Actor
from tests.factories.account import actor_of, make_client
from tests.factories.membership import make_membership
from tests.factories.messaging import make_cast, other_provider_of
from tests.support.graphql import execute, ok

SET = """
mutation($input: SetMarketingConsentInput!) {
  setMarketingConsent(input: $input) {
    userErrors { field code message }
    record { channel granted wordingVersion source recordedBy }
    consent { channel granted wordingVersion }
  }
}"""
HISTORY = """
query($id: ID!, $first: Int, $after: String, $channel: ConsentChannel) {
  consentHistory(membershipId: $id, first: $first, after: $after, channel: $channel) {
    nodes { channel granted wordingVersion source recordedBy createdAt }
    pageInfo { hasNextPage endCursor }
  }
}"""
CONSENTED = """
query($channel: ConsentChannel!) {
  consentedMemberships(channel: $channel, first: 100) { nodes { id } }
}"""


def gid(type_name: str, pk: int) -> str:
    return str(relay.GlobalID(type_name, str(pk)))


def consent_input(membership_id: int, channel: str, granted: bool, **kw: str) -> dict[str, Any]:
    return {
        "input": {
            "membershipId": gid("Membership", membership_id),
            "channel": channel,
            "granted": granted,
            "wordingVersion": kw.get("wording", "2026-01"),
            "source": kw.get("source", "mobile-settings"),
        }
    }


async def test_a_provider_grants_and_withdraws_and_the_history_keeps_every_change():
    cast = await make_cast()
    provider, staff = await cast.provider_actor(), await cast.staff_actor()
    granted = await ok(SET, consent_input(cast.membership.id, "EMAIL", True), actor=provider)
    assert granted["setMarketingConsent"]["userErrors"] == []
    assert granted["setMarketingConsent"]["record"] == {
        "channel": "EMAIL",
        "granted": True,
        "wordingVersion": "2026-01",
        "source": "mobile-settings",
        "recordedBy": cast.provider.email,
    }
    clock.advance(timedelta(days=3))
    await ok(SET, consent_input(cast.membership.id, "SMS", True, wording="2026-02"), actor=provider)
    clock.advance(timedelta(days=3))
    withdrawn = await ok(
        SET,
        consent_input(cast.membership.id, "EMAIL", False, source="phone-call", wording="2026-02"),
        actor=staff,
    )
    assert sorted(
        (c["channel"], c["granted"]) for c in withdrawn["setMarketingConsent"]["consent"]
    ) == [("EMAIL", False), ("SMS", True)]

    for viewer in (provider, staff):
        history = await ok(HISTORY, {"id": gid("Membership", cast.membership.id)}, actor=viewer)
        rows = history["consentHistory"]["nodes"]
        assert [(r["channel"], r["granted"], r["recordedBy"]) for r in rows] == [
            ("EMAIL", False, cast.staff.email),
            ("SMS", True, cast.provider.email),
            ("EMAIL", True, cast.provider.email),
        ]
        assert rows[0]["createdAt"] > rows[1]["createdAt"] > rows[2]["createdAt"]
    only_email = await ok(
        HISTORY, {"id": gid("Membership", cast.membership.id), "channel": "EMAIL"}, actor=staff
    )
    assert [r["granted"] for r in only_email["consentHistory"]["nodes"]] == [False, True]


async def test_history_pages_by_cursor():
    cast = await make_cast()
    provider = await cast.provider_actor()
    for i in range(5):
        await consent.set_marketing_consent(
            provider,
            membership_id=cast.membership.id,
            channel=ConsentChannel.PHONE,
            granted=i % 2 == 0,
            wording_version=f"v{i}",
            source="app",
        )
    mid = gid("Membership", cast.membership.id)
    page1 = (await ok(HISTORY, {"id": mid, "first": 2}, actor=provider))["consentHistory"]
    page2 = (
        await ok(
            HISTORY,
            {"id": mid, "first": 3, "after": page1["pageInfo"]["endCursor"]},
            actor=provider,
        )
    )["consentHistory"]
    versions = [r["wordingVersion"] for r in page1["nodes"] + page2["nodes"]]
    assert versions == ["v4", "v3", "v2", "v1", "v0"]
    assert page2["pageInfo"]["hasNextPage"] is False


async def test_who_has_consented_now_is_one_query_over_the_latest_decision(caplog):
    cast = await make_cast()
    staff = await cast.staff_actor()
    yes, later_no, no_then_yes, sms_only, deleted = [
        await make_membership(cast.marketplace) for _ in range(5)
    ]
    other_cast = await make_cast()

    async def record(
        actor: Actor, membership: Membership, channel: ConsentChannel, granted: bool
    ) -> None:
        await consent.set_marketing_consent(
            actor,
            membership_id=membership.id,
            channel=channel,
            granted=granted,
            wording_version="v1",
            source="import",
        )

    await record(staff, yes, ConsentChannel.EMAIL, True)
    await record(staff, later_no, ConsentChannel.EMAIL, True)
    await record(staff, later_no, ConsentChannel.EMAIL, False)
    await record(staff, no_then_yes, ConsentChannel.EMAIL, False)
    await record(staff, no_then_yes, ConsentChannel.EMAIL, True)
    await record(staff, sms_only, ConsentChannel.SMS, True)
    await record(staff, deleted, ConsentChannel.EMAIL, True)
    # A deleted relationship is no licence to send, whatever it consented to before.
    await Membership.filter(id=deleted.id).update(status=MembershipStatus.DELETED)
    # Another marketplace's consenting provider is not ours to write to.
    await record(await other_cast.staff_actor(), other_cast.membership, ConsentChannel.EMAIL, True)

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise"):
        rows = await consent.consented_memberships_query(cast.marketplace.id, ConsentChannel.EMAIL)
    selects = [r for r in caplog.records if "SELECT" in r.getMessage().upper()]
    assert len(selects) == 1
    assert sorted(m.id for m in rows) == sorted([yes.id, no_then_yes.id])

    data = await ok(CONSENTED, {"channel": "EMAIL"}, actor=staff)
    assert sorted(n["id"] for n in data["consentedMemberships"]["nodes"]) == sorted(
        gid("Membership", m.id) for m in (yes, no_then_yes)
    )
    sms = await ok(CONSENTED, {"channel": "SMS"}, actor=staff)
    assert [n["id"] for n in sms["consentedMemberships"]["nodes"]] == [
        gid("Membership", sms_only.id)
    ]
    provider = await cast.provider_actor()
    assert (await execute(CONSENTED, {"channel": "EMAIL"}, actor=provider)).codes == ["FORBIDDEN"]


async def test_concurrent_changes_leave_the_state_equal_to_the_last_record():
    cast = await make_cast()
    provider = await cast.provider_actor()

    async def flip(granted: bool) -> None:
        await consent.set_marketing_consent(
            provider,
            membership_id=cast.membership.id,
            channel=ConsentChannel.EMAIL,
            granted=granted,
            wording_version="v1",
            source="app",
        )

    await asyncio.gather(*(flip(i % 2 == 0) for i in range(20)))
    last = await ConsentRecord.filter(membership_id=cast.membership.id).order_by("-id").first()
    states = await consent.current_consent(provider, membership_id=cast.membership.id)
    assert len(states) == 1
    assert last is not None
    assert states[0].granted == last.granted
    assert states[0].record_id == last.id
    assert await ConsentRecord.filter(membership_id=cast.membership.id).count() == 20


async def test_consent_of_a_membership_is_invisible_and_untouchable_to_others():
    cast = await make_cast()
    await consent.set_marketing_consent(
        await cast.provider_actor(),
        membership_id=cast.membership.id,
        channel=ConsentChannel.EMAIL,
        granted=True,
        wording_version="v1",
        source="app",
    )
    _, other_user = await other_provider_of(cast.marketplace)
    client = await make_client(cast.marketplace)
    await client.fetch_related("user")
    assert client.user is not None
    other_cast = await make_cast()
    outsiders = [
        await actor_of(other_user, cast.marketplace),
        await other_cast.staff_actor(),
        await other_cast.provider_actor(),
    ]
    mid = gid("Membership", cast.membership.id)
    # A client never has a consent tab: the policy refuses the role before any lookup.
    a_client = await actor_of(client.user, cast.marketplace)
    assert (await execute(HISTORY, {"id": mid}, actor=a_client)).codes == ["FORBIDDEN"]
    refused = await execute(SET, consent_input(cast.membership.id, "EMAIL", False), actor=a_client)
    assert refused.codes == ["FORBIDDEN"]
    for outsider in outsiders:
        history = await execute(HISTORY, {"id": mid}, actor=outsider)
        assert history.data is None
        assert history.codes == ["NOT_FOUND"]
        changed = await ok(SET, consent_input(cast.membership.id, "EMAIL", False), actor=outsider)
        assert [(e["field"], e["code"]) for e in changed["setMarketingConsent"]["userErrors"]] == [
            ("membershipId", "NOT_FOUND")
        ]
    assert await ConsentRecord.filter(membership_id=cast.membership.id).count() == 1


async def test_wording_version_and_source_are_required_and_nothing_is_recorded_without_them():
    cast = await make_cast()
    bad = await ok(
        SET,
        consent_input(cast.membership.id, "SMS", True, wording=" ", source="x" * 65),
        actor=await cast.provider_actor(),
    )
    assert sorted((e["field"], e["code"]) for e in bad["setMarketingConsent"]["userErrors"]) == [
        ("source", "INVALID"),
        ("wordingVersion", "INVALID"),
    ]
    assert await ConsentRecord.all().count() == 0
