"""A partner's program on the typed client that ``make client-example`` generates.

ariadne-codegen writes ``presta_partner`` (under ``var/partner``) from ``schema.graphql`` and the
operations of ``queries.graphql``: one method per operation, pydantic models for the answers,
enums for the schema's enums. This program logs in, then reads the staff's providers screen.

    PYTHONPATH=var/partner .venv/bin/python examples/partner/example.py

It talks to ``PRESTA_URL`` (default: the demo of ``make run``). When nothing answers there, it
starts ``presta serve --demo`` on a free port for the time of the run (its output goes to
``var/partner/demo.log``), so that ``make client-example`` works on its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from presta_partner import PrestaClient, ProvidersScreen

ROOT = Path(__file__).resolve().parents[2]


def read_providers(url: str, email: str, password: str, marketplace: str) -> ProvidersScreen:
    """Log in as a staff member and read the first page of the marketplace's providers."""
    with PrestaClient(url=url) as anonymous:
        session = anonymous.log_in(email=email, password=password).log_in
    if session.user_errors or not session.access_token:
        raise SystemExit(f"logIn refused: {[e.code.value for e in session.user_errors]}")
    headers = {"Authorization": f"Bearer {session.access_token}", "X-Marketplace": marketplace}
    with PrestaClient(url=url, headers=headers) as client:
        viewer = client.viewer().viewer
        if viewer is None or viewer.user is None:
            raise SystemExit("the access token was not accepted")
        roles = ", ".join(role.role.value for role in viewer.roles)
        print(f"Logged in as {viewer.user.full_name} ({roles})")
        return client.providers_screen(first=5)


def summary(screen: ProvidersScreen) -> str:
    counts = screen.provider_counts
    lines = [f"{counts.total} providers, {counts.accepted} accepted, {counts.applied} applied"]
    for edge in screen.providers.edges:
        node = edge.node
        since = node.created_at.date().isoformat()
        lines.append(f"  {node.company.name:<24} {node.status.value:<11} since {since}")
    return "\n".join(lines)


@contextlib.contextmanager
def _demo_unless_answering(url: str) -> Iterator[str]:
    """``url`` if a server answers there; otherwise a ``presta serve --demo`` of our own."""
    if _answers(url.removesuffix("/graphql") + "/healthz"):
        yield url
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = ROOT / "var" / "partner" / "demo.log"
    print(f"Nothing answers at {url}: starting `presta serve --demo` on port {port} ({log})")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--demo", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not _answers(f"{base}/readyz"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the demo server did not start; see {log}")
            time.sleep(0.2)
        yield f"{base}/graphql"
    finally:
        server.terminate()
        server.wait(timeout=15)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    url = os.environ.get("PRESTA_URL", "http://127.0.0.1:8000/graphql")
    email = os.environ.get("PRESTA_EMAIL", "boss@menage-plus.demo")
    password = os.environ.get("PRESTA_PASSWORD", "demo-password")
    marketplace = os.environ.get("PRESTA_MARKETPLACE", "menage-plus")
    with _demo_unless_answering(url) as live:
        print(summary(read_providers(live, email, password, marketplace)))


if __name__ == "__main__":
    main()
