"""A client's GDPR rights: marketing consent with its history, export, and erasure that keeps
the marketplace's accounting (requests, interventions, commissions) anonymised."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from models.account import Client, RefreshToken, StaffMember, User
from models.consent import ClientConsentRecord, ConsentChannel
from models.dispatch import RequestStatus, ServiceRequest
from models.document import Document
from models.intervention import Intervention, InterventionStatus
from models.messaging import Conversation, Message, MessageAttachment, ParticipantRole
from presta import clock, storage
from presta.db import padded
from presta.i18n import Join, _
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.client.onboarding import ClientErrorCode
from resolvers.client.reads import get_client, sees_client
from resolvers.consent import MAX_LABEL
from resolvers.errors import UserError, UserErrors, not_found
from resolvers.export import EXPORT_FORMAT, _plain

ERASED_NAME = "Erased client"
ERASURE_SOURCE = "erasure"
OPEN_REQUESTS = (RequestStatus.OPEN, RequestStatus.PROPOSAL_SENT)
UPCOMING = (InterventionStatus.SCHEDULED, InterventionStatus.IN_PROGRESS)


async def _own_or_staff(actor: Actor, client_id: int, *, write: bool) -> Client:
    """The client itself, or staff of its marketplace (partner keys read, never write)."""
    client = await get_client(actor, client_id)
    if write and not (actor.is_staff or actor.client_id == client.id):
        raise not_found(_("Client"), field="clientId")
    return client


def _label(value: str, field: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= MAX_LABEL:
        raise UserError(
            ClientErrorCode.INVALID, _("Give 1 to {most} characters.", most=MAX_LABEL), field=field
        )
    return value


async def set_client_marketing_consent(
    actor: Actor,
    *,
    client_id: int,
    channel: ConsentChannel,
    granted: bool,
    wording_version: str,
    source: str,
) -> ClientConsentRecord:
    """The client or staff append a grant or withdrawal; the latest per channel is in force."""
    actor.require_writer()
    errors: list[UserError] = []
    labels: dict[str, str] = {}
    for field, value in (("wordingVersion", wording_version), ("source", source)):
        try:
            labels[field] = _label(value, field)
        except UserError as exc:
            errors.append(exc)
    client = await _own_or_staff(actor, client_id, write=True)
    if errors:
        raise UserErrors(errors)
    if client.erased_at is not None:
        raise _erased()
    async with atomic():
        return await ClientConsentRecord.create(
            client=client, channel=channel, granted=granted, actor_id=actor.user_id,
            wording_version=labels["wordingVersion"], source=labels["source"],
        )  # fmt: skip


async def consent_of_clients(
    actor: Actor, clients: list[Client]
) -> dict[int, list[ClientConsentRecord]]:
    """The consent in force per channel (the latest record of each) of clients already read,
    for a batch; those the actor may not see (``sees_client``) have none."""
    visible = [c.id for c in clients if sees_client(actor, c)]
    found: dict[int, dict[ConsentChannel, ClientConsentRecord]] = defaultdict(dict)
    if visible:
        rows = ClientConsentRecord.filter(client_id__in=padded(visible)).order_by("id")
        for record in await rows:
            found[record.client_id][record.channel] = record
    return {c: sorted(found[c].values(), key=lambda r: r.channel) for c in visible}


async def export_client_data(actor: Actor, *, client_id: int | None = None) -> dict[str, Any]:
    """Everything the marketplace holds about one client, as JSON: the client itself (its own
    when ``client_id`` is None) or staff of its marketplace."""
    if client_id is None:
        actor.require_marketplace()
        if actor.client_id is None:
            raise not_found(_("Client"), field="clientId")
        client_id = actor.client_id
    client = await _own_or_staff(actor, client_id, write=True)
    await client.fetch_related("marketplace")
    requests = (
        await ServiceRequest.filter(client_id=client.id)
        .order_by("id")
        .values(
            "id", "service__name", "status", "postal_code", "city", "address_line", "latitude",
            "longitude", "description", "wished_start", "frequency", "duration_minutes",
            "cancel_reason", "created_at", "closed_at",
        )
    )  # fmt: skip
    interventions = (
        await Intervention.filter(client_id=client.id)
        .order_by("id")
        .values(
            "id", "request_id", "service__name", "membership__company__name", "status",
            "starts_at", "ends_at", "price", "cancel_reason", "created_at",
        )
    )  # fmt: skip
    conversations = (
        await Conversation.filter(client_id=client.id)
        .order_by("id")
        .values("id", "kind", "membership__company__name", "request_id", "intervention_id",
                "created_at")
    )  # fmt: skip
    messages = (
        await Message.filter(conversation_id__in=[c["id"] for c in conversations])
        .order_by("id")
        .values("id", "conversation_id", "sender_role", "sender_name", "text", "created_at")
    )
    by_conversation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        by_conversation[m.pop("conversation_id")].append(m)
    consents = (
        await ClientConsentRecord.filter(client_id=client.id)
        .order_by("id")
        .values("id", "channel", "granted", "wording_version", "source", "created_at")
    )
    data: dict[str, Any] = _plain(
        {
            "format": EXPORT_FORMAT,
            "generated_at": clock.now(),
            "client": {
                "id": client.id,
                "marketplace": {"id": client.marketplace.id, "name": client.marketplace.name},
                "full_name": client.full_name,
                "email": client.email,
                "phone": client.phone,
                "has_login": client.user_id is not None,
                "created_at": client.created_at,
                "erased_at": client.erased_at,
            },
            "consents": consents,
            "requests": requests,
            "interventions": interventions,
            "conversations": [
                {**c, "company": c.pop("membership__company__name"),
                 "messages": by_conversation[c["id"]]}
                for c in conversations
            ],
        }
    )  # fmt: skip
    return data


def _erased() -> UserError:
    return UserError(
        ClientErrorCode.ALREADY_ERASED,
        _("This client's data was already erased."),
        field="clientId",
    )


async def delete_client_data(actor: Actor, *, client_id: int) -> Client:
    """The client itself or staff erase its personal data (GDPR): name, contact details,
    addresses and descriptions of its requests, its messages and their files, its login and
    sessions. Requests, interventions and their prices stay, anonymised, for the accounting.
    Refused while a request is open or a visit is upcoming: cancel them first."""
    actor.require_writer()
    client = await _own_or_staff(actor, client_id, write=True)
    now = clock.now()
    async with atomic():
        client = await Client.filter(id=client.id).select_for_update().get()
        if client.erased_at is not None:
            raise _erased()
        await _refuse_pending_work(client)
        await ServiceRequest.filter(client_id=client.id).update(
            address_line="", description="", latitude=None, longitude=None, cancel_reason=""
        )
        erased_files = await _erase_messages(client)
        for channel in await _granted_channels(client):
            await ClientConsentRecord.create(
                client=client, channel=channel, granted=False, wording_version=ERASURE_SOURCE,
                source=ERASURE_SOURCE, actor_id=actor.user_id,
            )  # fmt: skip
        user_id = client.user_id
        client.full_name = ERASED_NAME
        client.email = f"erased-{client.id}@erased.invalid"
        client.phone = ""
        client.user_id = None
        client.invitation_nonce = client.invitation_hash = client.invitation_expires_at = None
        client.erased_at = now
        await client.save()
        if user_id is not None:
            await _close_login(user_id, now)
    for key in erased_files:
        storage.delete(key)
    return client


async def _refuse_pending_work(client: Client) -> None:
    open_requests = await ServiceRequest.filter(
        client_id=client.id, status__in=OPEN_REQUESTS
    ).values_list("id", flat=True)
    upcoming = await Intervention.filter(client_id=client.id, status__in=UPCOMING).values_list(
        "id", flat=True
    )
    if open_requests or upcoming:
        named = [_("request {id}", id=i) for i in open_requests]
        named += [_("visit {id}", id=i) for i in upcoming]
        raise UserError(
            ClientErrorCode.PENDING_WORK,
            _("Cancel or finish these first: {what}.", what=Join(", ", named)),
            field="clientId",
        )


async def _erase_messages(client: Client) -> list[str]:
    """Blank the client's messages and retire their files; the storage keys to delete once
    the erasure is committed."""
    conversation_ids = await Conversation.filter(client_id=client.id).values_list("id", flat=True)
    mine = Message.filter(conversation_id__in=conversation_ids, sender_role=ParticipantRole.CLIENT)
    message_ids = await mine.values_list("id", flat=True)
    if not message_ids:
        return []
    document_ids = await MessageAttachment.filter(message_id__in=message_ids).values_list(
        "document_id", flat=True
    )
    files = Document.filter(id__in=document_ids, deleted_at=None)
    keys = [str(k) for k in await files.values_list("storage_key", flat=True)]
    await files.update(deleted_at=clock.now())
    await Message.filter(id__in=message_ids).update(text="", sender_name=ERASED_NAME)
    return keys


async def _granted_channels(client: Client) -> list[ConsentChannel]:
    latest: dict[ConsentChannel, bool] = {}
    for record in await ClientConsentRecord.filter(client_id=client.id).order_by("id"):
        latest[record.channel] = record.granted
    return [channel for channel, granted in latest.items() if granted]


async def _close_login(user_id: int, now: Any) -> None:
    """Every session ends; a login that was only this client's is anonymised and disabled."""
    await RefreshToken.filter(user_id=user_id, revoked_at=None).update(revoked_at=now)
    user = await User.get(id=user_id)
    other_roles = (
        user.is_platform_admin
        or user.provider_company_id is not None
        or await StaffMember.filter(user_id=user_id).exists()
        or await Client.filter(user_id=user_id).exists()
    )
    if other_roles:
        return
    user.email = f"erased-user-{user.id}@erased.invalid"
    user.full_name = ""
    user.password_hash = "!"  # matches no password
    user.is_active = False
    await user.save(update_fields=["email", "full_name", "password_hash", "is_active"])
