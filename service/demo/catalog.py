"""Demo catalogue and action zones: services, each provider's services and zone, a restriction."""

from __future__ import annotations

from typing import Any

from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.membership import Membership
from presta import clock
from resolvers.account import actor_for_user
from resolvers.zone import Area, Circle, replace_zone, restrict_provider_zone

S = ProviderServiceStatus
PARIS = (48.8566, 2.3522)
# Per accepted provider, in order: its services and its zone.
_OFFERS = [
    ({"Ménage": S.ACCEPTED, "Repassage": S.ACCEPTED, "Bricolage": S.PENDING}, 0),
    ({"Ménage": S.ACCEPTED, "Garde d'enfants": S.REJECTED}, 1),
    ({"Ménage": S.ACCEPTED, "Repassage": S.DEACTIVATED}, 2),
    ({"Repassage": S.ACCEPTED, "Ménage": S.PENDING}, 3),
    ({"Ménage": S.ACCEPTED}, 4),
]
_ZONES = [
    Area(postal_codes=("75011", "75012", "75020"), prefixes=("93",)),
    Area(postal_codes=("75011",), circles=(Circle(*PARIS, 15.0),)),
    Area(prefixes=("75", "92")),
    Area(prefixes=("2A", "2B"), postal_codes=("75011",)),
    # A circle only, 3 km around Bastille: a request with only a postal code (75011) reaches
    # it through the postal code's centroid.
    Area(circles=(Circle(48.8532, 2.3692, 3.0),)),
]


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    services = {
        name: await Service.create(
            marketplace=marketplace, name=name, category=category, description=description
        )
        for name, category, description in (
            ("Ménage", "Entretien", "Ménage régulier ou ponctuel à domicile."),
            ("Repassage", "Entretien", "Repassage à domicile."),
            ("Garde d'enfants", "Famille", "Garde d'enfants à domicile, sortie d'école."),
            ("Bricolage", "Maison", "Petits travaux, montage de meubles."),
        )
    }
    old = await Service.create(
        marketplace=marketplace, name="Vitres (ancienne offre)", archived_at=clock.now()
    )
    await Service.create(marketplace=ctx["other_marketplace"], name="Jardinage")
    ctx["services"] = services
    memberships: list[Membership] = ctx.get("memberships", [])
    for membership, (offers, zone) in zip(memberships, _OFFERS, strict=False):
        for name, status in offers.items():
            await ProviderService.create(
                membership=membership,
                service=services[name],
                status=status,
                reason="Diplôme manquant." if status is S.REJECTED else "",
            )
        await replace_zone(
            company_id=membership.company_id,
            membership_id=None,
            area=_ZONES[zone],
        )
    lines = [
        f"catalogue: {len(services)} services in menage-plus (and '{old.name}', archived); "
        'try matchingProviders(serviceId, address: {postalCode: "75011"}) as staff',
    ]
    if len(memberships) > 2:
        staff = await actor_for_user(ctx["admin"], marketplace.id)
        await restrict_provider_zone(
            staff, membership_id=memberships[2].id, restriction=Area(prefixes=("75",))
        )
        lines.append(
            "zones: providers with codes, départements and circles (Clean Paris 11: only 3 km "
            "around Bastille, matched for postalCode 75011 through its centroid, see "
            "matchingProviders { explanation }); the third is restricted by menage-plus to 75 "
            "(its zone is 75 and 92)"
        )
    return lines
