"""The seeded world of the authorization matrix: two marketplaces, every principal, and one
object of every Node type in marketplace A (most of them belonging to provider P1)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from starlette.datastructures import UploadFile

from models.account import ApiKey, ApiScope, StaffRole, User
from models.catalog import ProviderServiceStatus
from models.consent import ConsentChannel, ConsentRecord
from models.dispatch import Dispatch
from models.document import Document, DocumentKind, DocumentType
from models.invitation import Invitation
from models.membership import MembershipStatus
from models.messaging import ConversationKind, Message
from models.webhook import WebhookDelivery, WebhookDeliveryStatus
from presta import clock
from presta.settings import settings
from resolvers import account
from resolvers.actor import ANONYMOUS, Actor
from resolvers.consent import set_marketing_consent
from resolvers.document_upload import UploadedFile
from resolvers.invitation import invite_providers, token_of
from resolvers.messaging.core import start_conversation
from resolvers.terms import add_internal_document
from resolvers.webhook.endpoint import create_webhook_endpoint
from schema.base import encode_id
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff, make_user
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.document import PDF_BYTES, make_company_document, publish_terms
from tests.factories.membership import make_company, make_membership, make_provider_user
from tests.factories.messaging import make_dispatched_request, make_intervention

# The principals every root field and Node type is checked with (name -> description).
PRINCIPALS = (
    "anonymous",
    "client_a",
    "provider_a",
    "provider_ab",
    "agent_a",
    "admin_a",
    "admin_b",
    "partner_read_a",
    "partner_rw_a",
    "platform_admin",
)


@dataclass
class World:
    ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def gid(self, name: str) -> str:
        type_name, pk = self.ids[name]
        return str(encode_id(type_name, pk))

    def pk(self, name: str) -> int:
        return self.ids[name][1]


def pdf_upload(name: str = "file.pdf") -> UploadFile:
    return UploadFile(io.BytesIO(PDF_BYTES), filename=name)


async def seed() -> World:
    w = World()
    ma = await make_marketplace(
        name="Alpha",
        slug="alpha",
        public_applications_enabled=True,
        public_application_token="alpha-public-link",
    )
    mb = await make_marketplace(name="Beta", slug="beta")
    admin_a = await make_staff(ma, StaffRole.ADMIN)
    agent_a = await make_staff(ma, StaffRole.AGENT)
    admin_b = await make_staff(mb, StaffRole.ADMIN)
    root = await make_user(platform_admin=True)
    client = await make_client(ma)
    await client.fetch_related("user")
    assert client.user is not None

    m1 = await make_membership(ma)  # provider P1, only in A
    p1 = await make_provider_user(m1, email="p1@example.com")
    company2 = await make_company()
    m2a = await make_membership(ma, company=company2)  # provider P2, in A and B
    await make_membership(mb, company=company2)
    p2 = await make_provider_user(m2a)
    m3 = await make_membership(ma, MembershipStatus.APPLIED)  # an application to decide
    m4 = await make_membership(ma, MembershipStatus.SUSPENDED)
    m5 = await make_membership(ma, MembershipStatus.DEACTIVATED)
    m1b_company = await make_company(listed_in_directory=True)

    service_a = await make_service(ma, name="Cleaning")
    service_new = await make_service(ma, name="Gardening")  # nobody applied for it yet
    await make_service(mb, name="Cleaning")
    ps1 = await offer(m1, service_a)
    ps2 = await offer(m2a, service_a, ProviderServiceStatus.PENDING)
    await give_zone(m1, postal_codes=("75011",))

    request = await make_dispatched_request(m1, client)
    # Only a provider accepted for the request's service may answer it.
    await offer(m1, await request.service)
    dispatch = await Dispatch.get(request=request, membership=m1)
    intervention = await make_intervention(m1, client)
    company_doc = await make_company_document(await m1.company, "KBIS")
    document_type = await DocumentType.get(code="KBIS")
    terms = await publish_terms(ma)

    actors = {
        "anonymous": ANONYMOUS,
        "client_a": await actor_of(client.user, ma),
        "provider_a": await actor_of(p1, ma),
        "provider_ab": await actor_of(p2, ma),
        "agent_a": await actor_of(agent_a, ma),
        "admin_a": await actor_of(admin_a, ma),
        "admin_b": await actor_of(admin_b, mb),
        "platform_admin": await actor_of(root, None),
    }
    _, read_secret = await account.create_api_key(
        actors["admin_a"], name="reader", scope=ApiScope.READ
    )
    _, rw_secret = await account.create_api_key(
        actors["admin_a"], name="writer", scope=ApiScope.READ_WRITE
    )
    for name, secret in (("partner_read_a", read_secret), ("partner_rw_a", rw_secret)):
        actors[name] = await account.authenticate(bearer=None, api_key=secret, marketplace_id=None)
    api_key = await ApiKey.get(name="reader")

    conversation = await start_conversation(
        actors["admin_a"],
        kind=ConversationKind.STAFF_PROVIDER,
        membership_id=m1.id,
        text="Welcome aboard.",
    )
    message = await Message.filter(conversation_id=conversation.id).first()
    assert message is not None
    await invite_providers(actors["admin_a"], emails=["newcomer@example.com"])
    invitation = await Invitation.get(email="newcomer@example.com")
    await set_marketing_consent(
        actors["provider_a"],
        membership_id=m1.id,
        channel=ConsentChannel.EMAIL,
        granted=True,
        wording_version="v1",
        source="app",
    )
    consent = await ConsentRecord.filter(membership_id=m1.id).first()
    assert consent is not None
    internal = await add_internal_document(
        actors["admin_a"], title="Charter", upload=UploadedFile(data=PDF_BYTES, filename="c.pdf")
    )
    assert internal.kind is DocumentKind.INTERNAL
    refresh = await account.log_in(email=p1.email, password="correct horse battery")
    endpoint, delivery = await _webhook(actors["admin_a"])

    w.actors = actors
    w.users = {
        "provider_a": p1,
        "provider_ab": p2,
        "client_a": client.user,
        "agent_a": agent_a,
        "admin_a": admin_a,
        "admin_b": admin_b,
        "platform_admin": root,
    }
    w.values = {
        "invitation_token": token_of(invitation),
        "refresh_token": refresh.refresh_token,
        "provider_email": p1.email,
        "agent_email": agent_a.email,
        "public_token": "alpha-public-link",
        "starts_at": (clock.now() + timedelta(days=5)).isoformat(),
        "ends_at": (clock.now() + timedelta(days=5, hours=2)).isoformat(),
        "price": str(Decimal("90.00")),
        "api_key_partner_read_a": read_secret,
        "api_key_partner_rw_a": rw_secret,
    }
    w.ids = {
        "marketplace_a": ("Marketplace", ma.id),
        "marketplace_b": ("Marketplace", mb.id),
        "membership_1": ("Membership", m1.id),
        "membership_2a": ("Membership", m2a.id),
        "membership_3": ("Membership", m3.id),
        "membership_suspended": ("Membership", m4.id),
        "membership_deactivated": ("Membership", m5.id),
        "company_listed": ("ProviderCompany", m1b_company.id),
        "service_a": ("Service", service_a.id),
        "service_new": ("Service", service_new.id),
        "provider_service_1": ("ProviderService", ps1.id),
        "provider_service_2": ("ProviderService", ps2.id),
        "request": ("ServiceRequest", request.id),
        "dispatch": ("Dispatch", dispatch.id),
        "intervention": ("Intervention", intervention.id),
        "company_document": ("Document", company_doc.id),
        "internal_document": ("Document", internal.id),
        "document_type": ("DocumentType", document_type.id),
        "terms": ("TermsOfUse", terms.id),
        "conversation": ("Conversation", conversation.id),
        "message": ("Message", message.id),
        "invitation": ("Invitation", invitation.id),
        "consent": ("ConsentRecord", consent.id),
        "api_key": ("ApiKey", api_key.id),
        "user_provider_a": ("User", p1.id),
        "client": ("Client", client.id),
        "webhook_endpoint": ("WebhookEndpoint", endpoint.id),
        "webhook_delivery": ("WebhookDelivery", delivery.id),
    }
    assert await Document.filter(id=company_doc.id).exists()
    return w


async def _webhook(admin: Actor) -> tuple[Any, WebhookDelivery]:
    """An endpoint of A, created last (it receives none of the seed's events), at a loopback
    address the test environment refuses at send time (no network), and one of its
    deliveries."""
    cfg = settings()
    allowed, cfg.webhook_allow_loopback = cfg.webhook_allow_loopback, True
    try:
        endpoint, _ = await create_webhook_endpoint(admin, url="http://127.0.0.1:9/presta")
    finally:
        cfg.webhook_allow_loopback = allowed
    delivery = await WebhookDelivery.create(
        endpoint=endpoint,
        event_id=1,
        message_id="msg_seeded",
        topic="service.updated",
        object_type="Service",
        object_id=1,
        body="{}",
        status=WebhookDeliveryStatus.DELIVERED,
        give_up_at=clock.now(),
    )
    return endpoint, delivery
