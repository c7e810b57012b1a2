"""Live multiplexing: one execution per cohort of equal subscriptions, the same bytes to each.

A cohort is the subscriptions of this process that run the same document and operation with
the same variables for an equal actor: everything an execution depends on besides the event,
so they would compute the same payload for every event. The cohort runs the subscription once
(strawberry's pipeline: limits, policy, the field's ``follow`` with its access check per event,
masking), serialises each result once, and hands the same bytes to each member; a member only
wraps them in its own ``{"id":…,"type":"next","payload":…}`` and writes the frame at once
(``send_now``, offered by the server's protocol in ``service.ws``) when its socket is idle.

What a member's socket does not take at once goes to the member's own bounded queue, sent in
order by a task of its own (an idle member holds neither), so one that reads slowly holds up
nobody: when its queue overflows while its send has been blocked for
``live_stall_seconds`` (its client stopped reading), it gets ``SUBSCRIBER_TOO_SLOW``, then
``complete``, as a lone subscriber would. A subscription resuming with ``after`` has a cohort of
its own (its replay is its own); a client that reconnects with its cursor resumes as before.

The seam for a compiled read path: ``Cohort._run`` turns the source stream into one payload
per event; a compiled statement could yield the payloads of several cohorts of one field at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from functools import lru_cache
from typing import Any, Final, Generic, Protocol, TypeVar

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NullValueNode,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
)
from graphql.error import GraphQLSyntaxError
from prometheus_client import Counter
from strawberry.types.execution import ExecutionResult, PreExecutionError

from presta.settings import settings
from presta.subscription import OVERFLOWS, QUEUED
from schema.context import Context
from schema.http.live import SUBSCRIBER_TOO_SLOW

log = logging.getLogger(__name__)

CUT_OFF = Counter("presta_live_cut_off_total", "Live subscribers cut off with SUBSCRIBER_TOO_SLOW.")

# A member that is not blocked in a send may queue past the bound while the server catches up
# with a burst, up to this many times the bound; past it, it is too slow all the same.
_LAG_FACTOR: Final = 4
_TOO_SLOW_PAYLOAD: Final = orjson.dumps(
    {
        "data": None,
        "errors": [
            GraphQLError(
                "The subscriber did not keep up with its events; subscribe again with the "
                "last cursor received to resume.",
                extensions={"code": SUBSCRIBER_TOO_SLOW},
            ).formatted
        ],
    }
)


class Ended:
    """How a member's stream ended, once its queue is sent."""

    __slots__ = ("errors", "payload")

    def __init__(
        self, *, payload: bytes | None = None, errors: list[GraphQLError] | None = None
    ) -> None:
        self.payload = payload  # a last ``next`` before ``complete``
        self.errors = errors  # an ``error`` message instead of ``complete``


COMPLETE: Final = Ended()
TOO_SLOW: Final = Ended(payload=_TOO_SLOW_PAYLOAD)

Stream = Callable[[Context], Any]  # awaitable of strawberry's result stream


def cohort_key(
    query: str | None, variables: dict[str, Any] | None, operation_name: str | None, actor: Any
) -> Hashable | None:
    """The cohort of a subscribe message; None when it is not a subscription this module runs
    (a query or mutation over the websocket, a document that does not parse: strawberry's own
    handling answers those)."""
    if not isinstance(query, str):
        return None
    document = _parsed(query)
    if document is None:
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    try:
        canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    if _resumes(operation.selection_set.selections, variables or {}):
        return object()  # a replay of its own: a cohort of one
    return (query, operation_name, canonical, actor)


def parsed(query: str | None) -> DocumentNode | None:
    """The document of a subscribe message, parsed once for every subscriber."""
    return _parsed(query) if isinstance(query, str) else None


def canonical(variables: dict[str, Any] | None) -> bytes:
    return orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)


def resumes(document: DocumentNode, operation: Any) -> bool:
    """Whether a subscribe names an ``after`` cursor (its replay is its own)."""
    found = get_operation_ast(document, operation.operation_name)
    return found is None or _resumes(found.selection_set.selections, operation.variables or {})


@lru_cache(maxsize=512)
def _parsed(query: str) -> DocumentNode | None:
    try:
        return parse(query)
    except GraphQLSyntaxError:
        return None


def _resumes(selections: Any, variables: dict[str, Any]) -> bool:
    """Whether the root field is given an ``after`` cursor (or may be: a fragment)."""
    field = selections[0] if len(selections) == 1 else None
    if not isinstance(field, FieldNode):
        return True
    for argument in field.arguments or ():
        if argument.name.value != "after":
            continue
        value = argument.value
        if isinstance(value, VariableNode):
            return variables.get(value.name.value) is not None
        return not isinstance(value, NullValueNode)
    return False


SendNow = Callable[[bytes], bool]


class Transport(Protocol):
    """What a member needs of its connection (``schema.http.websocket``)."""

    async def send(self, frame: bytes) -> bool:
        """Send one text frame, waiting for the socket; False when the connection is gone."""
        ...

    async def finish(self, member: Member, how: Ended) -> None:
        """Send how the stream ended (``error``, or a last ``next`` and ``complete``)."""
        ...

    def left(self, member: Member) -> None:
        """The member is done (ended, or its connection is gone)."""
        ...


class Owner(Protocol):
    """What a member belongs to: a cohort, or a multiplexed group (``schema.http.multiplex``)."""

    def leave(self, member: Member) -> None: ...


class Member:
    """One subscription of a cohort. An event is written at once when the socket takes it;
    otherwise it is queued, and a task of the member's own sends the queue in order, then
    ends. An idle member holds no task and no queue."""

    __slots__ = (
        "_ended",
        "_queue",
        "_send_now",
        "_sending_since",
        "_task",
        "cohort",
        "prefix",
        "transport",
    )

    def __init__(
        self, operation_id: str, transport: Transport, send_now: SendNow | None = None
    ) -> None:
        self.prefix = b'{"id":' + orjson.dumps(operation_id) + b',"type":"next","payload":'
        self.transport = transport
        self._send_now = send_now
        # Made when first needed: an empty deque is 760 bytes, and most members never queue.
        self._queue: deque[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending_since: float | None = None
        self._ended: Ended | None = None
        self.cohort: Owner | None = None

    @property
    def queued(self) -> int:
        return len(self._queue) if self._queue else 0

    def deliver(self, payload: bytes) -> None:
        """Write the event now if nothing of this member waits and its socket takes it."""
        if (
            self._send_now is not None
            and self._task is None
            and self._ended is None
            and self._send_now(self.prefix + payload + b"}")
        ):
            return
        self.offer(payload)

    def offer(self, payload: bytes) -> None:
        if self._ended is not None:
            return
        bound = settings().live_queue_size
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if len(queue) >= bound and (self._stalled() or len(queue) >= bound * _LAG_FACTOR):
            OVERFLOWS.inc()
            CUT_OFF.inc()
            QUEUED.dec(len(queue))
            queue.clear()
            self._ended = TOO_SLOW
        else:
            queue.append(payload)
            QUEUED.inc()
        self._wake()

    def end(self, how: Ended) -> None:
        if self._ended is None:
            self._ended = how
            self._wake()

    def _stalled(self) -> bool:
        started = self._sending_since
        if started is None:
            return False
        return asyncio.get_running_loop().time() - started >= settings().live_stall_seconds

    def _wake(self) -> None:
        if self._task is None and self.cohort is not None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._queue:
                    QUEUED.dec()
                    payload = self._queue.popleft()
                    self._sending_since = loop.time()
                    sent = await self.transport.send(self.prefix + payload + b"}")
                    self._sending_since = None
                    if not sent:
                        self.leave()
                        return
                elif self._ended is not None:
                    self._task = None  # not cancelled by leave() from here on
                    await self.transport.finish(self, self._ended)
                    self.leave()
                    return
                else:
                    return
        finally:
            self._sending_since = None
            if self._task is asyncio.current_task():
                self._task = None

    def leave(self) -> None:
        """Out of the cohort: nothing more is sent (the connection is gone or done)."""
        if self._queue:
            QUEUED.dec(len(self._queue))
            self._queue.clear()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.cohort is not None:
            self.cohort.leave(self)
            self.cohort = None
            self.transport.left(self)


V = TypeVar("V")


class Gathering(Generic[V]):
    """Members sharing one task, found by ``key`` in ``registry`` while it runs: a cohort, or
    a multiplexed group (``schema.http.multiplex``). The last member to leave ends the task."""

    __slots__ = ("key", "members", "registry", "task")

    def __init__(self, key: Hashable, registry: dict[Hashable, Any]) -> None:
        self.key = key
        self.registry = registry
        self.members: dict[Member, V] = {}
        self.task: asyncio.Task[None] | None = None

    def leave(self, member: Member) -> None:
        self.members.pop(member, None)
        if not self.members:
            self.forget()
            if self.task is not None and not self.task.done():
                self.task.cancel()

    def forget(self) -> None:
        """No longer found by its key (new members start another)."""
        if self.registry.get(self.key) is self:
            del self.registry[self.key]


class Cohort(Gathering[None]):
    """The subscriptions that compute the same payloads; runs their stream once."""

    __slots__ = ("started",)

    def __init__(self, key: Hashable) -> None:
        super().__init__(key, _cohorts)
        self.started = False  # a result was sent: a pre-execution error can no longer come

    async def _run(self, stream: Stream, context: Context) -> None:
        ended = COMPLETE
        try:
            source: AsyncGenerator[Any, None] = await stream(context)
            async with aclosing(source):
                async for result in source:
                    if not self.started and isinstance(result, PreExecutionError):
                        ended = Ended(errors=list(result.errors or ()))
                        return
                    if not isinstance(result, ExecutionResult):
                        ended = Ended(
                            errors=[GraphQLError("Incremental delivery is not supported here.")]
                        )
                        return
                    self.started = True
                    payload = _payload(result)
                    for member in list(self.members):
                        member.deliver(payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a live subscription failed")
        finally:
            self.forget()
            for member in list(self.members):
                member.end(ended)


def _payload(result: ExecutionResult) -> bytes:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return orjson.dumps(body)


_cohorts: dict[Hashable, Cohort] = {}


def join(key: Hashable, member: Member, stream: Stream, context: Context) -> None:
    """Add ``member`` to the cohort of ``key``, started with ``context`` if there is none. The
    caller admitted the member (its rate limit): the cohort's run spends none, so that what it
    refuses (validation, policy) is refused to every member alike."""
    cohort = _cohorts.get(key)
    if cohort is None:
        cohort = _cohorts[key] = Cohort(key)
        # The stream outlives the connection that started it: its own context and loaders.
        own = dataclasses.replace(context, loaders={}, admitted=True)
        cohort.task = asyncio.create_task(cohort._run(stream, own))
    cohort.members[member] = None
    member.cohort = cohort


def stats() -> dict[str, int]:
    """Cohorts and members in this process (tests and benchmarks read it)."""
    return {
        "cohorts": len(_cohorts),
        "members": sum(len(c.members) for c in _cohorts.values()),
    }
