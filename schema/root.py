"""The Schema: root types merged from every domain module, with limits and masking."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema import (
    account,
    application,
    catalog,
    client,
    commission,
    company,
    consent,
    directory,
    document,
    document_review,
    feed,
    intervention,
    invitation,
    lifecycle,
    marketplace,
    notification,
    public_application,
    terms,
    zone,
)
from schema.dispatch import mutations as dispatch_mutation
from schema.dispatch import queries as dispatch
from schema.dispatch import subscriptions as dispatch_live
from schema.fast import install as install_direct_resolvers
from schema.http.execution import Execution
from schema.http.hooks import Schema
from schema.http.idempotency import Idempotency
from schema.http.limits import DocumentLimits
from schema.http.masking import ErrorMasking
from schema.http.ratelimit import RateLimit
from schema.http.upload import UPLOAD_SCALAR
from schema.loaders import FreshLoaders
from schema.locale import CallerLocale
from schema.membership import queries as membership
from schema.membership import subscriptions as membership_live
from schema.messaging import mutations as messaging_mutations
from schema.messaging import types as messaging
from schema.policy import install as install_policy
from schema.webhook import operations as webhook


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
    (
        NodeQuery,
        account.AccountQuery,
        marketplace.MarketplaceQuery,
        membership.MembershipQuery,
        invitation.InvitationQuery,
        directory.DirectoryQuery,
        document.DocumentQuery,
        terms.TermsQuery,
        messaging.MessagingQuery,
        consent.ConsentQuery,
        catalog.CatalogQuery,
        zone.ZoneQuery,
        dispatch.DispatchQuery,
        intervention.InterventionQuery,
        client.ClientQuery,
        webhook.WebhookQuery,
        company.CompanyQuery,
        public_application.PublicApplicationQuery,
        notification.NotificationQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        account.AccountMutation,
        account.ProfileMutation,
        marketplace.MarketplaceMutation,
        marketplace.DispatchSettingsMutation,
        marketplace.MarketplaceSettingsMutation,
        lifecycle.LifecycleMutation,
        application.ApplicationMutation,
        invitation.InvitationMutation,
        directory.DirectoryMutation,
        commission.CommissionMutation,
        document.DocumentMutation,
        document_review.DocumentReviewMutation,
        terms.TermsMutation,
        messaging_mutations.MessagingMutation,
        consent.ConsentMutation,
        catalog.CatalogMutation,
        zone.ZoneMutation,
        dispatch_mutation.DispatchMutation,
        intervention.InterventionMutation,
        client.ClientMutation,
        webhook.WebhookMutation,
        company.CompanyMutation,
        public_application.PublicApplicationMutation,
        notification.NotificationMutation,
    ),
)
Subscription = merge_types(
    "Subscription",
    (
        account.AccountSubscription,
        messaging.MessagingSubscription,
        membership_live.MembershipSubscription,
        dispatch_live.DispatchSubscription,
        feed.FeedSubscription,
        notification.NotificationSubscription,
    ),
)


def build_schema() -> strawberry.Schema:
    # Limits are read per operation, so the settings in force apply (and tests can change them).
    # Extension hooks wrapped once per class rather than on every request (schema.http.hooks).
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides={Upload: UPLOAD_SCALAR},
        execution_context_class=Execution,
        extensions=[
            # Listed first so that they leave last: they see the masked result.
            Idempotency,
            RateLimit,
            ErrorMasking,
            # Token, depth and alias limits, parser and validation caches, cost and page sizes.
            DocumentLimits,
            FreshLoaders,
            CallerLocale,
        ],
    )
    # Nested fields without arguments skip strawberry's per-call wrapper; every root field
    # checks the policy table before its resolver runs.
    install_direct_resolvers(built)
    return install_policy(built)


schema = build_schema()
