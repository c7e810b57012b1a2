"""Helpers to run GraphQL operations in-process (schema), over HTTP (the ASGI app) and against
a real uvicorn in the test process (websockets)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from resolvers.actor import ANONYMOUS, Actor
from schema.context import Context
from schema.root import schema
from tests.support.processes import free_port


class Result:
    def __init__(self, data: Any, errors: list[dict[str, Any]] | None) -> None:
        self.data = data
        self.errors = errors or []

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]

    def __repr__(self) -> str:
        return f"Result(data={self.data!r}, errors={self.errors!r})"


async def execute(
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    actor: Actor = ANONYMOUS,
    executor: str | None = None,
) -> Result:
    """Run through the real schema (extensions included) with the given actor;
    ``executor="standard"`` keeps an operation that compiles on strawberry's executor."""
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        actor=actor,
        request_id="test",
        executor=executor,
    )
    result = await schema.execute(query, variable_values=variables, context_value=context)
    errors = [e.formatted for e in result.errors] if result.errors else None
    return Result(result.data, errors)  # type: ignore[arg-type]


async def ok(
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    actor: Actor = ANONYMOUS,
    executor: str | None = None,
):
    result = await execute(query, variables, actor=actor, executor=executor)
    assert not result.errors, result.errors
    return result.data


def http_client() -> httpx.AsyncClient:
    from service.app import create_app

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://127.0.0.1:8000"
    )


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[int]:
    """A real uvicorn serving the app on a free loopback port (yielded), in this process."""
    from service import ws
    from service.app import create_app

    port = free_port()
    options.setdefault("ws", ws.IMPORT_PATH)  # as ``presta serve`` runs
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=port, lifespan="off", log_config=None, **options
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    for _ in range(200):
        if uv.started:
            break
        await asyncio.sleep(0.01)
    assert uv.started, "uvicorn did not start"
    try:
        yield port
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, timeout=10)


def answer(response: Any) -> Any:
    """A response's JSON without ``extensions.executor`` (which executor ran, said outside
    production: ``schema.http.compiled``)."""
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("extensions"), dict):
        extensions = {k: v for k, v in body["extensions"].items() if k != "executor"}
        body = {k: v for k, v in body.items() if k != "extensions"}
        if extensions:
            body["extensions"] = extensions
    return body
