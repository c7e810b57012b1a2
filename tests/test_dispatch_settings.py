"""Dispatch settings: ADMIN only, each value checked against its range, all or nothing."""

from __future__ import annotations

import pytest

from models.account import StaffRole
from models.marketplace import Marketplace
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.support.graphql import execute, ok

UPDATE = """mutation($input: UpdateDispatchSettingsInput!) { updateDispatchSettings(input: $input) {
  userErrors { field code message }
  marketplace { dispatchSettings { dispatchEnabled proposalsRequired daysBeforeSending
                                   daysBeforeReminder } } } }"""


async def test_an_admin_changes_the_settings_and_reads_them_back():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)

    data = await ok(
        UPDATE,
        {"input": {"dispatchEnabled": False, "proposalsRequired": 50, "daysBeforeSending": 0}},
        actor=admin,
    )

    assert data["updateDispatchSettings"]["userErrors"] == []
    assert data["updateDispatchSettings"]["marketplace"]["dispatchSettings"] == {
        "dispatchEnabled": False,
        "proposalsRequired": 50,
        "daysBeforeSending": 0,
        "daysBeforeReminder": 2,
    }
    read = await ok("{ marketplace { dispatchSettings { proposalsRequired } } }", actor=admin)
    assert read["marketplace"]["dispatchSettings"]["proposalsRequired"] == 50


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("proposalsRequired", 0),
        ("proposalsRequired", 51),
        ("daysBeforeSending", -1),
        ("daysBeforeSending", 91),
        ("daysBeforeReminder", 0),
        ("daysBeforeReminder", 91),
    ],
)
async def test_a_value_out_of_range_is_a_typed_error_on_its_field_and_changes_nothing(field, value):
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)

    data = await ok(UPDATE, {"input": {"dispatchEnabled": False, field: value}}, actor=admin)

    assert [(e["field"], e["code"]) for e in data["updateDispatchSettings"]["userErrors"]] == [
        (field, "OUT_OF_RANGE")
    ]
    await marketplace.refresh_from_db()
    assert marketplace.dispatch_enabled is True
    assert (marketplace.proposals_required, marketplace.days_before_sending) == (3, 3)


async def test_every_bad_field_is_reported_at_once():
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)

    data = await ok(
        UPDATE,
        {"input": {"proposalsRequired": 99, "daysBeforeSending": 99, "daysBeforeReminder": 99}},
        actor=admin,
    )

    fields = [e["field"] for e in data["updateDispatchSettings"]["userErrors"]]
    assert fields == ["proposalsRequired", "daysBeforeSending", "daysBeforeReminder"]


async def test_agents_and_other_marketplaces_cannot_change_the_settings():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    agent = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)
    foreign_admin = await actor_of(await make_staff(elsewhere), elsewhere)

    refused = await execute(UPDATE, {"input": {"proposalsRequired": 7}}, actor=agent)
    changed_elsewhere = await ok(UPDATE, {"input": {"proposalsRequired": 7}}, actor=foreign_admin)

    assert refused.codes == ["FORBIDDEN"]
    assert changed_elsewhere["updateDispatchSettings"]["userErrors"] == []
    await marketplace.refresh_from_db()
    assert marketplace.proposals_required == 3
    assert (await Marketplace.get(id=elsewhere.id)).proposals_required == 7
