"""The e-mails of a dispatch round: batched over few SMTP sessions, each notice sent once."""

from __future__ import annotations

import math

from models.dispatch import Dispatch, Notice
from presta import jobs
from resolvers.dispatch import notice as dispatch_notice
from tests.factories.dispatch import make_world


def _new_request_mails(mailbox, address: str) -> int:
    return sum("Nouvelle demande" in m["Subject"] for m in mailbox.to(address))


async def test_a_round_tells_every_provider_once_over_one_smtp_session_per_batch(mailbox):
    providers = dispatch_notice.BATCH + 5
    world = await make_world(providers=providers)
    request_id = await world.request()
    await jobs.drain()

    for provider in world.providers:
        assert _new_request_mails(mailbox, provider.email) == 1
        company = provider.membership.company.email
        assert _new_request_mails(mailbox, company) == 1
    assert len(mailbox.sessions) == math.ceil(providers / dispatch_notice.BATCH)
    assert await Notice.filter(key__startswith="dispatch:").count() == providers

    # A redelivered job finds every key stored: nothing is sent twice.
    mailbox.clear()
    assert await dispatch_notice.notify_dispatch_round(request_id, 1) == 0
    assert mailbox.messages == []


async def test_an_smtp_failure_keeps_the_notices_sent_before_it_and_the_retry_sends_the_rest(
    mailbox,
):
    world = await make_world(providers=5)
    refused = world.providers[2].email
    mailbox.refused.add(refused)
    request_id = await world.request()
    await jobs.drain()  # the job fails at the third provider's second address

    order = [d.membership_id for d in await Dispatch.filter(request_id=request_id).order_by("id")]
    by_membership = {p.membership.id: p for p in world.providers}
    told = [by_membership[m] for m in order]
    stored = set(await Notice.filter(key__startswith="dispatch:").values_list("key", flat=True))
    first_failing = next(i for i, p in enumerate(told) if p.email == refused)
    assert len(stored) == first_failing
    for provider in told[:first_failing]:
        assert _new_request_mails(mailbox, provider.email) == 1
    for provider in told[first_failing + 1 :]:
        assert _new_request_mails(mailbox, provider.email) == 0

    mailbox.refused.clear()
    assert await dispatch_notice.notify_dispatch_round(request_id, 1) == 5 - first_failing
    for provider in told:
        assert _new_request_mails(mailbox, provider.email) == 1
    assert await Notice.filter(key__startswith="dispatch:").count() == 5
