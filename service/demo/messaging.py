"""Demo data for messaging and GDPR consent: a staff-provider thread, a provider-client thread
when an intervention exists, and a consent history."""

from __future__ import annotations

from typing import Any

from models.account import User
from models.consent import ConsentChannel
from models.intervention import Intervention
from models.membership import Membership, MembershipStatus
from models.messaging import ConversationKind
from resolvers import consent
from resolvers.account import actor_for_user
from resolvers.messaging import core as messaging


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    membership = (
        await Membership.filter(marketplace_id=marketplace.id, status=MembershipStatus.ACCEPTED)
        .order_by("id")
        .first()
    )
    provider = (
        await User.filter(provider_company_id=membership.company_id).order_by("id").first()
        if membership is not None
        else None
    )
    if membership is None or provider is None:
        return ["messaging: no accepted provider with a login in the demo, no conversation made"]
    staff = await actor_for_user(ctx["admin"], marketplace.id)
    provider_actor = await actor_for_user(provider, marketplace.id)
    thread = await messaging.start_conversation(
        staff,
        kind=ConversationKind.STAFF_PROVIDER,
        membership_id=membership.id,
        text="Bonjour ! Your insurance certificate expires next month, please upload the new one.",
    )
    await messaging.send_message(
        provider_actor, conversation_id=thread.id, text="Thanks, I will send it this week."
    )
    await messaging.send_message(staff, conversation_id=thread.id, text="Perfect, thank you.")
    for channel, granted in (
        (ConsentChannel.EMAIL, True),
        (ConsentChannel.SMS, True),
        (ConsentChannel.SMS, False),
    ):
        await consent.set_marketing_consent(
            provider_actor,
            membership_id=membership.id,
            channel=channel,
            granted=granted,
            wording_version="2026-01",
            source="demo",
        )
    lines = [f"messaging: {provider.email} has a conversation with staff (unread: 1)"]
    intervention = await Intervention.filter(membership_id=membership.id).order_by("id").first()
    if intervention is not None:
        client_user = await User.get_or_none(client_of__id=intervention.client_id)
        if client_user is not None:
            client = await actor_for_user(client_user, marketplace.id)
            about = await messaging.start_conversation(
                client,
                kind=ConversationKind.PROVIDER_CLIENT,
                intervention_id=intervention.id,
                text="Hello, could you bring your own vacuum cleaner?",
            )
            await messaging.send_message(
                provider_actor, conversation_id=about.id, text="Yes, no problem."
            )
            lines.append(f"messaging: {client_user.email} talks with {provider.email}")
    return lines
