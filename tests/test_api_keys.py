"""Partner API keys: shown once, stored hashed, scoped to one marketplace and to read or write."""

from __future__ import annotations

from typing import Any

from models.account import ApiKey, StaffRole, User
from presta.security import make_access_token
from tests.factories.account import make_marketplace, make_staff
from tests.support.graphql import http_client

CREATE = """
mutation($name: String!, $scope: ApiScope!) {
  createApiKey(input: {name: $name, scope: $scope}) {
    userErrors { field code message }
    apiKey { id name prefix scope revokedAt }
    secret
  }
}"""
REVOKE = """
mutation($id: ID!) {
  revokeApiKey(input: {id: $id}) { userErrors { code } apiKey { revokedAt } }
}"""
VIEWER = "{ viewer { user { id } actingMarketplaceId roles { role } } }"


async def _post(query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
    async with http_client() as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    return response.json()


def _bearer(user: User) -> str:
    return f"Bearer {make_access_token(user.id)[0]}"


async def _new_key(admin: User, scope: str = "READ") -> Any:
    body = await _post(CREATE, {"name": "CRM sync", "scope": scope}, authorization=_bearer(admin))
    payload = body["data"]["createApiKey"]
    assert payload["userErrors"] == []
    return payload


def _codes(body: Any) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_a_created_key_is_shown_once_stored_hashed_and_acts_in_its_marketplace():
    market = await make_marketplace()
    admin = await make_staff(market)
    payload = await _new_key(admin)
    secret = payload["secret"]
    assert secret.startswith("pk_")
    assert payload["apiKey"]["scope"] == "READ"

    stored = await ApiKey.get(marketplace_id=market.id)
    assert secret.split("_", 2)[2] not in stored.secret_hash
    assert len(stored.secret_hash) == 64
    # Listing the keys later never shows a secret again.
    listed = await _post("{ apiKeys { prefix } }", authorization=_bearer(admin))
    assert listed["data"]["apiKeys"] == [{"prefix": stored.prefix}]
    assert secret not in str(listed)

    viewer = await _post(VIEWER, **{"x-api-key": secret})
    assert viewer["data"]["viewer"]["user"] is None
    assert viewer["data"]["viewer"]["roles"] == [{"role": "PARTNER"}]
    assert viewer["data"]["viewer"]["actingMarketplaceId"] is not None


async def test_a_read_key_cannot_mutate():
    market = await make_marketplace()
    admin = await make_staff(market)
    secret = (await _new_key(admin, "READ"))["secret"]
    body = await _post(CREATE, {"name": "escalate", "scope": "READ_WRITE"}, **{"x-api-key": secret})
    assert _codes(body) == ["FORBIDDEN"]
    assert await ApiKey.all().count() == 1


async def test_a_revoked_key_is_unauthenticated_at_once():
    market = await make_marketplace()
    admin = await make_staff(market)
    payload = await _new_key(admin)
    assert _codes(await _post(VIEWER, **{"x-api-key": payload["secret"]})) == []

    revoked = await _post(REVOKE, {"id": payload["apiKey"]["id"]}, authorization=_bearer(admin))
    assert revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    body = await _post(VIEWER, **{"x-api-key": payload["secret"]})
    assert _codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


async def test_a_key_with_a_wrong_secret_is_unauthenticated():
    market = await make_marketplace()
    admin = await make_staff(market)
    secret = (await _new_key(admin))["secret"]
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert _codes(await _post(VIEWER, **{"x-api-key": forged})) == ["UNAUTHENTICATED"]


async def test_a_key_naming_another_marketplace_is_refused():
    market_a = await make_marketplace(slug="market-a")
    await make_marketplace(slug="market-b")
    admin = await make_staff(market_a)
    secret = (await _new_key(admin, "READ_WRITE"))["secret"]
    body = await _post(VIEWER, **{"x-api-key": secret, "x-marketplace": "market-b"})
    # Another marketplace, existing or not, is refused as every caller's foreign one is.
    assert _codes(body) == ["MARKETPLACE_NOT_FOUND"]
    assert body["data"] is None


async def test_an_agent_cannot_create_keys():
    market = await make_marketplace()
    agent = await make_staff(market, StaffRole.AGENT)
    body = await _post(CREATE, {"name": "mine", "scope": "READ"}, authorization=_bearer(agent))
    assert _codes(body) == ["FORBIDDEN"]
    assert await ApiKey.all().count() == 0


async def test_an_admin_of_another_marketplace_cannot_revoke_a_key():
    market_a = await make_marketplace()
    market_b = await make_marketplace()
    key_id = (await _new_key(await make_staff(market_a)))["apiKey"]["id"]
    other_admin = await make_staff(market_b)
    body = await _post(REVOKE, {"id": key_id}, authorization=_bearer(other_admin))
    assert body["data"]["revokeApiKey"]["userErrors"] == [{"code": "NOT_FOUND"}]
    assert await ApiKey.filter(revoked_at=None).count() == 1
