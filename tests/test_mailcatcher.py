"""The demo's SMTP catcher: e-mails reach a real SMTP server and are saved as files."""

from __future__ import annotations

from email import message_from_bytes, policy

from presta.mail import send_mail
from presta.settings import get_settings
from service.mailcatcher import start_if_free
from tests.support.processes import free_port


async def test_the_demo_catcher_saves_what_presta_sends_and_yields_to_a_real_server(
    tmp_path, monkeypatch
):
    port = free_port()
    catcher = start_if_free("127.0.0.1", port, tmp_path / "mail")
    assert catcher is not None
    monkeypatch.setenv("PRESTA_SMTP_PORT", str(port))
    get_settings.cache_clear()
    try:
        await send_mail(to="pro@example.test", subject="New request", body="Hello")
        # A server already listens there now: no second catcher.
        assert start_if_free("127.0.0.1", port, tmp_path / "other") is None
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        catcher.stop()
    (saved,) = (tmp_path / "mail").glob("*.eml")
    message = message_from_bytes(saved.read_bytes(), policy=policy.default)
    assert message["To"] == "pro@example.test"
    assert message["Subject"] == "New request"
    assert message.get_content().strip() == "Hello"
    assert not (tmp_path / "other").exists()
