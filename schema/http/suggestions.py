"""Field suggestions ("Did you mean ...?"): shown to staff and partners only."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


def without_suggestion(error: GraphQLError) -> GraphQLError:
    if "Did you mean" not in error.message:
        return error
    return GraphQLError(
        error.message.split("Did you mean")[0].strip(),
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def may_see_suggestions(context: Any) -> bool:
    actor = getattr(context, "actor", None)
    return bool(actor is not None and (actor.is_staff or actor.is_partner))
