"""Demo data for clients: the demo client's consent, more clients to search in the staff
`clients` list (one with the same name in the other marketplace), and a client created by
staff whose link to set a password is printed."""

from __future__ import annotations

from typing import Any

from models.account import Client, User
from models.consent import ConsentChannel
from presta.tx import AfterCommit
from resolvers.authentication import actor_for_user
from resolvers.client import gdpr
from resolvers.client.onboarding import invitation_link, issue_invitation


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    client: Client = ctx["client"]
    client_actor = await actor_for_user(ctx["client_user"], marketplace.id)
    await gdpr.set_client_marketing_consent(
        client_actor,
        client_id=client.id,
        channel=ConsentChannel.EMAIL,
        granted=True,
        wording_version="2026-01",
        source="demo",
    )
    jeanne = await User.create(
        email="jeanne@client.demo", password_hash=ctx["password_hash"], full_name="Jeanne Martin"
    )
    people = [
        (marketplace, "Jeanne Martin", jeanne.email, "+33 6 12 34 56 78", jeanne),
        (marketplace, "Karim Benali", "karim.benali@mail.demo", "+33 7 98 76 54 32", None),
        (marketplace, "Sophie Martin-Roux", "sophie@mail.demo", "", None),
        (ctx["other_marketplace"], "Jeanne Martin", "jeanne.m@mail.demo", "", None),
    ]
    for home, name, email, phone, user in people:
        await Client.create(marketplace=home, full_name=name, email=email, phone=phone, user=user)
    # Not mailed (the demo may run without an SMTP server): the link is printed instead.
    invited = await Client.create(
        marketplace=marketplace,
        full_name="Nina Rossi",
        email="nina@client.demo",
        created_by=ctx["admin"],
    )
    await issue_invitation(AfterCommit(), invited)
    return [
        f"clients: {client.email} has requests, visits, a conversation and consent "
        "(viewer { client { requests { edges { node { id status } } } } }); "
        f'{jeanne.email} too (no requests); staff: clients(search: "martin")',
        f"client invitation pending for nina@client.demo: {invitation_link(invited)}",
    ]
