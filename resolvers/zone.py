"""Action zones: a provider sets its company's zone, staff restrict it for their marketplace.

A restriction may only reduce the zone, entry by entry: a postal code is inside the zone when
the zone lists it or its département; a prefix when the zone lists that prefix; a circle when
it lies inside one circle of the zone (distance between centres + its radius <= that radius).
Without postal-code geometry, codes never cover circles nor circles codes: such a restriction
is refused as widening. When the provider later shrinks its zone, the restriction entries the
new zone no longer covers are dropped, so a restriction is always a part of the zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from models.membership import Membership, MembershipStatus, ProviderCompany
from models.zone import (
    MAX_RADIUS_KM,
    ZoneEntry,
    ZoneEntryKind,
    ZoneKey,
    ZoneRestriction,
    circle_cell_keys,
    haversine_km,
    normalize_postal_code,
    normalize_prefix,
)
from presta.i18n import _
from presta.tx import AfterCommit, atomic
from resolvers.actor import Actor
from resolvers.errors import UserError, UserErrors, not_found
from resolvers.events import record_event, staff_audience

ZONE_UPDATED = "zone.updated"
MAX_ENTRIES = 2000
_TOLERANCE_KM = 1e-6


class ZoneErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_POSTAL_CODE = "INVALID_POSTAL_CODE"
    INVALID_PREFIX = "INVALID_PREFIX"
    INVALID_COORDINATES = "INVALID_COORDINATES"
    INVALID_RADIUS = "INVALID_RADIUS"
    TOO_MANY_ENTRIES = "TOO_MANY_ENTRIES"
    WIDENS_ZONE = "WIDENS_ZONE"


@dataclass(frozen=True, slots=True)
class Circle:
    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class Area:
    """A set of postal codes, département prefixes and circles (sorted, without duplicates)."""

    postal_codes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    circles: tuple[Circle, ...] = ()

    def covers_code(self, code: str) -> bool:
        from models.zone import prefix_of

        return code in self.postal_codes or prefix_of(code) in self.prefixes

    def covers_circle(self, c: Circle) -> bool:
        return any(
            haversine_km(c.latitude, c.longitude, z.latitude, z.longitude) + c.radius_km
            <= z.radius_km + _TOLERANCE_KM
            for z in self.circles
        )

    def within(self, zone: Area) -> Area:
        """The part of this area that ``zone`` covers."""
        return Area(
            postal_codes=tuple(c for c in self.postal_codes if zone.covers_code(c)),
            prefixes=tuple(p for p in self.prefixes if p in zone.prefixes),
            circles=tuple(c for c in self.circles if zone.covers_circle(c)),
        )


@dataclass(frozen=True, slots=True)
class ActionZone:
    membership_id: int
    provider_zone: Area
    restriction: Area | None = None
    effective: Area = field(default_factory=Area)


def parse_area(
    *,
    postal_codes: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    circles: Iterable[Circle] = (),
) -> Area:
    """Validate and normalize; every faulty field is reported at once."""
    errors: list[UserError] = []
    codes: set[str] = set()
    for raw in postal_codes:
        code = normalize_postal_code(raw)
        if code is None:
            errors.append(
                UserError(
                    ZoneErrorCode.INVALID_POSTAL_CODE,
                    _("{code} is not a French postal code (5 digits).", code=repr(raw)),
                    field="postalCodes",
                )
            )
        else:
            codes.add(code)
    heads: set[str] = set()
    for raw in prefixes:
        prefix = normalize_prefix(raw)
        if prefix is None:
            errors.append(
                UserError(
                    ZoneErrorCode.INVALID_PREFIX,
                    _("{code} is not a département (01-95, 2A, 2B, 971-978, 98).", code=repr(raw)),
                    field="prefixes",
                )
            )
        else:
            heads.add(prefix)
    rounds: set[Circle] = set()
    for c in circles:
        if not (-90 <= c.latitude <= 90 and -180 <= c.longitude <= 180):
            errors.append(
                UserError(
                    ZoneErrorCode.INVALID_COORDINATES,
                    _("Latitude must be within -90..90 and longitude within -180..180."),
                    field="circles",
                )
            )
        elif not 0 < c.radius_km <= MAX_RADIUS_KM:
            errors.append(
                UserError(
                    ZoneErrorCode.INVALID_RADIUS,
                    _("Radius must be over 0 and at most {most:g} km.", most=MAX_RADIUS_KM),
                    field="circles",
                )
            )
        else:
            rounds.add(Circle(float(c.latitude), float(c.longitude), float(c.radius_km)))
    if len(codes) + len(heads) + len(rounds) > MAX_ENTRIES:
        errors.append(
            UserError(
                ZoneErrorCode.TOO_MANY_ENTRIES,
                _("A zone has at most {most} entries.", most=MAX_ENTRIES),
                field=None,
            )
        )
    if errors:
        raise UserErrors(errors)
    return Area(
        postal_codes=tuple(sorted(codes)),
        prefixes=tuple(sorted(heads)),
        circles=tuple(sorted(rounds, key=lambda c: (c.latitude, c.longitude, c.radius_km))),
    )


async def set_action_zone(actor: Actor, *, area: Area) -> ActionZone:
    """A provider replaces its company's zone; restrictions keep only what it still covers."""
    actor.require_writer()
    membership_id, company_id = actor.membership_id, actor.company_id
    if membership_id is None or company_id is None:
        raise not_found(_("Membership"), field=None)
    async with atomic() as tx:
        # One writer per company at a time: the zone is deleted and rewritten.
        await ProviderCompany.filter(id=company_id).select_for_update().first()
        await replace_zone(company_id=company_id, membership_id=None, area=area)
        memberships = await Membership.filter(company_id=company_id).exclude(
            status=MembershipStatus.DELETED
        )
        restricted: list[int] = await ZoneRestriction.filter(  # type: ignore[assignment]
            membership_id__in=[m.id for m in memberships]
        ).values_list("membership_id", flat=True)
        for mid in restricted:
            kept = (await _area(membership_id=mid)).within(area)
            await replace_zone(company_id=None, membership_id=mid, area=kept)
        for m in memberships:
            await _changed(tx, m)
    return await _view(membership_id, company_id)


async def restrict_provider_zone(
    actor: Actor, *, membership_id: int, restriction: Area | None
) -> ActionZone:
    """Staff reduce a provider's zone for their marketplace (null lifts it); widening fails."""
    marketplace_id = actor.require_staff()
    async with atomic() as tx:
        membership = (
            await Membership.filter(id=membership_id, marketplace_id=marketplace_id)
            .exclude(status=MembershipStatus.DELETED)
            .select_for_update()
            .first()
        )
        if membership is None:
            raise not_found(_("Membership"), field="membershipId")
        company_id: int = membership.company_id
        # The company zone must not change between the check and the write.
        await ProviderCompany.filter(id=company_id).select_for_update().first()
        if restriction is None:
            await ZoneRestriction.filter(membership_id=membership_id).delete()
            await replace_zone(company_id=None, membership_id=membership_id, area=Area())
        else:
            _check_reduces(restriction, await _area(company_id=company_id))
            await ZoneRestriction.update_or_create(
                membership_id=membership_id, defaults={"restricted_by_id": actor.user_id}
            )
            await replace_zone(company_id=None, membership_id=membership_id, area=restriction)
        await _changed(tx, membership)
    return await _view(membership_id, company_id)


async def action_zone(actor: Actor, membership_id: int) -> ActionZone:
    """Staff of the marketplace and the provider itself see a membership's zones."""
    membership = await visible_membership(actor, membership_id)
    return await _view(membership.id, membership.company_id)


async def visible_membership(actor: Actor, membership_id: int) -> Membership:
    """The membership when the actor is its marketplace's reader or that provider."""
    marketplace_id = actor.require_marketplace()
    if actor.sees_tab_of(membership_id):
        membership = (
            await Membership.filter(id=membership_id, marketplace_id=marketplace_id)
            .exclude(status=MembershipStatus.DELETED)
            .first()
        )
        if membership is not None:
            return membership
    raise not_found(_("Membership"), field="membershipId")


def _check_reduces(restriction: Area, zone: Area) -> None:
    wider = [
        *(c for c in restriction.postal_codes if not zone.covers_code(c)),
        *(p for p in restriction.prefixes if p not in zone.prefixes),
    ]
    errors = [
        UserError(
            ZoneErrorCode.WIDENS_ZONE,
            _("{what} is outside the provider's zone.", what=what),
            field="postalCodes" if len(what) == 5 else "prefixes",
        )
        for what in wider
    ] + [
        UserError(
            ZoneErrorCode.WIDENS_ZONE,
            _(
                "The circle of {radius:g} km around ({latitude:g}, {longitude:g}) is not "
                "inside a circle of the provider's zone.",
                radius=c.radius_km,
                latitude=c.latitude,
                longitude=c.longitude,
            ),
            field="circles",
        )
        for c in restriction.circles
        if not zone.covers_circle(c)
    ]
    if errors:
        raise UserErrors(errors)


async def _view(membership_id: int, company_id: int) -> ActionZone:
    zone = await _area(company_id=company_id)
    restricted = await ZoneRestriction.exists(membership_id=membership_id)
    restriction = await _area(membership_id=membership_id) if restricted else None
    return ActionZone(
        membership_id=membership_id,
        provider_zone=zone,
        restriction=restriction,
        effective=restriction if restriction is not None else zone,
    )


async def _area(*, company_id: int | None = None, membership_id: int | None = None) -> Area:
    query = (
        ZoneEntry.filter(company_id=company_id, membership_id=None)
        if company_id is not None
        else ZoneEntry.filter(membership_id=membership_id, company_id=None)
    )
    entries = await query.order_by("id")
    return Area(
        postal_codes=tuple(
            sorted(e.code for e in entries if e.kind is ZoneEntryKind.POSTAL_CODE and e.code)
        ),
        prefixes=tuple(
            sorted(e.code for e in entries if e.kind is ZoneEntryKind.PREFIX and e.code)
        ),
        circles=tuple(
            sorted(
                (
                    Circle(e.latitude, e.longitude, e.radius_km)
                    for e in entries
                    if e.kind is ZoneEntryKind.CIRCLE
                    and e.latitude is not None
                    and e.longitude is not None
                    and e.radius_km is not None
                ),
                key=lambda c: (c.latitude, c.longitude, c.radius_km),
            )
        ),
    )


async def replace_zone(*, company_id: int | None, membership_id: int | None, area: Area) -> None:
    """Rewrite the entries and their lookup keys of one zone (a company's or a restriction)."""
    owner = {"company_id": company_id, "membership_id": membership_id}
    await ZoneEntry.filter(**owner).delete()
    entries = [
        *(ZoneEntry(kind=ZoneEntryKind.POSTAL_CODE, code=c, **owner) for c in area.postal_codes),
        *(ZoneEntry(kind=ZoneEntryKind.PREFIX, code=p, **owner) for p in area.prefixes),
        *(
            ZoneEntry(
                kind=ZoneEntryKind.CIRCLE,
                latitude=c.latitude,
                longitude=c.longitude,
                radius_km=c.radius_km,
                **owner,
            )
            for c in area.circles
        ),
    ]
    for entry in entries:
        await entry.save()
    await ZoneKey.bulk_create(list(_keys(entries, owner)), batch_size=1000)


def _keys(entries: Sequence[ZoneEntry], owner: dict[str, int | None]) -> Iterable[ZoneKey]:
    for e in entries:
        if e.kind is ZoneEntryKind.CIRCLE:
            assert e.latitude is not None
            assert e.longitude is not None
            assert e.radius_km is not None
            for key in circle_cell_keys(e.latitude, e.longitude, e.radius_km):
                yield ZoneKey(
                    entry_id=e.id,
                    key=key,
                    latitude=e.latitude,
                    longitude=e.longitude,
                    radius_km=e.radius_km,
                    **owner,
                )
        else:
            yield ZoneKey(entry_id=e.id, key=e.code, **owner)


async def _changed(tx: AfterCommit, membership: Membership) -> None:
    marketplace_id: int = membership.marketplace_id
    await record_event(
        tx,
        topic=ZONE_UPDATED,
        marketplace_id=marketplace_id,
        object_type="Membership",
        object_id=membership.id,
        audience=[staff_audience(marketplace_id), f"membership:{membership.id}"],
    )
