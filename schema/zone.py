"""Action zones of providers, and the matching that staff use to see gaps in coverage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from models.membership import Membership as MembershipModel
from models.zone import MAX_RADIUS_KM
from resolvers import matching
from resolvers import zone as use_cases
from resolvers.actor import Actor
from resolvers.errors import UserError
from schema.base import Mutations, UserErrorBase, decode_id, encode_id
from schema.context import Info

if TYPE_CHECKING:
    from schema.membership.types import Membership

MembershipRef = Annotated["Membership", strawberry.lazy("schema.membership.types")]

strawberry.enum(use_cases.ZoneErrorCode, description="Why a zone operation failed.")
strawberry.enum(
    matching.MatchReason,
    description="Why a provider does not match: WRONG_STATUS (membership not ACCEPTED), "
    "SERVICE_ARCHIVED, SERVICE_NOT_ACCEPTED, OUTSIDE_ZONE (the address is not in its effective "
    "zone), DOCUMENT_MISSING, DOCUMENT_EXPIRED (a required company document).",
)


@strawberry.type(description="A failure of a zone operation.")
class ZoneError(UserErrorBase):
    code: use_cases.ZoneErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="A disc: every address within `radiusKm` of the centre.")
class ZoneCircle:
    latitude: float = strawberry.field(description="Centre latitude, degrees (WGS 84).")
    longitude: float = strawberry.field(description="Centre longitude, degrees (WGS 84).")
    radius_km: float = strawberry.field(description="Radius in kilometres (great-circle).")


@strawberry.type(description="An area: postal codes, département prefixes and circles.")
class ZoneArea:
    postal_codes: list[str] = strawberry.field(description="Full 5-digit postal codes.")
    prefixes: list[str] = strawberry.field(
        description="Départements: 01-95, 2A and 2B for Corsica, 971-978 overseas, 98."
    )
    circles: list[ZoneCircle] = strawberry.field(description="Discs around a centre.")

    @classmethod
    def from_area(cls, a: use_cases.Area) -> ZoneArea:
        return cls(
            postal_codes=list(a.postal_codes),
            prefixes=list(a.prefixes),
            circles=[
                ZoneCircle(latitude=c.latitude, longitude=c.longitude, radius_km=c.radius_km)
                for c in a.circles
            ],
        )


@strawberry.type(description="The Action zone tab of a provider's file.")
class ActionZone:
    membership_id: relay.GlobalID = strawberry.field(description="The membership.")
    provider_zone: ZoneArea = strawberry.field(
        description="Where the provider company says it works (shared by its marketplaces)."
    )
    restriction: ZoneArea | None = strawberry.field(
        description="This marketplace's reduction of that zone; null when not restricted."
    )
    effective_zone: ZoneArea = strawberry.field(
        description="Where requests of this marketplace are matched: the restriction when "
        "there is one, else the provider's zone."
    )

    @classmethod
    def from_view(cls, z: use_cases.ActionZone) -> ActionZone:
        return cls(
            membership_id=encode_id("Membership", z.membership_id),
            provider_zone=ZoneArea.from_area(z.provider_zone),
            restriction=ZoneArea.from_area(z.restriction) if z.restriction else None,
            effective_zone=ZoneArea.from_area(z.effective),
        )


@strawberry.input(description="A disc of an action zone.")
class CircleInput:
    latitude: float = strawberry.field(description="Centre latitude, -90 to 90.")
    longitude: float = strawberry.field(description="Centre longitude, -180 to 180.")
    radius_km: float = strawberry.field(
        description=f"Radius in kilometres, over 0 and at most {MAX_RADIUS_KM:g}."
    )


@strawberry.input(description="The acting provider's whole action zone (replaces the old one).")
class SetActionZoneInput:
    postal_codes: list[str] = strawberry.field(
        default_factory=list, description="Full postal codes (5 digits)."
    )
    prefixes: list[str] = strawberry.field(
        default_factory=list, description="Départements: 01-95, 2A, 2B, 971-978, 98."
    )
    circles: list[CircleInput] = strawberry.field(
        default_factory=list, description="Discs (centre and radius)."
    )


@strawberry.input(
    description="Staff reduce a provider's zone for the acting marketplace. Each entry must "
    "lie inside the provider's zone: a postal code inside a listed code or département, a "
    "prefix equal to a listed prefix, a circle inside a listed circle. Codes never cover "
    "circles nor circles codes. A restriction equal to the zone is allowed."
)
class RestrictProviderZoneInput:
    membership_id: relay.GlobalID = strawberry.field(description="The membership (Membership).")
    postal_codes: list[str] = strawberry.field(
        default_factory=list, description="Postal codes kept."
    )
    prefixes: list[str] = strawberry.field(default_factory=list, description="Prefixes kept.")
    circles: list[CircleInput] = strawberry.field(default_factory=list, description="Circles kept.")
    lift: bool = strawberry.field(
        default=False,
        description="Remove the restriction (the provider's zone applies again); the "
        "entries are then ignored.",
    )


@strawberry.type(description="Result of setActionZone.")
class SetActionZonePayload:
    user_errors: list[ZoneError] = strawberry.field(description="Expected failures.")
    action_zone: ActionZone | None = strawberry.field(
        default=None, description="The zones of the acting membership."
    )


@strawberry.type(description="Result of restrictProviderZone.")
class RestrictProviderZonePayload:
    user_errors: list[ZoneError] = strawberry.field(description="Expected failures.")
    action_zone: ActionZone | None = strawberry.field(
        default=None, description="The zones of the membership."
    )


@strawberry.input(description="Where a request is: postal code and optional coordinates.")
class AddressInput:
    postal_code: str = strawberry.field(description="5-digit postal code.")
    latitude: float | None = strawberry.field(
        default=None,
        description="Latitude; with longitude, circle zones are matched at this point, else "
        "at the postal code's centroid.",
    )
    longitude: float | None = strawberry.field(default=None, description="Longitude.")


@strawberry.type(description="A provider that does not match, and every reason why.")
class UnmatchedProvider:
    membership: MembershipRef = strawberry.field(description="The provider's membership.")
    reasons: list[matching.MatchReason] = strawberry.field(description="Why not matched.")


@strawberry.type(description="The point an address was matched at, against circle zones.")
class MatchLocation:
    latitude: float | None = strawberry.field(
        description="Null when the address has neither coordinates nor a known postal code."
    )
    longitude: float | None = strawberry.field(description="With latitude.")
    postal_code_centroid: bool = strawberry.field(
        description="The address came without coordinates: the point is its postal code's "
        "centroid (GeoNames data shipped with Presta)."
    )


@strawberry.type(description="Who receives a request for this service at this address.")
class ProviderMatching:
    location: MatchLocation = strawberry.field(
        description="Where the address was placed for circle zones."
    )
    explanation: str = strawberry.field(
        description="How the address was matched, in the caller's language: it says when the "
        "postal code's centroid stood in for missing coordinates."
    )
    matched: list[MembershipRef] = strawberry.field(
        description="Memberships that would receive the request."
    )
    unmatched: list[UnmatchedProvider] = strawberry.field(
        description="The other providers of the marketplace (oldest first, up to `first`)."
    )
    unmatched_count: int = strawberry.field(description="How many providers do not match.")


def _area(data: SetActionZoneInput | RestrictProviderZoneInput) -> use_cases.Area:
    return use_cases.parse_area(
        postal_codes=data.postal_codes,
        prefixes=data.prefixes,
        circles=[use_cases.Circle(c.latitude, c.longitude, c.radius_km) for c in data.circles],
    )


async def _set(actor: Actor, data: SetActionZoneInput) -> dict[str, Any]:
    view = await use_cases.set_action_zone(actor, area=_area(data))
    return {"action_zone": ActionZone.from_view(view)}


async def _restrict(actor: Actor, data: RestrictProviderZoneInput) -> dict[str, Any]:
    mid = decode_id(data.membership_id, "Membership", field="membershipId")
    area = None if data.lift else _area(data)
    view = await use_cases.restrict_provider_zone(actor, membership_id=mid, restriction=area)
    return {"action_zone": ActionZone.from_view(view)}


_run = Mutations(ZoneError, use_cases.ZoneErrorCode)


@strawberry.type
class ZoneMutation:
    @strawberry.mutation(
        description="Provider: replace its company's action zone (any mix of postal codes, "
        "départements and circles). Restrictions keep only what the new zone still covers."
    )
    async def set_action_zone(self, info: Info, input: SetActionZoneInput) -> SetActionZonePayload:
        result: SetActionZonePayload = await _run(
            SetActionZonePayload, _set(info.context.actor, input)
        )
        return result

    @strawberry.mutation(
        description="Staff: reduce a provider's zone for this marketplace (never widen it)."
    )
    async def restrict_provider_zone(
        self, info: Info, input: RestrictProviderZoneInput
    ) -> RestrictProviderZonePayload:
        result: RestrictProviderZonePayload = await _run(
            RestrictProviderZonePayload, _restrict(info.context.actor, input)
        )
        return result


async def zone_tab(actor: Actor, membership_id: int) -> ActionZone:
    return ActionZone.from_view(await use_cases.action_zone(actor, membership_id))


def _membership(m: MembershipModel) -> Membership:
    from schema.membership.types import Membership

    return Membership.from_model(m)


@strawberry.type
class ZoneQuery:
    @strawberry.field(
        description="The Action zone tab of a provider's file: its zone, this marketplace's "
        "restriction and the effective zone. For staff and the provider; null when not visible."
    )
    async def action_zone(
        self,
        info: Info,
        membership_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The membership (Membership).")
        ],
    ) -> ActionZone | None:
        try:
            mid = decode_id(membership_id, "Membership", field="membershipId")
            return ActionZone.from_view(await use_cases.action_zone(info.context.actor, mid))
        except UserError:
            return None

    @strawberry.field(
        description="Staff: the providers a request for this service at this address would "
        "reach, and why each other provider of the marketplace would not."
    )
    async def matching_providers(
        self,
        info: Info,
        service_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The service (Service).")
        ],
        address: Annotated[AddressInput, strawberry.argument(description="The address.")],
        first: Annotated[
            int, strawberry.argument(description="Unmatched providers listed (max 100).")
        ] = 100,
    ) -> ProviderMatching:
        sid = decode_id(service_id, "Service", field="serviceId")
        report = await matching.explain_matching(
            info.context.actor,
            service_id=sid,
            postal_code=address.postal_code,
            latitude=address.latitude,
            longitude=address.longitude,
            first=first,
        )
        where = report.location
        return ProviderMatching(
            location=MatchLocation(
                latitude=where.latitude,
                longitude=where.longitude,
                postal_code_centroid=where.centroid,
            ),
            explanation=str(report.explanation),
            matched=[_membership(m) for m in report.matched],
            unmatched=[
                UnmatchedProvider(membership=_membership(m), reasons=why)
                for m, why in report.unmatched
            ],
            unmatched_count=report.unmatched_total,
        )
