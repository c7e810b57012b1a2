"""Demo data for the provider relationship: a dozen providers in every state, a directory
provider of another marketplace, a custom commission and a pending invitation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from models.account import StaffRole, User
from models.commission import CommissionRate
from models.membership import Membership, MembershipAudit, MembershipStatus, ProviderCompany
from presta import clock
from presta.tx import AfterCommit
from resolvers.account import actor_for_user
from resolvers.actor import Actor
from resolvers.company import valid_siret
from resolvers.invitation import new_invitation, signup_link
from resolvers.terms import accept_terms_of_use

S = MembershipStatus
# (company, manager, login, final status): the path to each status is written to the audit.
PROVIDERS = (
    ("Net & Brillant", "Sophie Laurent", "pro@menage-plus.demo", S.ACCEPTED),
    ("Ménage Express", "Karim Haddad", "express@provider.demo", S.ACCEPTED),
    ("Propreté Lyonnaise", "Julie Moreau", "lyon@provider.demo", S.ACCEPTED),
    ("Éclat Services", "Thomas Roux", "eclat@provider.demo", S.ACCEPTED),
    ("Maison Nette", "Nadia Benali", "nette@provider.demo", S.ACCEPTED),
    ("Clean Paris 11", "Lucas Girard", "paris11@provider.demo", S.ACCEPTED),
    ("Brillance 92", "Emma Fontaine", "brillance@provider.demo", S.APPLIED),
    ("Les Fées du Logis", "Chloé Mercier", "fees@provider.demo", S.APPLIED),
    ("Nouveau Départ", "Yanis Chevalier", "depart@provider.demo", S.INVITED),
    ("Rapid'Ménage", "Pierre Blanc", "rapid@provider.demo", S.SUSPENDED),
    ("Hygiène Plus", "Manon Garnier", "hygiene@provider.demo", S.DEACTIVATED),
    ("Sans Papiers SARL", "Marc Dupuis", "refused@provider.demo", S.REFUSED),
)
PATHS = {
    S.INVITED: [S.INVITED],
    S.APPLIED: [S.INVITED, S.APPLIED],
    S.ACCEPTED: [S.INVITED, S.APPLIED, S.ACCEPTED],
    S.REFUSED: [S.INVITED, S.APPLIED, S.REFUSED],
    S.SUSPENDED: [S.INVITED, S.APPLIED, S.ACCEPTED, S.SUSPENDED],
    S.DEACTIVATED: [S.INVITED, S.APPLIED, S.ACCEPTED, S.DEACTIVATED],
}
REASONS = {
    S.REFUSED: "The insurance certificate was missing.",
    S.SUSPENDED: "Two missed interventions in a month.",
    S.DEACTIVATED: "Stopped working in the area.",
}


def _siret(number: int) -> str:
    """A SIRET with a valid check digit: ``number`` followed by the digits that make it hold."""
    base = f"{number:012d}"
    for tail in range(100):
        siret = f"{base}{tail:02d}"
        if valid_siret(siret):
            return siret
    raise AssertionError(base)


async def _provider(
    ctx: dict[str, Any], n: int, company_name: str, manager: str, login: str, status: S
) -> tuple[Membership, User]:
    marketplace = ctx["marketplace"]
    company = await ProviderCompany.create(
        name=company_name,
        siret=_siret(812345678000 + n),
        email=login,
        phone=f"+3361234{n:04d}",
        listed_in_directory=n % 3 == 0,
    )
    user = await User.create(
        email=login, password_hash=ctx["password_hash"], full_name=manager, provider_company=company
    )
    now = clock.now()
    membership = await Membership.create(
        marketplace=marketplace,
        company=company,
        status=status,
        applied_at=now - timedelta(days=20) if status is not S.INVITED else None,
        decided_at=now - timedelta(days=15) if len(PATHS[status]) > 2 else None,
    )
    previous: S | None = None
    for step in PATHS[status]:
        who = user if step in (S.INVITED, S.APPLIED) else ctx["admin"]
        await MembershipAudit.create(
            membership=membership,
            actor=who,
            from_status=previous,
            to_status=step,
            reason=REASONS.get(step, "") if step is status else "",
        )
        previous = step
    if status is not S.INVITED:
        for code in ctx.get("required_document_codes", ()):
            await ctx["file_company_document"](
                company, code, expires_on=(now + timedelta(days=300)).date()
            )
        if ctx.get("terms_version") is not None:
            await accept_terms_of_use(await actor_for_user(user, marketplace.id))
    return membership, user


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    made = [await _provider(ctx, n, *row) for n, row in enumerate(PROVIDERS, start=1)]
    first, first_user = made[0]
    await CommissionRate.create(
        marketplace=marketplace,
        membership=first,
        rate=Decimal("12.00"),
        effective_from=clock.now().date() - timedelta(days=30),
        created_by=ctx["admin"],
    )
    # A directory provider of the other marketplace, ready to be invited as "referenced".
    outsider_company = await ProviderCompany.create(
        name="Jardin Zen & Ménage", email="zen@provider.demo", listed_in_directory=True
    )
    outsider = await User.create(
        email="zen@provider.demo",
        password_hash=ctx["password_hash"],
        full_name="Inès Lambert",
        provider_company=outsider_company,
    )
    await Membership.create(
        marketplace=ctx["other_marketplace"], company=outsider_company, status=S.ACCEPTED
    )
    staff = Actor(
        user_id=ctx["admin"].id, marketplace_id=marketplace.id, staff_role=StaffRole.ADMIN
    )
    # Not mailed (the demo may run without an SMTP server): the link is printed instead.
    invitation = await new_invitation(
        staff, AfterCommit(), marketplace.id, email="invited@provider.demo"
    )
    ctx["memberships"] = [m for m, _ in made if m.status is S.ACCEPTED]
    ctx["membership"] = first
    ctx["provider_user"] = first_user
    return [
        f"providers: {len(made)} in menage-plus, in every state; "
        f"log in as {first_user.email} (ACCEPTED, commission 12%), "
        "brillance@provider.demo (APPLIED), depart@provider.demo (INVITED: apply from there), "
        "rapid@provider.demo (SUSPENDED)",
        f"directory: {outsider.email} (member of jardins) can be invited with "
        "inviteReferencedProviders",
        f"invitation pending for invited@provider.demo: {signup_link(invitation)}",
    ]
