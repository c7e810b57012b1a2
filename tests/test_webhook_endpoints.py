"""Webhook endpoints through the API: ADMIN only, one marketplace's endpoints invisible to
another, the secret shown once, deliveries readable page by page; an endpoint failing for
days is disabled and its admins e-mailed; disabling, enabling and deleting."""

from __future__ import annotations

import ast
import importlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from models.account import StaffRole
from models.webhook import (
    WebhookDelivery,
    WebhookDisabledReason,
    WebhookEndpoint,
    WebhookEndpointStatus,
)
from presta import clock, jobs
from presta.settings import settings
from resolvers.webhook.endpoint import (
    EVENT_TYPES,
    NOT_OFFERED,
    disable_webhook_endpoint,
    update_webhook_endpoint,
    webhook_deliveries,
)
from resolvers.webhook.sweep import sweep_webhooks
from schema.base import encode_id
from tests.factories.account import actor_of, make_staff
from tests.factories.webhook import deliveries_of, event_ids, hooked, record_events
from tests.support.graphql import execute, ok
from tests.support.mailbox import Mailbox
from tests.support.webhook_receiver import Answer, Receiver

ROOT = Path(__file__).resolve().parents[1]

CREATE = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  userErrors { field code message } secret
  webhookEndpoint { id url events ordered status description } } }"""
DELIVERIES = """query($id: ID!, $status: WebhookDeliveryStatus, $after: String) {
  webhookDeliveries(endpointId: $id, status: $status, first: 2, after: $after) {
    edges { cursor node { id webhookId eventType status attempts body } }
    pageInfo { hasNextPage endCursor } } }"""


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setattr(settings(), "webhook_allow_loopback", True)
    monkeypatch.setattr(settings(), "webhook_timeout_seconds", 0.5)
    async with Receiver() as r:
        yield r


async def test_an_admin_creates_an_endpoint_and_sees_its_secret_only_once(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    data = await ok(
        CREATE,
        {"input": {"url": receiver.url, "events": ["service.updated"], "ordered": True}},
        actor=h.admin,
    )
    created = data["createWebhookEndpoint"]
    assert created["userErrors"] == []
    assert created["secret"].startswith("whsec_")
    assert created["webhookEndpoint"]["events"] == ["service.updated"]
    assert created["webhookEndpoint"]["ordered"] is True
    listed = await ok("{ webhookEndpoints { id url status } }", actor=h.admin)
    assert len(listed["webhookEndpoints"]) == 2
    fields = await ok('{ __type(name: "WebhookEndpoint") { fields { name } } }')
    assert not {f["name"] for f in fields["__type"]["fields"]} & {"secret", "sealedSecret"}


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        ({"url": "http://10.0.0.1/h"}, "URL_NOT_ALLOWED", "url"),
        ({"url": "not a url"}, "INVALID", "url"),
        (
            {"url": "https://hooks.example.com/h", "events": ["nope"]},
            "UNKNOWN_EVENT_TYPE",
            "events",
        ),
    ],
)
async def test_a_bad_input_is_a_user_error(given: dict[str, object], code: str, field: str) -> None:
    h = await hooked("https://hooks.example.com/h")
    data = await ok(CREATE, {"input": given}, actor=h.admin)
    [error] = data["createWebhookEndpoint"]["userErrors"]
    assert (error["code"], error["field"]) == (code, field)


async def test_a_marketplace_has_a_bounded_number_of_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings(), "webhook_max_endpoints", 1)
    h = await hooked("https://hooks.example.com/h")
    data = await ok(CREATE, {"input": {"url": "https://b.example.com/"}}, actor=h.admin)
    assert data["createWebhookEndpoint"]["userErrors"][0]["code"] == "TOO_MANY_ENDPOINTS"


async def test_another_marketplaces_endpoints_and_deliveries_are_invisible(
    receiver: Receiver,
) -> None:
    a = await hooked(receiver.url)
    b = await hooked(receiver.url)
    await record_events(a.marketplace.id, 1)
    [delivery] = await deliveries_of(a.endpoint)
    endpoint_gid = str(encode_id("WebhookEndpoint", a.endpoint.id))
    listed = await ok("{ webhookEndpoints { id } }", actor=b.admin)
    assert listed["webhookEndpoints"] == [{"id": str(encode_id("WebhookEndpoint", b.endpoint.id))}]
    foreign = await execute(DELIVERIES, {"id": endpoint_gid}, actor=b.admin)
    ghost = await execute(
        DELIVERIES, {"id": str(encode_id("WebhookEndpoint", 987654))}, actor=b.admin
    )
    assert foreign.data is None
    assert foreign.errors == ghost.errors
    for gid in (endpoint_gid, str(encode_id("WebhookDelivery", delivery.id))):
        seen = await ok("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, actor=b.admin)
        assert seen["node"] is None
    data = await ok(
        "mutation($id: ID!) { disableWebhookEndpoint(input: {id: $id}) "
        "{ userErrors { code } webhookEndpoint { id } } }",
        {"id": endpoint_gid},
        actor=b.admin,
    )
    assert data["disableWebhookEndpoint"]["userErrors"] == [{"code": "NOT_FOUND"}]
    assert (await WebhookEndpoint.get(id=a.endpoint.id)).status is WebhookEndpointStatus.ACTIVE


async def test_agents_are_refused(receiver: Receiver) -> None:
    h = await hooked(receiver.url)
    agent = await actor_of(await make_staff(h.marketplace, StaffRole.AGENT), h.marketplace)
    result = await execute("{ webhookEndpoints { id } }", actor=agent)
    assert result.codes == ["FORBIDDEN"]
    result = await execute(CREATE, {"input": {"url": receiver.url}}, actor=agent)
    assert result.codes == ["FORBIDDEN"]


async def test_deliveries_are_read_newest_first_page_by_page_and_by_status(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    receiver.queue = [Answer(status=500)]
    events = await record_events(h.marketplace.id, 3)
    gid = str(encode_id("WebhookEndpoint", h.endpoint.id))
    first = (await ok(DELIVERIES, {"id": gid}, actor=h.admin))["webhookDeliveries"]
    after = first["pageInfo"]["endCursor"]
    second = (await ok(DELIVERIES, {"id": gid, "after": after}, actor=h.admin))["webhookDeliveries"]
    assert first["pageInfo"]["hasNextPage"]
    assert not second["pageInfo"]["hasNextPage"]
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert event_ids([n["body"].encode() for n in nodes]) == [e.id for e in reversed(events)]
    pending = await ok(DELIVERIES, {"id": gid, "status": "PENDING"}, actor=h.admin)
    [edge] = pending["webhookDeliveries"]["edges"]
    assert edge["node"]["attempts"] == 1
    assert edge["node"]["eventType"] == "service.updated"


async def test_an_endpoint_failing_for_days_is_disabled_and_its_admins_are_emailed(
    receiver: Receiver, mailbox: Mailbox
) -> None:
    h = await hooked(receiver.url)
    second_admin = await make_staff(h.marketplace, StaffRole.ADMIN)
    agent = await make_staff(h.marketplace, StaffRole.AGENT)
    receiver.answer = Answer(status=502)
    await record_events(h.marketplace.id, 1)
    await h.endpoint.refresh_from_db()
    assert h.endpoint.failing_since is not None
    days = settings().webhook_disable_after_days
    for _ in range(int(days) * 4 + 4):
        clock.advance(timedelta(hours=6))
        await record_events(h.marketplace.id, 1)
        await sweep_webhooks()
        await jobs.drain()
    await h.endpoint.refresh_from_db()
    assert h.endpoint.status is WebhookEndpointStatus.DISABLED
    assert h.endpoint.disabled_reason is WebhookDisabledReason.FAILING
    for email in (h.admin_email, second_admin.email):
        [mail] = mailbox.to(email)
        assert receiver.url in mailbox.body(mail)
        assert "HTTP 502" in mailbox.body(mail)
    assert mailbox.to(agent.email) == []
    tried = len(receiver.received)
    await record_events(h.marketplace.id, 1)
    await sweep_webhooks()
    await jobs.drain()
    assert len(receiver.received) == tried
    page = await webhook_deliveries(h.admin, endpoint_id=h.endpoint.id, first=100)
    assert len(page.items) == len(await deliveries_of(h.endpoint)) > 1


async def test_a_disabled_endpoint_gets_nothing_and_enabled_again_gets_its_pending_ones(
    receiver: Receiver,
) -> None:
    h = await hooked(receiver.url)
    receiver.fail_next(1)
    [held] = await record_events(h.marketplace.id, 1)
    await disable_webhook_endpoint(h.admin, endpoint_id=h.endpoint.id)
    await record_events(h.marketplace.id, 1)  # while disabled: never sent
    clock.advance(timedelta(hours=1))
    await sweep_webhooks()
    await jobs.drain()
    assert len(receiver.received) == 1
    endpoint = await update_webhook_endpoint(h.admin, endpoint_id=h.endpoint.id, enabled=True)
    assert endpoint.status is WebhookEndpointStatus.ACTIVE
    assert endpoint.disabled_reason is None
    await jobs.drain()
    [after] = await record_events(h.marketplace.id, 1)
    assert event_ids(receiver.bodies()) == [held.id, held.id, after.id]


async def test_deleting_an_endpoint_deletes_its_deliveries(receiver: Receiver) -> None:
    h = await hooked(receiver.url)
    await record_events(h.marketplace.id, 2)
    gid = str(encode_id("WebhookEndpoint", h.endpoint.id))
    data = await ok(
        "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) "
        "{ userErrors { code } deletedId } }",
        {"id": gid},
        actor=h.admin,
    )
    assert data["deleteWebhookEndpoint"] == {"userErrors": [], "deletedId": gid}
    assert not await WebhookEndpoint.exists(id=h.endpoint.id)
    assert not await WebhookDelivery.exists(endpoint_id=h.endpoint.id)


def _recorded_topics() -> set[str]:
    """The topic of every ``record_event(...)`` call in resolvers/, resolved in its module."""
    found: set[str] = set()
    for path in sorted((ROOT / "resolvers").rglob("*.py")):
        module = None
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "record_event"):
                continue
            topic = next((k.value for k in node.keywords if k.arg == "topic"), None)
            if isinstance(topic, ast.Name):
                name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                module = module or importlib.import_module(name)
                found.add(getattr(module, topic.id))
    return found


def test_every_topic_the_event_log_records_for_a_marketplace_can_be_subscribed_to() -> None:
    recorded = _recorded_topics()
    assert len(recorded) > 5
    assert recorded - NOT_OFFERED == set(EVENT_TYPES)
