"""Keeping the hub from being pointed at the province's internal network (SSRF).

A dynamically registered system chooses URIs the hub itself will call (back-channel logout,
JWKS) or send browsers to. None may name loopback, private, link-local or otherwise reserved
addresses, literally or through DNS. A name that does not resolve is refused for the URIs the
hub calls (it would be resolved later, perhaps to an internal address) and accepted for those
only a browser opens.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

BLOCKED_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def internal_address_problem(uri: str, *, called_by_hub: bool) -> str | None:
    """Why this URI may point inside the network, or None."""
    host = (urlsplit(uri).hostname or "").rstrip(".").lower()
    if not host:
        return "has no host"
    if host in BLOCKED_NAMES or host.endswith((".localhost", ".local", ".internal")):
        return "points at a local or internal name"
    try:
        return "points at a private or reserved address" if _blocked(host) else None
    except ValueError:
        pass  # a name, not an address
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return "does not resolve" if called_by_hub else None
    if any(_blocked(info[4][0]) for info in infos):
        return "resolves to a private or reserved address"
    return None
