"""Races on PostgreSQL: simultaneous answers and simultaneous sweeps act exactly once."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from models.dispatch import (
    DispatchJob,
    DispatchStatus,
    Proposal,
    RequestRound,
    RequestStatus,
    ServiceRequest,
)
from presta import clock, jobs
from resolvers.dispatch.proposal import Answer, respond_to_service_request
from resolvers.dispatch.reminder import sweep_dispatch_deadlines
from tests.factories.dispatch import make_world

REPEAT = int(os.environ.get("PRESTA_TEST_RACE_REPEAT", "200"))


@pytest.fixture
def enqueued(monkeypatch):
    """Every job enqueued after commit, by name (the jobs still run)."""
    seen: Counter[tuple[str, tuple[tuple[str, Any], ...]]] = Counter()
    real = jobs.enqueue

    async def spy(actor_name, **kwargs):
        seen[(actor_name, tuple(sorted(kwargs.items())))] += 1
        await real(actor_name, **kwargs)

    monkeypatch.setattr(jobs, "enqueue", spy)
    return seen


async def test_twenty_simultaneous_interested_answers_send_exactly_one_proposal(enqueued, mailbox):
    world = await make_world(providers=20, proposals_required=3)
    interested = Answer(DispatchStatus.INTERESTED)
    for attempt in range(REPEAT):
        request_id = await world.request(description=f"attempt {attempt}")
        results = await asyncio.gather(
            *(
                respond_to_service_request(p.actor, request_id=request_id, answer=interested)
                for p in world.providers
            ),
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        [proposal] = await Proposal.filter(request_id=request_id)
        sends = [
            k for k in enqueued if k[0] == "send_proposal" and ("proposal_id", proposal.id) in k[1]
        ]
        assert [enqueued[k] for k in sends] == [1], attempt
        recorded = await DispatchJob.filter(actor_name="send_proposal")
        assert [j.kwargs for j in recorded].count({"proposal_id": proposal.id}) == 1
        request = await ServiceRequest.get(id=request_id)
        assert request.status is RequestStatus.PROPOSAL_SENT
    await jobs.drain()
    proposals = [
        m
        for m in mailbox.to(world.client_email)
        if m["Subject"].startswith("Des prestataires pour")
    ]
    assert len(proposals) == REPEAT
    assert sum(n for (name, _), n in enqueued.items() if name == "send_proposal") == REPEAT


async def test_two_sweeps_at_once_act_once_per_due_request(enqueued):
    world = await make_world(providers=2, proposals_required=3, days_before_reminder=2)
    silent = [await world.request(description=f"silent {n}") for n in range(15)]
    answered = [await world.request(description=f"answered {n}") for n in range(15)]
    for request_id in answered:
        await respond_to_service_request(
            world.providers[0].actor,
            request_id=request_id,
            answer=Answer(DispatchStatus.INTERESTED),
        )
    clock.advance(timedelta(days=3, minutes=1))

    changed = await asyncio.gather(sweep_dispatch_deadlines(), sweep_dispatch_deadlines())

    assert sum(changed) == 30
    for request_id in silent:
        assert await RequestRound.filter(request_id=request_id).count() == 2
    assert await Proposal.filter(request_id__in=answered).count() == 15
    reminder_jobs = [
        k for k in enqueued if k[0] == "notify_dispatch_round" and ("round", 2) in k[1]
    ]
    assert len(reminder_jobs) == 15
    assert all(enqueued[k] == 1 for k in reminder_jobs)
    assert sum(n for (name, _), n in enqueued.items() if name == "send_proposal") == 15
