"""Per-operation context: the acting principal, the request id and fresh DataLoaders."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as _Info

from resolvers import credentials
from resolvers.actor import Actor
from resolvers.authentication import Profile

# Set by ``schema.loaders.FreshLoaders`` for each operation. A websocket keeps one Context for
# all its operations, but each operation runs in its own task, so a context variable is per
# operation where ``Context.loaders`` would be shared.
operation_loaders: ContextVar[dict[Any, Any] | None] = ContextVar("operation_loaders", default=None)


# Live subscriptions of equal actors share one execution per event (``schema.http.cohort``): a
# field added here that changes what a resolver returns must join the cohort key in
# ``schema.http.websocket`` (as the caller's language does).
@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    actor: Actor
    request_id: str
    loaders: dict[Any, Any] = field(default_factory=dict)
    connection_params: dict[str, Any] | None = None
    # The user's row as read while authenticating this HTTP request (None on websockets,
    # whose operations outlive the connection's authentication).
    profile: Profile | None = None
    # "standard" keeps this operation on strawberry's executor even when it compiles (the
    # X-Presta-Executor header outside production; tests of the standard executor).
    executor: str | None = None
    # The operation's rate limit was spent before it ran: a live cohort's subscription runs
    # once for subscribers each admitted on their own (``schema.http.websocket``).
    admitted: bool = False
    # Set while ``actor`` (and ``profile``) are the ones kept from an earlier HTTP request
    # with the same credentials (``resolvers.credentials``), not verified for this one: only
    # a compiled statement carrying its guard may read for it; anything else calls
    # ``verify`` first (``schema.http.compiled``).
    provisional: credentials.Authenticated | None = None
    # The kept actor's guard failed already for this request (in ``schema.http.lane``): it is
    # authenticated in full, without running the guard again.
    stale: bool = False

    async def verify(self, *, changed: bool = False) -> None:
        """Make sure of a kept actor (one statement: its guard, or a full authentication when
        its rows changed, or are ``changed`` already); ``AuthError`` when it is refused now."""
        if self.provisional is None:
            return
        if changed or self.stale:
            found = await credentials.verify(self.provisional.credentials)
        else:
            found = await credentials.verify_kept(self.provisional)
        self.actor, self.profile, self.provisional = found.actor, found.profile, None

    def loader(self, key: Any, factory: Any) -> Any:
        """A DataLoader cached for this operation only."""
        loaders = operation_loaders.get()
        if loaders is None:
            loaders = self.loaders
        if key not in loaders:
            loaders[key] = factory()
        return loaders[key]


Info = _Info[Context, None]
