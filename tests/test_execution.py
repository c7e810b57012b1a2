"""The executor's answer depends on the document and the data only, not on which resolver
happened to finish first (``schema.http.execution``)."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from models.membership import Membership
from resolvers.errors import not_found
from schema.base import encode_id
from schema.loaders import CommissionRateLoader
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.membership import make_membership
from tests.support.graphql import execute

TWO_FAILING_FIELDS = """query($membership: ID!, $endpoint: ID!) {
  marketingConsent(membershipId: $membership) { channel granted }
  webhookDeliveries(endpointId: $endpoint) { nodes { id } }
}"""


async def test_of_two_failing_fields_the_first_in_the_document_is_reported_every_time() -> None:
    # Both fields are non-null: each failure nulls the whole answer, and one error says why.
    # Which one used to depend on which query the database answered first.
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    variables = {
        "membership": str(encode_id("Membership", 987_654_321)),
        "endpoint": str(encode_id("WebhookEndpoint", 987_654_321)),
    }
    consent, deliveries = TWO_FAILING_FIELDS.strip().splitlines()[1:3]
    swapped = TWO_FAILING_FIELDS.replace(consent, "@").replace(deliveries, consent)
    swapped = swapped.replace("@", deliveries)
    for document, first in (
        (TWO_FAILING_FIELDS, "marketingConsent"),
        (swapped, "webhookDeliveries"),
    ):
        for _ in range(8):
            result = await execute(document, variables, actor=admin)
            assert result.data is None
            assert [e["path"] for e in result.errors] == [[first]]


async def test_of_list_items_that_fail_the_first_in_the_list_is_reported_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fault injection: each provider's commission fails, the first provider's last.
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    memberships = [await make_membership(marketplace) for _ in range(3)]
    order = {m.id: n for n, m in enumerate(sorted(memberships, key=lambda m: -m.id))}

    async def failing(_loader: object, asked: tuple[Membership, int | None, date]) -> Decimal:
        await asyncio.sleep(0.02 * (len(order) - order[asked[0].id]))
        raise not_found(_("Service"), field="serviceId")

    monkeypatch.setattr(CommissionRateLoader, "load", failing)
    document = "{ providers(first: 3) { nodes { id commissionRate } } }"
    for _ in range(3):
        result = await execute(document, actor=admin)
        assert result.data is None
        assert [e["path"] for e in result.errors] == [["providers", "nodes", 0, "commissionRate"]]
