"""The Schema: root types merged from every domain module, with limits and masking."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
)
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from presta.settings import settings
from schema import account, marketplace
from schema.limits import ErrorMasking, OperationGuard


@strawberry.type
class NodeQuery:
    node: relay.Node | None = relay.node(
        description="Fetch any object by its global ID; null when absent or not visible."
    )
    nodes: list[relay.Node | None] = relay.node(
        description="Fetch several objects by global ID; null for each absent or hidden one."
    )


Query = merge_types(
    "Query",
    (NodeQuery, account.AccountQuery, marketplace.MarketplaceQuery),
)
Mutation = merge_types(
    "Mutation",
    (
        account.AccountMutation,
        account.ProfileMutation,
        marketplace.MarketplaceMutation,
    ),
)
Subscription = merge_types("Subscription", (account.AccountSubscription,))


def _ignore_introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


def build_schema() -> strawberry.Schema:
    cfg = settings()
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=[
            ErrorMasking,
            lambda: MaxTokensLimiter(max_token_count=cfg.max_tokens),
            lambda: QueryDepthLimiter(
                max_depth=cfg.max_query_depth, should_ignore=_ignore_introspection
            ),
            lambda: MaxAliasesLimiter(max_alias_count=cfg.max_aliases),
            OperationGuard,
            lambda: ParserCache(maxsize=256),
        ],
    )


schema = build_schema()
