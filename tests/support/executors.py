"""Run a document over HTTP on the default path and on the standard executor, and check that
the compiled answer is the standard one, in one statement besides authentication (for the test
modules of the compiled path and of each domain's declarations)."""

from __future__ import annotations

from typing import Any

import orjson
from strawberry import relay

from presta.security import make_access_token
from resolvers.actor import Actor
from tests.support.counting import counting
from tests.support.graphql import http_client


def headers_of(actor: Actor, executor: str | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if actor.user_id is not None:
        token, _ = make_access_token(actor.user_id)
        headers["Authorization"] = f"Bearer {token}"
    if actor.marketplace_id is not None:
        headers["X-Marketplace"] = str(relay.GlobalID("Marketplace", str(actor.marketplace_id)))
    if executor is not None:
        headers["X-Presta-Executor"] = executor
    return headers


async def post(
    actor: Actor, query: str, variables: Any = None, executor: str | None = None
) -> dict[str, Any]:
    """The answer's body; ``executor="standard"`` forces the standard executor."""
    async with http_client() as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers_of(actor, executor),
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def both(actor: Actor, query: str, variables: Any = None) -> dict[str, Any]:
    """The compiled body, after checking that it equals the standard one (but for which
    executor ran) and cost one statement: the standard request authenticated, the compiled
    one carries the kept actor's guard."""
    standard = await post(actor, query, variables, "standard")
    with counting() as statements:
        fast = await post(actor, query, variables)
    assert standard.pop("extensions") == {"executor": "standard"}
    assert fast.pop("extensions") == {"executor": "compiled"}, statements
    assert _sorted(fast) == _sorted(standard)
    assert len(statements) == 1, statements
    return fast


def _sorted(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
