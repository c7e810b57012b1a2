"""The authorization policy: which principals may call each root field and see each Node type.

One table drives both the schema's gate (``schema.policy``: a root field outside the table for
the caller is refused before its resolver runs) and the generated authorization matrix
(``tests/test_authz_matrix.py``). Object-level rules stay in the use cases: a principal allowed
here still sees only the objects of its marketplace, or its own, and a denial there looks like
not found. A root field or Node type missing from the table fails the suite.
"""

from __future__ import annotations

from enum import StrEnum

from models.account import ApiScope, StaffRole
from resolvers.actor import Actor


class Principal(StrEnum):
    ANONYMOUS = "ANONYMOUS"
    USER = "USER"  # any signed-in person, whatever its roles (its own account)
    CLIENT = "CLIENT"
    PROVIDER = "PROVIDER"  # a provider user acting in a marketplace its company belongs to
    PROVIDER_USER = "PROVIDER_USER"  # a provider user, whichever marketplace it acts in
    STAFF_AGENT = "STAFF_AGENT"
    STAFF_ADMIN = "STAFF_ADMIN"
    PARTNER_READ = "PARTNER_READ"
    PARTNER_READ_WRITE = "PARTNER_READ_WRITE"
    PLATFORM_ADMIN = "PLATFORM_ADMIN"


class Scope(StrEnum):
    """How far a principal allowed on a Node type sees: checked by the type's use cases."""

    ALL = "ALL"  # every object of the type (platform-wide catalogues)
    MARKETPLACE = "MARKETPLACE"  # the objects of the acting marketplace
    OWN = "OWN"  # the objects the principal is a party to


P = Principal
EVERYONE = frozenset(P)
SIGNED_IN = EVERYONE - {P.ANONYMOUS}
USERS = frozenset({P.USER})
STAFF = frozenset({P.STAFF_AGENT, P.STAFF_ADMIN})
ADMIN = frozenset({P.STAFF_ADMIN})
PARTNERS = frozenset({P.PARTNER_READ, P.PARTNER_READ_WRITE})
READERS = STAFF | PARTNERS  # require_reader: staff and any key of the marketplace
STAFF_WRITERS = STAFF | {P.PARTNER_READ_WRITE}  # require_staff: staff and read-write keys
MEMBERS = READERS | {P.PROVIDER}  # the marketplace's people and its providers
PARTIES = MEMBERS | {P.CLIENT}  # everyone acting in a marketplace

QUERY: dict[str, frozenset[Principal]] = {
    "node": EVERYONE,
    "nodes": EVERYONE,
    "viewer": EVERYONE,
    "apiKeys": ADMIN,
    "marketplaces": EVERYONE,  # the ones the caller holds a role in: none when anonymous
    "marketplace": PARTIES | {P.PLATFORM_ADMIN},
    "providers": READERS,
    "providerCounts": READERS,
    "myMemberships": USERS,
    "invitation": EVERYONE,
    "invitations": READERS,
    "myInvitations": USERS,
    "notificationPreferences": USERS,
    "notifications": USERS,
    "providerDirectory": READERS,
    "documentTypes": SIGNED_IN,
    "requiredDocumentTypes": MEMBERS,
    "membershipDocuments": MEMBERS,
    "termsOfUse": MEMBERS,
    "termsOfUseVersions": READERS,
    "internalDocuments": MEMBERS,
    "conversations": PARTIES,
    "messagingSettings": PARTIES,
    "consentHistory": MEMBERS,
    "marketingConsent": MEMBERS,
    "consentedMemberships": READERS,
    "exportMyData": frozenset({P.PROVIDER_USER}),
    "services": PARTIES,
    "membershipServices": MEMBERS,
    "actionZone": MEMBERS,
    "matchingProviders": READERS,
    "serviceRequests": PARTIES,
    "interventions": PARTIES,
    "clients": READERS,
    "exportClientData": STAFF | {P.CLIENT},
    "webhookEndpoints": ADMIN,
    "webhookDeliveries": ADMIN,
    "myCompany": frozenset({P.PROVIDER_USER}),
    "staffMembers": STAFF,
    "publicApplication": EVERYONE,
}

MUTATION: dict[str, frozenset[Principal]] = {
    "signUp": EVERYONE,
    "logIn": EVERYONE,
    "refreshToken": EVERYONE,
    "logOut": EVERYONE,
    "signUpClient": EVERYONE,
    "acceptClientInvitation": EVERYONE,
    "createClient": STAFF_WRITERS,
    "setClientMarketingConsent": STAFF | {P.CLIENT},
    "deleteClientData": STAFF | {P.CLIENT},
    "createApiKey": ADMIN,
    "revokeApiKey": ADMIN,
    "updateProfile": USERS,
    "updateNotificationPreferences": USERS,
    "createMarketplace": frozenset({P.PLATFORM_ADMIN}),
    "addStaffMember": ADMIN,
    "updateDispatchSettings": ADMIN,
    "updateMarketplaceSettings": ADMIN,
    "suspendProvider": STAFF_WRITERS,
    "reinstateProvider": STAFF_WRITERS,
    "deactivateProvider": STAFF_WRITERS,
    "reactivateProvider": STAFF_WRITERS,
    "deleteProviderRelationship": STAFF_WRITERS,
    "submitApplication": frozenset({P.PROVIDER}),
    "acceptApplication": STAFF_WRITERS,
    "refuseApplication": STAFF_WRITERS,
    "inviteProviders": STAFF_WRITERS,
    "resendInvitation": STAFF_WRITERS,
    "revokeInvitation": STAFF_WRITERS,
    "acceptInvitation": USERS,
    "inviteReferencedProviders": STAFF_WRITERS,
    "setProviderCommission": STAFF_WRITERS,
    "setRequiredDocumentTypes": ADMIN,
    "uploadDocument": STAFF_WRITERS | {P.PROVIDER, P.CLIENT},
    "approveDocument": STAFF_WRITERS,
    "rejectDocument": STAFF_WRITERS,
    "publishTermsOfUse": ADMIN,
    "acceptTermsOfUse": frozenset({P.PROVIDER}),
    "addInternalDocument": ADMIN,
    "removeInternalDocument": ADMIN,
    "startConversation": STAFF | {P.PROVIDER, P.CLIENT},
    "sendMessage": STAFF | {P.PROVIDER, P.CLIENT},
    "markConversationRead": STAFF | {P.PROVIDER, P.CLIENT},
    "updateMessagingSettings": ADMIN,
    "setMarketingConsent": STAFF | {P.PROVIDER},
    "createService": STAFF_WRITERS,
    "updateService": STAFF_WRITERS,
    "archiveService": STAFF_WRITERS,
    "applyForService": frozenset({P.PROVIDER}),
    "acceptProviderService": STAFF_WRITERS,
    "rejectProviderService": STAFF_WRITERS,
    "deactivateProviderService": STAFF_WRITERS,
    "setActionZone": frozenset({P.PROVIDER}),
    "restrictProviderZone": STAFF_WRITERS,
    "createServiceRequest": STAFF_WRITERS | {P.CLIENT},
    "cancelServiceRequest": STAFF_WRITERS | {P.CLIENT},
    "assignServiceRequest": STAFF_WRITERS,
    "respondToServiceRequest": frozenset({P.PROVIDER}),
    "acceptProposal": STAFF_WRITERS | {P.CLIENT},
    "scheduleIntervention": STAFF_WRITERS | {P.PROVIDER},
    "rescheduleIntervention": STAFF_WRITERS | {P.PROVIDER},
    "startIntervention": STAFF_WRITERS | {P.PROVIDER},
    "completeIntervention": STAFF_WRITERS | {P.PROVIDER},
    "cancelIntervention": STAFF_WRITERS | {P.PROVIDER, P.CLIENT},
    "createWebhookEndpoint": ADMIN,
    "updateWebhookEndpoint": ADMIN,
    "rotateWebhookSecret": ADMIN,
    "disableWebhookEndpoint": ADMIN,
    "deleteWebhookEndpoint": ADMIN,
    "redeliverWebhook": ADMIN,
    "recoverWebhookEvents": ADMIN,
    "updateProviderCompany": frozenset({P.PROVIDER_USER}),
    "inviteColleague": frozenset({P.PROVIDER_USER}),
    "removeColleague": frozenset({P.PROVIDER_USER}),
    "acceptColleagueInvitation": USERS,
    "changeStaffRole": ADMIN,
    "removeStaffMember": ADMIN,
    "applyToMarketplace": USERS,
}

SUBSCRIPTION: dict[str, frozenset[Principal]] = {
    "viewerUpdated": USERS,
    "messageReceived": PARTIES,
    "membershipUpdated": MEMBERS,
    "serviceRequestDispatched": frozenset({P.PROVIDER}),
    "serviceRequestUpdated": PARTIES,
    "interventionUpdated": PARTIES,
    "providerServiceUpdated": MEMBERS,
    "marketplaceEvents": PARTIES,
    "notificationReceived": USERS,
}

ROOT: dict[str, dict[str, frozenset[Principal]]] = {
    "Query": QUERY,
    "Mutation": MUTATION,
    "Subscription": SUBSCRIPTION,
}

_MARKET = Scope.MARKETPLACE
_READERS = {p: _MARKET for p in READERS}  # staff and partner keys read their whole marketplace

NODE: dict[str, dict[Principal, Scope]] = {
    "ApiKey": {P.STAFF_ADMIN: _MARKET},
    # Providers see a request's client on the request (ServiceRequest.client), never as a node.
    "Client": {**_READERS, P.CLIENT: Scope.OWN},
    "ConsentRecord": {**_READERS, P.PROVIDER: Scope.OWN},
    "Conversation": {**_READERS, P.PROVIDER: Scope.OWN, P.CLIENT: Scope.OWN},
    "Dispatch": {**_READERS, P.PROVIDER: Scope.OWN},
    # A client sees the files attached to its conversations.
    "Document": {**_READERS, P.PROVIDER: Scope.OWN, P.CLIENT: Scope.OWN},
    "DocumentType": {p: Scope.ALL for p in SIGNED_IN},
    "Intervention": {**_READERS, P.PROVIDER: Scope.OWN, P.CLIENT: Scope.OWN},
    "Invitation": dict(_READERS),
    # People see the marketplaces they hold a role in, whichever one they act in.
    "Marketplace": {
        P.USER: Scope.OWN,
        **{p: _MARKET for p in PARTNERS},
        P.PLATFORM_ADMIN: Scope.ALL,
    },
    "Membership": {**_READERS, P.PROVIDER: Scope.OWN},
    "Message": {**_READERS, P.PROVIDER: Scope.OWN, P.CLIENT: Scope.OWN},
    "ProviderService": {**_READERS, P.PROVIDER: Scope.OWN},
    "Service": {p: _MARKET for p in PARTIES},
    "ServiceRequest": {**_READERS, P.PROVIDER: Scope.OWN, P.CLIENT: Scope.OWN},
    "TermsOfUse": {p: _MARKET for p in MEMBERS},
    "User": {P.USER: Scope.OWN},
    "WebhookDelivery": {P.STAFF_ADMIN: _MARKET},
    "WebhookEndpoint": {P.STAFF_ADMIN: _MARKET},
}


def principals_of(actor: Actor) -> frozenset[Principal]:
    """Every principal the actor is in its acting marketplace (a user may be several)."""
    if not actor.is_authenticated:
        return frozenset({P.ANONYMOUS})
    if actor.api_key_id is not None:
        scope = actor.api_scope
        return frozenset({P.PARTNER_READ_WRITE if scope is ApiScope.READ_WRITE else P.PARTNER_READ})
    found = {P.USER}
    if actor.is_platform_admin:
        found.add(P.PLATFORM_ADMIN)
    if actor.staff_role is StaffRole.ADMIN:
        found.add(P.STAFF_ADMIN)
    elif actor.staff_role is StaffRole.AGENT:
        found.add(P.STAFF_AGENT)
    if actor.company_id is not None:
        found.add(P.PROVIDER_USER)
    if actor.membership_id is not None:
        found.add(P.PROVIDER)
    if actor.client_id is not None:
        found.add(P.CLIENT)
    return frozenset(found)


def may_call(actor: Actor, root: str, field: str) -> bool:
    """A root field absent from the table is refused to everyone."""
    allowed = ROOT.get(root, {}).get(field, frozenset())
    return bool(allowed & principals_of(actor))


def node_scopes(actor: Actor, type_name: str) -> set[Scope]:
    """The scopes in which the actor may see objects of this Node type (empty: none)."""
    rules = NODE.get(type_name, {})
    return {rules[p] for p in principals_of(actor) if p in rules}
