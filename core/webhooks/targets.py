"""Where a partner's webhook may point. Partners are outside the platform's trust: outside development a webhook
URL is https and its host resolves only to public addresses, so no partner can make the platform POST into its
own network (a cloud metadata service, the broker's management API, a database port). Checked when the URL is
registered and again before every POST, since what a name resolves to can change after registration.
`WEBHOOK_PRIVATE_TARGETS=true` (and development) allow any http(s) URL."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def refusal(url: str) -> str | None:
    """Why `url` may not receive webhooks, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "the URL is not https"
    host = parts.hostname or ""
    try:
        found = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return f"the host {host!r} does not resolve"
    for *_, address in found:
        ip = ipaddress.ip_address(address[0].split("%")[0])
        if not ip.is_global:
            return f"the host {host!r} resolves to {ip}, not a public address"
    return None
