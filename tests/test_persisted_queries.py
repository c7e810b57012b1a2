"""Persisted documents through the real ASGI app: Apollo's automatic persisted queries (POST,
GET, websockets), their store shared through Redis, and the trusted-documents mode.

Each test's documents carry a comment of their own, so that their hashes are new to the store
(the run's Redis namespace is shared by the whole run).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from graphql import get_introspection_query
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from websockets.typing import Subprotocol

from presta.security import make_access_token
from presta.settings import SettingsError, get_settings, settings
from schema.http.manifest import ManifestError
from tests.factories.account import make_user
from tests.support.api_server import ROOT, ApiServer, clean_env
from tests.support.graphql import answer, http_client, serving
from tests.support.processes import free_port
from tests.support.this_run import SERVERS

ME = """query Me($withName: Boolean!) {
  viewer { isPlatformAdmin user { email fullName @include(if: $withName) } }
}"""
LOG_IN = """mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken userErrors { code } }
}"""
MANY_ALIASES = "query Many { " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
INTROSPECTION = '{ __schema { queryType { name } } __type(name: "User") { name } }'
NOT_FOUND = {
    "data": None,
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ],
}


def _unique(query: str) -> str:
    return f"# {uuid.uuid4().hex}\n{query}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ext(key: str, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": key}}


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def _by_hash(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post("/graphql", json={"extensions": _ext(key), **body})


async def _get(client: httpx.AsyncClient, key: str, **params: Any) -> httpx.Response:
    query = {"extensions": json.dumps(_ext(key))}
    query |= {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    # curl's Accept: a GET without `query` must not get GraphiQL's page.
    return await client.get("/graphql", params=query, headers={"Accept": "*/*"})


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("presta_persisted_queries_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set ``PRESTA_*`` settings for this test (apps created afterwards read them)."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"PRESTA_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def _manifest(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / f"manifest-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(content))
    return path


# Automatic persisted queries


@pytest.mark.parametrize("store", ["redis", "memory"])
async def test_the_round_trip_asks_for_the_text_once_then_runs_the_hash_alone(store, env):
    if store == "memory":
        env(redis_url="")  # the embedded default: an LRU in the process
    elif not SERVERS.redis_url:
        pytest.skip("SKIPPED: needs Redis (not answering)")
    query = _unique("{ __typename }")
    key = _sha(query)
    hits, misses, registered = _count("hit"), _count("miss"), _count("registered")
    async with http_client() as client:
        first = await _by_hash(client, key)
        second = await _by_hash(client, key, query=query)
        third = await _by_hash(client, key)
    assert (first.status_code, first.json()) == (200, NOT_FOUND)
    assert (second.status_code, answer(second)) == (200, {"data": {"__typename": "Query"}})
    assert (third.status_code, answer(third)) == (200, {"data": {"__typename": "Query"}})
    assert (_count("hit"), _count("miss"), _count("registered")) == (
        hits + 1,
        misses + 1,
        registered + 1,
    )


async def test_a_hash_that_is_not_the_querys_is_refused_and_nothing_is_kept():
    query = _unique("{ __typename }")
    async with http_client() as client:
        wrong = await _by_hash(client, _sha(query + " "), query=query)
        upper = await _by_hash(client, _sha(query).upper(), query=query)
        later = await _by_hash(client, _sha(query + " "))
    assert wrong.status_code == 400
    assert _code(wrong) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert _code(upper) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert later.json() == NOT_FOUND


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
async def test_a_persisted_query_version_other_than_1_is_refused(version):
    query = _unique("{ __typename }")
    async with http_client() as client:
        response = await client.post(
            "/graphql", json={"query": query, "extensions": _ext(_sha(query), version)}
        )
    assert response.status_code == 400
    assert _code(response) == "BAD_REQUEST"
    assert "version" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("persisted", [{"version": 1}, {"version": 1, "sha256Hash": 5}, "x"])
async def test_a_malformed_persisted_query_extension_is_a_bad_request(persisted):
    async with http_client() as client:
        response = await client.post("/graphql", json={"extensions": {"persistedQuery": persisted}})
    assert (response.status_code, _code(response)) == (400, "BAD_REQUEST")


async def test_a_get_by_hash_gives_the_data_a_post_gives():
    user = await make_user()
    token, _ = make_access_token(user.id)
    auth = {"Authorization": f"Bearer {token}"}
    query = _unique(ME)
    key = _sha(query)
    variables = {"withName": True}
    async with http_client() as client:
        client.headers.update(auth)
        missing = await _get(client, key, variables=variables, operationName="Me")
        posted = await _by_hash(client, key, query=query, variables=variables)
        got = await _get(client, key, variables=variables, operationName="Me")
        without_name = await _get(client, key, variables={"withName": False})
    assert (missing.status_code, missing.json()) == (200, NOT_FOUND)
    assert posted.status_code == got.status_code == 200
    assert got.json() == posted.json()
    assert got.json()["data"]["viewer"]["user"] == {"email": user.email, "fullName": user.full_name}
    assert without_name.json()["data"]["viewer"]["user"] == {"email": user.email}


async def test_a_mutation_by_get_hash_is_refused_and_runs_by_post():
    query = _unique(LOG_IN)
    key = _sha(query)
    variables = {"input": {"email": "nobody@example.test", "password": "wrong password"}}
    async with http_client() as client:
        registered = await _by_hash(client, key, query=query, variables=variables)
        by_get = await _get(client, key, variables=variables)
        by_post = await _by_hash(client, key, variables=variables)
    assert registered.json()["data"]["logIn"]["accessToken"] is None
    assert by_get.status_code == 405
    assert by_get.headers["allow"] == "POST"
    assert _code(by_get) == "METHOD_NOT_ALLOWED"
    assert by_post.json() == registered.json()


async def test_a_mutation_sent_by_get_with_its_text_is_neither_run_nor_kept():
    query = _unique(LOG_IN)
    key = _sha(query)
    params = {"query": query, "variables": {"input": {"email": "a@example.test", "password": "x"}}}
    async with http_client() as client:
        refused = await _get(client, key, **params)
        later = await _by_hash(client, key, variables=params["variables"])
    assert (refused.status_code, _code(refused)) == (405, "METHOD_NOT_ALLOWED")
    assert later.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (MANY_ALIASES, "TOO_MANY_ALIASES"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ viewer { ", "GRAPHQL_PARSE_FAILED"),
        ("{ providerDirectory(first: 1000) { pageInfo { hasNextPage } } }", "PAGE_SIZE_EXCEEDED"),
    ],
)
async def test_a_document_refused_by_the_limits_is_not_kept(document, code):
    query = _unique(document)
    key = _sha(query)
    async with http_client() as client:
        refused = await _by_hash(client, key, query=query)
        later = await _by_hash(client, key)
    assert code in [e["extensions"]["code"] for e in refused.json()["errors"]]
    assert later.json() == NOT_FOUND


async def test_a_document_over_the_size_cap_runs_but_is_not_kept(env):
    env(persisted_query_max_bytes=200)
    query = _unique("{ __typename }") + " " * 200
    key = _sha(query)
    async with http_client() as client:
        ran = await _by_hash(client, key, query=query)
        later = await _by_hash(client, key)
    assert answer(ran) == {"data": {"__typename": "Query"}}
    assert later.json() == NOT_FOUND


async def test_another_process_finds_a_document_registered_by_the_first_through_redis():
    query = _unique("{ __typename }")
    key = _sha(query)
    async with http_client() as client:
        assert (await _by_hash(client, key, query=query)).status_code == 200
    redis_url = SERVERS.redis_url
    assert redis_url is not None
    redis = Redis.from_url(redis_url)
    try:
        stored_key = f"{settings().redis_namespace}:apq:{key}"
        assert (await redis.get(stored_key)) == query.encode()
        assert 0 < await redis.ttl(stored_key) <= 24 * 3600
    finally:
        await redis.aclose()
    server = ApiServer("memory://", PRESTA_REDIS_URL=redis_url)
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient() as other:
            response = await other.get(
                server.http, params={"extensions": json.dumps(_ext(key))}, headers={"Accept": "*/*"}
            )
    finally:
        await asyncio.to_thread(server.stop)
    assert answer(response) == {"data": {"__typename": "Query"}}


async def test_with_redis_down_a_hash_is_not_found_and_the_text_still_runs(env):
    env(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    failures = REGISTRY.get_sample_value("presta_persisted_query_store_failures_total") or 0.0
    query = _unique("{ __typename }")
    key = _sha(query)
    async with http_client() as client:
        missing = await _by_hash(client, key)
        ran = await _by_hash(client, key, query=query)
        still = await _get(client, key)
    assert (missing.status_code, missing.json()) == (200, NOT_FOUND)
    assert (ran.status_code, answer(ran)) == (200, {"data": {"__typename": "Query"}})
    assert (still.status_code, still.json()) == (200, NOT_FOUND)
    assert REGISTRY.get_sample_value("presta_persisted_query_store_failures_total") == failures + 3


async def test_graphiql_is_still_served_to_a_browser_get_without_extensions():
    async with http_client() as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" in response.text.lower()


# Websockets

WS_PROTOCOL = Subprotocol("graphql-transport-ws")


async def _ws_run(port: int, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each payload as a `subscribe`, one after the other; the first answer to each."""
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=[WS_PROTOCOL], open_timeout=5
    ) as socket_:
        await socket_.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["type"] == "connection_ack"
        answers = []
        for index, payload in enumerate(payloads):
            message = {"id": str(index), "type": "subscribe", "payload": payload}
            await socket_.send(json.dumps(message))
            answers.append(json.loads(await asyncio.wait_for(socket_.recv(), 5)))
            if answers[-1]["type"] == "next":
                await asyncio.wait_for(socket_.recv(), 5)  # complete
        return answers


async def test_a_websocket_subscribe_registers_and_runs_persisted_documents():
    query = _unique("{ __typename }")
    key = _sha(query)
    async with serving() as port:
        answers = await _ws_run(
            port,
            [
                {"extensions": _ext(key)},
                {"query": query, "extensions": _ext(key)},
                {"extensions": _ext(key)},
            ],
        )
    assert answers[0]["type"] == "error"
    assert answers[0]["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert answers[1]["payload"] == answers[2]["payload"] == {"data": {"__typename": "Query"}}


# Apollo Client, the client mobile and web apps use

JS = ROOT / "tests" / "js"


@pytest.fixture(scope="module")
def apollo_client() -> Path:
    """``@apollo/client`` from npm, installed into tests/js/node_modules (git-ignored)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("SKIPPED: Node.js and npm are needed for the Apollo Client interop test")
    if not (JS / "node_modules" / "@apollo" / "client").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS, timeout=300
        )
        if installed.returncode != 0 and os.environ.get("PRESTA_TEST_REQUIRE_SERVERS") != "1":
            pytest.skip("SKIPPED: npm could not install @apollo/client (offline?)")
        assert installed.returncode == 0, "npm ci failed in tests/js"
    return JS / "persisted.mjs"


async def test_apollo_clients_persisted_query_link_registers_then_gets_by_hash(apollo_client):
    # Apollo prints the document (comments dropped): a name of its own makes the hash new.
    query = f"query Probe{uuid.uuid4().hex} {{ __typename viewer {{ isPlatformAdmin }} }}"
    async with serving() as port:
        node = await asyncio.create_subprocess_exec(
            "node", str(apollo_client), f"http://127.0.0.1:{port}/graphql", query,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(node.communicate(), timeout=60)
    assert node.returncode == 0
    run = json.loads(out)
    assert run["first"] == run["second"] == {"__typename": "Query", "viewer": None}
    exchanges = [(e["method"], e["status"]) for e in run["exchanges"]]
    # Not found by GET, the text by POST (kept), then the second client by GET alone.
    assert exchanges == [("GET", 200), ("POST", 200), ("GET", 200)]
    assert run["exchanges"][0]["response"] == NOT_FOUND
    assert run["exchanges"][1]["body"]["query"].startswith("query Probe")
    assert "query=" not in run["exchanges"][2]["url"]


# Trusted documents

TRUSTED = "query Trusted { __typename }"
# Introspection beside a data field: not introspection only.
SNEAKY = "{ __typename viewer { isPlatformAdmin } }"
TRUSTED_ID = _sha(TRUSTED)


async def test_trusted_only_serves_manifest_documents_and_refuses_anything_else(tmp_path, env):
    me = _unique(ME)
    env(
        trusted_documents=_manifest(tmp_path, {TRUSTED_ID: TRUSTED, "me-v1": me}),
        trusted_documents_only="true",
    )
    user = await make_user()
    token, _ = make_access_token(user.id)
    raw = _unique("{ viewer { isPlatformAdmin } }")
    refused_before = _count("refused")
    async with http_client() as client:
        client.headers["Authorization"] = f"Bearer {token}"
        trusted = await _by_hash(client, TRUSTED_ID)
        by_id = await _get(client, "me-v1", variables={"withName": False})
        with_its_text = await _by_hash(client, TRUSTED_ID, query=TRUSTED)
        text = await client.post("/graphql", json={"query": raw})
        unknown = await _by_hash(client, _sha(raw))
        registration = await _by_hash(client, _sha(raw), query=raw)
        other_text = await _by_hash(client, TRUSTED_ID, query=raw)
        introspection = await client.post("/graphql", json={"query": INTROSPECTION})
        # What GraphiQL and codegen tools send.
        full = await client.post("/graphql", json={"query": get_introspection_query(True)})
        sneaky = await client.post("/graphql", json={"query": SNEAKY})
    assert answer(trusted) == answer(with_its_text) == {"data": {"__typename": "Query"}}
    assert by_id.json()["data"]["viewer"]["user"] == {"email": user.email}
    for response in (text, unknown, registration, sneaky):
        assert (response.status_code, _code(response)) == (400, "PERSISTED_QUERY_REQUIRED")
    assert _code(other_text) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert _count("refused") == refused_before + 4
    assert introspection.json()["data"]["__schema"] == {"queryType": {"name": "Query"}}
    assert "errors" not in full.json()
    assert {"name": "User", "kind": "OBJECT"}.items() <= next(
        t for t in full.json()["data"]["__schema"]["types"] if t["name"] == "User"
    ).items()


async def test_without_trusted_only_the_manifest_documents_run_beside_apq(tmp_path, env):
    env(trusted_documents=_manifest(tmp_path, {"trusted-1": TRUSTED}))
    query = _unique("{ __typename }")
    async with http_client() as client:
        trusted = await _by_hash(client, "trusted-1")
        text = await client.post("/graphql", json={"query": query})
        registered = await _by_hash(client, _sha(query), query=query)
    assert (
        answer(trusted) == answer(text) == answer(registered) == {"data": {"__typename": "Query"}}
    )


async def test_an_apollo_persisted_query_manifest_is_served_by_id(tmp_path, env):
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": TRUSTED_ID, "body": TRUSTED, "name": "Trusted", "type": "query"},
            {"id": "login-1", "body": LOG_IN, "name": "LogIn", "type": "mutation"},
        ],
    }
    env(trusted_documents=_manifest(tmp_path, manifest), trusted_documents_only="true")
    variables = {"input": {"email": "nobody@example.test", "password": "wrong password"}}
    async with http_client() as client:
        trusted = await _by_hash(client, TRUSTED_ID)
        login = await _by_hash(client, "login-1", variables=variables)
        login_by_get = await _get(client, "login-1", variables=variables)
    assert answer(trusted) == {"data": {"__typename": "Query"}}
    assert login.json()["data"]["logIn"]["accessToken"] is None
    assert (login_by_get.status_code, _code(login_by_get)) == (405, "METHOD_NOT_ALLOWED")


async def test_trusted_only_holds_on_websockets_too(tmp_path, env):
    env(trusted_documents=_manifest(tmp_path, {"t": TRUSTED}), trusted_documents_only="true")
    async with serving() as port:
        answers = await _ws_run(
            port,
            [
                {"query": "{ viewer { isPlatformAdmin } }"},
                {"extensions": _ext("t")},
                {"query": TRUSTED, "extensions": _ext("t")},
                {"query": INTROSPECTION},
            ],
        )
    assert answers[0]["type"] == "error"
    assert answers[0]["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    assert answers[1]["payload"] == answers[2]["payload"] == {"data": {"__typename": "Query"}}
    assert answers[3]["type"] == "next"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"bad": "{ nope }", "ok": TRUSTED}, r"1 of 2 documents .*\n  bad: Cannot query field"),
        (
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": "many", "name": "Many", "body": MANY_ALIASES}],
            },
            r"many \(Many\): .*aliases",
        ),
        ({"format": "apollo-persisted-query-manifest", "version": 2}, "expected 'apollo-persisted"),
        (["{ __typename }"], "expected"),
        ({"x": 1}, "expected"),
    ],
)
async def test_a_bad_manifest_fails_the_start_and_says_why(tmp_path, env, content, message):
    env(trusted_documents=_manifest(tmp_path, content))
    with pytest.raises(ManifestError, match=message):
        http_client()


async def test_a_manifest_that_is_not_json_or_missing_fails_the_start(tmp_path, env):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    env(trusted_documents=broken)
    with pytest.raises(ManifestError, match="not JSON"):
        http_client()
    env(trusted_documents=tmp_path / "absent.json")
    with pytest.raises(ManifestError, match="cannot be read"):
        http_client()


def test_trusted_only_without_a_manifest_is_refused():
    with pytest.raises(SettingsError, match="PRESTA_TRUSTED_DOCUMENTS"):
        type(settings())(trusted_documents_only=True)


def test_presta_serve_with_a_bad_manifest_exits_with_the_reason(tmp_path):
    manifest = _manifest(tmp_path, {"stale": "query Stale { removedField }"})
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=clean_env(
            PRESTA_TRUSTED_DOCUMENTS=str(manifest), PRESTA_DATABASE_URL=SERVERS.database_url
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "stale: Cannot query field 'removedField'" in done.stderr
    assert "Traceback" not in done.stderr
