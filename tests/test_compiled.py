"""The compiled read path: the screens run as one statement, with the standard executor's
exact JSON, tenant isolation and the provider-only fields kept; what does not compile runs
standard; a second request plans nothing; the metrics say which executor ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY
from strawberry import relay

from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN
from models.account import StaffRole
from models.dispatch import Dispatch
from models.intervention import Intervention
from models.marketplace import Marketplace
from models.membership import Membership
from presta import clock
from presta.settings import settings
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.document_review import reject_document
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.document import make_company_document, require_types
from tests.factories.membership import make_membership, make_provider_user
from tests.factories.messaging import make_cast, make_dispatched_request
from tests.factories.screens import provider_with, staff_with
from tests.support.counting import counting
from tests.support.executors import both as _both
from tests.support.executors import headers_of
from tests.support.executors import post as _post
from tests.support.graphql import http_client

VIEWER = "{ viewer { user { email fullName } } }"


async def test_the_providers_screen_gives_the_standard_json():
    staff = await staff_with(7)
    body = await _both(staff, PROVIDERS_SCREEN, {"first": 5})
    assert len(body["data"]["providers"]["edges"]) == 5
    cursor = body["data"]["providers"]["pageInfo"]["endCursor"]
    rest = await _both(staff, PROVIDERS_SCREEN, {"first": 5, "after": cursor})
    assert len(rest["data"]["providers"]["edges"]) == 2


async def test_the_viewer_alone_costs_authentication_only_and_compiles_with_other_fields():
    staff = await staff_with(1)
    with counting() as statements:
        alone = await _post(staff, VIEWER)
    # Authentication read it: the standard executor answers without another statement.
    assert alone["extensions"] == {"executor": "standard"}
    assert [s for s in statements if "account_user" not in s and "marketplace" not in s] == []
    await _both(
        staff,
        "{ viewer { isPlatformAdmin actingMarketplaceId roles { marketplaceId role } "
        "user { id email fullName } } providerCounts { total } }",
    )


async def test_the_provider_dashboard_gives_the_standard_json():
    provider = await provider_with(4)
    body = await _both(provider, PROVIDER_DASHBOARD, {"rows": 3})
    file = body["data"]["myMemberships"][0]
    assert len(file["requests"]["nodes"]) == 4
    assert file["requests"]["nodes"][0]["client"]["fullName"]
    assert len(file["interventions"]["nodes"]) == 3
    assert file["conversations"]["nodes"][0]["unreadCount"] == 1


TABS = """
query($id: ID!, $first: Int!, $after: String) { node(id: $id) { ... on Membership {
  requests(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id status createdAt client { fullName } }
  }
  interventions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id startsAt price companyName }
  }
  conversations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id kind clientName unreadCount }
  }
} } }"""


async def test_the_tabs_give_the_standard_json_to_the_provider_and_to_staff():
    provider = await provider_with(3)
    gid = str(relay.GlobalID("Membership", str(provider.membership_id)))
    first = await _both(provider, TABS, {"id": gid, "first": 2})
    tabs = first["data"]["node"]
    assert [len(tabs[t]["nodes"]) for t in ("requests", "interventions", "conversations")] == [
        2
    ] * 3
    after = tabs["requests"]["pageInfo"]["endCursor"]
    await _both(provider, TABS, {"id": gid, "first": 2, "after": after})
    marketplace = await Marketplace.get(id=provider.marketplace_id)
    staff = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)
    await _both(staff, TABS, {"id": gid, "first": 5})


async def test_another_marketplace_s_rows_never_appear():
    staff = await staff_with(3)
    other = await staff_with(4)
    mine = await _both(staff, PROVIDERS_SCREEN)
    theirs = await _both(other, PROVIDERS_SCREEN)
    assert mine["data"]["providerCounts"]["total"] == 3
    assert len(mine["data"]["providers"]["edges"]) == 3
    ids = {e["node"]["id"] for e in mine["data"]["providers"]["edges"]}
    assert ids.isdisjoint(e["node"]["id"] for e in theirs["data"]["providers"]["edges"])


async def test_a_request_s_client_is_shown_only_to_the_chosen_provider():
    cast = await make_cast()
    rival = await make_membership(cast.marketplace)
    rival_user = await make_provider_user(rival)
    request = await make_dispatched_request(cast.membership, cast.client)
    await Dispatch.create(request=request, membership=rival)
    provider = await cast.provider_actor()
    rival_actor = await actor_of(rival_user, cast.marketplace)
    query = "{ myMemberships { requests { nodes { id client { fullName } } } } }"

    def clients(body: dict[str, Any]) -> list[Any]:
        return [n["client"] for n in body["data"]["myMemberships"][0]["requests"]["nodes"]]

    assert clients(await _both(provider, query)) == [None]
    assert clients(await _both(rival_actor, query)) == [None]
    request.selected_membership_id = cast.membership.id
    await request.save(update_fields=["selected_membership_id"])
    assert clients(await _both(provider, query)) == [{"fullName": cast.client.full_name}]
    assert clients(await _both(rival_actor, query)) == [None]
    # Another provider's file reads as absent, its tabs included (the standard executor says so).
    gid = str(relay.GlobalID("Membership", str(cast.membership.id)))
    refused = await _post(rival_actor, TABS, {"id": gid, "first": 5})
    assert refused["data"] == {"node": None}


async def test_a_field_the_compiler_does_not_express_runs_standard():
    provider = await provider_with(1)
    query = "{ myMemberships { status actionZone { __typename } } }"
    body = await _post(provider, query)
    assert body["extensions"] == {"executor": "standard"}
    assert body["data"]["myMemberships"][0]["status"] == "ACCEPTED"
    # A value only the request knows: a filter left to Python.
    staff = await staff_with(2)
    filtered = "query($s: MembershipStatus) { providers(status: $s) { nodes { status } } }"
    assert (await _post(staff, filtered, {"s": None}))["extensions"] == {"executor": "compiled"}
    by_status = await _post(staff, filtered, {"s": "APPLIED"})
    assert by_status["extensions"] == {"executor": "standard"}
    assert by_status["data"]["providers"]["nodes"] == [{"status": "APPLIED"}]
    # A malformed cursor gets the standard executor's error.
    malformed = await _post(staff, PROVIDERS_SCREEN, {"after": "nonsense"})
    assert malformed["extensions"] == {"executor": "standard"}
    assert malformed["errors"]


async def test_a_second_request_of_a_document_plans_nothing():
    staff = await staff_with(2)
    query = PROVIDERS_SCREEN + "\n# a document of its own"
    await _post(staff, query)
    planned = compiled.plans_built()
    await _post(staff, query, {"first": 1})
    assert compiled.plans_built() == planned
    assert (await _post(staff, query))["extensions"] == {"executor": "compiled"}


async def test_the_metrics_count_operations_by_executor():
    staff = await staff_with(1)

    def count(executor: str) -> float:
        found = REGISTRY.get_sample_value("presta_operations_total", {"executor": executor})
        return found or 0.0

    compiled_before, standard_before = count("compiled"), count("standard")
    await _post(staff, PROVIDERS_SCREEN)
    await _post(staff, PROVIDERS_SCREEN, executor="standard")
    assert count("compiled") == compiled_before + 1
    assert count("standard") == standard_before + 1


async def test_production_says_nothing_of_the_executor_and_ignores_the_header(monkeypatch):
    staff = await staff_with(1)
    monkeypatch.setattr(settings(), "environment", "production")
    body = await _post(staff, VIEWER, executor="standard")
    assert "extensions" not in body
    assert body["data"]["viewer"]["user"]["fullName"]


async def test_datetimes_decimals_and_dates_print_as_the_standard_executor_prints_them():
    provider = await provider_with(1)
    membership = await Membership.get(id=provider.membership_id)
    visit = await Intervention.filter(membership_id=membership.id).first()
    assert visit is not None
    for moment, price in (
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), Decimal("80")),
        (datetime(2030, 1, 2, 3, 4, 5, 7, tzinfo=UTC), Decimal("0.5")),
        (datetime(2030, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), Decimal("99999999.99")),
    ):
        visit.starts_at, visit.ends_at, visit.price = moment, moment + timedelta(hours=1), price
        await visit.save()
        membership.applied_at = moment
        await membership.save(update_fields=["applied_at"])
        query = (
            "query($from: Date) { myMemberships { appliedAt interventions(startsFrom: $from) "
            "{ nodes { startsAt endsAt price } } } }"
        )
        body = await _both(provider, query, {"from": moment.date().isoformat()})
        file = body["data"]["myMemberships"][0]
        assert file["interventions"]["nodes"][0]["startsAt"] == moment.isoformat()
        later = (moment + timedelta(days=1)).date().isoformat()
        assert (await _both(provider, query, {"from": later}))["data"]["myMemberships"][0][
            "interventions"
        ]["nodes"] == []


async def test_a_visibility_rule_reads_the_same_in_python_and_in_sql():
    from itertools import product
    from types import SimpleNamespace

    from graphql import parse
    from tortoise import connections

    from resolvers.compiled.builder import Builder
    from resolvers.compiled.rules import holds, predicate
    from resolvers.dispatch.core import SHOWS_CLIENT
    from resolvers.membership import CAN_SEE
    from schema.root import schema

    document = parse("{ __typename }")
    operation = document.definitions[0]
    columns = ("client_id", "selected_membership_id", "marketplace_id", "company_id")
    db = connections.get("default")
    checked = 0
    for rule in (SHOWS_CLIENT, CAN_SEE):
        b = Builder(schema._schema, document, operation, None, {})  # type: ignore[arg-type]
        condition = predicate(rule, b, "r")
        row_params = [f"${len(b.params) + n + 1}::bigint" for n in range(len(columns))]
        sql = (
            f"SELECT {condition} FROM (VALUES ({', '.join(row_params)})) AS r({', '.join(columns)})"
        )
        for ids, whole, row in product(
            product((None, 1, 2), repeat=4), (False, True), product((None, 1, 2), repeat=4)
        ):
            if checked % 7:  # a spread of the 13,122 combinations
                checked += 1
                continue
            checked += 1
            client, membership, marketplace, company = ids
            staff = StaffRole.AGENT if whole else None
            actor = Actor(
                user_id=1,
                client_id=client,
                membership_id=membership,
                marketplace_id=marketplace,
                company_id=company,
                staff_role=staff,
            )
            loaded = SimpleNamespace(**dict(zip(columns, row, strict=True)))
            inputs = compiled.Inputs(actor, {})
            values = [getter(inputs) for getter in b.params] + list(row)
            _, found = await db.execute_query(sql, values)
            assert found[0][0] is holds(rule, actor, loaded), (rule, actor, row)


SHAPES = """
query Shapes($withServices: Boolean = true, $n: Int = 2) {
  __typename
  files: myMemberships {
    __typename
    ...File
    ... on Membership { state: status company { __typename label: name } }
    services @include(if: $withServices) { service { name } }
    requests(first: $n) @skip(if: false) {
      __typename
      pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
      edges { __typename cursor node { __typename id myDispatch { answerHistory { toStatus } } } }
      nodes { ...Request }
    }
  }
}
fragment File on Membership { id createdAt mustAcceptTerms marketplaceName }
fragment Request on ServiceRequest { status wished: wishedStart service { name } }
"""


async def test_aliases_fragments_typename_and_directives_give_the_standard_json():
    provider = await provider_with(3)
    with_services = await _both(provider, SHAPES)
    assert "services" in with_services["data"]["files"][0]
    without = await _both(provider, SHAPES, {"withServices": False, "n": 1})
    assert "services" not in without["data"]["files"][0]
    assert without["data"]["files"][0]["requests"]["pageInfo"]["hasNextPage"] is True


async def test_a_query_sent_by_get_runs_compiled_with_the_same_answer():
    staff = await staff_with(2)
    posted = await _post(staff, PROVIDERS_SCREEN)
    async with http_client() as http:
        got = await http.get(
            "/graphql", params={"query": PROVIDERS_SCREEN}, headers=headers_of(staff)
        )
    assert got.status_code == 200
    assert got.json() == posted
    assert posted["extensions"] == {"executor": "compiled"}


async def test_the_providers_screen_reads_reviewed_and_dated_documents_as_the_standard_path():
    """The state of a file's required documents in SQL: missing, rejected by this
    marketplace, replaced after a rejection, expiring soon, expired and valid."""
    marketplace = await make_marketplace()
    other = await make_marketplace()
    staff = await actor_of(await make_staff(marketplace, StaffRole.ADMIN), marketplace)
    other_staff = await actor_of(await make_staff(other, StaffRole.ADMIN), other)
    await require_types(marketplace, "KBIS")
    today = clock.now().date()

    async def company(name: str) -> Membership:
        member = await make_membership(marketplace)
        member.company.name = name
        await member.company.save(update_fields=["name"])
        return member

    await company("Missing")
    rejected = await company("Rejected")
    kbis = await make_company_document(rejected.company, "KBIS")
    await reject_document(staff, document_id=kbis.id, reason="Unreadable.")
    replaced = await company("Replaced")
    old = await make_company_document(replaced.company, "KBIS")
    await reject_document(staff, document_id=old.id, reason="Unreadable.")
    await make_company_document(replaced.company, "KBIS", expires_on=today + timedelta(days=400))
    soon = await company("Soon")
    await make_company_document(soon.company, "KBIS", expires_on=today + timedelta(days=5))
    expired = await company("Expired")
    await make_company_document(expired.company, "KBIS", expires_on=today)
    elsewhere = await company("Rejected elsewhere")
    theirs = await make_company_document(elsewhere.company, "KBIS")
    await make_membership(other, company=elsewhere.company)
    await require_types(other, "KBIS")
    await reject_document(other_staff, document_id=theirs.id, reason="Not for us.")

    body = await _both(staff, PROVIDERS_SCREEN, {"first": 50})
    states = {
        edge["node"]["company"]["name"]: edge["node"]["documentState"]
        for edge in body["data"]["providers"]["edges"]
    }
    assert states == {
        "Missing": "MISSING",
        "Rejected": "REJECTED",
        "Replaced": "VALID",
        "Soon": "EXPIRING_SOON",
        "Expired": "EXPIRED",
        "Rejected elsewhere": "VALID",
    }


async def test_a_compiled_read_while_the_database_is_out_of_reach_is_service_unavailable(
    monkeypatch,
):
    staff = await staff_with(2)

    async def unreachable(*_args: Any, **_kwargs: Any) -> str:
        raise ConnectionRefusedError("the database went away")

    monkeypatch.setattr(compiled, "read", unreachable)
    body = await _post(staff, PROVIDERS_SCREEN)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert "went away" not in body["errors"][0]["message"]
