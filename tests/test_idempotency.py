"""Idempotency keys: a replay gives the same response and one effect; another input is refused."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tortoise import connections

from models.account import ApiKey, ApiScope, User
from models.catalog import Service
from models.idempotency import IdempotencyKey
from presta import clock
from presta.security import make_access_token
from presta.settings import get_settings
from resolvers import idempotency
from resolvers.account import create_api_key
from resolvers.idempotency import Verdict
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.support.graphql import answer, http_client

SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { userErrors { code } user { id email } accessToken refreshToken }
}"""
CREATE_API_KEY = """mutation {
  createApiKey(input: {name: "sync", scope: READ}) { userErrors { code } apiKey { id } secret }
}"""
CREATE_SERVICE = """mutation($name: String!) {
  createService(input: {name: $name}) { userErrors { field code } service { id name } }
}"""


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def _stored_rows() -> str:
    """The idempotency table as a database dump would show it."""
    rows = await connections.get("default").execute_query_dict("SELECT * FROM idempotency_key")
    return "\n".join(str(value) for row in rows for value in row.values())


def _sign_up(email: str) -> dict[str, Any]:
    return {"input": {"email": email, "password": "correct horse battery"}}


async def _staff_headers() -> dict[str, str]:
    market = await make_marketplace()
    return _headers(await make_staff(market), market)


def _headers(user: Any, market: Any) -> dict[str, str]:
    """Fresh credentials (an access token lives minutes, and tests move the clock by hours)."""
    return {
        "Authorization": f"Bearer {make_access_token(user.id)[0]}",
        "X-Marketplace": market.slug,
    }


@pytest.fixture
def patient() -> Iterator[None]:
    """Duplicates wait at most a fifth of a second for the first request."""
    saved = os.environ.get("PRESTA_IDEMPOTENCY_WAIT_SECONDS")
    os.environ["PRESTA_IDEMPOTENCY_WAIT_SECONDS"] = "0.2"
    get_settings.cache_clear()
    yield
    if saved is None:
        os.environ.pop("PRESTA_IDEMPOTENCY_WAIT_SECONDS", None)
    else:
        os.environ["PRESTA_IDEMPOTENCY_WAIT_SECONDS"] = saved
    get_settings.cache_clear()


async def test_a_replayed_sign_up_gives_the_identical_response_and_creates_one_user():
    async with http_client() as client:
        first = await _post(
            client, SIGN_UP, _sign_up("once@example.com"), **{"Idempotency-Key": "k-1"}
        )
        replay = await _post(
            client, SIGN_UP, _sign_up("once@example.com"), **{"Idempotency-Key": "k-1"}
        )
    assert first.status_code == replay.status_code == 200
    assert first.json()["data"]["signUp"]["userErrors"] == []
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await User.filter(email="once@example.com").count() == 1
    assert await IdempotencyKey.all().count() == 1


async def test_the_same_key_with_other_variables_is_refused_as_reused():
    async with http_client() as client:
        await _post(client, SIGN_UP, _sign_up("first@example.com"), **{"Idempotency-Key": "k-2"})
        other = await _post(
            client, SIGN_UP, _sign_up("second@example.com"), **{"Idempotency-Key": "k-2"}
        )
    assert other.status_code == 422
    assert answer(other) == {
        "data": None,
        "errors": [
            {
                "message": "This Idempotency-Key was used for a different request.",
                "extensions": {"code": "IDEMPOTENCY_KEY_REUSED"},
            }
        ],
    }
    assert not await User.filter(email="second@example.com").exists()


async def test_concurrent_duplicates_create_one_service_and_all_get_its_response():
    headers = {**await _staff_headers(), "Idempotency-Key": "same-click"}
    async with http_client() as client:
        responses = await asyncio.gather(
            *(_post(client, CREATE_SERVICE, {"name": "Ironing"}, **headers) for _ in range(5))
        )
    bodies = [r.json() for r in responses]
    assert [r.status_code for r in responses] == [200] * 5
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["data"]["createService"]["service"]["name"] == "Ironing"
    assert await Service.filter(name="Ironing").count() == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 4


async def test_without_a_key_each_request_has_its_effect():
    headers = await _staff_headers()
    async with http_client() as client:
        for _ in range(2):
            await _post(client, CREATE_SERVICE, {"name": "Gardening"}, **headers)
    assert await Service.filter(name="Gardening").count() == 2


async def test_a_key_belongs_to_its_caller_so_two_callers_do_not_share_it():
    first, second = await _staff_headers(), await _staff_headers()
    async with http_client() as client:
        for headers in (first, second):
            await _post(
                client, CREATE_SERVICE, {"name": "Cooking"}, **headers, **{"Idempotency-Key": "k"}
            )
    assert await Service.filter(name="Cooking").count() == 2


async def test_a_user_error_is_kept_and_replayed_like_a_success():
    headers = {**await _staff_headers(), "Idempotency-Key": "bad-name"}
    async with http_client() as client:
        first = await _post(client, CREATE_SERVICE, {"name": ""}, **headers)
        replay = await _post(client, CREATE_SERVICE, {"name": ""}, **headers)
    assert first.json()["data"]["createService"]["userErrors"][0]["field"] == "name"
    assert replay.content == first.content


async def test_a_run_refused_before_any_effect_leaves_the_key_free():
    async with http_client() as client:
        refused = await _post(
            client, CREATE_SERVICE, {"name": "Sewing"}, **{"Idempotency-Key": "k-auth"}
        )
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert not await IdempotencyKey.exists()


async def test_an_invalid_key_is_refused():
    headers = {**await _staff_headers(), "Idempotency-Key": "x" * 256}
    async with http_client() as client:
        response = await _post(client, CREATE_SERVICE, {"name": "Sewing"}, **headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert not await Service.exists()


async def test_a_duplicate_of_a_running_request_is_told_it_is_in_progress(patient):
    first = await idempotency.claim("user:1@1", "k", "hash")
    assert first.verdict is Verdict.RUN
    assert (await idempotency.claim("user:1@1", "k", "hash")).verdict is Verdict.IN_PROGRESS
    assert (await idempotency.claim("user:1@1", "k", "other")).verdict is Verdict.REUSED
    assert first.record_id is not None
    await idempotency.finish(first.record_id, '{"data": {"ok": true}}')
    replay = await idempotency.claim("user:1@1", "k", "hash")
    assert replay.verdict is Verdict.REPLAY
    assert replay.response == '{"data": {"ok": true}}'


async def test_a_run_abandoned_by_a_dead_process_is_taken_over_after_its_lock(patient):
    assert (await idempotency.claim("user:1@1", "k", "hash")).verdict is Verdict.RUN
    clock.advance(idempotency.LOCK + timedelta(seconds=1))
    assert (await idempotency.claim("user:1@1", "k", "hash")).verdict is Verdict.RUN
    assert await IdempotencyKey.all().count() == 1


async def test_keys_expire_after_a_day_and_are_purged():
    # A partner key: access tokens issued after moving the clock by hours are not accepted.
    market = await make_marketplace()
    admin = await actor_of(await make_staff(market), market)
    _, secret = await create_api_key(admin, name="sync", scope=ApiScope.READ_WRITE)
    headers = {"X-Api-Key": secret, "X-Marketplace": market.slug, "Idempotency-Key": "daily"}
    async with http_client() as client:
        await _post(client, CREATE_SERVICE, {"name": "Windows"}, **headers)
        clock.advance(timedelta(hours=23))
        assert await idempotency.purge_expired_idempotency_keys() == 0
        replay = await _post(client, CREATE_SERVICE, {"name": "Windows"}, **headers)
        assert replay.headers.get("Idempotent-Replayed") == "true", replay.text
        assert await Service.filter(name="Windows").count() == 1
        clock.advance(timedelta(hours=2))
        assert await idempotency.purge_expired_idempotency_keys() == 1
        await _post(client, CREATE_SERVICE, {"name": "Windows"}, **headers)
    assert await Service.filter(name="Windows").count() == 2


async def test_a_replayed_upload_stores_one_document_and_another_file_under_its_key_is_refused():
    from models.document import Document
    from tests.factories.document import (
        PDF_BYTES,
        UPLOAD,
        auth_headers,
        document_type,
        multipart,
        type_id,
    )
    from tests.factories.membership import make_membership, make_provider_user

    market = await make_marketplace()
    user = await make_provider_user(await make_membership(market))
    variables = {"input": {"documentTypeId": type_id(await document_type("KBIS")), "file": None}}
    headers = {**auth_headers(user, market), "Idempotency-Key": "upload-1"}

    async def upload(data: bytes) -> httpx.Response:
        body = multipart(UPLOAD, variables, {"input.file": ("kbis.pdf", data, "application/pdf")})
        return await client.post("/graphql", headers=headers, **body)

    async with http_client() as client:
        first = await upload(PDF_BYTES)
        replay = await upload(PDF_BYTES)
        other = await upload(PDF_BYTES + b"\n%another revision")
    assert first.json()["data"]["uploadDocument"]["userErrors"] == []
    assert replay.content == first.content
    assert other.status_code == 422
    assert other.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await Document.all().count() == 1


async def _sign_up_twice(email: str, key: str) -> tuple[httpx.Response, httpx.Response]:
    async with http_client() as client:
        first = await _post(client, SIGN_UP, _sign_up(email), **{"Idempotency-Key": key})
        return first, await _post(client, SIGN_UP, _sign_up(email), **{"Idempotency-Key": key})


async def test_a_replayed_sign_up_returns_its_tokens_which_the_stored_row_does_not_hold():
    key = "sign-up-7f3c9a21-0d4e"
    first, replay = await _sign_up_twice("dump@example.com", key)
    tokens = first.json()["data"]["signUp"]
    assert replay.json()["data"]["signUp"]["accessToken"] == tokens["accessToken"]
    assert replay.json()["data"]["signUp"]["refreshToken"] == tokens["refreshToken"]
    dump = await _stored_rows()
    assert dump
    for plain in (tokens["accessToken"], tokens["refreshToken"], key, "dump@example.com"):
        assert plain not in dump
    assert "correct horse battery" not in dump


async def test_an_anonymous_callers_address_is_stored_only_as_a_keyed_hash():
    first, replay = await _sign_up_twice("anon@example.com", "anonymous-3b9e-41d2")
    assert replay.json()["data"] == first.json()["data"]
    [row] = await IdempotencyKey.all()
    assert row.principal.startswith("ip:")
    assert "127.0.0.1" not in row.principal
    assert "127.0.0.1" not in await _stored_rows()


async def test_a_replayed_api_key_creation_returns_its_secret_which_the_stored_row_does_not_hold():
    headers = {**await _staff_headers(), "Idempotency-Key": "api-key-once"}
    async with http_client() as client:
        first = await _post(client, CREATE_API_KEY, {}, **headers)
        replay = await _post(client, CREATE_API_KEY, {}, **headers)
    secret = first.json()["data"]["createApiKey"]["secret"]
    assert secret
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await ApiKey.all().count() == 1
    dump = await _stored_rows()
    assert secret not in dump
    assert "api-key-once" not in dump


async def test_another_key_cannot_open_a_stored_response_even_moved_under_its_own_row():
    async with http_client() as client:
        mine = await _post(
            client, SIGN_UP, _sign_up("mine@example.com"), **{"Idempotency-Key": "a"}
        )
        await _post(client, SIGN_UP, _sign_up("theirs@example.com"), **{"Idempotency-Key": "b"})
        guessed = await _post(
            client, SIGN_UP, _sign_up("mine@example.com"), **{"Idempotency-Key": "a2"}
        )
        # Someone with write access to the database copies my sealed response into their row.
        rows = await IdempotencyKey.all().order_by("id")
        assert len(rows) == 3
        await IdempotencyKey.filter(id=rows[1].id).update(response=rows[0].response)
        stolen = await _post(
            client, SIGN_UP, _sign_up("theirs@example.com"), **{"Idempotency-Key": "b"}
        )
    assert stolen.status_code == 500
    assert stolen.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    token = mine.json()["data"]["signUp"]["accessToken"]
    assert "Idempotent-Replayed" not in guessed.headers
    assert guessed.json()["data"]["signUp"]["userErrors"]  # a new run: the e-mail is taken
    assert token not in guessed.text
    assert token not in stolen.text
    assert "mine@example.com" not in stolen.text
