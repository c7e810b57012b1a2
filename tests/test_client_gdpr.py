"""A client's GDPR rights: marketing consent, export of its data, erasure that keeps the
marketplace's accounting rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from models.account import Client, RefreshToken, User
from models.consent import ClientConsentRecord, ConsentChannel
from models.dispatch import RequestStatus, ServiceRequest
from models.document import Document
from models.intervention import Intervention, InterventionStatus
from models.marketplace import Marketplace
from models.messaging import Message, MessageAttachment, ParticipantRole
from presta import storage
from resolvers import account
from resolvers.actor import Actor
from resolvers.authentication import authenticate
from resolvers.client import gdpr, onboarding
from resolvers.errors import AuthError
from schema.base import encode_id
from tests.factories.account import PASSWORD, actor_of, make_client, make_marketplace
from tests.factories.catalog import make_service
from tests.factories.document import PDF_BYTES
from tests.factories.messaging import (
    Cast,
    make_attachment,
    make_cast,
    make_conversation,
    make_dispatched_request,
    make_intervention,
)
from tests.support.graphql import execute, ok

EXPORT = "query($id: ID) { exportClientData(clientId: $id) }"
DELETE = """mutation($id: ID!) { deleteClientData(input: {clientId: $id}) {
  userErrors { field code message } client { id fullName email phone hasLogin erasedAt } } }"""
CONSENT = """mutation($input: SetClientMarketingConsentInput!) {
  setClientMarketingConsent(input: $input) { userErrors { code field }
    client { consent { channel granted wordingVersion } } } }"""
LOG_IN = """mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) { userErrors { code } accessToken } }"""


async def _history(cast: Cast) -> tuple[Any, ...]:
    """A client with a finished request and visit, a conversation and a consent."""
    request = await make_dispatched_request(cast.membership, cast.client)
    request.status = RequestStatus.ACCEPTED
    request.address_line = "12 rue des Lilas"
    request.latitude, request.longitude = 48.86, 2.38
    await request.save()
    visit = await make_intervention(cast.membership, cast.client)
    visit.request = request
    visit.status = InterventionStatus.DONE
    await visit.save()
    conversation = await make_conversation(cast.membership, client=cast.client)
    photo = await make_attachment(cast.client_user, cast.marketplace)
    photo.storage_key = storage.save(PDF_BYTES, storage.PDF).key
    await photo.save(update_fields=["storage_key"])
    assert storage.exists(photo.storage_key)
    said = await Message.create(
        conversation=conversation, sender=cast.client_user, sender_role=ParticipantRole.CLIENT,
        sender_name=cast.client.full_name, text="My door code is 4512",
    )  # fmt: skip
    await MessageAttachment.create(message=said, document=photo)
    answer = await Message.create(
        conversation=conversation, sender=cast.provider, sender_role=ParticipantRole.PROVIDER,
        sender_name="Provider", text="See you Monday",
    )  # fmt: skip
    client_actor = await cast.client_actor()
    await gdpr.set_client_marketing_consent(
        client_actor, client_id=cast.client.id, channel=ConsentChannel.EMAIL, granted=True,
        wording_version="v1", source="signup-form",
    )  # fmt: skip
    return request, visit, conversation, said, answer, photo


async def _user_actor(client: Client, marketplace: Marketplace) -> Actor:
    user = await User.get(id=client.user_id)
    return await actor_of(user, marketplace)


async def test_a_client_grants_and_withdraws_consent_and_the_latest_record_is_in_force():
    cast = await make_cast()
    client = await cast.client_actor()
    gid = str(encode_id("Client", cast.client.id))

    def consent(granted: bool, channel: str = "EMAIL") -> dict[str, Any]:
        return {
            "input": {
                "clientId": gid, "channel": channel, "granted": granted,
                "wordingVersion": "v2", "source": "app",
            }
        }  # fmt: skip

    await ok(CONSENT, consent(True), actor=client)
    await ok(CONSENT, consent(True, "SMS"), actor=client)
    data = await ok(CONSENT, consent(False), actor=await cast.staff_actor())
    assert data["setClientMarketingConsent"]["client"]["consent"] == [
        {"channel": "EMAIL", "granted": False, "wordingVersion": "v2"},
        {"channel": "SMS", "granted": True, "wordingVersion": "v2"},
    ]
    assert await ClientConsentRecord.filter(client_id=cast.client.id).count() == 3

    provider = await execute(CONSENT, consent(True), actor=await cast.provider_actor())
    assert provider.codes == ["FORBIDDEN"]


async def test_a_client_exports_everything_the_marketplace_holds_about_it():
    cast = await make_cast()
    request, visit, conversation, said, answer, _ = await _history(cast)

    data = (await ok(EXPORT, {}, actor=await cast.client_actor()))["exportClientData"]
    assert data["client"]["email"] == cast.client.email
    assert data["client"]["marketplace"]["id"] == cast.marketplace.id
    assert [r["id"] for r in data["requests"]] == [request.id]
    assert data["requests"][0]["address_line"] == "12 rue des Lilas"
    assert [(v["id"], v["price"]) for v in data["interventions"]] == [(visit.id, "80.00")]
    [exported] = data["conversations"]
    assert exported["id"] == conversation.id
    assert [m["text"] for m in exported["messages"]] == [said.text, answer.text]
    assert [(c["channel"], c["granted"]) for c in data["consents"]] == [("EMAIL", True)]

    by_staff = await ok(
        EXPORT, {"id": str(encode_id("Client", cast.client.id))}, actor=await cast.staff_actor()
    )
    assert by_staff["exportClientData"]["requests"] == data["requests"]


async def test_nobody_else_exports_a_client_s_data():
    cast = await make_cast()
    other = await make_client(cast.marketplace)
    elsewhere = await make_cast()
    gid = str(encode_id("Client", cast.client.id))
    for actor in (
        await _user_actor(other, cast.marketplace),
        await elsewhere.staff_actor(),
    ):
        result = await execute(EXPORT, {"id": gid}, actor=actor)
        assert result.data is None or result.data["exportClientData"] is None
        assert result.errors, "a foreign client must not be exported"
    provider = await execute(EXPORT, {"id": gid}, actor=await cast.provider_actor())
    assert provider.codes == ["FORBIDDEN"]


async def test_erasure_anonymises_the_client_and_keeps_the_accounting_rows():
    cast = await make_cast()
    request, visit, _, said, answer, photo = await _history(cast)
    email = cast.client.email
    gid = str(encode_id("Client", cast.client.id))

    data = await ok(DELETE, {"id": gid}, actor=await cast.staff_actor())
    payload = data["deleteClientData"]
    assert payload["userErrors"] == []
    erased = payload["client"]
    assert erased["fullName"] == "Erased client"
    assert email not in erased["email"]
    assert erased["phone"] == ""
    assert erased["hasLogin"] is False
    assert erased["erasedAt"] is not None

    # Accounting: the request, the visit with its price and frozen commission stay.
    kept_request = await ServiceRequest.get(id=request.id)
    assert kept_request.client_id == cast.client.id
    assert (kept_request.postal_code, kept_request.city) == ("75011", "Paris")
    assert kept_request.address_line == ""
    assert kept_request.description == ""
    assert kept_request.latitude is None
    assert kept_request.longitude is None
    kept_visit = await Intervention.get(id=visit.id)
    assert (kept_visit.price, kept_visit.commission_rate) == (Decimal("80.00"), Decimal("15.00"))
    assert kept_visit.status is InterventionStatus.DONE

    # Personal data: the client's words and files are gone, the provider's stay.
    assert (await Message.get(id=said.id)).text == ""
    assert (await Message.get(id=answer.id)).text == "See you Monday"
    assert (await Document.get(id=photo.id)).deleted_at is not None
    assert not storage.exists(photo.storage_key)
    latest = await ClientConsentRecord.filter(client_id=cast.client.id).order_by("-id").first()
    assert latest is not None
    assert latest.granted is False
    assert not await User.filter(email=email).exists()
    assert not await Client.filter(email=email).exists()

    exported = (await ok(EXPORT, {"id": gid}, actor=await cast.staff_actor()))["exportClientData"]
    assert email not in repr(exported)
    assert "4512" not in repr(exported)


async def test_after_erasure_the_client_can_neither_log_in_nor_refresh_its_session():
    marketplace = await make_marketplace()
    email = "jeanne@example.com"
    _, signed_up = await onboarding.sign_up_client(
        marketplace=marketplace.slug, email=email, password=PASSWORD, full_name="Jeanne"
    )
    session = await account.log_in(email=email, password=PASSWORD)
    user_id = session.user.id
    client = await actor_of(session.user, marketplace)

    data = await ok(DELETE, {"id": str(encode_id("Client", signed_up.id))}, actor=client)
    assert data["deleteClientData"]["userErrors"] == []

    logged = await ok(LOG_IN, {"email": email, "password": PASSWORD})
    assert [e["code"] for e in logged["logIn"]["userErrors"]] == ["INVALID_CREDENTIALS"]
    refresh = await execute(
        "mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { userErrors { code } } }",
        {"t": session.refresh_token},
    )
    assert [e["code"] for e in refresh.data["refreshToken"]["userErrors"]] == [
        "INVALID_REFRESH_TOKEN"
    ]
    assert not await RefreshToken.filter(user_id=user_id, revoked_at=None).exists()
    user = await User.get(id=user_id)
    assert user.is_active is False
    # The old access token no longer authenticates as anyone.
    with pytest.raises(AuthError) as refused:
        await authenticate(bearer=session.access_token, api_key=None, marketplace_id=None)
    assert refused.value.code == "UNAUTHENTICATED"


async def test_erasure_is_refused_while_a_request_is_open_or_a_visit_upcoming():
    cast = await make_cast()
    request = await make_dispatched_request(cast.membership, cast.client)
    visit = await make_intervention(cast.membership, cast.client)
    gid = str(encode_id("Client", cast.client.id))

    data = await ok(DELETE, {"id": gid}, actor=await cast.staff_actor())
    [error] = data["deleteClientData"]["userErrors"]
    assert error["code"] == "PENDING_WORK"
    assert f"demande {request.id}" in error["message"]  # French, the default
    assert f"visite {visit.id}" in error["message"]
    assert (await Client.get(id=cast.client.id)).erased_at is None


async def test_erasing_twice_says_so_and_other_marketplaces_cannot_erase():
    cast = await make_cast()
    gid = str(encode_id("Client", cast.client.id))
    elsewhere = await make_cast()
    foreign = await ok(DELETE, {"id": gid}, actor=await elsewhere.staff_actor())
    assert [e["code"] for e in foreign["deleteClientData"]["userErrors"]] == ["NOT_FOUND"]

    staff = await cast.staff_actor()
    await ok(DELETE, {"id": gid}, actor=staff)
    again = await ok(DELETE, {"id": gid}, actor=staff)
    assert [e["code"] for e in again["deleteClientData"]["userErrors"]] == ["ALREADY_ERASED"]


async def test_staff_cannot_create_a_request_for_an_erased_client():
    cast = await make_cast()
    service = await make_service(cast.marketplace)
    staff = await cast.staff_actor()
    await gdpr.delete_client_data(staff, client_id=cast.client.id)
    create = """mutation($input: CreateServiceRequestInput!) {
      createServiceRequest(input: $input) { userErrors { field code } } }"""
    data = await ok(
        create,
        {
            "input": {
                "serviceId": str(encode_id("Service", service.id)),
                "postalCode": "75011",
                "city": "Paris",
                "clientId": str(encode_id("Client", cast.client.id)),
            }
        },
        actor=staff,
    )
    assert data["createServiceRequest"]["userErrors"] == [
        {"field": "clientId", "code": "NOT_FOUND"}
    ]
    assert not await ServiceRequest.filter(client_id=cast.client.id).exists()
