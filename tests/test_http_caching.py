"""Queries fetched by GET (persisted queries, as CDNs and browsers fetch them) say who may
keep their answer, carry an ETag, and answer 304 to a client that holds the current one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from bench.queries import PROVIDERS_SCREEN
from presta.security import make_access_token
from presta.settings import get_settings
from resolvers.actor import Actor
from resolvers.marketplace import update_marketplace_settings
from resolvers.terms import publish_terms_of_use
from tests.factories.account import actor_of, make_marketplace, make_staff, make_user
from tests.factories.screens import staff_with
from tests.support.executors import headers_of
from tests.support.graphql import http_client

PREVIEW = """query Preview($token: String!) { publicApplication(token: $token) {
  marketplaceName termsOfUse { number } } }"""
VIEWER = "query Me { viewer { user { email } } }"
_STANDARD = {"X-Presta-Executor": "standard"}


def _params(query: str, variables: dict[str, str] | None = None) -> dict[str, str]:
    """A persisted query's GET parameters, with its text (the APQ registration round)."""
    digest = hashlib.sha256(query.encode()).hexdigest()
    params = {
        "query": query,
        "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}}),
    }
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return params


@pytest.fixture
def public_seconds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PRESTA_PUBLIC_CACHE_SECONDS", "45")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


async def _public_link() -> tuple[str, Actor]:
    marketplace = await make_marketplace(name="Jardins du Sud")
    admin = await actor_of(await make_staff(marketplace), marketplace)
    await publish_terms_of_use(admin, text="Be on time.")
    opened = await update_marketplace_settings(admin, public_applications_enabled=True)
    assert opened.public_application_token is not None
    return opened.public_application_token, admin


async def test_an_anonymous_answer_is_public_for_a_while_and_revalidates_to_304(public_seconds):
    token, admin = await _public_link()
    params = _params(PREVIEW, {"token": token})
    async with http_client() as client:
        first = await client.get("/graphql", params=params)
        again = await client.get(
            "/graphql", params=params, headers={"If-None-Match": first.headers["ETag"]}
        )
        await publish_terms_of_use(admin, text="Be on time, and polite.")
        changed = await client.get(
            "/graphql", params=params, headers={"If-None-Match": first.headers["ETag"]}
        )

    assert first.status_code == 200
    assert first.json()["data"]["publicApplication"]["termsOfUse"] == {"number": 1}
    assert first.headers["Cache-Control"] == "public, max-age=45"
    assert "Authorization" in first.headers["Vary"]
    assert "Accept-Language" in first.headers["Vary"]
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["ETag"] == first.headers["ETag"]
    assert changed.status_code == 200
    assert changed.json()["data"]["publicApplication"]["termsOfUse"] == {"number": 2}
    assert changed.headers["ETag"] != first.headers["ETag"]


async def test_an_answer_to_a_signed_in_caller_is_private_and_revalidated_each_time():
    user = await make_user(email="cache-me@example.test")
    headers = {"Authorization": f"Bearer {make_access_token(user.id)[0]}"}
    async with http_client() as client:
        first = await client.get("/graphql", params=_params(VIEWER), headers=headers)
        tagged = {**headers, "If-None-Match": f'W/{first.headers["ETag"]}, "other"'}
        again = await client.get("/graphql", params=_params(VIEWER), headers=tagged)
        anonymous = await client.get(
            "/graphql", params=_params(VIEWER), headers={"If-None-Match": first.headers["ETag"]}
        )

    assert first.json()["data"]["viewer"]["user"]["email"] == "cache-me@example.test"
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "private, no-cache"
    # The same URL without credentials is another answer, never the signed-in one's 304.
    assert anonymous.status_code == 200
    assert anonymous.json()["data"] == {"viewer": None}
    assert anonymous.headers["ETag"] != first.headers["ETag"]


async def test_errors_and_unknown_hashes_are_never_stored_and_post_answers_are_left_alone():
    missing = hashlib.sha256(b"{ __typename } # never sent").hexdigest()
    unknown = {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": missing}})}
    async with http_client() as client:
        failed = await client.get("/graphql", params=_params("{ viewer { nope } }"))
        not_found = await client.get("/graphql", params=unknown)
        posted = await client.post("/graphql", json={"query": "{ __typename }"})

    assert failed.json()["errors"]
    assert failed.headers["Cache-Control"] == "no-store"
    assert "ETag" not in failed.headers
    assert not_found.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert not_found.headers["Cache-Control"] == "no-store"
    assert posted.json()["data"] == {"__typename": "Query"}
    assert "Cache-Control" not in posted.headers
    assert "ETag" not in posted.headers


async def test_a_mutation_over_get_is_still_refused_and_not_stored():
    async with http_client() as client:
        refused = await client.get("/graphql", params={"query": "mutation { __typename }"})
    assert refused.status_code in (400, 405)
    assert refused.headers.get("Cache-Control") == "no-store"
    assert isinstance(refused, httpx.Response)


async def test_the_same_answer_keeps_its_tag_whichever_executor_wrote_it():
    staff = await staff_with(2)
    headers = headers_of(staff)
    async with http_client() as client:
        standard = await client.get(
            "/graphql", params=_params(PROVIDERS_SCREEN), headers={**headers, **_STANDARD}
        )
        compiled = await client.get("/graphql", params=_params(PROVIDERS_SCREEN), headers=headers)
    assert standard.json()["extensions"] == {"executor": "standard"}
    assert compiled.json()["extensions"] == {"executor": "compiled"}
    assert standard.content != compiled.content
    assert standard.headers["ETag"] == compiled.headers["ETag"]
