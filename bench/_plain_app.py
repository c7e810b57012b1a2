"""The baseline of ``bench.small_query``: plain Starlette + asyncpg + orjson, no GraphQL.

It answers ``POST /graphql`` for the viewer query with the same JSON as Presta, after the same
work a real handler must do: check the bearer token and read the user row.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_pool: asyncpg.Pool | None = None


async def viewer(request: Request) -> Response:
    await request.body()
    auth = request.headers.get("authorization", "")
    try:
        claims = jwt.decode(auth[7:], os.environ["BENCH_SECRET"], algorithms=["HS256"])
    except jwt.PyJWTError:
        return Response(b'{"data":{"viewer":null}}', media_type="application/json")
    assert _pool is not None
    row = await _pool.fetchrow(
        "SELECT email, full_name FROM account_user WHERE id = $1 AND is_active",
        int(claims["sub"]),
    )
    user = {"email": row["email"], "fullName": row["full_name"]} if row else None
    body = {"data": {"viewer": {"user": user} if user else None}}
    return Response(orjson.dumps(body), media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global _pool
    _pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=20)
    try:
        yield
    finally:
        await _pool.close()


app = Starlette(routes=[Route("/graphql", viewer, methods=["POST"])], lifespan=lifespan)
