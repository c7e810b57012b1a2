"""The fast lane (``schema.http.lane``): a query the full path answered compiled, asked again by
a kept actor, gets the full path's exact answer (status, headers, bytes) without strawberry's
view; whatever the lane cannot prove the same (a changed actor, a rate limit, a page size over
the limit, a mutation, ``extensions``, the standard executor asked for) gets exactly the full
path's answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from strawberry import relay

from bench.queries import PROVIDER_DASHBOARD, PROVIDERS_SCREEN
from models.account import StaffMember, StaffRole, User
from presta.settings import get_settings, settings
from resolvers import credentials
from resolvers.actor import Actor
from schema.http import lane
from tests.factories.screens import provider_with, staff_with
from tests.support.counting import counting
from tests.support.executors import headers_of
from tests.support.graphql import http_client

VIEWER = "{ viewer { user { email fullName } } }"
TABS = """query Tabs($id: ID!, $first: Int!) { node(id: $id) { ... on Membership {
  requests(first: $first) { pageInfo { hasNextPage endCursor } nodes { id status } }
  interventions(first: $first) { nodes { id startsAt price companyName } }
} } }
query Other { viewer { user { id } } }"""
SHAPES = """query Shapes($with: Boolean!) {
  me: viewer { ...Who roles @include(if: $with) { role } }
  counts: providerCounts { total __typename }
}
fragment Who on Viewer { user { fullName } isPlatformAdmin }"""
RENAME = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { userErrors { code } } }"""


@pytest.fixture
def lane_off(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Turns the lane off (or on again) for the rest of the test."""

    def switch(off: bool) -> None:
        monkeypatch.setattr(settings(), "fast_lane", not off)

    return switch


class Answer:
    """A response as the client sees it: status, headers (but the date) and body bytes."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = sorted(response.headers.multi_items())
        self.body = response.content

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Answer) and (self.status, self.headers, self.body) == (
            other.status,
            other.headers,
            other.body,
        )

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.headers}, {self.body!r})"

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


async def _send(
    http: httpx.AsyncClient, actor: Actor, payload: dict[str, Any], **headers: str
) -> tuple[Answer, bool]:
    """The answer, and whether the lane gave it."""
    before = lane.answered()
    response = await http.post(
        "/graphql",
        content=orjson.dumps(payload),
        headers={
            **headers_of(actor),
            "Content-Type": "application/json",
            "X-Request-Id": "lane0test",
            **headers,
        },
    )
    return Answer(response), lane.answered() == before + 1


async def _lane_and_full(
    http: httpx.AsyncClient, lane_off: Any, actor: Actor, payload: dict[str, Any], **headers: str
) -> tuple[Answer, Answer, bool]:
    """The same request with the lane on, then off; whether the lane answered the first."""
    lane_off(False)
    fast, taken = await _send(http, actor, payload, **headers)
    lane_off(True)
    full, full_taken = await _send(http, actor, payload, **headers)
    lane_off(False)
    assert not full_taken
    return fast, full, taken


async def _warmed(
    http: httpx.AsyncClient, lane_off: Any, actor: Actor, payload: dict[str, Any]
) -> None:
    """Authenticated once (the actor kept), then answered compiled by the full path."""
    lane_off(True)
    await _send(http, actor, payload)
    second, _ = await _send(http, actor, payload)
    lane_off(False)
    assert second.json["extensions"] == {"executor": "compiled"}, second


def _compiled_count() -> float:
    found = REGISTRY.get_sample_value("presta_operations_total", {"executor": "compiled"})
    return found or 0.0


async def test_the_screens_get_the_full_path_s_bytes_headers_and_status_from_the_lane(lane_off):
    provider = await provider_with(3)
    staff = await staff_with(4)
    gid = str(relay.GlobalID("Membership", str(provider.membership_id)))
    cases: list[tuple[Actor, dict[str, Any]]] = [
        (provider, {"query": PROVIDER_DASHBOARD, "variables": {"rows": 3}}),
        (provider, {"query": PROVIDER_DASHBOARD}),
        (provider, {"query": VIEWER}),
        (provider, {"query": TABS, "operationName": "Tabs", "variables": {"id": gid, "first": 2}}),
        (staff, {"query": PROVIDERS_SCREEN, "variables": {"first": 3}}),
        (staff, {"query": PROVIDERS_SCREEN, "variables": {"first": 3, "after": None}}),
        (staff, {"query": VIEWER, "variables": None, "operationName": None}),
        (staff, {"query": SHAPES, "variables": {"with": True}}),
        (staff, {"query": SHAPES, "variables": {"with": False}}),
    ]
    async with http_client() as http:
        for actor, payload in cases:
            await _warmed(http, lane_off, actor, payload)
            compiled_before = _compiled_count()
            with counting() as statements:
                fast, full, taken = await _lane_and_full(http, lane_off, actor, payload)
            assert taken, payload
            assert fast == full, payload
            assert fast.status == 200
            assert fast.json["extensions"] == {"executor": "compiled"}
            assert "errors" not in fast.json
            # One statement each (the guarded one), and both counted as compiled operations.
            assert len(statements) == 2, statements
            assert _compiled_count() == compiled_before + 2


async def test_in_production_the_lane_says_nothing_of_the_executor_either(lane_off, monkeypatch):
    staff = await staff_with(2)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 2}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        monkeypatch.setattr(settings(), "environment", "production")
        fast, full, taken = await _lane_and_full(http, lane_off, staff, payload)
    assert taken
    assert fast == full
    assert "extensions" not in fast.json


async def test_only_a_document_the_full_path_ran_compiled_for_this_kind_of_actor_is_laned(
    lane_off,
):
    staff = await staff_with(2)
    provider = await provider_with(1)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 2}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        # Another text (one space more), another operation name, another kind of actor.
        for actor, other in (
            (staff, {**payload, "query": PROVIDERS_SCREEN + " "}),
            (staff, {**payload, "operationName": "Nothing"}),
            (provider, payload),
        ):
            fast, full, taken = await _lane_and_full(http, lane_off, actor, other)
            assert not taken, other
            assert fast == full


@pytest.mark.parametrize(
    "change",
    ["role", "removed", "deactivated"],
)
async def test_a_changed_actor_gets_exactly_what_the_full_path_gives(lane_off, change):
    staff = await staff_with(2)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 2}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        if change == "role":
            await StaffMember.filter(user_id=staff.user_id).update(role=StaffRole.AGENT)
        elif change == "removed":
            await StaffMember.filter(user_id=staff.user_id).delete()
        else:
            await User.filter(id=staff.user_id).update(is_active=False)
        answer, taken = await _send(http, staff, payload)
        # The same request on a first authentication, with no kept actor (so no lane).
        credentials.forget_all()
        fresh, fresh_taken = await _send(http, staff, payload)
    assert not taken
    assert not fresh_taken
    assert answer == fresh
    if change != "role":
        assert answer.json["data"] is None


@pytest.fixture
def rate_limited(monkeypatch: pytest.MonkeyPatch) -> Any:
    def limit(per_principal: int) -> None:
        monkeypatch.setattr(settings(), "rate_limit_enabled", True)
        monkeypatch.setattr(settings(), "rate_limit_per_principal", per_principal)
        monkeypatch.setattr(settings(), "redis_namespace", f"lane-{uuid.uuid4().hex[:8]}")

    return limit


async def test_the_lane_spends_the_rate_limit_once_and_a_refused_caller_gets_the_full_path_s_429(
    rate_limited,
):
    staff = await staff_with(2)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 2}}
    rate_limited(4)
    async with http_client() as http:
        first, taken = await _send(http, staff, payload)  # 1 spent, the actor kept
        assert not taken
        assert first.status == 200
        laned, taken = await _send(http, staff, payload)  # 2
        assert taken
        assert laned.status == 200
        # The lane spends the 3rd, its guard fails (a new role), and the full path answers
        # without spending again.
        await StaffMember.filter(user_id=staff.user_id).update(role=StaffRole.AGENT)
        changed, taken = await _send(http, staff, payload)
        assert not taken
        assert changed.status == 200
        fourth, taken = await _send(http, staff, payload)
        assert taken
        assert fourth.status == 200
        refused, taken = await _send(http, staff, payload)
    assert not taken
    assert refused.status == 429
    assert refused.json["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert ("retry-after", str(refused.json["errors"][0]["extensions"]["retryAfter"])) in (
        refused.headers
    )


async def test_refusals_mutations_extensions_and_the_standard_executor_go_the_full_path(
    lane_off,
):
    staff = await staff_with(2)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 2}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        for other, headers in (
            ({**payload, "variables": {"first": 500}}, {}),  # over the page size
            ({**payload, "variables": {"first": "two"}}, {}),  # refused by coercion
            ({**payload, "variables": {"after": "not a cursor"}}, {}),  # a Fallback
            ({**payload, "extensions": {}}, {}),
            ({**payload, "extensions": None}, {}),
            ({**payload, "more": 1}, {}),
            (payload, {"X-Presta-Executor": "standard"}),
            (payload, {"Content-Type": "text/plain"}),
            ({"query": RENAME, "variables": {"input": {"fullName": "Renamed"}}}, {}),
        ):
            fast, full, taken = await _lane_and_full(http, lane_off, staff, other, **headers)
            assert not taken, (other, headers)
            assert fast == full, (other, headers)


async def test_a_body_the_lane_reads_is_still_there_for_the_full_path(lane_off):
    staff = await staff_with(1)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 1}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        # A Fallback once the body is read: the full path answers from the same bytes.
        refused, taken = await _send(http, staff, {**payload, "variables": {"first": 500}})
    assert not taken
    assert refused.status == 200
    assert [e["extensions"]["code"] for e in refused.json["errors"]] == ["PAGE_SIZE_EXCEEDED"]


async def test_a_query_sent_by_get_goes_the_full_path_with_its_caching_headers(lane_off):
    staff = await staff_with(1)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 1}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        before = lane.answered()
        response = await http.get(
            "/graphql",
            params={"query": PROVIDERS_SCREEN, "variables": orjson.dumps({"first": 1}).decode()},
            headers=headers_of(staff),
        )
    assert lane.answered() == before
    assert response.json()["extensions"] == {"executor": "compiled"}
    assert response.headers["ETag"]
    assert response.headers["Cache-Control"] == "private, no-cache"


async def test_with_trusted_documents_only_the_text_of_a_trusted_document_is_refused_as_before(
    tmp_path, monkeypatch
):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(orjson.dumps({"screen-v1": PROVIDERS_SCREEN}).decode())
    monkeypatch.setenv("PRESTA_TRUSTED_DOCUMENTS", str(manifest))
    monkeypatch.setenv("PRESTA_TRUSTED_DOCUMENTS_ONLY", "true")
    get_settings.cache_clear()
    try:
        staff = await staff_with(1)
        by_id = {
            "variables": {"first": 1},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "screen-v1"}},
        }
        async with http_client() as http:
            await _send(http, staff, by_id)
            kept, _ = await _send(http, staff, by_id)
            assert kept.json["extensions"] == {"executor": "compiled"}
            text, taken = await _send(
                http, staff, {"query": PROVIDERS_SCREEN, "variables": {"first": 1}}
            )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert not taken
    assert text.status == 400
    assert text.json["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


@pytest.mark.parametrize(
    ("limit", "value", "first"),
    [("max_query_cost", 200, 90), ("max_query_depth", 2, 1), ("max_tokens", 20, 1)],
)
async def test_a_query_over_a_limit_in_force_gets_the_full_path_s_refusal(
    lane_off, monkeypatch, limit, value, first
):
    staff = await staff_with(3)
    payload = {"query": PROVIDERS_SCREEN, "variables": {"first": 1}}
    async with http_client() as http:
        await _warmed(http, lane_off, staff, payload)
        # Valid when it was recorded, and the plan would read it: only the limit refuses it.
        monkeypatch.setattr(settings(), limit, value)
        asked = {**payload, "variables": {"first": first}}
        fast, full, taken = await _lane_and_full(http, lane_off, staff, asked)
    assert not taken
    assert fast == full
    assert fast.json["data"] is None
    assert fast.json["errors"]
