from __future__ import annotations

import json

from models.catalog import ProviderServiceStatus
from models.consent import ConsentChannel
from models.membership import MembershipStatus
from resolvers import consent
from resolvers.messaging import core as messaging
from tests.factories.account import actor_of, make_marketplace
from tests.factories.catalog import make_service, offer
from tests.factories.membership import make_membership
from tests.factories.messaging import (
    make_attachment,
    make_cast,
    make_conversation,
    make_dispatched_request,
    make_intervention,
)
from tests.support.graphql import execute, ok

EXPORT = "{ exportMyData }"


async def test_a_provider_exports_everything_about_its_company_in_every_marketplace():
    cast = await make_cast()
    provider = await cast.provider_actor()
    staff = await cast.staff_actor()
    # The same company in a second marketplace, and a relationship deleted in a third.
    second = await make_membership(
        await make_marketplace(name="Second"), company=cast.membership.company
    )
    await make_membership(
        await make_marketplace(name="Gone"),
        company=cast.membership.company,
        status=MembershipStatus.DELETED,
    )
    cleaning = await make_service(cast.marketplace, name="Cleaning")
    await offer(cast.membership, cleaning, ProviderServiceStatus.ACCEPTED)
    await consent.set_marketing_consent(
        provider,
        membership_id=cast.membership.id,
        channel=ConsentChannel.SMS,
        granted=True,
        wording_version="2026-01",
        source="signup-form",
    )
    conversation = await make_conversation(cast.membership)
    photo = await make_attachment(cast.provider, cast.marketplace, filename="kitchen.png")
    await messaging.send_message(staff, conversation_id=conversation.id, text="How did it go?")
    await messaging.send_message(
        provider, conversation_id=conversation.id, text="Fine, see photo", attachment_ids=[photo.id]
    )
    request = await make_dispatched_request(cast.membership, cast.client)
    intervention = await make_intervention(cast.membership, cast.client)

    data = (await ok(EXPORT, actor=provider))["exportMyData"]
    json.dumps(data)  # plain JSON all the way down
    assert data["company"]["name"] == cast.membership.company.name
    assert data["company"]["siret"] == cast.membership.company.siret
    by_marketplace = {m["marketplace"]["name"]: m for m in data["memberships"]}
    assert set(by_marketplace) == {cast.marketplace.name, "Second"}
    assert by_marketplace["Second"]["id"] == second.id
    mine = by_marketplace[cast.marketplace.name]
    assert mine["status"] == "ACCEPTED"
    assert [(s["service__name"], s["status"]) for s in mine["services"]] == [
        ("Cleaning", "ACCEPTED")
    ]
    assert [
        (c["channel"], c["granted"], c["wording_version"], c["source"]) for c in mine["consents"]
    ] == [("SMS", True, "2026-01", "signup-form")]
    [thread] = mine["conversations"]
    assert [(m["sender_role"], m["text"]) for m in thread["messages"]] == [
        ("STAFF", "How did it go?"),
        ("PROVIDER", "Fine, see photo"),
    ]
    assert thread["messages"][1]["attachments"] == [
        {"document_id": photo.id, "filename": "kitchen.png"}
    ]
    assert [r["request_id"] for r in mine["requests"]] == [request.id]
    assert mine["requests"][0]["request__city"] == "Paris"
    assert [(i["id"], i["price"], i["commission_rate"]) for i in mine["interventions"]] == [
        (intervention.id, "80.00", "15.00")
    ]
    assert by_marketplace["Second"]["conversations"] == []


async def test_only_a_providers_users_export_and_only_their_own_company():
    cast = await make_cast()
    other = await make_cast(cast.marketplace)
    await make_conversation(other.membership)
    data = (await ok(EXPORT, actor=await cast.provider_actor()))["exportMyData"]
    assert [m["id"] for m in data["memberships"]] == [cast.membership.id]
    assert data["memberships"][0]["conversations"] == []
    for actor in (await cast.staff_actor(), await cast.client_actor()):
        assert (await execute(EXPORT, actor=actor)).codes == ["FORBIDDEN"]
    assert (await execute(EXPORT)).codes == ["UNAUTHENTICATED"]
    # With no acting marketplace (it belongs to two), the export still covers its company.
    await make_membership(await make_marketplace(), company=cast.membership.company)
    anywhere = await actor_of(cast.provider, None)
    assert anywhere.marketplace_id is None
    exported = (await ok(EXPORT, actor=anywhere))["exportMyData"]
    assert len(exported["memberships"]) == 2
