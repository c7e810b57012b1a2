"""A reference model of one marketplace's dispatch, in plain Python (no database).

Its transitions are written from the specification (MISSION.md §1 "Assignment mode", §2
"Membership lifecycle" and "Services of a provider", §3 "Requests, dispatch and proposals",
§4 "Live data", §5 "Everyone is told"), not from the code: ``tests/test_dispatch_model.py``
drives the real use cases and this model side by side and compares them after every step.

Identities are the model's own: providers and services are indexes fixed when the world is
built, requests and visits are numbered in creation order. What a viewer can see is recorded
as events (one per change, in order), what someone is told by e-mail as jobs (one per fact)
and the e-mails those jobs send.

Where the specification leaves a choice open, the model takes one and says so:

- "If no provider answers" (``daysBeforeReminder``) counts *interested* answers: a request
  whose providers all declined is sent again to the providers that match.
- Settings changes apply to what happens next (answers after the change, rounds started after
  it); deadlines already set stand.
- A provider that stops being accepted for a service (the membership suspended, deactivated
  or deleted; the service deactivated) is withdrawn from the requests still open: its
  interested answer no longer counts nor stands in a sent proposal (its dispatch is PENDING
  again, so once accepted again it may answer again). Each request touched is one change.
- A provider is *available* for a request when its membership is ACCEPTED and its service is
  ACCEPTED: only an available provider is asked, answers, is proposed and is chosen, and only
  an available chosen provider gets new visits.
- Pending work that blocks deactivation and deletion: a visit scheduled or in progress, or a
  request the client accepted with this provider and no visit scheduled yet.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DAY = timedelta(days=1)
# A job the queue did not take stays in the outbox; the relay hands it again this much later.
RELAY_AFTER = timedelta(seconds=30)
# A dispatch job not done in time is enqueued again by the sweep (the dispatch outbox).
JOB_RETRY_AFTER = timedelta(minutes=10)

ACCEPTED, SUSPENDED, DEACTIVATED, DELETED = "ACCEPTED", "SUSPENDED", "DEACTIVATED", "DELETED"
PENDING, REJECTED = "PENDING", "REJECTED"
INTERESTED, DECLINED, SELECTED, NOT_SELECTED = "INTERESTED", "DECLINED", "SELECTED", "NOT_SELECTED"
OPEN, PROPOSAL_SENT, CANCELLED, UNMATCHED, EXPIRED = (
    "OPEN",
    "PROPOSAL_SENT",
    "CANCELLED",
    "UNMATCHED",
    "EXPIRED",
)
ANSWERABLE = (OPEN, PROPOSAL_SENT)
CANCELLABLE = (OPEN, PROPOSAL_SENT, UNMATCHED)
THRESHOLD, DEADLINE = "THRESHOLD", "DEADLINE"
SCHEDULED, IN_PROGRESS, DONE = "SCHEDULED", "IN_PROGRESS", "DONE"

# Membership lifecycle (§2): action -> (from, to, guarded by pending work).
LIFECYCLE: dict[str, tuple[frozenset[str], str, bool]] = {
    "suspend": (frozenset({ACCEPTED}), SUSPENDED, False),
    "reinstate": (frozenset({SUSPENDED}), ACCEPTED, False),
    "deactivate": (frozenset({ACCEPTED, SUSPENDED}), DEACTIVATED, True),
    "reactivate": (frozenset({DEACTIVATED}), ACCEPTED, False),
    "delete": (
        frozenset({"INVITED", "APPLIED", ACCEPTED, "REFUSED", SUSPENDED, DEACTIVATED}),
        DELETED,
        True,
    ),
}
# Staff decisions on a provider's service (§2): target -> statuses it may come from.
SERVICE_DECISIONS: dict[str, frozenset[str]] = {
    ACCEPTED: frozenset({PENDING, DEACTIVATED}),
    REJECTED: frozenset({PENDING}),
    DEACTIVATED: frozenset({ACCEPTED}),
}
# Visits: target -> statuses it may come from.
VISIT_MOVES: dict[str, frozenset[str]] = {
    IN_PROGRESS: frozenset({SCHEDULED}),
    DONE: frozenset({IN_PROGRESS}),
    CANCELLED: frozenset({SCHEDULED, IN_PROGRESS}),
}

# Events, as the test reads them back from the log:
#   ("service_request.dispatched", request, round, frozenset(providers asked))
#   ("service_request.updated", request, change, status)
#   ("membership.updated", provider)
#   ("provider_service.updated", provider, service, status)
#   ("intervention.updated", visit, change, status)
Event = tuple[object, ...]
# Jobs (one per fact): ("notify_dispatch_round", request, round), ("send_proposal", request),
# ("notify_proposal_extended", request, provider), ("notify_selection", request),
# ("notify_membership_change", provider), ("notify_proposal_withdrawn", request, provider),
# ("notify_chosen_provider_unavailable", request).
Job = tuple[object, ...]
# E-mails: (recipient, kind); a recipient is ("provider", index) or ("client",).
Mail = tuple[tuple[object, ...], str]
DISPATCH_JOBS = frozenset(
    {
        "notify_dispatch_round",
        "send_proposal",
        "notify_proposal_extended",
        "notify_selection",
        "notify_proposal_withdrawn",
        "notify_chosen_provider_unavailable",
    }
)


@dataclass
class Settings:
    dispatch_enabled: bool = True
    proposals_required: int = 3
    days_before_sending: int = 3
    days_before_reminder: int = 2
    max_reminder_rounds: int = 3


@dataclass
class Provider:
    services: dict[int, str | None]
    in_zone: bool = True
    status: str = ACCEPTED

    def available_for(self, service: int) -> bool:
        return self.status == ACCEPTED and self.services.get(service) == ACCEPTED


@dataclass
class Dispatch:
    round: int
    status: str = PENDING
    proposed: bool = False


@dataclass
class Request:
    service: int
    status: str = OPEN
    round: int = 0
    send_proposal_at: datetime | None = None
    remind_at: datetime | None = None
    dispatches: dict[int, Dispatch] = field(default_factory=dict)
    proposal: str | None = None  # its trigger, once sent
    selected: int | None = None

    def interested(self) -> int:
        return sum(d.status == INTERESTED for d in self.dispatches.values())


@dataclass
class Visit:
    request: int
    provider: int
    status: str = SCHEDULED


@dataclass
class LostJob:
    """A job whose enqueue failed after its change committed (the process died)."""

    job: Job
    at: datetime
    relayed: bool = False  # the outbox relay handed it again
    requeued: bool = False  # the dispatch outbox (sweep) handed it again


@dataclass
class Model:
    now: datetime
    settings: Settings
    providers: list[Provider]
    services: int
    requests: list[Request] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    # Every hand-over of a job to the queue: once per fact, again for each recovery of a lost one.
    enqueued: list[Job] = field(default_factory=list)
    mails: Counter[Mail] = field(default_factory=Counter)
    # Jobs lost and handed again may tell some recipients once (never twice).
    mail_allowance: Counter[Mail] = field(default_factory=Counter)
    lost: list[LostJob] = field(default_factory=list)
    losing: bool = False  # the jobs of the current step are lost

    # --- time --------------------------------------------------------------------------------

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def next_deadline(self) -> datetime | None:
        due = [
            at
            for r in self.requests
            if r.status == OPEN
            for at in (r.send_proposal_at, r.remind_at)
            if at is not None and at > self.now
        ]
        return min(due, default=None)

    # --- requests (§3) -----------------------------------------------------------------------

    def create_request(self, service: int) -> int:
        """With dispatch on, every provider available for the service whose zone holds the
        address is asked at once; nobody: UNMATCHED. With dispatch off, staff assign by hand."""
        key = len(self.requests)
        request = Request(service)
        self.requests.append(request)
        if self.settings.dispatch_enabled:
            matched = [
                p
                for p, provider in enumerate(self.providers)
                if provider.available_for(service) and provider.in_zone
            ]
            if matched:
                self._send_round(key, matched)
            else:
                request.status = UNMATCHED
        self._updated(key, "created")
        return key

    def _send_round(self, key: int, candidates: list[int]) -> None:
        """A new round: the candidates not asked yet, and those asked who did not answer."""
        request = self.requests[key]
        number = request.round + 1
        asked = []
        for p in candidates:
            dispatch = request.dispatches.get(p)
            if dispatch is None:
                request.dispatches[p] = Dispatch(round=number)
                asked.append(p)
            elif dispatch.status == PENDING:
                dispatch.round = number
                asked.append(p)
        request.round = number
        request.remind_at = self.now + self.settings.days_before_reminder * DAY
        if number == 1:
            request.send_proposal_at = self.now + self.settings.days_before_sending * DAY
        request.status = OPEN
        if asked:
            self.events.append(("service_request.dispatched", key, number, frozenset(asked)))
            self._job(("notify_dispatch_round", key, number))

    def cancel(self, key: int) -> str | None:
        """The client cancels a request no provider was chosen for yet."""
        request = self.requests[key]
        if request.status not in CANCELLABLE:
            return "REQUEST_CLOSED"
        request.status = CANCELLED
        request.send_proposal_at = request.remind_at = None
        self._updated(key, "cancelled")
        return None

    # --- answers and the proposal (§1, §3) ---------------------------------------------------

    def answer(self, p: int, key: int, *, interested: bool) -> str | None:
        """A provider asked answers INTERESTED or DECLINED, and may change its mind until the
        proposal is sent; after it, an interested answer joins the proposal."""
        provider, request = self.providers[p], self.requests[key]
        dispatch = request.dispatches.get(p)
        if provider.status == DELETED or dispatch is None:
            return "NOT_FOUND"
        if not provider.available_for(request.service):
            return "PROVIDER_UNAVAILABLE"
        if request.status not in ANSWERABLE:
            return "REQUEST_CLOSED"
        late = request.status == PROPOSAL_SENT
        if late and dispatch.status != PENDING:
            return "ANSWER_LOCKED"
        dispatch.status = INTERESTED if interested else DECLINED
        if late and interested:
            dispatch.proposed = True
            self._job(("notify_proposal_extended", key, p))
        if not late:
            self._after_answer(key)
        self._updated(key, "answered")
        return None

    def _after_answer(self, key: int) -> None:
        request = self.requests[key]
        interested = request.interested()
        if interested >= self.settings.proposals_required:
            self._send_proposal(key, THRESHOLD)
        elif interested and _passed(request.send_proposal_at, self.now):
            self._send_proposal(key, DEADLINE)
        elif not interested and request.remind_at is None:
            # Nobody is interested any more: silence counts again from now.
            request.remind_at = self.now + self.settings.days_before_reminder * DAY

    def _send_proposal(self, key: int, trigger: str) -> None:
        request = self.requests[key]
        request.status = PROPOSAL_SENT
        request.proposal = trigger
        request.send_proposal_at = request.remind_at = None
        for dispatch in request.dispatches.values():
            if dispatch.status == INTERESTED:
                dispatch.proposed = True
        self._job(("send_proposal", key))

    def accept(self, key: int, p: int) -> str | None:
        """The client picks one provider of the proposal; the others are told they were not."""
        request = self.requests[key]
        if request.status == OPEN:
            return "NO_PROPOSAL"
        if request.status != PROPOSAL_SENT:
            return "REQUEST_CLOSED"
        chosen = request.dispatches.get(p)
        if chosen is None or chosen.status != INTERESTED or not chosen.proposed:
            return "NOT_IN_PROPOSAL"
        if not self.providers[p].available_for(request.service):
            return "PROVIDER_UNAVAILABLE"
        for q, dispatch in request.dispatches.items():
            if q == p:
                dispatch.status = SELECTED
            elif dispatch.status != DECLINED:
                dispatch.status = NOT_SELECTED
        request.status = ACCEPTED
        request.selected = p
        self._updated(key, "accepted")
        self._job(("notify_selection", key))
        return None

    # --- deadlines (§1 timers, §3 "checked by background workers") ---------------------------

    def sweep(self) -> None:
        """Each open request whose deadline passed: the proposal goes out with whoever is
        interested; with nobody interested, a reminder round, or expiry after the last one."""
        self._requeue_lost(via="sweep")
        for key, request in enumerate(self.requests):
            if request.status != OPEN:
                continue
            if not (
                _passed(request.send_proposal_at, self.now) or _passed(request.remind_at, self.now)
            ):
                continue
            interested = request.interested()
            if interested and _passed(request.send_proposal_at, self.now):
                self._send_proposal(key, DEADLINE)
                self._updated(key, "proposal_sent")
            elif not _passed(request.remind_at, self.now):
                continue
            elif interested:
                # Someone is interested: no reminder; the sending deadline takes over.
                request.remind_at = None
                self._updated(key, "reminder_skipped")
            elif request.round > self.settings.max_reminder_rounds:
                request.status = EXPIRED
                request.send_proposal_at = request.remind_at = None
                self._updated(key, "expired")
            else:
                declined = {p for p, d in request.dispatches.items() if d.status == DECLINED}
                if self.settings.dispatch_enabled:
                    candidates = [
                        p
                        for p, provider in enumerate(self.providers)
                        if provider.available_for(request.service) and provider.in_zone
                    ]
                else:
                    # Assigned by hand: those asked who did not answer, while available.
                    candidates = [
                        p
                        for p, d in request.dispatches.items()
                        if d.status == PENDING and self.providers[p].available_for(request.service)
                    ]
                self._send_round(key, [p for p in candidates if p not in declined])
                self._updated(key, "reminder")

    def relay(self) -> None:
        """The outbox relay hands again the jobs the queue did not take."""
        self._requeue_lost(via="relay")

    def _requeue_lost(self, *, via: str) -> None:
        for lost in self.lost:
            if via == "relay" and not lost.relayed and self.now >= lost.at + RELAY_AFTER:
                lost.relayed = True
            elif (
                via == "sweep"
                and lost.job[0] in DISPATCH_JOBS
                and not lost.requeued
                and not lost.relayed
                and self.now >= lost.at + JOB_RETRY_AFTER
            ):
                lost.requeued = True
            else:
                continue
            self.enqueued.append(lost.job)
            if lost.relayed != lost.requeued:
                # Run late, its e-mails depend on when it runs: each recipient may be told
                # once, and a second hand-over finds them told already.
                self.mail_allowance.update(self._mails_of(lost.job, generous=True))

    # --- settings (§1) -----------------------------------------------------------------------

    def change_settings(self, **changes: object) -> None:
        for name, value in changes.items():
            if value is not None:
                setattr(self.settings, name, value)

    # --- provider lifecycle and services (§2) ------------------------------------------------

    def lifecycle(self, p: int, action: str) -> str | None:
        allowed, to, guarded = LIFECYCLE[action]
        provider = self.providers[p]
        if provider.status not in allowed:
            return "ILLEGAL_TRANSITION"
        if guarded and self.pending_work(p):
            return "INTERVENTIONS_PENDING"
        if to != ACCEPTED:
            self._withdraw(p, service=None)
        provider.status = to
        self.events.append(("membership.updated", p))
        self._job(("notify_membership_change", p))
        return None

    def pending_work(self, p: int) -> bool:
        """A visit upcoming or in progress, or an accepted request with no visit yet."""
        if any(v.provider == p and v.status in (SCHEDULED, IN_PROGRESS) for v in self.visits):
            return True
        return any(
            r.status == ACCEPTED
            and r.selected == p
            and not any(v.request == key for v in self.visits)
            for key, r in enumerate(self.requests)
        )

    def decide_service(self, p: int, service: int, to: str) -> str | None:
        """Staff accept, reject or deactivate a provider's service along the legal moves."""
        provider = self.providers[p]
        before = provider.services.get(service)
        if before is None:
            return "NOT_FOUND"
        if before not in SERVICE_DECISIONS[to]:
            return "INVALID_TRANSITION"
        if to != ACCEPTED:
            self._withdraw(p, service=service)
        provider.services[service] = to
        self.events.append(("provider_service.updated", p, service, to))
        return None

    def apply_for_service(self, p: int, service: int) -> str | None:
        """The provider applies (again after a rejection or a deactivation)."""
        provider = self.providers[p]
        if provider.status == DELETED:
            return "NOT_FOUND"
        if provider.services.get(service) not in (None, REJECTED, DEACTIVATED):
            return "ALREADY_APPLIED"
        provider.services[service] = PENDING
        self.events.append(("provider_service.updated", p, service, PENDING))
        return None

    def _withdraw(self, p: int, *, service: int | None) -> None:
        for key, request in enumerate(self.requests):
            if service is not None and request.service != service:
                continue
            if (
                request.status == ACCEPTED
                and request.selected == p
                and not any(v.request == key for v in self.visits)
            ):
                # The client chose it and no visit is set: the client and staff are told.
                self._updated(key, "provider_unavailable")
                self._job(("notify_chosen_provider_unavailable", key))
                continue
            dispatch = request.dispatches.get(p)
            if (
                request.status not in (OPEN, PROPOSAL_SENT)
                or dispatch is None
                or dispatch.status != INTERESTED
            ):
                continue
            was_proposed = dispatch.proposed
            dispatch.status = PENDING
            dispatch.proposed = False
            if request.status == OPEN and not request.interested() and request.remind_at is None:
                request.remind_at = self.now + self.settings.days_before_reminder * DAY
            self._updated(key, "withdrawn")
            if was_proposed and request.status == PROPOSAL_SENT:
                self._job(("notify_proposal_withdrawn", key, p))

    # --- visits (§3 "an intervention is then scheduled with that provider") -----------------

    def schedule(self, key: int, *, by_provider: bool) -> str | None:
        request = self.requests[key]
        if by_provider and (
            request.selected is None or self.providers[request.selected].status == DELETED
        ):
            return "NOT_FOUND"
        if request.status != ACCEPTED or request.selected is None:
            return "REQUEST_NOT_ACCEPTED"
        if not self.providers[request.selected].available_for(request.service):
            return "PROVIDER_UNAVAILABLE"
        self.visits.append(Visit(key, request.selected))
        self.events.append(("intervention.updated", len(self.visits) - 1, "scheduled", SCHEDULED))
        return None

    def move_visit(self, v: int, to: str) -> str | None:
        visit = self.visits[v]
        if visit.status not in VISIT_MOVES[to]:
            return "INVALID_TRANSITION"
        visit.status = to
        self.events.append(("intervention.updated", v, to.lower(), to))
        return None

    # --- what viewers see and who is told ----------------------------------------------------

    def _updated(self, key: int, change: str) -> None:
        self.events.append(("service_request.updated", key, change, self.requests[key].status))

    def _job(self, job: Job) -> None:
        self.jobs.append(job)
        if self.losing:
            self.lost.append(LostJob(job, self.now))
        else:
            self.enqueued.append(job)
            self.mails.update(self._mails_of(job, generous=False))

    def _mails_of(self, job: Job, *, generous: bool) -> list[Mail]:
        """The e-mails a job sends when it runs now (``generous``: when it may run a little
        later or earlier than now, every recipient it might tell)."""
        name = job[0]
        if name == "notify_dispatch_round":
            key, number = int(job[1]), int(job[2])  # type: ignore[call-overload]
            kind = "dispatch" if number == 1 else "reminder"
            return [
                (("provider", p), kind)
                for p, d in self.requests[key].dispatches.items()
                if generous or (d.round == number and d.status == PENDING)
            ]
        if name == "send_proposal":
            return [(("client",), "proposal")]
        if name == "notify_proposal_extended":
            key, p = int(job[1]), int(job[2])  # type: ignore[call-overload]
            told = generous or self.requests[key].dispatches[p].proposed
            return [(("client",), "late")] if told else []
        if name == "notify_selection":
            request = self.requests[int(job[1])]  # type: ignore[call-overload]
            return [
                (("provider", p), "chosen" if d.status == SELECTED else "not_chosen")
                for p, d in request.dispatches.items()
                if d.status in (SELECTED, NOT_SELECTED)
            ]
        if name == "notify_membership_change":
            return [(("provider", job[1]), "membership")]
        if name == "notify_proposal_withdrawn":
            return [(("client",), "withdrawn")]
        if name == "notify_chosen_provider_unavailable":
            return [(("client",), "unavailable")]
        raise AssertionError(f"unknown job {job}")


def _passed(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now
