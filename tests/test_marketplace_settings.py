"""Marketplace settings without a mutation before: default commission, reminder rounds, the
grace period of new terms of use, public applications."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from models.account import StaffRole
from models.marketplace import Marketplace
from resolvers.commission import rate_in_force
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.membership import make_membership
from tests.support.graphql import execute, ok

UPDATE = """mutation($input: UpdateMarketplaceSettingsInput!) {
  updateMarketplaceSettings(input: $input) {
    userErrors { field code }
    marketplace { defaultCommissionRate termsGracePeriodDays publicApplicationsEnabled
                  publicApplicationLink } } }"""

DISPATCH = """mutation($input: UpdateDispatchSettingsInput!) {
  updateDispatchSettings(input: $input) {
  userErrors { field code } marketplace { dispatchSettings { maxReminderRounds } } } }"""


async def test_an_admin_changes_the_default_commission_and_providers_without_a_rate_follow():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)

    data = await ok(UPDATE, {"input": {"defaultCommissionRate": "12.5"}}, actor=admin)

    assert data["updateMarketplaceSettings"]["userErrors"] == []
    assert Decimal(data["updateMarketplaceSettings"]["marketplace"]["defaultCommissionRate"]) == (
        Decimal("12.50")
    )
    assert await rate_in_force(membership.id, None, date.today()) == Decimal("12.50")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("defaultCommissionRate", "-0.01"),
        ("defaultCommissionRate", "100.01"),
        ("termsGracePeriodDays", -1),
        ("termsGracePeriodDays", 366),
    ],
)
async def test_a_setting_out_of_range_is_a_typed_error_and_changes_nothing(field, value):
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)

    data = await ok(
        UPDATE, {"input": {field: value, "publicApplicationsEnabled": True}}, actor=admin
    )

    assert data["updateMarketplaceSettings"]["userErrors"] == [
        {"field": field, "code": "OUT_OF_RANGE"}
    ]
    stored = await Marketplace.get(id=marketplace.id)
    assert stored.public_applications_enabled is False
    assert stored.default_commission_rate == Decimal("15.00")


async def test_the_number_of_reminder_rounds_is_set_within_its_range():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)

    data = await ok(DISPATCH, {"input": {"maxReminderRounds": 0}}, actor=admin)
    assert data["updateDispatchSettings"]["marketplace"]["dispatchSettings"] == {
        "maxReminderRounds": 0
    }
    refused = await ok(DISPATCH, {"input": {"maxReminderRounds": 21}}, actor=admin)
    assert refused["updateDispatchSettings"]["userErrors"] == [
        {"field": "maxReminderRounds", "code": "OUT_OF_RANGE"}
    ]
    assert (await Marketplace.get(id=marketplace.id)).max_reminder_rounds == 0


async def test_only_an_admin_changes_the_marketplace_settings():
    marketplace = await make_marketplace()
    agent = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)

    result = await execute(UPDATE, {"input": {"defaultCommissionRate": "1"}}, actor=agent)

    assert result.errors
    assert (await Marketplace.get(id=marketplace.id)).default_commission_rate == Decimal("15.00")


async def test_the_public_application_link_is_shown_to_staff_and_can_be_replaced():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    agent = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)

    on = await ok(UPDATE, {"input": {"publicApplicationsEnabled": True}}, actor=admin)
    link = on["updateMarketplaceSettings"]["marketplace"]["publicApplicationLink"]
    assert "/apply?marketplace=" in link
    seen = await ok("{ marketplace { publicApplicationLink } }", actor=agent)
    assert seen["marketplace"]["publicApplicationLink"] == link

    renewed = await ok(UPDATE, {"input": {"newPublicApplicationLink": True}}, actor=admin)
    new_link = renewed["updateMarketplaceSettings"]["marketplace"]["publicApplicationLink"]
    assert new_link != link

    off = await ok(UPDATE, {"input": {"publicApplicationsEnabled": False}}, actor=admin)
    assert off["updateMarketplaceSettings"]["marketplace"]["publicApplicationLink"] is None


ZONE = """mutation($input: UpdateMarketplaceSettingsInput!) {
  updateMarketplaceSettings(input: $input) { userErrors { field code } marketplace { timeZone } }
}"""


async def test_the_time_zone_of_the_e_mails_is_paris_until_an_admin_picks_another_iana_zone():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)

    unknown = await ok(ZONE, {"input": {"timeZone": "Paris/Mars"}}, actor=admin)
    assert unknown["updateMarketplaceSettings"]["userErrors"] == [
        {"field": "timeZone", "code": "INVALID"}
    ]
    assert (await Marketplace.get(id=marketplace.id)).time_zone == "Europe/Paris"

    moved = await ok(ZONE, {"input": {"timeZone": "America/Montreal"}}, actor=admin)
    assert moved["updateMarketplaceSettings"] == {
        "userErrors": [],
        "marketplace": {"timeZone": "America/Montreal"},
    }
    assert (await Marketplace.get(id=marketplace.id)).time_zone == "America/Montreal"
