"""Tortoise models, one module per domain. Imports nothing of ours outside this package."""

from models.account import ApiKey, Client, RefreshToken, StaffMember, User
from models.catalog import ProviderService, Service
from models.dispatch import ServiceRequest
from models.document import Document, DocumentType, RequiredDocumentType
from models.event import Event
from models.intervention import Intervention
from models.marketplace import Marketplace
from models.membership import Membership, MembershipAudit, ProviderCompany

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
    Event,
    DocumentType,
    RequiredDocumentType,
    Document,
    Service,
    ProviderService,
    ServiceRequest,
    Intervention,
]

__all__ = [m.__name__ for m in __models__]
