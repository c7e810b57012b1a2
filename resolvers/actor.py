"""The acting principal: who calls, for which marketplace, with which roles."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.account import ApiScope, StaffRole
from presta.i18n import _
from resolvers.errors import forbidden, unauthenticated


@dataclass(frozen=True, slots=True)
class RoleGrant:
    marketplace_id: int
    role: str  # "ADMIN", "AGENT", "PROVIDER", "CLIENT"


@dataclass(frozen=True, slots=True)
class Actor:
    """Every use case receives one. ``marketplace_id`` is the acting marketplace, if any."""

    user_id: int | None = None
    is_platform_admin: bool = False
    marketplace_id: int | None = None
    staff_role: StaffRole | None = None
    company_id: int | None = None
    membership_id: int | None = None
    client_id: int | None = None
    api_key_id: int | None = None
    api_scope: ApiScope | None = None
    roles: tuple[RoleGrant, ...] = field(default=())
    # The language the user chose ("fr", "en"); None: not chosen (presta.i18n).
    locale: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None or self.api_key_id is not None

    @property
    def is_staff(self) -> bool:
        return self.staff_role is not None

    @property
    def is_admin(self) -> bool:
        return self.staff_role is StaffRole.ADMIN

    @property
    def is_partner(self) -> bool:
        return self.api_key_id is not None

    @property
    def is_provider(self) -> bool:
        return self.membership_id is not None

    @property
    def sees_whole_marketplace(self) -> bool:
        """Staff and partner apps read everything inside their marketplace."""
        return self.is_staff or self.is_partner

    def sees_tab_of(self, membership_id: int | None) -> bool:
        """Whether the actor reads a provider's tabs whole (all its requests, visits and
        conversations in the acting marketplace): staff and partners, or the provider itself."""
        if membership_id is None:
            return False
        return self.sees_whole_marketplace or membership_id == self.membership_id

    def require_user(self) -> int:
        if self.user_id is None:
            # An API key is authenticated: it is refused, not asked to sign in.
            if self.api_key_id is not None:
                raise forbidden(_("Only a signed-in person may do this."))
            raise unauthenticated()
        return self.user_id

    def require_marketplace(self) -> int:
        if not self.is_authenticated:
            raise unauthenticated()
        if self.marketplace_id is None:
            raise forbidden(_("No acting marketplace: send the X-Marketplace header."))
        return self.marketplace_id

    def require_staff(self, *, admin: bool = False) -> int:
        """Staff (or a read-write partner key) of the acting marketplace."""
        marketplace_id = self.require_marketplace()
        if self.api_key_id is not None:
            if admin or self.api_scope is not ApiScope.READ_WRITE:
                raise forbidden(_("This API key may not perform this action."))
            return marketplace_id
        if self.staff_role is None or (admin and self.staff_role is not StaffRole.ADMIN):
            raise forbidden(_("Only the marketplace's staff may do this."))
        return marketplace_id

    def require_reader(self) -> int:
        """Staff or any partner key of the acting marketplace."""
        marketplace_id = self.require_marketplace()
        if not self.sees_whole_marketplace:
            raise forbidden(_("Only the marketplace's staff may see this."))
        return marketplace_id

    def require_writer(self) -> None:
        """Read-only partner keys never change anything."""
        if not self.is_authenticated:
            raise unauthenticated()
        if self.api_key_id is not None and self.api_scope is not ApiScope.READ_WRITE:
            raise forbidden(_("This API key is read-only."))

    def require_platform_admin(self) -> int:
        user_id = self.require_user()
        if not self.is_platform_admin:
            raise forbidden(_("Only a platform admin may do this."))
        return user_id


ANONYMOUS = Actor()
