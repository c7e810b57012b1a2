"""Where a webhook may go: the URL's rules when it is saved, and its address when it is sent.

A URL is checked when saved (scheme, no credentials, no address that is not public written
in it), but a name can later resolve anywhere: the host is resolved again at each send, every
address it resolves to is checked, and the request goes to the checked address (the name
stays in ``Host`` and in TLS, for SNI and the certificate), so the answer of a second lookup
cannot send it elsewhere (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from presta.i18n import Text, _
from presta.settings import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
RESOLVE_SECONDS = 5.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BadUrl(ValueError):
    """A URL that may not be saved: malformed, or (``refused``) pointing where it may not."""

    def __init__(self, message: Text, *, refused: bool = False) -> None:
        super().__init__(message)
        self.text = message
        self.refused = refused


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


@dataclass(frozen=True, slots=True)
class Target:
    """A request to the checked ``address``: the URL with it in place of the name."""

    url: str
    host: str
    address: str
    extensions: dict[str, Any] = field(default_factory=dict)


def check_url(url: str) -> str:
    """The URL to store; raises ``BadUrl``."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise BadUrl(_("Give a URL of at most {most} characters.", most=MAX_URL_LENGTH))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise BadUrl(_("This is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise BadUrl(_("Give an http(s) URL with a host."))
    if scheme != "https" and settings().environment == "production":
        raise BadUrl(_("Webhook URLs must use https."), refused=True)
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise BadUrl(_("A webhook URL has no credentials nor fragment."))
    host = parts.hostname
    literal = _literal(host)
    name_is_loopback = host == "localhost" or host.endswith(".localhost")
    if (literal is not None and not allowed(literal)) or (
        name_is_loopback and not settings().webhook_loopback_allowed
    ):
        raise BadUrl(
            _("Webhooks go to public addresses only (no private, loopback or link-local one)."),
            refused=True,
        )
    return parts._replace(scheme=scheme).geturl()


def allowed(address: IPAddress) -> bool:
    """A public unicast address; loopback only when the settings allow it."""
    address = _embedded_ipv4(address)
    if address.is_loopback:
        return settings().webhook_loopback_allowed
    return address.is_global and not address.is_multicast


async def target(url: str) -> Target:
    """Resolve the URL's host now and check every address; raises ``AddressRefused``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _literal(host)
    addresses = [literal] if literal is not None else await _addresses(host, port)
    refused = [a for a in addresses if not allowed(a)]
    if refused or not addresses:
        shown = refused[0] if refused else "nothing"
        raise AddressRefused(f"{host} resolves to {shown}: not an address webhooks may reach")
    address = addresses[0]
    extensions: dict[str, Any] = {}
    if parts.scheme == "https" and literal is None:
        extensions["sni_hostname"] = host
    return Target(
        url=_pinned(parts, address),
        host=parts.netloc,
        address=str(address),
        extensions=extensions,
    )


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.wait_for(resolve(host, port), RESOLVE_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise AddressRefused(f"{host} does not resolve ({exc})") from None
    found: list[IPAddress] = []
    for address in infos:
        parsed = _literal(address)
        if parsed is None:
            raise AddressRefused(f"{host} resolves to {address}, not an IP address")
        if parsed not in found:
            found.append(parsed)
    return found


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (tests replace this function to play DNS)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


def _pinned(parts: SplitResult, address: IPAddress) -> str:
    shown = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return parts._replace(netloc=netloc).geturl()


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address
