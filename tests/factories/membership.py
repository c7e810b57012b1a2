from __future__ import annotations

import itertools

from models.account import User
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus, ProviderCompany
from tests.factories.account import make_user

_seq = itertools.count(1)


async def make_company(*, name: str | None = None, **kw) -> ProviderCompany:
    n = next(_seq)
    return await ProviderCompany.create(
        name=name or f"Provider {n}",
        siret=kw.pop("siret", f"{n:014d}"),
        email=kw.pop("email", f"company{n}@example.test"),
        **kw,
    )


async def make_membership(
    marketplace: Marketplace,
    status: MembershipStatus = MembershipStatus.ACCEPTED,
    company: ProviderCompany | None = None,
    **kw,
) -> Membership:
    company = company or await make_company()
    membership = await Membership.create(
        marketplace=marketplace, company=company, status=status, **kw
    )
    await membership.fetch_related("company", "marketplace")
    return membership


async def make_provider_user(membership: Membership, **kw) -> User:
    """A user working for the membership's company."""
    return await make_user(
        provider_company_id=membership.company_id,
        **kw,
    )
