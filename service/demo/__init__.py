"""Demo data for ``make run``: every capability can be tried from GraphiQL with these logins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.account import Client, StaffMember, StaffRole, User
from models.marketplace import Marketplace
from presta.security import hash_password
from presta.settings import settings
from presta.tx import atomic
from service.demo import catalog as demo_catalog
from service.demo import client as demo_client
from service.demo import dispatch as demo_dispatch
from service.demo import document as demo_document
from service.demo import membership as demo_membership
from service.demo import messaging as demo_messaging
from service.demo import notification as demo_notification
from service.demo import operations as demo_operations
from service.demo import review as demo_review
from service.demo import webhook as demo_webhook

DEMO_PASSWORD = "demo-password"
# Each domain adds its demo data in this order; later ones use what earlier ones put in ctx.
DOMAINS = [
    demo_document,
    demo_membership,
    demo_catalog,
    demo_dispatch,
    demo_messaging,
    demo_client,
    demo_webhook,
    demo_notification,
    demo_review,
    demo_operations,
]


@dataclass(frozen=True)
class Login:
    role: str
    email: str
    marketplace: str | None


async def load_demo_data() -> list[Login]:
    """Idempotent: a second run finds the demo marketplace and adds nothing."""
    logins = [
        Login("platform admin", "admin@presta.demo", None),
        Login("marketplace ADMIN", "boss@menage-plus.demo", "menage-plus"),
        Login("marketplace AGENT", "agent@menage-plus.demo", "menage-plus"),
        Login("client", "client@menage-plus.demo", "menage-plus"),
        Login("ADMIN of another marketplace", "boss@jardins.demo", "jardins"),
    ]
    if await Marketplace.filter(slug="menage-plus").exists():
        notes = _notes_file()
        return logins + [Login(n, "", None) for n in _read_notes(notes)]
    async with atomic():
        password = hash_password(DEMO_PASSWORD)

        async def user(email: str, name: str, *, admin: bool = False) -> User:
            return await User.create(
                email=email, password_hash=password, full_name=name, is_platform_admin=admin
            )

        await user("admin@presta.demo", "Platform Admin", admin=True)
        main = await Marketplace.create(name="Ménage Plus", slug="menage-plus")
        other = await Marketplace.create(name="Jardins & Co", slug="jardins")
        boss = await user("boss@menage-plus.demo", "Claire Martin")
        agent = await user("agent@menage-plus.demo", "Hugo Bernard")
        other_boss = await user("boss@jardins.demo", "Léa Petit")
        await StaffMember.create(user=boss, marketplace=main, role=StaffRole.ADMIN)
        await StaffMember.create(user=agent, marketplace=main, role=StaffRole.AGENT)
        await StaffMember.create(user=other_boss, marketplace=other, role=StaffRole.ADMIN)
        client_user = await user("client@menage-plus.demo", "Paul Durand")
        client = await Client.create(
            marketplace=main,
            user=client_user,
            full_name="Paul Durand",
            email=client_user.email,
            phone="+33600000000",
        )
        ctx: dict[str, Any] = {
            "marketplace": main,
            "other_marketplace": other,
            "admin": boss,
            "agent": agent,
            "other_admin": other_boss,
            "client": client,
            "client_user": client_user,
            "password_hash": password,
        }
        extra: list[str] = []
        for domain in DOMAINS:
            extra += await domain.load(ctx)
    _notes_file().write_text("\n".join(extra) + "\n")
    return logins + [Login(line, "", None) for line in extra]


def _notes_file() -> Path:
    """What each domain loaded, kept so a restart prints the same guide."""
    path = Path(settings().storage_dir).parent / "demo-notes.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _read_notes(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line] if path.exists() else []


def banner(logins: list[Login], *, mail: str | None = None) -> str:
    """What ``make run`` prints: where to go, how to log in, and where e-mails go."""
    lines = [
        "",
        f"Presta demo is ready: GraphiQL at {settings().public_url}/graphql",
        f"Every demo account's password is: {DEMO_PASSWORD}",
        "Log in with the logIn mutation, then send the header",
        "  Authorization: Bearer <accessToken>   (and X-Marketplace: <slug> to pick a marketplace)",
        *([mail] if mail else []),
        "",
    ]
    lines += [f"  {login.role:<32} {login.email:<28} {login.marketplace or ''}" for login in logins]
    return "\n".join(lines) + "\n"
