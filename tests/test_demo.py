"""`make run` loads the demo: every domain's data, once, with the logins it prints."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from models.dispatch import ServiceRequest
from models.marketplace import Marketplace
from models.membership import Membership
from models.messaging import Message
from models.notification import NotificationPreference
from resolvers.document import ensure_document_types
from service import demo
from tests.support.api_server import clean_env
from tests.support.processes import free_port, stop


async def test_the_demo_loads_every_domain_once_and_prints_the_same_guide_again():
    await ensure_document_types()
    first = await demo.load_demo_data()
    counts = (
        await Marketplace.all().count(),
        await Membership.all().count(),
        await ServiceRequest.all().count(),
        await Message.all().count(),
    )
    assert counts[0] == 2
    assert min(counts) > 0

    again = await demo.load_demo_data()
    assert again == first
    assert counts == (
        await Marketplace.all().count(),
        await Membership.all().count(),
        await ServiceRequest.all().count(),
        await Message.all().count(),
    )
    banner = demo.banner(again)
    assert "boss@menage-plus.demo" in banner
    assert "pro@menage-plus.demo" in banner


def test_make_run_on_another_port_links_everything_to_it_and_moves_off_a_busy_smtp_port(
    tmp_path: Path, server_dir: Path
):
    """`presta serve --demo --port N`, as `make run` runs it (cwd holds var/), while something
    that is not an SMTP server holds the SMTP port."""
    port = free_port()
    env = clean_env(
        PRESTA_ENVIRONMENT="development",
        PRESTA_EMBEDDED_DIR=str(server_dir / "postgres"),
        PRESTA_STORAGE_DIR=str(tmp_path / "var" / "storage"),
        PRESTA_MAIL_ENABLED="true",
        PRESTA_LOG_LEVEL="INFO",
    )
    del env["PRESTA_LOG_FORMAT"]  # the default outside production: text
    output = tmp_path / "serve.log"
    with socket.socket() as squatter, output.open("wb") as out:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        env["PRESTA_SMTP_PORT"] = str(busy)
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while "Application startup complete" not in output.read_text():
                assert process.poll() is None, output.read_text()[-3000:]
                assert time.monotonic() < deadline, output.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            stop(process)
    printed = output.read_text()
    assert f"GraphiQL at http://127.0.0.1:{port}/graphql" in printed
    assert f"port {busy} is busy with something that is not an SMTP server" in printed
    assert f"http://127.0.0.1:{port}/signup?invitation=" in printed
    mails = [path.read_text() for path in (tmp_path / "var" / "mail").glob("*.eml")]
    assert mails, printed[-3000:]
    linked = [mail for mail in mails if "http://127.0.0.1:" in mail]
    assert linked
    assert all(f"http://127.0.0.1:{port}" in mail for mail in linked)
    # Readable lines: time, level, logger, message; no SMTP protocol chatter, no ERROR.
    assert re.search(
        rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} INFO    uvicorn\.error "
        rf"Uvicorn running on http://127\.0\.0\.1:{port}",
        printed,
        re.MULTILINE,
    ), printed[-3000:]
    assert "mail.log" not in printed
    assert " ERROR " not in printed, printed[-3000:]


async def test_the_demo_tells_of_its_visits_and_its_expiring_document_by_e_mail(mailbox):
    from presta import jobs
    from resolvers.notification_sweep import sweep_notifications

    await ensure_document_types()
    await demo.load_demo_data()
    assert await sweep_notifications() >= 1  # the Kbis expiring in 20 days
    await jobs.drain()
    subjects = [str(m["Subject"]) for m in mailbox.to("client@menage-plus.demo")]
    assert any(s.startswith("Intervention planifiée") for s in subjects), subjects
    told = [str(m["Subject"]) for m in mailbox.messages]
    assert any(s.startswith("Document expirant le") for s in told), told
    preferences = await NotificationPreference.filter(email=False).count()
    assert preferences == 1


async def test_the_demo_client_logs_in_and_finds_its_requests_and_conversation():
    from resolvers import account
    from tests.support.graphql import ok

    await ensure_document_types()
    await demo.load_demo_data()
    session = await account.log_in(email="client@menage-plus.demo", password=demo.DEMO_PASSWORD)
    menage = await Marketplace.get(slug="menage-plus")
    client = await account.actor_for_user(session.user, menage.id)
    data = await ok(
        """{ viewer { client { fullName consent { channel granted }
          requests { edges { node { id } } } conversations { edges { node { id } } } } } }""",
        actor=client,
    )
    mine = data["viewer"]["client"]
    assert mine["fullName"] == "Paul Durand"
    assert mine["requests"]["edges"]
    assert mine["conversations"]["edges"]
    assert mine["consent"] == [{"channel": "EMAIL", "granted": True}]

    boss = await account.log_in(email="boss@menage-plus.demo", password=demo.DEMO_PASSWORD)
    staff = await account.actor_for_user(boss.user, menage.id)
    found = await ok('{ clients(search: "martin") { nodes { fullName } } }', actor=staff)
    assert [c["fullName"] for c in found["clients"]["nodes"]] == [
        "Sophie Martin-Roux",
        "Jeanne Martin",
    ]
    invited = await ok('{ clients(search: "nina") { nodes { hasLogin invitationPending } } }',
                       actor=staff)  # fmt: skip
    assert invited["clients"]["nodes"] == [{"hasLogin": False, "invitationPending": True}]
