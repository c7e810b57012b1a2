from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from models.catalog import ProviderServiceStatus
from models.membership import Membership, MembershipStatus
from models.zone import EARTH_RADIUS_KM
from presta import clock
from presta.postal import centroid
from resolvers.matching import matching_membership_ids
from resolvers.zone import Area, Circle, restrict_provider_zone
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.catalog import give_zone, make_service, offer, require_document, upload
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, ok

PARIS = (48.8566, 2.3522)


def point_at(lat: float, lon: float, *, km: float, bearing: float = 90.0) -> tuple[float, float]:
    """The point ``km`` away from (lat, lon) along a great circle."""
    d, b = km / EARTH_RADIUS_KM, math.radians(bearing)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


async def _provider(marketplace: Any, service: Any, **zone: Any) -> Membership:
    membership = await make_membership(marketplace)
    await offer(membership, service)
    await give_zone(membership, **zone)
    return membership


async def _match(
    marketplace: Any,
    service: Any,
    postal_code: str,
    lat: float | None = None,
    lon: float | None = None,
    **kw: Any,
) -> list[int]:
    return await matching_membership_ids(
        marketplace_id=marketplace.id,
        service_id=service.id,
        postal_code=postal_code,
        latitude=lat,
        longitude=lon,
        **kw,
    )


async def test_a_provider_matches_on_a_listed_postal_code_or_departement():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    by_code = await _provider(mp, cleaning, postal_codes=("75011",))
    by_prefix = await _provider(mp, cleaning, prefixes=("75",))
    await _provider(mp, cleaning, postal_codes=("75012",), prefixes=("92",))

    assert await _match(mp, cleaning, "75011") == [by_code.id, by_prefix.id]
    assert await _match(mp, cleaning, "75019") == [by_prefix.id]
    assert await _match(mp, cleaning, "69001") == []


async def test_corsican_postal_codes_fall_in_2a_up_to_201xx_and_in_2b_from_202xx():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    south = await _provider(mp, cleaning, prefixes=("2A",))
    north = await _provider(mp, cleaning, prefixes=("2B",))

    for code in ("20000", "20090", "20167", "20199"):
        assert await _match(mp, cleaning, code) == [south.id], code
    for code in ("20200", "20290", "20600", "20620"):
        assert await _match(mp, cleaning, code) == [north.id], code


async def test_overseas_postal_codes_match_their_three_digit_departement():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    reunion = await _provider(mp, cleaning, prefixes=("974",))
    await _provider(mp, cleaning, prefixes=("971",))

    assert await _match(mp, cleaning, "97400") == [reunion.id]


async def test_a_circle_matches_up_to_its_radius_and_not_a_metre_beyond():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    circle = await _provider(mp, cleaning, circles=((*PARIS, 30.0),))

    for bearing in (0.0, 90.0, 225.0):
        inside = point_at(*PARIS, km=29.999, bearing=bearing)
        outside = point_at(*PARIS, km=30.001, bearing=bearing)
        assert await _match(mp, cleaning, "77000", *inside) == [circle.id], bearing
        assert await _match(mp, cleaning, "77000", *outside) == [], bearing


async def test_a_circle_crossing_grid_cells_still_matches_far_from_its_centre_cell():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    wide = await _provider(mp, cleaning, circles=((45.0, 5.0, 200.0),))

    assert await _match(mp, cleaning, "13001", *point_at(45.0, 5.0, km=199.0, bearing=200)) == [
        wide.id
    ]
    assert await _match(mp, cleaning, "13001", *point_at(45.0, 5.0, km=201.0, bearing=200)) == []


async def test_without_coordinates_a_circle_matches_when_it_holds_the_postal_codes_centroid():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    # 75011's centroid (48.8574, 2.3795) lies 2.0 km east of PARIS; 69003 (Lyon) 392 km away.
    holds = await _provider(mp, cleaning, circles=((*PARIS, 2.5),))
    await _provider(mp, cleaning, circles=((*PARIS, 1.5),))
    by_code = await _provider(mp, cleaning, postal_codes=("69003",))

    assert centroid("75011") == (48.8574, 2.3795)
    assert await _match(mp, cleaning, "75011") == [holds.id]
    assert await _match(mp, cleaning, "69003") == [by_code.id]


async def test_given_coordinates_win_over_the_postal_codes_centroid():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    around_paris = await _provider(mp, cleaning, circles=((*PARIS, 10.0),))

    assert await _match(mp, cleaning, "75011") == [around_paris.id]
    # A Paris code given with coordinates in Lyon is matched in Lyon.
    assert await _match(mp, cleaning, "75011", 45.7612, 4.8518) == []


async def test_a_postal_code_without_a_known_centroid_matches_codes_and_prefixes_only():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    await _provider(mp, cleaning, circles=((*PARIS, 200.0),))
    by_prefix = await _provider(mp, cleaning, prefixes=("75",))

    assert centroid("75999") is None
    assert await _match(mp, cleaning, "75999") == [by_prefix.id]


async def test_only_accepted_memberships_match():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    accepted = await _provider(mp, cleaning, prefixes=("75",))
    for status in (
        MembershipStatus.APPLIED,
        MembershipStatus.SUSPENDED,
        MembershipStatus.DEACTIVATED,
        MembershipStatus.DELETED,
    ):
        other = await _provider(mp, cleaning, prefixes=("75",))
        other.status = status
        await other.save(update_fields=["status"])

    assert await _match(mp, cleaning, "75002") == [accepted.id]


async def test_only_a_service_accepted_for_the_provider_matches():
    mp = await make_marketplace()
    cleaning, ironing = await make_service(mp), await make_service(mp)
    accepted = await _provider(mp, cleaning, prefixes=("75",))
    for status in (
        ProviderServiceStatus.PENDING,
        ProviderServiceStatus.REJECTED,
        ProviderServiceStatus.DEACTIVATED,
    ):
        m = await make_membership(mp)
        await give_zone(m, prefixes=("75",))
        await offer(m, cleaning, status)
    only_ironing = await make_membership(mp)
    await give_zone(only_ironing, prefixes=("75",))
    await offer(only_ironing, ironing)

    assert await _match(mp, cleaning, "75002") == [accepted.id]
    assert await _match(mp, ironing, "75002") == [only_ironing.id]


async def test_an_archived_service_matches_nobody():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    await _provider(mp, cleaning, prefixes=("75",))
    cleaning.archived_at = clock.now()
    await cleaning.save(update_fields=["archived_at"])

    assert await _match(mp, cleaning, "75002") == []


async def test_a_document_expiring_today_no_longer_matches_but_did_the_day_before():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    insurance = await require_document(mp)
    kbis = await require_document(mp)
    provider = await _provider(mp, cleaning, prefixes=("75",))
    await upload(provider, kbis)
    await upload(provider, insurance, expires_on=clock.now().date() + timedelta(days=1))

    assert await _match(mp, cleaning, "75002") == [provider.id]
    clock.advance(timedelta(days=1))
    assert await _match(mp, cleaning, "75002") == []
    # A renewed copy makes it match again; the expired one does not matter any more.
    await upload(provider, insurance, expires_on=clock.now().date() + timedelta(days=365))
    assert await _match(mp, cleaning, "75002") == [provider.id]


async def test_a_missing_or_deleted_required_document_prevents_the_match():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    insurance = await require_document(mp)
    provider = await _provider(mp, cleaning, prefixes=("75",))
    assert await _match(mp, cleaning, "75002") == []

    document = await upload(provider, insurance)
    assert await _match(mp, cleaning, "75002") == [provider.id]
    document.deleted_at = clock.now()
    await document.save(update_fields=["deleted_at"])
    assert await _match(mp, cleaning, "75002") == []


async def test_a_restriction_replaces_the_company_zone_in_its_marketplace_only():
    mp, other_mp = await make_marketplace(), await make_marketplace()
    cleaning, other_cleaning = await make_service(mp), await make_service(other_mp)
    here = await _provider(mp, cleaning, prefixes=("75", "92"))
    there = await make_membership(other_mp, company=here.company)
    await offer(there, other_cleaning)
    staff = await actor_of(await make_staff(mp), mp)

    await restrict_provider_zone(staff, membership_id=here.id, restriction=Area(prefixes=("75",)))

    assert await _match(mp, cleaning, "92100") == []
    assert await _match(mp, cleaning, "75002") == [here.id]
    assert await _match(other_mp, other_cleaning, "92100") == [there.id]


async def test_an_empty_restriction_takes_the_provider_out_of_every_address():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    provider = await _provider(mp, cleaning, prefixes=("75",), circles=((*PARIS, 20.0),))
    staff = await actor_of(await make_staff(mp), mp)
    await restrict_provider_zone(staff, membership_id=provider.id, restriction=Area())

    assert await _match(mp, cleaning, "75002", *PARIS) == []
    await restrict_provider_zone(staff, membership_id=provider.id, restriction=None)
    assert await _match(mp, cleaning, "75002", *PARIS) == [provider.id]


async def test_a_restricted_circle_matches_within_the_smaller_radius_only():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    provider = await _provider(mp, cleaning, circles=((*PARIS, 40.0),))
    staff = await actor_of(await make_staff(mp), mp)
    await restrict_provider_zone(
        staff, membership_id=provider.id, restriction=Area(circles=(Circle(*PARIS, 10.0),))
    )

    assert await _match(mp, cleaning, "75002", *point_at(*PARIS, km=9.9)) == [provider.id]
    assert await _match(mp, cleaning, "75002", *point_at(*PARIS, km=20.0)) == []


async def test_providers_of_another_marketplace_never_match():
    mp, other_mp = await make_marketplace(), await make_marketplace()
    cleaning = await make_service(mp)
    foreign = await make_membership(other_mp)
    await give_zone(foreign, prefixes=("75",))
    await offer(foreign, cleaning)  # even linked to this service by mistake

    assert await _match(mp, cleaning, "75002") == []


MATCHING = """
query($service: ID!, $address: AddressInput!) {
  matchingProviders(serviceId: $service, address: $address) {
    matched { id company { name } }
    unmatched { membership { id } reasons }
    unmatchedCount
  }
}"""


async def test_matching_providers_explains_why_every_other_provider_is_left_out():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    insurance = await require_document(mp)
    good = await _provider(mp, cleaning, prefixes=("75",))
    await upload(good, insurance)
    suspended = await _provider(mp, cleaning, prefixes=("75",))
    suspended.status = MembershipStatus.SUSPENDED
    await suspended.save(update_fields=["status"])
    await upload(suspended, insurance)
    far_pending = await make_membership(mp)
    await offer(far_pending, cleaning, ProviderServiceStatus.PENDING)
    await give_zone(far_pending, prefixes=("13",))
    await upload(far_pending, insurance, expires_on=clock.now().date())
    staff = await actor_of(await make_staff(mp), mp)

    data = await ok(
        MATCHING,
        {
            "service": str(encode_id("Service", cleaning.id)),
            "address": {"postalCode": "75002", "latitude": 48.87, "longitude": 2.34},
        },
        actor=staff,
    )
    report = data["matchingProviders"]
    assert [m["id"] for m in report["matched"]] == [str(encode_id("Membership", good.id))]
    reasons = {u["membership"]["id"]: set(u["reasons"]) for u in report["unmatched"]}
    assert reasons == {
        str(encode_id("Membership", suspended.id)): {"WRONG_STATUS"},
        str(encode_id("Membership", far_pending.id)): {
            "SERVICE_NOT_ACCEPTED",
            "OUTSIDE_ZONE",
            "DOCUMENT_EXPIRED",
        },
    }
    assert report["unmatchedCount"] == 2


async def test_matching_providers_is_for_staff_and_rejects_a_malformed_postal_code():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    provider = await _provider(mp, cleaning, prefixes=("75",))
    as_provider = await actor_of(await make_provider_user(provider), mp)
    staff = await actor_of(await make_staff(mp), mp)
    variables = {
        "service": str(encode_id("Service", cleaning.id)),
        "address": {"postalCode": "7500"},
    }

    denied = await execute(MATCHING, variables, actor=as_provider)
    assert denied.codes == ["FORBIDDEN"]
    malformed = await execute(MATCHING, variables, actor=staff)
    assert malformed.codes == ["BAD_USER_INPUT"]
    assert malformed.errors[0]["extensions"]["field"] == "postalCode"


EXPLAINED = """
query($service: ID!, $address: AddressInput!) {
  matchingProviders(serviceId: $service, address: $address) {
    matched { id }
    unmatched { membership { id } reasons }
    location { latitude longitude postalCodeCentroid }
    explanation
  }
}"""


async def test_matching_providers_says_when_the_postal_codes_centroid_stood_in_for_coordinates():
    mp = await make_marketplace()
    cleaning = await make_service(mp)
    holds = await _provider(mp, cleaning, circles=((*PARIS, 2.5),))
    misses = await _provider(mp, cleaning, circles=((*PARIS, 1.5),))
    staff_user = await make_staff(mp)
    staff = await actor_of(staff_user, mp)
    variables = {
        "service": str(encode_id("Service", cleaning.id)),
        "address": {"postalCode": "75011"},
    }

    report = (await ok(EXPLAINED, variables, actor=staff))["matchingProviders"]
    assert report["matched"] == [{"id": str(encode_id("Membership", holds.id))}]
    assert report["unmatched"] == [
        {"membership": {"id": str(encode_id("Membership", misses.id))}, "reasons": ["OUTSIDE_ZONE"]}
    ]
    assert report["location"] == {
        "latitude": 48.8574,
        "longitude": 2.3795,
        "postalCodeCentroid": True,
    }
    assert report["explanation"] == (
        "L'adresse n'a pas de coordonnées : les zones en cercle ont été comparées au centre du "
        "code postal 75011 (48.8574, 2.3795)."
    )

    staff_user.locale = "en"
    await staff_user.save(update_fields=["locale"])
    given = {**variables, "address": {"postalCode": "75011", "latitude": 48.86, "longitude": 2.35}}
    english = (await ok(EXPLAINED, given, actor=await actor_of(staff_user, mp)))[
        "matchingProviders"
    ]
    assert english["location"]["postalCodeCentroid"] is False
    assert english["explanation"] == (
        "Circle zones were matched against the address's coordinates (48.8600, 2.3500)."
    )
