"""Query limits: each abusive request is refused with a clear code before any resolver runs.

"No resolver ran" is shown on mutations that would have created an account (none exists
afterwards) and, for read-only lists, by counting calls to the use case behind them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from models.account import User
from presta.security import make_access_token
from presta.settings import get_settings
from resolvers import marketplace as marketplace_use_cases
from tests.factories.account import actor_of, make_marketplace, make_staff, make_user
from tests.support.graphql import answer, execute, http_client

SIGN_UP_FIELDS = 'input: {email: "%s@example.com", password: "correct horse battery"}'


def _sign_up(alias: str | None = None, *, selection: str = "accessToken") -> str:
    prefix = f"{alias}: " if alias else ""
    return f"{prefix}signUp({SIGN_UP_FIELDS % (alias or 'nobody')}) {{ {selection} }}"


async def _no_account_was_created() -> bool:
    return await User.all().count() == 0


@pytest.fixture
def list_calls(monkeypatch):
    """Calls that reached the use case behind `marketplaces` (the real one still runs)."""
    calls = []
    real = marketplace_use_cases.list_marketplaces

    async def counting(actor, **kw):
        calls.append(kw)
        return await real(actor, **kw)

    monkeypatch.setattr(marketplace_use_cases, "list_marketplaces", counting)
    return calls


@pytest.fixture
def reconfigure():
    """Change settings through the environment (as an operator would); restored afterwards."""
    saved = dict(os.environ)

    def apply(**values: object):
        os.environ.update({f"PRESTA_{k.upper()}": str(v) for k, v in values.items()})
        get_settings.cache_clear()

    yield apply
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


async def _post(
    query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with http_client() as client:
        return await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


async def test_a_mutation_one_level_deeper_than_allowed_is_refused_and_creates_nothing(
    reconfigure,
):
    # The schema offers no chain of objects deeper than the default limit (10) yet.
    reconfigure(max_query_depth=1)
    response = await _post(f"mutation {{ {_sign_up(selection='user { id }')} }}")
    assert _codes(response) == ["QUERY_TOO_DEEP"]
    assert "maximum operation depth of 1" in response.json()["errors"][0]["message"]
    assert await _no_account_was_created()

    response = await _post(f"mutation {{ {_sign_up()} }}")
    assert response.json()["data"]["signUp"]["accessToken"]


async def test_one_alias_too_many_is_refused_and_creates_nothing():
    limit = get_settings().max_aliases
    mutation = "mutation { " + " ".join(_sign_up(f"a{i}") for i in range(limit + 1)) + " }"
    response = await _post(mutation)
    assert _codes(response) == ["TOO_MANY_ALIASES"]
    assert str(limit) in response.json()["errors"][0]["message"]
    assert await _no_account_was_created()


async def test_one_alias_too_many_hidden_in_a_fragment_is_refused_and_creates_nothing():
    limit = get_settings().max_aliases
    fragment = " ".join(_sign_up(f"f{i}") for i in range(limit))
    mutation = f"mutation {{ a0: {_sign_up()} ...More }} fragment More on Mutation {{ {fragment} }}"
    response = await _post(mutation)
    assert _codes(response) == ["TOO_MANY_ALIASES"]
    assert await _no_account_was_created()


async def test_as_many_aliases_as_allowed_run():
    limit = get_settings().max_aliases
    mutation = "mutation { " + " ".join(_sign_up(f"a{i}") for i in range(limit)) + " }"
    response = await _post(mutation)
    assert "errors" not in response.json()
    assert await User.all().count() == limit


async def test_a_page_size_of_101_written_in_the_query_is_refused_before_listing(list_calls):
    response = await _post("{ marketplaces(first: 101) { nodes { name } } }")
    assert _codes(response) == ["PAGE_SIZE_EXCEEDED"]
    assert "101" in response.json()["errors"][0]["message"]
    assert list_calls == []


async def test_a_page_size_of_101_given_as_a_variable_is_refused_before_listing(list_calls):
    query = "query($n: Int) { marketplaces(last: $n) { nodes { name } } }"
    response = await _post(query, {"n": 101})
    assert _codes(response) == ["PAGE_SIZE_EXCEEDED"]
    assert list_calls == []

    response = await _post(query, {"n": 100})
    assert "errors" not in response.json()
    assert len(list_calls) == 1


async def test_a_body_over_the_limit_is_refused_with_413_and_creates_nothing():
    limit = get_settings().max_body_bytes
    padding = "x" * (limit + 1)
    response = await _post(f"mutation {{ {_sign_up()} }}", {"unused": padding})
    assert response.status_code == 413
    assert _codes(response) == ["PAYLOAD_TOO_LARGE"]
    assert await _no_account_was_created()


async def test_a_streamed_body_without_length_is_cut_at_the_limit_and_creates_nothing():
    import orjson

    limit = get_settings().max_body_bytes
    body = orjson.dumps({"query": f"mutation {{ {_sign_up()} }}", "pad": "x" * limit})

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    async with http_client() as client:
        response = await client.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert _codes(response) == ["PAYLOAD_TOO_LARGE"]
    assert await _no_account_was_created()


async def test_a_mutation_over_get_is_refused_and_creates_nothing():
    async with http_client() as client:
        response = await client.get("/graphql", params={"query": f"mutation {{ {_sign_up()} }}"})
        query = await client.get("/graphql", params={"query": "{ viewer { isPlatformAdmin } }"})
    assert response.status_code == 405
    assert _codes(response) == ["METHOD_NOT_ALLOWED"]
    assert await _no_account_was_created()
    assert answer(query) == {"data": {"viewer": None}}


async def test_too_many_tokens_are_refused_before_parsing_ends_and_create_nothing():
    limit = get_settings().max_tokens
    padding = " ".join(["__typename"] * limit)
    response = await _post(f"mutation {{ {_sign_up(selection=padding)} }}")
    assert _codes(response) == ["TOO_MANY_TOKENS"]
    assert await _no_account_was_created()


async def test_a_query_over_the_cost_limit_is_refused_before_listing(list_calls):
    limit = get_settings().max_query_cost
    page = "(first: 100) { edges { cursor node { id name slug createdAt } } }"
    # Each aliased page costs about 1 + 100 x 7 = 701.
    aliases = limit // 701 + 1
    query = "{ " + " ".join(f"m{i}: marketplaces{page}" for i in range(aliases)) + " }"
    response = await _post(query)
    assert _codes(response) == ["QUERY_TOO_COSTLY"]
    assert str(limit) in response.json()["errors"][0]["message"]
    assert list_calls == []


async def test_field_suggestions_are_hidden_from_anonymous_callers():
    response = await _post("{ viewr { isPlatformAdmin } }")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "viewr" in error["message"]
    assert "Did you mean" not in error["message"]


async def test_field_suggestions_are_shown_to_staff():
    marketplace = await make_marketplace()
    staff = await make_staff(marketplace)
    token, _ = make_access_token(staff.id)
    response = await _post(
        "{ viewr { isPlatformAdmin } }", headers={"Authorization": f"Bearer {token}"}
    )
    assert "Did you mean 'viewer'?" in response.json()["errors"][0]["message"]

    result = await execute("{ viewr { isPlatformAdmin } }", actor=await actor_of(staff))
    assert "Did you mean" in result.errors[0]["message"]


PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  marketplaces(first: $first, after: $after, last: $last, before: $before) {
    nodes { slug }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def test_marketplaces_page_by_cursor_both_ways_and_only_show_the_viewers_own():
    markets = [await make_marketplace(slug=f"page-{i}") for i in range(5)]
    admin = await actor_of(await make_user(platform_admin=True))

    first = (await execute(PAGE, {"first": 2}, actor=admin)).data["marketplaces"]
    assert [n["slug"] for n in first["nodes"]] == ["page-0", "page-1"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    rest = (
        await execute(PAGE, {"first": 100, "after": first["pageInfo"]["endCursor"]}, actor=admin)
    ).data["marketplaces"]
    assert [n["slug"] for n in rest["nodes"]] == ["page-2", "page-3", "page-4"]
    assert rest["pageInfo"]["hasNextPage"] is False
    back = (
        await execute(PAGE, {"last": 2, "before": rest["pageInfo"]["endCursor"]}, actor=admin)
    ).data["marketplaces"]
    assert [n["slug"] for n in back["nodes"]] == ["page-2", "page-3"]
    assert back["pageInfo"]["hasPreviousPage"] is True

    staff = await actor_of(await make_staff(markets[3]), markets[3])
    mine = (await execute(PAGE, {"first": 100}, actor=staff)).data["marketplaces"]
    assert [n["slug"] for n in mine["nodes"]] == ["page-3"]


async def test_a_malformed_cursor_is_the_clients_mistake_not_a_masked_error():
    admin = await actor_of(await make_user(platform_admin=True))
    result = await execute(PAGE, {"first": 2, "after": "not-a-cursor"}, actor=admin)
    assert result.codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["extensions"]["field"] == "after"
    assert result.errors[0]["message"] == "Curseur mal formé."  # French by default


@pytest.mark.parametrize(
    "document", ["{}", "{ viewer {} }", "query Q { marketplaces { nodes {} } }"]
)
async def test_an_empty_selection_set_is_a_syntax_error_with_its_code(document: str) -> None:
    # graphql-core parses `{}` (the specification does not): the depth limit then crashed and
    # the client read "max() arg is an empty sequence", with no code.
    async with http_client() as client:
        body = (await client.post("/graphql", json={"query": document})).json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == 'Syntax Error: Expected Name, found "}".'
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
