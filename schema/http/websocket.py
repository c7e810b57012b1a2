"""The graphql-transport-ws handler: counts running operations, refuses malformed messages
and too many operations per connection, resolves persisted documents named by hash
(``schema.http.persisted``), and says why a connection_init was refused.

Subscriptions run in cohorts (``schema.http.cohort``): the handler joins the operation to its
cohort and sends what the cohort computed, wrapped in the operation's ``next`` envelope.
Queries and mutations over the websocket, and documents that do not parse, go through
strawberry's own path."""

from __future__ import annotations

from typing import Any, cast

from graphql import GraphQLError, OperationType
from starlette.websockets import WebSocketDisconnect
from strawberry import Schema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from presta import ratelimit
from presta.metrics import ACTIVE_SUBSCRIPTIONS
from presta.settings import settings
from resolvers import compiled
from resolvers.compiled.live import LivePlan, live_plan
from resolvers.errors import AuthError
from schema.context import Context
from schema.http import cohort, multiplex
from schema.http.errors import log_refusal
from schema.http.persisted import PersistedDocuments
from schema.http.ratelimit import buckets_for, cost_of, rate_limited_error
from schema.locale import caller_locale

# The key of ``service.ws``'s ``send_now`` in a websocket scope's extensions (schema does not
# import the process layer; without it, every message goes through ASGI).
SEND_NOW = "presta.send_now"


class Refused(Exception):
    """connection_init refused: the close reason says why (strawberry's own says Forbidden)."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(str(error))
        # A close reason holds at most 123 bytes.
        self.reason = f"{error.code}: {error}".encode()[:123].decode(errors="ignore")


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    _members: dict[str, cohort.Member] | None = None  # the subscriptions run in cohorts

    """Counts the operations (subscriptions) running on websockets, for /metrics; closes the
    connection with 4400 on a message that does not follow graphql-transport-ws, and with 4403
    and the code and reason of an authentication refused at connection_init."""

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except Refused as refused:
            await self.websocket.close(code=4403, reason=refused.reason)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # The caller's language joins the actor: error texts are rendered in it.
        who = (self.context.actor, caller_locale(self.context))
        key = cohort.cohort_key(operation.query, operation.variables, operation.operation_name, who)
        if key is not None:
            await self._join(operation, key)
            return
        ACTIVE_SUBSCRIPTIONS.inc()
        try:
            await super().run_operation(operation)
        finally:
            ACTIVE_SUBSCRIPTIONS.dec()

    async def _join(self, operation: Operation[Context, None], key: Any) -> None:
        """Join the operation to its cohort; the cohort's events reach it from then on (this
        task ends: an idle subscription holds none)."""
        refused = await _rate_limited(self.context)
        if refused is not None:
            log_refusal("RATE_LIMITED", refused.message)
            await operation.send_initial_errors([refused])
            return
        ws = self.websocket.ws  # type: ignore[attr-defined]
        fast = ws.scope.get("extensions", {}).get(SEND_NOW)
        member = cohort.Member(
            operation.id, _Transport(self, operation), fast["send"] if fast else None
        )
        if self._members is None:
            self._members = {}
        self._members[operation.id] = member
        ACTIVE_SUBSCRIPTIONS.inc()

        def stream(context: Context) -> Any:
            return self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )

        plan = self._live_plan(operation)
        if plan is not None and await multiplex.admits(stream, self.context):
            actor, variables = self.context.actor, operation.variables or {}
            group = (operation.query, operation.operation_name, cohort.canonical(variables))
            inputs = compiled.Inputs(actor, variables)
            await multiplex.join((*group, compiled.kind_of(actor)), plan, member, inputs)
            return
        cohort.join(key, member, stream, self.context)

    def _live_plan(self, operation: Operation[Context, None]) -> LivePlan | None:
        """The compiled plan of a live subscription (not a replay), if it has one."""
        if not settings().live_compiled:
            return None
        document = cohort.parsed(operation.query)
        if document is None or cohort.resumes(document, operation):
            return None
        return live_plan(
            cast(Schema, self.schema)._schema,
            operation.query,
            document,
            operation.operation_name,
            compiled.kind_of(self.context.actor),
        )

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self._members.get(operation_id) if self._members else None
        if member is not None:
            member.leave()
        await super().cleanup_operation(operation_id)

    async def handle_message(self, message: Any) -> None:
        # strawberry indexes messages as it finds them: a list, a payload that is a string or
        # an id that is not a string would raise outside its KeyError handling (close 1011).
        problem = _ws_message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if message["type"] == "subscribe" and message["id"] not in self.operations:
            limit = self.max_subscriptions_per_connection
            error: GraphQLError | None = None
            if limit is not None and len(self.operations) >= limit:
                error = GraphQLError(
                    f"At most {limit} operations may run at once on one connection.",
                    extensions={"code": "TOO_MANY_SUBSCRIPTIONS"},
                )
                log_refusal("TOO_MANY_SUBSCRIPTIONS", error.message)
            elif self.connection_acknowledged:
                persisted: PersistedDocuments = self.view.persisted  # type: ignore[attr-defined]
                error = await persisted.prepare_subscribe(message["payload"])
            if error is not None:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
        await super().handle_message(message)


class _Transport:
    """A cohort member's side of the connection: the operation's messages."""

    __slots__ = ("handler", "operation")

    def __init__(self, handler: TransportWSHandler, operation: Operation[Context, None]) -> None:
        self.handler = handler
        self.operation = operation

    async def send(self, frame: bytes) -> bool:
        try:
            await self.handler.websocket.ws.send_text(frame.decode())  # type: ignore[attr-defined]
        except (OSError, RuntimeError, WebSocketDisconnect):
            return False
        return True

    async def finish(self, member: cohort.Member, how: cohort.Ended) -> None:
        operation = self.operation
        try:
            if how.errors is not None:
                await operation.send_initial_errors(how.errors)
                return
            if how.payload is not None and not await self.send(member.prefix + how.payload + b"}"):
                return
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except (OSError, RuntimeError, WebSocketDisconnect):
            return

    def left(self, member: cohort.Member) -> None:
        members = self.handler._members
        if members is not None and members.get(self.operation.id) is member:
            del members[self.operation.id]
            ACTIVE_SUBSCRIPTIONS.dec()


async def _rate_limited(context: Context) -> GraphQLError | None:
    if not settings().rate_limiting:
        return None
    cost = cost_of(OperationType.SUBSCRIPTION, [])
    decision = await ratelimit.check(buckets_for(context.actor, context.request, cost))
    return None if decision.allowed else rate_limited_error(decision)


def _ws_message_problem(message: Any) -> str | None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be a JSON object with a string `type`."
    kind = message["type"]
    if kind in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return f"A `{kind}` message needs a string `id`."
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return "A `subscribe` payload must be an object with a string `query`."
        for key in ("variables", "extensions"):
            if not isinstance(payload.get(key) or {}, dict):
                return f"`{key}` must be an object."
        # The text may be left out when `extensions.persistedQuery` names the document.
        named = "persistedQuery" in (payload.get("extensions") or {})
        query = payload.get("query")
        if not isinstance(query, str) and not (named and query is None):
            return "A `subscribe` payload must be an object with a string `query`."
        if not isinstance(payload.get("operationName") or "", str):
            return "`operationName` must be a string."
    return None
