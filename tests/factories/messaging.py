from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from models.account import Client, User
from models.dispatch import Dispatch, RequestStatus, ServiceRequest
from models.document import Document, DocumentKind
from models.intervention import Intervention, InterventionStatus
from models.marketplace import Marketplace
from models.membership import Membership
from models.messaging import Conversation, ConversationKind, Message, ParticipantRole
from presta import clock
from resolvers.actor import Actor
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.catalog import make_service
from tests.factories.membership import make_membership, make_provider_user

_seq = itertools.count(1)


@dataclass
class Cast:
    """One marketplace with a staff member, a provider (membership + user) and a client."""

    marketplace: Marketplace
    staff: User
    membership: Membership
    provider: User
    client: Client
    client_user: User

    async def staff_actor(self) -> Actor:
        return await actor_of(self.staff, self.marketplace)

    async def provider_actor(self) -> Actor:
        return await actor_of(self.provider, self.marketplace)

    async def client_actor(self) -> Actor:
        return await actor_of(self.client_user, self.marketplace)


async def make_cast(marketplace: Marketplace | None = None) -> Cast:
    marketplace = marketplace or await make_marketplace()
    staff = await make_staff(marketplace)
    membership = await make_membership(marketplace)
    provider = await make_provider_user(membership)
    client = await make_client(marketplace)
    await client.fetch_related("user")
    assert client.user is not None
    return Cast(marketplace, staff, membership, provider, client, client.user)


async def make_intervention(membership: Membership, client: Client) -> Intervention:
    service = await make_service(await membership.marketplace)
    start = clock.now() + timedelta(days=2)
    return await Intervention.create(
        marketplace_id=membership.marketplace_id,
        membership=membership,
        client=client,
        service=service,
        status=InterventionStatus.SCHEDULED,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal("80.00"),
        commission_rate=Decimal("15.00"),
    )


async def make_dispatched_request(membership: Membership, client: Client) -> ServiceRequest:
    """A request of the client sent to the membership's provider."""
    service = await make_service(await membership.marketplace)
    request = await ServiceRequest.create(
        marketplace_id=membership.marketplace_id,
        client=client,
        service=service,
        status=RequestStatus.OPEN,
        postal_code="75011",
        city="Paris",
        description="Weekly cleaning",
    )
    await Dispatch.create(request=request, membership=membership)
    return request


async def make_conversation(
    membership: Membership,
    *,
    client: Client | None = None,
    intervention: Intervention | None = None,
) -> Conversation:
    n = next(_seq)
    kind = ConversationKind.PROVIDER_CLIENT if client else ConversationKind.STAFF_PROVIDER
    return await Conversation.create(
        marketplace_id=membership.marketplace_id,
        membership=membership,
        kind=kind,
        client=client,
        intervention=intervention,
        subject_key=f"test:{n}",
    )


async def fill_messages(conversation: Conversation, sender: User, count: int) -> list[Message]:
    """Many messages at once (pagination), without events."""
    messages = [
        await Message.create(
            conversation=conversation,
            sender=sender,
            sender_role=ParticipantRole.STAFF,
            sender_name=sender.full_name,
            text=f"message {i}",
        )
        for i in range(count)
    ]
    conversation.last_message_id = messages[-1].id
    conversation.last_message_at = messages[-1].created_at
    await conversation.save(update_fields=["last_message_id", "last_message_at"])
    return messages


async def make_attachment(owner: User, marketplace: Marketplace, **kw) -> Document:
    n = next(_seq)
    return await Document.create(
        kind=DocumentKind.ATTACHMENT,
        marketplace=marketplace,
        filename=kw.pop("filename", f"photo-{n}.png"),
        content_type="image/png",
        size=1234,
        sha256="0" * 64,
        storage_key=f"attachment{n}{owner.id}x{marketplace.id}",
        uploaded_by=owner,
        **kw,
    )


async def other_provider_of(marketplace: Marketplace) -> tuple[Membership, User]:
    membership = await make_membership(marketplace)
    return membership, await make_provider_user(membership)
