"""Logs people can read: input the service refused is one INFO or WARNING line with its code
and request id, never an ERROR; the service's own faults are ERROR with their traceback; the
text format is one line (time level logger message key=value...), JSON stays for production."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

import orjson
import pytest

from presta.logs import JsonFormatter, TextFormatter, request_id
from presta.security import make_access_token
from presta.settings import Settings, get_settings
from resolvers import marketplace as marketplace_use_cases
from tests.factories.account import make_client, make_marketplace
from tests.support.graphql import http_client


async def _post(query: str, headers: dict[str, str] | None = None) -> tuple[str, Any]:
    async with http_client() as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    return response.headers["x-request-id"], response.json()


def _ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the service logged (not the test's HTTP client or the ORM)."""
    return [r for r in caplog.records if r.name.startswith(("presta", "strawberry", "uvicorn"))]


def _one_refusal(caplog: pytest.LogCaptureFixture, rid: str, code: str) -> logging.LogRecord:
    records = _ours(caplog)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.levelno in (logging.INFO, logging.WARNING)
    assert (record.code, record.request_id) == (code, rid)  # type: ignore[attr-defined]
    assert record.exc_info is None
    return record


async def test_a_validation_error_is_one_info_line_with_its_code_and_request_id(caplog):
    caplog.set_level(logging.INFO)
    rid, body = await _post("{ nope }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    record = _one_refusal(caplog, rid, "GRAPHQL_VALIDATION_FAILED")
    assert record.levelno == logging.INFO
    assert "Cannot query field 'nope'" in record.getMessage()


async def test_a_forbidden_field_is_one_info_line_with_its_path(caplog):
    market = await make_marketplace()
    client = await make_client(market)
    assert client.user_id is not None
    headers = {"Authorization": f"Bearer {make_access_token(client.user_id)[0]}"}
    caplog.set_level(logging.INFO)
    rid, body = await _post("{ providers { nodes { id } } }", headers)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    record = _one_refusal(caplog, rid, "FORBIDDEN")
    assert record.path == "providers"  # type: ignore[attr-defined]


async def test_a_refusal_before_graphql_runs_is_logged_the_same_way(caplog):
    caplog.set_level(logging.INFO)
    rid, body = await _post("{ viewer { isPlatformAdmin } }", {"Authorization": "Bearer forged"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    _one_refusal(caplog, rid, "UNAUTHENTICATED")


async def test_a_limit_refusal_is_one_warning_line(caplog):
    caplog.set_level(logging.INFO)
    rid, body = await _post("{ marketplaces(first: 1000) { nodes { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"
    assert _one_refusal(caplog, rid, "PAGE_SIZE_EXCEEDED").levelno == logging.WARNING


async def test_a_rate_limited_request_is_one_warning_line(monkeypatch, caplog):
    monkeypatch.setenv("PRESTA_RATE_LIMIT_ENABLED", "true")
    monkeypatch.setenv("PRESTA_RATE_LIMIT_PER_PRINCIPAL", "1")
    monkeypatch.setenv("PRESTA_REDIS_NAMESPACE", f"presta-logs-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    try:
        await _post("{ __typename }")
        caplog.set_level(logging.INFO)
        rid, body = await _post("{ __typename }")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert _one_refusal(caplog, rid, "RATE_LIMITED").levelno == logging.WARNING


async def test_an_internal_fault_is_still_an_error_with_its_traceback(monkeypatch, caplog):
    async def broken(actor, **kw):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(marketplace_use_cases, "list_marketplaces", broken)
    caplog.set_level(logging.INFO)
    rid, body = await _post("{ marketplaces { nodes { name } } }")
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    (record,) = _ours(caplog)
    assert record.levelno == logging.ERROR
    assert (record.code, record.request_id) == ("INTERNAL_SERVER_ERROR", rid)  # type: ignore[attr-defined]
    assert record.exc_info is not None
    text = TextFormatter().format(record)
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: the disk is on fire" in text


def _record(message: str = "refused: %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("presta.graphql", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_the_text_format_is_one_line_time_level_logger_message_then_key_values():
    record = _record("refused: %s", "Bad\nthing", code="FORBIDDEN", path="a b", request_id="ab12")
    line = TextFormatter().format(record)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    presta\.graphql "
        r'refused: Bad\\nthing code=FORBIDDEN path="a b" request_id=ab12',
        line,
    ), line


def test_the_text_format_takes_the_request_id_of_the_current_request_and_omits_none():
    assert "request_id" not in TextFormatter().format(_record("started"))
    token = request_id.set("cafe01")
    try:
        assert TextFormatter().format(_record("working")).endswith(" working request_id=cafe01")
    finally:
        request_id.reset(token)


def test_the_json_format_keeps_the_extra_fields_and_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed", code="INTERNAL_SERVER_ERROR", request_id="ab12")
        record.exc_info = sys.exc_info()
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["code"] == "INTERNAL_SERVER_ERROR"
    assert entry["request_id"] == "ab12"
    assert entry["level"] == "INFO"
    assert "ValueError: boom" in entry["exc"]


def test_logs_are_text_by_default_json_in_production_and_as_configured(monkeypatch):
    for name in ("PRESTA_LOG_FORMAT", "PRESTA_LOG_JSON"):
        monkeypatch.delenv(name, raising=False)
    assert Settings(environment="development").logs_as_json is False

    def production(**values: Any) -> Settings:
        return Settings(
            environment="production",
            secret_key="s" * 40,
            redis_url="redis://redis",
            database_url="postgres://db/presta",
            **values,
        )

    assert production().logs_as_json is True
    assert production(log_format="text").logs_as_json is False
    assert Settings(log_format="json").logs_as_json is True
    # The older setting, while PRESTA_LOG_FORMAT is not set.
    assert Settings(log_json=True).logs_as_json is True
