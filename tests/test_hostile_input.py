"""Hostile and malformed HTTP input: each is refused cleanly, with a code, and runs nothing.

"Runs nothing" is shown with a `signUp` mutation smuggled into the request: no account exists
afterwards. Every refusal is a JSON GraphQL error with a documented `extensions.code`.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from models.account import ApiKey, StaffRole, User
from models.membership import Membership, MembershipStatus
from presta.security import make_access_token
from resolvers.marketplace import marketplace_id_from_header
from schema.base import encode_id
from schema.http.errors import ERROR_CODES
from tests.factories.account import make_marketplace, make_staff
from tests.factories.membership import make_membership
from tests.support.graphql import answer, http_client

SIGN_UP = (
    'mutation { signUp(input: {email: "smuggled@example.com", password: "correct horse battery"})'
    " { accessToken } }"
)
SUSPEND = """mutation($id: ID!) {
  suspendProvider(input: {membershipId: $id, reason: "x"}) {
    userErrors { field code }
    membership { status }
  }
}"""


async def _post(**kw: Any) -> httpx.Response:
    async with http_client() as client:
        return await client.post("/graphql", **kw)


def _codes(response: httpx.Response) -> list[str]:
    body = response.json()
    codes = [e["extensions"]["code"] for e in body["errors"]]
    assert set(codes) <= ERROR_CODES, codes
    return codes


async def _nobody_signed_up() -> bool:
    return not await User.filter(email="smuggled@example.com").exists()


def _bearer(user: User, slug: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_access_token(user.id)[0]}", "X-Marketplace": slug}


# --- transport ------------------------------------------------------------------------------


async def test_a_batched_array_of_operations_is_refused_with_a_code_and_runs_none_of_them():
    response = await _post(json=[{"query": SIGN_UP}, {"query": "{ __typename }"}])
    assert response.status_code == 400
    assert _codes(response) == ["BATCHING_NOT_SUPPORTED"]
    assert await _nobody_signed_up()


@pytest.mark.parametrize("body", [b'"{ __typename }"', b"null", b"5", b"true", b"[1, 2]"])
async def test_json_that_is_not_an_operation_object_is_a_bad_request_not_a_server_error(body):
    response = await _post(content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _codes(response)[0] in {"BAD_REQUEST", "BATCHING_NOT_SUPPORTED"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ __typename }"',  # cut short
        b"{'query': '{ __typename }'}",  # not JSON quotes
        b'{"query": "\xff\xfe"}',  # not UTF-8
        b"",
    ],
)
async def test_malformed_json_is_a_bad_request(body):
    response = await _post(content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _codes(response) == ["BAD_REQUEST"]


async def test_a_json_body_led_by_a_utf8_byte_order_mark_is_read_like_any_other():
    body = b'\xef\xbb\xbf{"query": "{ __typename }"}'
    response = await _post(content=body, headers={"Content-Type": "application/json"})
    assert answer(response) == {"data": {"__typename": "Query"}}


async def test_json_nested_past_the_parser_limit_is_a_bad_request_and_the_server_goes_on():
    depth = 50_000  # 100 kB: well under the body limit
    body = b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    response = await _post(content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _codes(response) == ["BAD_REQUEST"]
    after = await _post(json={"query": "{ __typename }"})
    assert answer(after) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "query=" + SIGN_UP),
        ("text/plain", json.dumps({"query": SIGN_UP})),
        ("text/plain;charset=UTF-8", json.dumps({"query": SIGN_UP})),
    ],
)
async def test_a_cross_site_form_post_is_refused_and_runs_nothing(content_type, body):
    response = await _post(content=body.encode(), headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert _codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert await _nobody_signed_up()


async def test_a_post_without_content_type_is_refused_and_runs_nothing():
    response = await _post(content=json.dumps({"query": SIGN_UP}).encode())
    assert response.status_code == 415
    assert _codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert await _nobody_signed_up()


def _multipart_sign_up() -> dict[str, Any]:
    return {"files": {"operations": (None, json.dumps({"query": SIGN_UP})), "map": (None, "{}")}}


async def test_a_multipart_post_without_a_preflight_header_is_refused_and_runs_nothing():
    response = await _post(**_multipart_sign_up())
    assert response.status_code == 400
    assert _codes(response) == ["PREFLIGHT_REQUIRED"]
    assert await _nobody_signed_up()


@pytest.mark.parametrize(
    "header", [{"Apollo-Require-Preflight": "true"}, {"X-Requested-With": "XMLHttpRequest"}]
)
async def test_a_multipart_post_with_a_preflight_header_runs(header):
    response = await _post(headers=header, **_multipart_sign_up())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["signUp"]["accessToken"]
    assert not await _nobody_signed_up()


async def test_a_multipart_map_pointing_nowhere_is_a_bad_request():
    files = {
        "operations": (None, json.dumps({"query": SIGN_UP})),
        "map": (None, json.dumps({"0": ["variables.nowhere.deeper"]})),
        "0": ("a.pdf", b"%PDF-1.4", "application/pdf"),
    }
    response = await _post(headers={"Apollo-Require-Preflight": "true"}, files=files)
    assert response.status_code == 400
    assert _codes(response) == ["BAD_REQUEST"]
    assert await _nobody_signed_up()


async def test_variables_over_the_body_limit_are_refused_with_413_and_run_nothing():
    big = "x" * (1024 * 1024 + 1)
    response = await _post(json={"query": SIGN_UP, "variables": {"padding": big}})
    assert response.status_code == 413
    assert _codes(response) == ["PAYLOAD_TOO_LARGE"]
    assert await _nobody_signed_up()


async def test_a_file_given_as_a_string_instead_of_an_upload_is_refused_with_a_code():
    market = await make_marketplace()
    admin = await make_staff(market)
    response = await _post(
        json={
            "query": 'mutation { publishTermsOfUse(input: {file: "/etc/passwd"}) '
            "{ userErrors { code } } }"
        },
        headers=_bearer(admin, market.slug),
    )
    assert response.status_code == 200
    assert _codes(response) == ["GRAPHQL_VALIDATION_FAILED"]


# --- documents past the limits --------------------------------------------------------------


async def test_fragments_that_spread_each_other_twice_over_are_refused_at_once():
    # F20 expands to 2**20 fields: walking it would hold the server for many seconds.
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 21)
    )
    query = f"query {{ ...F20 }} fragment F0 on Query {{ __typename }} {fragments}"
    started = time.perf_counter()
    response = await _post(json={"query": query})
    assert time.perf_counter() - started < 2
    assert _codes(response) == ["QUERY_TOO_COSTLY"]


async def test_aliases_past_the_limit_spread_over_many_fragments_are_refused():
    fragments = " ".join(f"fragment A{i} on Query {{ a{i}: __typename }}" for i in range(16))
    spreads = " ".join(f"...A{i}" for i in range(16))
    response = await _post(json={"query": f"{{ {spreads} }} {fragments}"})
    assert _codes(response) == ["TOO_MANY_ALIASES"]


async def test_a_fragment_cycle_is_refused_quickly():
    query = (
        "{ ...A } fragment A on Query { ...B __typename } fragment B on Query { ...A __typename }"
    )
    started = time.perf_counter()
    response = await _post(json={"query": query})
    assert time.perf_counter() - started < 2
    assert set(_codes(response)) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_nesting_deeper_than_allowed_through_fragments_is_refused(monkeypatch):
    monkeypatch.setenv("PRESTA_MAX_QUERY_DEPTH", "1")
    from presta.settings import get_settings

    get_settings.cache_clear()
    try:
        response = await _post(
            json={
                "query": "{ ...V } fragment V on Query { viewer { ...U } } "
                "fragment U on Viewer { user { ...N } } fragment N on User { email }"
            }
        )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert _codes(response) == ["QUERY_TOO_DEEP"]


async def test_thousands_of_identical_fields_are_refused_by_the_token_limit():
    response = await _post(json={"query": "{ " + "__typename " * 5000 + "}"})
    assert _codes(response) == ["TOO_MANY_TOKENS"]


# --- global IDs -----------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "gid",
    [
        "!!!not-base64***",
        _b64("Membership"),  # no separator
        _b64("Membership:abc"),  # not a number
        _b64("Membership:-1"),
        _b64("Membership:99999999999999999999999"),
        _b64("NoSuchType:1"),
        _b64("Marketplace:1"),  # the wrong type for this argument
    ],
)
async def test_a_tampered_global_id_in_a_mutation_is_not_found_and_changes_nothing(gid):
    market = await make_marketplace()
    admin = await make_staff(market)
    membership = await make_membership(market)
    response = await _post(
        json={"query": SUSPEND, "variables": {"id": gid}}, headers=_bearer(admin, market.slug)
    )
    body = response.json()
    assert response.status_code == 200
    if "errors" in body:  # not a global ID at all: refused before the use case
        assert _codes(response) == ["BAD_USER_INPUT"]
    else:
        assert body["data"]["suspendProvider"]["userErrors"] == [
            {"field": "membershipId", "code": "NOT_FOUND"}
        ]
    await membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACCEPTED


@pytest.mark.parametrize(
    "gid",
    [
        "!!!not-base64***",
        _b64("Membership:abc"),
        _b64("Membership:99999999999999999999999"),
        _b64("NoSuchType:1"),
        _b64("x" * 5000),
    ],
)
async def test_a_tampered_global_id_in_node_reads_as_nothing_with_a_client_code(gid):
    response = await _post(
        json={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": gid}}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == {"node": None}
    if "errors" in body:
        assert _codes(response) == ["BAD_USER_INPUT"]


async def test_a_membership_of_another_marketplace_is_not_found_and_changes_nothing():
    mine = await make_marketplace()
    admin = await make_staff(mine, StaffRole.ADMIN)
    theirs = await make_membership(await make_marketplace())
    gid = str(encode_id("Membership", theirs.id))
    response = await _post(
        json={"query": SUSPEND, "variables": {"id": gid}}, headers=_bearer(admin, mine.slug)
    )
    payload = response.json()["data"]["suspendProvider"]
    assert payload == {
        "userErrors": [{"field": "membershipId", "code": "NOT_FOUND"}],
        "membership": None,
    }
    read = await _post(
        json={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": gid}},
        headers=_bearer(admin, mine.slug),
    )
    assert answer(read) == {"data": {"node": None}}
    assert (await Membership.get(id=theirs.id)).status == MembershipStatus.ACCEPTED


# --- enums and suggestions ------------------------------------------------------------------

CREATE_KEY = 'mutation($s: ApiScope!) { createApiKey(input: {name: "k", scope: $s}) { secret } }'


async def test_an_invalid_enum_value_is_refused_with_a_code_as_a_literal_and_as_a_variable():
    literal = await _post(
        json={"query": 'mutation { createApiKey(input: {name: "k", scope: ROOT}) { secret } }'}
    )
    assert _codes(literal) == ["GRAPHQL_VALIDATION_FAILED"]
    variable = await _post(json={"query": CREATE_KEY, "variables": {"s": "ROOT"}})
    assert _codes(variable) == ["BAD_USER_INPUT"]
    wrong_type = await _post(json={"query": CREATE_KEY, "variables": {"s": 7}})
    assert _codes(wrong_type) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("query", "variables", "hidden"),
    [
        ("{ viewr { user { email } } }", None, "'viewer'"),  # a field
        ("{ marketplaces(frist: 1) { nodes { name } } }", None, "'first'"),  # an argument
        ("{ ...F } fragment F on Marketplac { name }", None, "'Marketplace'"),  # a type
        ('mutation { createApiKey(input: {name: "k", scope: REA}) { secret } }', None, "'READ'"),
        (CREATE_KEY, {"s": "REA"}, "'READ'"),  # an enum value in variables
        (CREATE_KEY, {"s": "READ", "x": 1}, None),  # an unknown variable is ignored
        ('mutation { createApiKey(input: {name: "k", scpe: READ}) { secret } }', None, "'scope'"),
    ],
)
async def test_suggestions_never_reveal_the_schema_to_anonymous_callers(query, variables, hidden):
    response = await _post(json={"query": query, "variables": variables})
    assert response.json()["errors"]
    assert "Did you mean" not in response.text
    if hidden is not None:
        assert f"Did you mean {hidden}" not in response.text
        assert f"{hidden}?" not in response.text


async def test_staff_still_get_suggestions():
    market = await make_marketplace()
    admin = await make_staff(market)
    response = await _post(
        json={"query": CREATE_KEY, "variables": {"s": "REA"}}, headers=_bearer(admin, market.slug)
    )
    assert "Did you mean" in response.text


NAMED_KEY = (
    "mutation($name: String!) { createApiKey(input: {name: $name, scope: READ}) { secret } }"
)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # The fuzzer's find: PostgreSQL stores no NUL, the statement failed, the caller got
        # INTERNAL_SERVER_ERROR.
        ('mutation { createApiKey(input: {name: "a\\u0000b", scope: READ}) { secret } }', None),
        ('mutation { createApiKey(input: {name: "a\\u{0}b", scope: READ}) { secret } }', None),
        (NAMED_KEY, {"name": "a\x00b"}),
        (SIGN_UP.replace("smuggled@", "smug\\u0000gled@"), None),
    ],
)
async def test_a_nul_character_in_any_text_is_refused_with_a_code_and_runs_nothing(
    query: str, variables: dict[str, Any] | None
) -> None:
    marketplace = await make_marketplace()
    admin = await make_staff(marketplace, StaffRole.ADMIN)
    token, _ = make_access_token(admin.id)
    headers = {"Authorization": f"Bearer {token}", "X-Marketplace": marketplace.slug}
    body = (await _post(json={"query": query, "variables": variables}, headers=headers)).json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "NUL" in body["errors"][0]["message"]
    assert not await ApiKey.exists()
    assert not await User.filter(email__contains="gled@example.com").exists()


async def test_a_marketplace_named_with_a_nul_character_is_simply_unknown() -> None:
    # A websocket's connection_init payload may carry one (HTTP headers cannot).
    marketplace = await make_marketplace()
    assert await marketplace_id_from_header(marketplace.slug) == marketplace.id
    assert await marketplace_id_from_header(f"{marketplace.slug}\x00") is None
    assert await marketplace_id_from_header("\x00") is None
