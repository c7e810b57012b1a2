from __future__ import annotations

from typing import Any

from models.zone import ZoneKey
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, ok

SET = """
mutation($input: SetActionZoneInput!) {
  setActionZone(input: $input) {
    userErrors { field code message }
    actionZone {
      providerZone { postalCodes prefixes circles { latitude longitude radiusKm } }
      restriction { postalCodes }
      effectiveZone { postalCodes prefixes circles { radiusKm } }
    }
  }
}"""
RESTRICT = """
mutation($input: RestrictProviderZoneInput!) {
  restrictProviderZone(input: $input) {
    userErrors { field code message }
    actionZone {
      providerZone { postalCodes prefixes circles { radiusKm } }
      restriction { postalCodes prefixes circles { latitude longitude radiusKm } }
      effectiveZone { postalCodes prefixes circles { radiusKm } }
    }
  }
}"""
READ = """
query($id: ID!) {
  actionZone(membershipId: $id) {
    providerZone { postalCodes prefixes }
    restriction { postalCodes prefixes }
    effectiveZone { postalCodes prefixes circles { radiusKm } }
  }
}"""

PARIS = {"latitude": 48.8566, "longitude": 2.3522}


async def _setup() -> tuple[Any, Any, Any, Any]:
    mp = await make_marketplace()
    membership = await make_membership(mp)
    provider = await actor_of(await make_provider_user(membership), mp)
    staff = await actor_of(await make_staff(mp), mp)
    return mp, membership, provider, staff


async def _set(provider: Any, **zone: Any) -> Any:
    data = await ok(SET, {"input": zone}, actor=provider)
    return data["setActionZone"]


async def _restrict(staff: Any, membership: Any, **zone: Any) -> Any:
    gid = str(encode_id("Membership", membership.id))
    data = await ok(RESTRICT, {"input": {"membershipId": gid, **zone}}, actor=staff)
    return data["restrictProviderZone"]


async def test_a_provider_sets_any_mix_of_codes_prefixes_and_circles_normalized():
    _, membership, provider, _ = await _setup()

    result = await _set(
        provider,
        postalCodes=[" 75011", "75011", "69001"],
        prefixes=["2a", "92", "974"],
        circles=[{**PARIS, "radiusKm": 15}],
    )

    assert result["userErrors"] == []
    zone = result["actionZone"]
    assert zone["providerZone"] == {
        "postalCodes": ["69001", "75011"],
        "prefixes": ["2A", "92", "974"],
        "circles": [{**PARIS, "radiusKm": 15.0}],
    }
    assert zone["restriction"] is None
    assert zone["effectiveZone"]["prefixes"] == ["2A", "92", "974"]
    # Replacing the zone replaces its lookup rows too.
    await _set(provider, postalCodes=["13001"])
    keys = await ZoneKey.filter(company_id=membership.company_id).values("key")
    assert keys == [{"key": "13001"}]


async def test_every_malformed_entry_is_reported_and_the_zone_is_left_unchanged():
    _, _, provider, _ = await _setup()
    await _set(provider, postalCodes=["75011"])

    result = await _set(
        provider,
        postalCodes=["7501", "00100", "7501A"],
        prefixes=["20", "96", "9"],
        circles=[
            {**PARIS, "radiusKm": 0},
            {**PARIS, "radiusKm": -3},
            {**PARIS, "radiusKm": 200.001},
            {"latitude": 90.5, "longitude": 2.0, "radiusKm": 5},
            {"latitude": 45.0, "longitude": -181.0, "radiusKm": 5},
        ],
    )

    errors = [(e["field"], e["code"]) for e in result["userErrors"]]
    assert errors == (
        [("postalCodes", "INVALID_POSTAL_CODE")] * 3
        + [("prefixes", "INVALID_PREFIX")] * 3
        + [("circles", "INVALID_RADIUS")] * 3
        + [("circles", "INVALID_COORDINATES")] * 2
    )
    assert result["actionZone"] is None
    assert (await _set(provider))["actionZone"]["providerZone"]["postalCodes"] == []


async def test_a_radius_of_exactly_200_km_is_accepted():
    _, _, provider, _ = await _setup()
    result = await _set(provider, circles=[{**PARIS, "radiusKm": 200}])
    assert result["userErrors"] == []


async def test_staff_reduce_a_zone_to_codes_inside_its_departements_and_smaller_circles():
    _, membership, provider, staff = await _setup()
    await _set(provider, prefixes=["75", "92"], circles=[{**PARIS, "radiusKm": 30}])

    result = await _restrict(
        staff,
        membership,
        postalCodes=["75011", "92100"],
        prefixes=["92"],
        circles=[{"latitude": 48.9, "longitude": 2.4, "radiusKm": 20}],
    )

    assert result["userErrors"] == []
    zone = result["actionZone"]
    assert zone["providerZone"]["prefixes"] == ["75", "92"]
    assert zone["restriction"]["postalCodes"] == ["75011", "92100"]
    assert zone["effectiveZone"] == {
        "postalCodes": ["75011", "92100"],
        "prefixes": ["92"],
        "circles": [{"radiusKm": 20.0}],
    }


async def test_a_restriction_equal_to_the_zone_is_allowed():
    _, membership, provider, staff = await _setup()
    zone = {
        "postalCodes": ["69001"],
        "prefixes": ["2B"],
        "circles": [{**PARIS, "radiusKm": 30}],
    }
    await _set(provider, **zone)

    result = await _restrict(staff, membership, **zone)

    assert result["userErrors"] == []
    assert result["actionZone"]["restriction"]["circles"] == [{**PARIS, "radiusKm": 30.0}]


async def test_widening_the_zone_is_a_typed_error_naming_each_entry():
    _, membership, provider, staff = await _setup()
    await _set(
        provider, postalCodes=["69001"], prefixes=["75"], circles=[{**PARIS, "radiusKm": 30}]
    )

    result = await _restrict(
        staff,
        membership,
        postalCodes=["69002"],
        # A département is not covered by some of its postal codes, nor 2A by 2B.
        prefixes=["69", "2A"],
        circles=[
            {**PARIS, "radiusKm": 30.5},
            # Inside the radius but the disc pokes out of the zone's circle.
            {"latitude": 49.0, "longitude": 2.35, "radiusKm": 20},
        ],
    )

    errors = [(e["field"], e["code"]) for e in result["userErrors"]]
    assert errors == [
        ("postalCodes", "WIDENS_ZONE"),
        ("prefixes", "WIDENS_ZONE"),
        ("prefixes", "WIDENS_ZONE"),
        ("circles", "WIDENS_ZONE"),
        ("circles", "WIDENS_ZONE"),
    ]
    read = await ok(READ, {"id": str(encode_id("Membership", membership.id))}, actor=staff)
    assert read["actionZone"]["restriction"] is None


async def test_codes_never_cover_circles_nor_circles_codes():
    _, membership, provider, staff = await _setup()
    await _set(provider, prefixes=["75"], circles=[{**PARIS, "radiusKm": 50}])

    result = await _restrict(
        staff,
        membership,
        postalCodes=["92100"],  # near Paris, inside the circle, but not in a listed code
        circles=[{**PARIS, "radiusKm": 100}],
    )
    assert [e["code"] for e in result["userErrors"]] == ["WIDENS_ZONE", "WIDENS_ZONE"]


async def test_shrinking_the_provider_zone_trims_the_restriction_to_what_it_still_covers():
    _, membership, provider, staff = await _setup()
    await _set(provider, prefixes=["75", "92"])
    await _restrict(staff, membership, postalCodes=["75011", "92100"])

    result = await _set(provider, prefixes=["75"])

    zone = result["actionZone"]
    assert zone["restriction"]["postalCodes"] == ["75011"]
    assert zone["effectiveZone"]["postalCodes"] == ["75011"]


async def test_lifting_the_restriction_restores_the_provider_zone():
    _, membership, provider, staff = await _setup()
    await _set(provider, prefixes=["75", "92"])
    await _restrict(staff, membership, prefixes=["75"])

    result = await _restrict(staff, membership, lift=True)

    assert result["actionZone"]["restriction"] is None
    assert result["actionZone"]["effectiveZone"]["prefixes"] == ["75", "92"]


async def test_providers_cannot_restrict_and_other_marketplaces_see_nothing():
    _, membership, provider, _ = await _setup()
    await _set(provider, prefixes=["75"])
    gid = str(encode_id("Membership", membership.id))
    other_mp = await make_marketplace()
    outsider = await actor_of(await make_staff(other_mp), other_mp)

    denied = await execute(
        RESTRICT, {"input": {"membershipId": gid, "prefixes": ["75"]}}, actor=provider
    )
    assert denied.codes == ["FORBIDDEN"]
    hidden = await _restrict(outsider, membership, prefixes=["75"])
    assert [e["code"] for e in hidden["userErrors"]] == ["NOT_FOUND"]
    assert (await ok(READ, {"id": gid}, actor=outsider))["actionZone"] is None
    # The provider reads its own tab, also through its membership.
    mine = await ok(READ, {"id": gid}, actor=provider)
    assert mine["actionZone"]["providerZone"]["prefixes"] == ["75"]
    through = await ok(
        "query($id: ID!) { node(id: $id) { ... on Membership { actionZone { "
        "effectiveZone { prefixes } } } } }",
        {"id": gid},
        actor=provider,
    )
    assert through["node"]["actionZone"]["effectiveZone"]["prefixes"] == ["75"]
