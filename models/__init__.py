"""Tortoise models, one module per domain. Imports nothing of ours outside this package."""

from models.account import ApiKey, Client, RefreshToken, StaffMember, User
from models.catalog import ProviderService, Service
from models.commission import CommissionRate
from models.consent import ClientConsentRecord, ConsentRecord, ConsentState
from models.dispatch import (
    Dispatch,
    DispatchAnswerAudit,
    DispatchJob,
    Notice,
    Proposal,
    RequestRound,
    ServiceRequest,
)
from models.document import (
    CommissionInvoice,
    Document,
    DocumentReview,
    DocumentType,
    InvoiceCounter,
    RequiredDocumentType,
)
from models.events import Event
from models.idempotency import IdempotencyKey
from models.intervention import Intervention
from models.invitation import Invitation
from models.job import JobOutbox
from models.marketplace import Marketplace
from models.membership import ColleagueInvitation, Membership, MembershipAudit, ProviderCompany
from models.messaging import Conversation, Message, MessageAttachment, Participant
from models.notification import Notification, NotificationPreference
from models.terms import TermsAcceptance, TermsVersion
from models.webhook import WebhookDelivery, WebhookEndpoint
from models.zone import ZoneEntry, ZoneKey, ZoneRestriction

__models__ = [
    User,
    RefreshToken,
    ApiKey,
    StaffMember,
    Client,
    Marketplace,
    ProviderCompany,
    Membership,
    MembershipAudit,
    ColleagueInvitation,
    Invitation,
    CommissionRate,
    Event,
    IdempotencyKey,
    DocumentType,
    RequiredDocumentType,
    Document,
    DocumentReview,
    InvoiceCounter,
    CommissionInvoice,
    TermsVersion,
    TermsAcceptance,
    Service,
    ProviderService,
    ServiceRequest,
    RequestRound,
    Dispatch,
    DispatchAnswerAudit,
    Proposal,
    Notice,
    DispatchJob,
    JobOutbox,
    Intervention,
    ConsentRecord,
    ConsentState,
    ClientConsentRecord,
    Conversation,
    Participant,
    Message,
    MessageAttachment,
    ZoneEntry,
    ZoneRestriction,
    ZoneKey,
    WebhookEndpoint,
    WebhookDelivery,
    Notification,
    NotificationPreference,
]

__all__ = [m.__name__ for m in __models__]
