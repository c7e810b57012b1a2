"""Where webhooks may go: URLs refused when saved, and addresses refused when sent (the host
is resolved at each send, every address checked, the checked one connected to; no redirect
is followed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models.webhook import WebhookDeliveryStatus
from presta import jobs
from presta.settings import settings
from resolvers.errors import UserError
from resolvers.webhook import address
from resolvers.webhook.endpoint import WebhookErrorCode, create_webhook_endpoint
from tests.factories.webhook import deliveries_of, hooked, record_events
from tests.support.webhook_receiver import Answer, Receiver


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    monkeypatch.setattr(settings(), "webhook_timeout_seconds", 0.5)
    async with Receiver() as r:
        yield r


def play_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer name lookups from ``answers``; returns the names looked up."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    monkeypatch.setattr(address, "resolve", resolve)
    return asked


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[64:ff9b::a00:1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://localhost:8000/hook",
        "http://api.localhost/hook",
    ],
)
async def test_a_url_to_an_address_that_is_not_public_is_refused(url: str) -> None:
    with pytest.raises(address.BadUrl) as refused:
        address.check_url(url)
    assert refused.value.refused


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "example.com/hook", "https://user:pw@example.com/", "https://"],
)
def test_a_url_that_is_not_an_http_url_without_credentials_is_invalid(url: str) -> None:
    with pytest.raises(address.BadUrl) as refused:
        address.check_url(url)
    assert not refused.value.refused


def test_loopback_is_allowed_only_by_the_setting_and_https_is_required_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = settings()
    monkeypatch.setattr(cfg, "webhook_allow_loopback", True)
    assert address.check_url("http://127.0.0.1:9000/h") == "http://127.0.0.1:9000/h"
    assert address.check_url("HTTPS://Hooks.Example.com/h") == "https://Hooks.Example.com/h"
    monkeypatch.setattr(cfg, "webhook_allow_loopback", None)
    assert not cfg.webhook_loopback_allowed  # the test environment, like production
    monkeypatch.setattr(cfg, "environment", "development")
    assert cfg.webhook_loopback_allowed  # the demo's
    monkeypatch.setattr(cfg, "environment", "production")
    with pytest.raises(address.BadUrl):
        address.check_url("http://hooks.example.com/h")
    assert address.check_url("https://hooks.example.com/h")


async def test_creating_an_endpoint_to_a_private_address_is_a_user_error() -> None:
    with pytest.raises(UserError) as refused:
        await hooked("http://10.0.0.7/hook")
    assert (refused.value.code, refused.value.field) == (WebhookErrorCode.URL_NOT_ALLOWED, "url")


async def test_a_name_that_resolves_to_loopback_is_refused_at_send_time(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = play_dns(monkeypatch, {"hooks.partner.test": ["127.0.0.1"]})
    h = await hooked(f"http://hooks.partner.test:{receiver.port}/hooks")
    await record_events(h.marketplace.id, 1)
    assert asked == ["hooks.partner.test"]
    assert receiver.received == []
    [delivery] = await deliveries_of(h.endpoint)
    assert delivery.status is WebhookDeliveryStatus.PENDING
    assert "127.0.0.1" in delivery.last_error
    assert delivery.last_response_status is None


async def test_a_name_with_one_private_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    play_dns(monkeypatch, {"mixed.partner.test": ["93.184.216.34", "10.0.0.1"]})
    with pytest.raises(address.AddressRefused):
        await address.target("https://mixed.partner.test/h")


async def test_a_rebinding_name_is_checked_and_the_checked_address_is_the_one_connected_to(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saved while the name pointed elsewhere; at send time it points at loopback, allowed here
    # by the setting: the request goes to the address checked, with the name as Host.
    monkeypatch.setattr(settings(), "webhook_allow_loopback", True)
    play_dns(monkeypatch, {"hooks.partner.test": ["127.0.0.1"]})
    h = await hooked(f"http://hooks.partner.test:{receiver.port}/hooks")
    await record_events(h.marketplace.id, 1)
    [request] = receiver.received
    assert request.headers["host"] == f"hooks.partner.test:{receiver.port}"
    target = await address.target(f"https://hooks.partner.test:{receiver.port}/x?y=1")
    assert target.url == f"https://127.0.0.1:{receiver.port}/x?y=1"
    assert target.extensions == {"sni_hostname": "hooks.partner.test"}


async def test_a_name_that_does_not_resolve_fails_the_attempt(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    play_dns(monkeypatch, {})
    h = await hooked("https://gone.partner.test/hooks")
    await record_events(h.marketplace.id, 1)
    [delivery] = await deliveries_of(h.endpoint)
    assert "does not resolve" in delivery.last_error


async def test_redirects_are_not_followed(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings(), "webhook_allow_loopback", True)
    async with Receiver() as elsewhere:
        receiver.answer = Answer(status=307, headers={"location": elsewhere.url})
        h = await hooked(receiver.url)
        await record_events(h.marketplace.id, 1)
        await jobs.drain()
        assert len(receiver.received) == 1
        assert elsewhere.received == []
    [delivery] = await deliveries_of(h.endpoint)
    assert delivery.status is WebhookDeliveryStatus.PENDING
    assert delivery.last_response_status == 307
    assert "redirects are not followed" in delivery.last_error


async def test_loopback_without_the_setting_is_refused_even_if_saved_with_it(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings(), "webhook_allow_loopback", True)
    h = await hooked(receiver.url)
    monkeypatch.setattr(settings(), "webhook_allow_loopback", False)
    await record_events(h.marketplace.id, 1)
    assert receiver.received == []
    with pytest.raises(UserError):
        await create_webhook_endpoint(h.admin, url=receiver.url)
