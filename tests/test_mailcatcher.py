"""The demo's SMTP catcher: e-mails reach a real SMTP server and are saved as files."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

from presta.mail import send_mail
from presta.mailcatcher import start_if_free
from presta.settings import override_settings, settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_demo_catcher_saves_what_presta_sends_and_yields_to_a_real_server(tmp_path):
    port = _free_port()
    catcher = start_if_free("127.0.0.1", port, tmp_path / "mail")
    assert catcher is not None
    previous = settings()
    override_settings(smtp_host="127.0.0.1", smtp_port=port, mail_enabled=True)
    try:
        await send_mail(to="pro@example.test", subject="New request", body="Hello")
        # A server already listens there now: no second catcher.
        assert start_if_free("127.0.0.1", port, tmp_path / "other") is None
    finally:
        override_settings(
            smtp_host=previous.smtp_host,
            smtp_port=previous.smtp_port,
            mail_enabled=previous.mail_enabled,
        )
        catcher.stop()
    (saved,) = (tmp_path / "mail").glob("*.eml")
    message = message_from_bytes(saved.read_bytes(), policy=policy.default)
    assert message["To"] == "pro@example.test"
    assert message["Subject"] == "New request"
    assert message.get_content().strip() == "Hello"
    assert not (tmp_path / "other").exists()
