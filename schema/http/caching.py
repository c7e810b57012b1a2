"""HTTP caching of queries sent by GET (persisted queries, as CDNs and browsers fetch them).

A GET answer says who may keep it and for how long, and carries an ``ETag`` (a hash of its
body); a request whose ``If-None-Match`` names the answer's current tag gets ``304 Not
Modified`` without the body. The query still runs every time: the tag is of the answer, not a
promise about the data, so a revalidated answer is never stale.

- An answer with errors, or a refusal of the persisted-query protocol: ``no-store``.
- An answer to a caller with credentials (``Authorization``, an API key): ``private,
  no-cache``. Only the caller's own cache keeps it, and revalidates it before each use.
- An anonymous answer (a public application link, an invitation): ``public`` for
  ``public_cache_seconds`` (``no-cache`` when 0), so a CDN serves it to others.

Every GET answer varies on the headers that change it (credentials, acting marketplace,
language). POST answers are not touched: HTTP caches do not keep them.
"""

from __future__ import annotations

import hashlib

import orjson
from starlette.requests import Request
from starlette.responses import Response

from presta.settings import settings

VARY = "Authorization, X-Api-Key, X-Marketplace, Accept-Language"
_CACHEABLE = "presta.cacheable"


def mark(request: Request, *, cacheable: bool) -> None:
    """Record, once the operation ran, whether its answer may be kept (no error in it)."""
    request.scope[_CACHEABLE] = cacheable


def for_get(request: Request, response: Response) -> Response:
    """The response with its caching headers; a 304 when the client holds this answer."""
    if request.method != "GET" or response.media_type != "application/json":
        return response  # POST, and GraphiQL's page (its own headers)
    response.headers["Vary"] = VARY
    if response.status_code != 200 or not request.scope.get(_CACHEABLE, False):
        response.headers["Cache-Control"] = "no-store"
        return response
    response.headers["Cache-Control"] = _policy(request)
    tag = _tag(bytes(response.body))
    response.headers["ETag"] = tag
    if tag in _tags(request.headers.get("if-none-match", "")):
        kept = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(status_code=304, headers=kept)
    return response


def _tag(body: bytes) -> str:
    """The entity tag of an answer: of its ``data`` and ``errors`` as JSON values, so both
    executors' texts of one answer (PostgreSQL spaces its JSON) share it, and not of its
    ``extensions`` (outside production they say which executor ran)."""
    answer = orjson.loads(body)
    answer.pop("extensions", None)
    return '"' + hashlib.sha256(orjson.dumps(answer)).hexdigest()[:32] + '"'


def _policy(request: Request) -> str:
    credentials = request.headers.get("authorization") or request.headers.get("x-api-key")
    if credentials or request.query_params.get("apiKey"):
        return "private, no-cache"
    seconds = settings().public_cache_seconds
    return f"public, max-age={seconds}" if seconds > 0 else "public, no-cache"


def _tags(header: str) -> set[str]:
    """The entity tags a client names (weak ones compare as strong: the body is the same)."""
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}
