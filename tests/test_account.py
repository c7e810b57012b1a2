from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.account import RefreshToken
from presta import clock
from presta.settings import get_settings
from tests.factories.account import PASSWORD, make_user
from tests.support.graphql import execute, ok

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    userErrors { field code message }
    user { id email fullName }
    accessToken refreshToken expiresIn
  }
}"""
LOG_IN = """
mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) {
    userErrors { field code message }
    accessToken refreshToken
  }
}"""
REFRESH = """
mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) {
    userErrors { field code message }
    accessToken refreshToken
  }
}"""


async def test_sign_up_normalizes_the_email_and_opens_a_session():
    data = await ok(
        SIGN_UP,
        {"input": {"email": "  Alice@Example.COM ", "password": PASSWORD, "fullName": "Alice"}},
    )
    payload = data["signUp"]
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == "alice@example.com"
    assert payload["accessToken"]
    assert payload["refreshToken"]


async def test_sign_up_reports_every_invalid_field_and_creates_nothing():
    data = await ok(SIGN_UP, {"input": {"email": "not-an-email", "password": "short"}})
    codes = {(e["field"], e["code"]) for e in data["signUp"]["userErrors"]}
    assert codes == {("email", "INVALID_EMAIL"), ("password", "WEAK_PASSWORD")}
    assert data["signUp"]["user"] is None


async def test_sign_up_tells_when_the_email_is_taken():
    await make_user(email="bob@example.com")
    data = await ok(SIGN_UP, {"input": {"email": "BOB@example.com", "password": PASSWORD}})
    assert data["signUp"]["userErrors"][0]["code"] == "EMAIL_TAKEN"


async def test_log_in_gives_the_same_answer_for_unknown_email_and_wrong_password():
    await make_user(email="carol@example.com")
    wrong = await ok(LOG_IN, {"email": "carol@example.com", "password": "wrong password!"})
    unknown = await ok(LOG_IN, {"email": "nobody@example.com", "password": PASSWORD})
    assert wrong["logIn"]["userErrors"] == unknown["logIn"]["userErrors"]
    assert wrong["logIn"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_family():
    await make_user(email="dan@example.com")
    first = (await ok(LOG_IN, {"email": "dan@example.com", "password": PASSWORD}))["logIn"]
    second = (await ok(REFRESH, {"token": first["refreshToken"]}))["refreshToken"]
    assert second["userErrors"] == []
    assert second["refreshToken"] != first["refreshToken"]

    reused = (await ok(REFRESH, {"token": first["refreshToken"]}))["refreshToken"]
    assert reused["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    # The thief's reuse also kills the legitimate newer token.
    after = (await ok(REFRESH, {"token": second["refreshToken"]}))["refreshToken"]
    assert after["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    assert await RefreshToken.filter(revoked_at=None).count() == 0


async def test_an_expired_refresh_token_is_refused():
    await make_user(email="erin@example.com")
    session = (await ok(LOG_IN, {"email": "erin@example.com", "password": PASSWORD}))["logIn"]
    clock.advance(timedelta(days=31))
    result = (await ok(REFRESH, {"token": session["refreshToken"]}))["refreshToken"]
    assert result["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"


@pytest.mark.parametrize("token", ["garbage", "Bearer", "a.b.c"])
async def test_forged_access_tokens_are_unauthenticated(token):
    from tests.support.graphql import http_client

    async with http_client() as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { isPlatformAdmin } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_expired_access_token_says_so():
    from tests.support.graphql import http_client

    await make_user(email="fay@example.com")
    session = (await ok(LOG_IN, {"email": "fay@example.com", "password": PASSWORD}))["logIn"]
    clock.advance(timedelta(minutes=16))
    said: dict[str, str] = {}
    async with http_client() as client:
        for language in ("en", "fr-FR,fr;q=0.9", ""):
            response = await client.post(
                "/graphql",
                json={"query": "{ viewer { isPlatformAdmin } }"},
                headers={
                    "Authorization": f"Bearer {session['accessToken']}",
                    "Accept-Language": language,
                },
            )
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "UNAUTHENTICATED"
            said[language] = error["message"]
    # In the language the request prefers; French when it names none we speak.
    assert said == {
        "en": "Access token expired.",
        "fr-FR,fr;q=0.9": "Jeton d'accès expiré.",
        "": "Jeton d'accès expiré.",
    }


async def _viewer_over_http(token: str) -> dict[str, Any]:
    from tests.support.graphql import http_client

    async with http_client() as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { user { email } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    return dict(response.json())


async def test_an_access_token_in_use_still_expires_on_time():
    await make_user(email="gus@example.com")
    session = (await ok(LOG_IN, {"email": "gus@example.com", "password": PASSWORD}))["logIn"]
    token = session["accessToken"]
    assert (await _viewer_over_http(token))["data"]["viewer"]["user"]["email"] == "gus@example.com"
    clock.advance(timedelta(minutes=16))
    error = (await _viewer_over_http(token))["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expir" in error["message"]


async def test_access_tokens_signed_under_a_former_secret_key_are_refused(monkeypatch):
    await make_user(email="hal@example.com")
    session = (await ok(LOG_IN, {"email": "hal@example.com", "password": PASSWORD}))["logIn"]
    assert (await _viewer_over_http(session["accessToken"]))["data"]["viewer"]["user"]
    monkeypatch.setenv("PRESTA_SECRET_KEY", "another-secret-" + "k" * 40)
    get_settings.cache_clear()
    try:
        error = (await _viewer_over_http(session["accessToken"]))["errors"][0]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_viewer_is_null_when_anonymous():
    assert (await execute("{ viewer { isPlatformAdmin } }")).data == {"viewer": None}


async def test_a_token_issued_on_a_moved_clock_is_accepted_until_it_expires_on_that_clock():
    from tests.support.graphql import http_client

    await make_user(email="gus@example.com")
    clock.advance(timedelta(hours=5))
    session = (await ok(LOG_IN, {"email": "gus@example.com", "password": PASSWORD}))["logIn"]
    async with http_client() as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { user { email } } }"},
            headers={"Authorization": f"Bearer {session['accessToken']}"},
        )
    assert response.json()["data"]["viewer"]["user"]["email"] == "gus@example.com"
