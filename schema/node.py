"""The Relay ``Node`` base of our types: ``node(id:)`` authorizes every object it returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from strawberry import relay
from strawberry.types.base import get_object_definition

from resolvers.actor import Actor
from resolvers.policy import node_scopes
from schema.context import Info


class AuthorizedNode(relay.Node):
    """Subclasses implement ``load_visible``: the objects of ``ids`` the actor may see."""

    _node_type: ClassVar[str]

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        raise NotImplementedError

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        wanted = list(node_ids)
        actor = info.context.actor
        # The policy table first (who may see this type at all), then the type's own rules.
        allowed = bool(node_scopes(actor, get_object_definition(cls, strict=True).name))
        numeric = [int(i) for i in wanted if i.isdigit()] if allowed else []
        found = await cls.load_visible(actor, numeric) if numeric else {}
        return [found.get(int(i)) if i.isdigit() else None for i in wanted]
