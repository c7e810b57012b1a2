"""Demo data for the operator's and the provider's day: marketplace settings, republished terms
with one provider past its grace period, public applications, a company account shared with a
colleague and one colleague invited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models.account import StaffRole, User
from models.membership import Membership
from models.terms import TermsVersion
from presta import clock
from resolvers.account import actor_for_user
from resolvers.actor import Actor
from resolvers.company import colleague_link, invite_colleague
from resolvers.marketplace import public_application_link, update_marketplace_settings
from resolvers.terms import accept_terms_of_use, publish_terms_of_use, sweep_terms_grace_periods

GRACE_DAYS = 14
TERMS_V2 = (
    "Conditions générales d'utilisation de Ménage Plus, version 2 (démonstration).\n"
    "3. Le prestataire confirme chaque intervention dans l'application la veille."
)


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    admin = Actor(
        user_id=ctx["admin"].id, marketplace_id=marketplace.id, staff_role=StaffRole.ADMIN
    )
    settings = await update_marketplace_settings(
        admin, terms_grace_days=GRACE_DAYS, public_applications_enabled=True
    )

    # Version 2 of the terms, published three weeks ago: past the 14-day grace period, every
    # accepted provider accepted it but one, which no longer receives new requests.
    version = await publish_terms_of_use(admin, text=TERMS_V2)
    await TermsVersion.filter(id=version.id).update(published_at=clock.now() - timedelta(days=21))
    accepted: list[Membership] = ctx["memberships"]
    late = accepted[-1]
    for membership in accepted:
        if membership.id == late.id:
            continue
        user = await User.filter(provider_company_id=membership.company_id).order_by("id").first()
        if user is not None:
            await accept_terms_of_use(await actor_for_user(user, marketplace.id))
    await sweep_terms_grace_periods()
    late_user = await User.filter(provider_company_id=late.company_id).order_by("id").first()

    # The main provider's company account: a colleague already in, another one invited.
    provider_user: User = ctx["provider_user"]
    await User.create(
        email="colleague@menage-plus.demo",
        password_hash=ctx["password_hash"],
        full_name="Alice Laurent",
        provider_company_id=provider_user.provider_company_id,
    )
    provider = await actor_for_user(provider_user, marketplace.id)
    invitation = await invite_colleague(provider, email="new.colleague@provider.demo")

    return [
        f"settings: menage-plus gives {GRACE_DAYS} days to accept new terms "
        "(updateMarketplaceSettings: default commission, grace period, public applications; "
        "updateDispatchSettings: maxReminderRounds)",
        f"terms: v{version.number} published 21 days ago; "
        f"{late_user.email if late_user else 'one provider'} did not accept it and receives no "
        "new requests (matchingProviders says TERMS_NOT_ACCEPTED)",
        f"public applications: {public_application_link(settings)} "
        "(publicApplication / applyToMarketplace with its token)",
        "staff: boss@menage-plus.demo may changeStaffRole / removeStaffMember "
        "agent@menage-plus.demo (staffMembers lists them)",
        f"company: {provider_user.email} and colleague@menage-plus.demo share Net & Brillant "
        "(myCompany, updateProviderCompany); colleague invited: "
        f"{colleague_link(invitation)}",
    ]
