"""Per-operation context: the acting principal, the request id and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as _Info

from resolvers.actor import Actor


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    actor: Actor
    request_id: str
    loaders: dict[str, Any] = field(default_factory=dict)
    connection_params: dict[str, Any] | None = None

    def loader(self, key: str, factory: Any) -> Any:
        """A DataLoader cached for this operation only."""
        if key not in self.loaders:
            self.loaders[key] = factory()
        return self.loaders[key]


Info = _Info[Context, None]
