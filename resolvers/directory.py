"""The directory of referenced providers, and inviting them in one call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.account import User
from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.invitation import Invitation, InvitationStatus
from models.marketplace import Marketplace
from models.membership import Membership, ProviderCompany
from models.zone import ZoneKey, haversine_km, normalize_postal_code
from presta import clock
from presta.i18n import _
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.errors import UserError, not_found
from resolvers.invitation import (
    ENDED,
    MAX_EMAILS,
    InvitationErrorCode,
    Rejected,
    new_invitation,
)
from resolvers.matching import address_keys, locate
from resolvers.pagination import Page, keyset_page


def _ids(rows: Iterable[Any]) -> set[int]:
    return {int(r) for r in rows}


async def invite_referenced_providers(
    actor: Actor, *, company_ids: list[int]
) -> tuple[list[Invitation], list[Rejected]]:
    """Staff invite companies of the platform directory; each accepts from its account."""
    marketplace_id = actor.require_staff()
    if not company_ids or len(company_ids) > MAX_EMAILS:
        raise UserError(
            InvitationErrorCode.TOO_MANY_EMAILS if company_ids else InvitationErrorCode.INVALID,
            _("Give 1 to {most} providers.", most=MAX_EMAILS),
            field="companyIds",
        )
    rejected: list[Rejected] = []
    invited: list[Invitation] = []
    async with atomic() as tx:
        await Marketplace.filter(id=marketplace_id).select_for_update().first()
        listed = {
            c.id: c
            for c in await ProviderCompany.filter(id__in=company_ids, listed_in_directory=True)
        }
        live = _ids(
            await Membership.filter(marketplace_id=marketplace_id, company_id__in=company_ids)
            .exclude(status__in=ENDED)
            .values_list("company_id", flat=True)
        )
        pending = _ids(
            await Invitation.filter(
                marketplace_id=marketplace_id,
                company_id__in=company_ids,
                status=InvitationStatus.PENDING,
                expires_at__gt=clock.now(),
            ).values_list("company_id", flat=True)
        )
        seen: set[int] = set()
        for company_id in company_ids:
            company = listed.get(company_id)
            if company is None:
                # Unlisted companies are invisible to other marketplaces: same as absent.
                error = UserError(
                    InvitationErrorCode.NOT_IN_DIRECTORY,
                    _("Provider not found in the directory."),
                    field="companyIds",
                )
            elif company_id in seen:
                error = UserError(
                    InvitationErrorCode.DUPLICATE_EMAIL,
                    _("{name} appears more than once.", name=company.name),
                    field="companyIds",
                )
            elif company_id in live:
                error = UserError(
                    InvitationErrorCode.ALREADY_MEMBER,
                    _("{name} is already a provider here.", name=company.name),
                    field="companyIds",
                )
            elif company_id in pending:
                error = UserError(
                    InvitationErrorCode.ALREADY_INVITED,
                    _("{name} has a pending invitation.", name=company.name),
                    field="companyIds",
                )
            else:
                seen.add(company_id)
                email = company.email or await _company_contact(company)
                invited.append(
                    await new_invitation(actor, tx, marketplace_id, email=email, company=company)
                )
                continue
            seen.add(company_id)
            rejected.append(Rejected(error, company_id=company_id))
    if invited:
        await Invitation.fetch_for_list(invited, "marketplace")
    return invited, rejected


async def _company_contact(company: ProviderCompany) -> str:
    user = await User.filter(provider_company_id=company.id, is_active=True).order_by("id").first()
    return user.email if user is not None else ""


async def _companies_covering(code: str) -> list[int]:
    """Companies whose own zone holds the postal code: listed, its département, or a circle
    around its centroid."""
    where = locate(code, None, None)
    rows = await ZoneKey.filter(company_id__isnull=False, key__in=address_keys(where)).values_list(
        "company_id", "latitude", "longitude", "radius_km"
    )
    return sorted(
        {
            company_id
            for company_id, latitude, longitude, radius_km in rows
            if radius_km is None
            or (
                where.latitude is not None
                and where.longitude is not None
                and haversine_km(where.latitude, where.longitude, latitude, longitude) <= radius_km
            )
        }
    )


async def provider_directory(
    actor: Actor,
    *,
    name: str | None = None,
    service_id: int | None = None,
    postal_code: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[ProviderCompany]:
    """Staff search the referenced providers: companies listed in the platform directory."""
    marketplace_id = actor.require_reader()
    query = ProviderCompany.filter(listed_in_directory=True)
    if name and name.strip():
        query = query.filter(name__icontains=name.strip())
    if service_id is not None:
        service = await Service.get_or_none(id=service_id, marketplace_id=marketplace_id)
        if service is None:
            raise not_found(_("Service"), field="serviceId")
        # Catalogues are per marketplace: a service elsewhere matches by its name.
        offering = await ProviderService.filter(
            status=ProviderServiceStatus.ACCEPTED, service__name__iexact=service.name
        ).values_list("membership__company_id", flat=True)
        query = query.filter(id__in=list(_ids(offering)))
    if postal_code is not None:
        code = normalize_postal_code(postal_code)
        if code is None:
            raise UserError(
                InvitationErrorCode.INVALID, _("A postal code has 5 digits."), field="postalCode"
            )
        query = query.filter(id__in=await _companies_covering(code))
    return await keyset_page(
        query, first=first, after=after, last=last, before=before, newest_first=False
    )
