"""The demo's SMTP catcher: e-mails reach a real SMTP server and are saved as files."""

from __future__ import annotations

import logging
import socket
from email import message_from_bytes, policy

from presta.mail import send_mail
from presta.settings import get_settings, settings
from service.mailcatcher import start_for_demo, start_if_free
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


async def test_when_the_smtp_port_is_busy_with_something_else_the_demo_takes_a_free_one(
    tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    with socket.socket() as squatter:  # listens, never speaks SMTP
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        monkeypatch.setenv("PRESTA_SMTP_PORT", str(busy))
        get_settings.cache_clear()
        catcher = None
        try:
            line, catcher = start_for_demo(tmp_path / "mail")
            port = settings().smtp_port
            assert port != busy
            assert f"SMTP 127.0.0.1:{port}" in line
            assert f"port {busy} is busy" in line
            await send_mail(to="pro@example.test", subject="Moved", body="Hello")
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
            if catcher is not None:
                catcher.stop()
    (saved,) = (tmp_path / "mail").glob("*.eml")
    assert message_from_bytes(saved.read_bytes(), policy=policy.default)["Subject"] == "Moved"
    # One line per e-mail; aiosmtpd's protocol chatter stays silent.
    assert [r for r in caplog.records if r.name.startswith("mail.log")] == []
    assert any("e-mail to pro@example.test" in r.getMessage() for r in caplog.records)
