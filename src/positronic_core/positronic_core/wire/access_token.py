"""The bearer-token rules both servers share (the policy server and the review server): where the token comes from,
what it may hold, and which addresses a server may listen on without one."""

from __future__ import annotations

import ipaddress
import os
import socket

from positronic_core.wire.messages import TOKEN_ENV


class TokenConfigError(ValueError):
    """A token or bind address a server refuses to start with; the message says what to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (socket.gaierror, ValueError):
            return False


def resolve_token(flag_value: str | None) -> str | None:
    """The token from the flag, else the environment; validated so it can travel in an HTTP header.

    An empty environment variable counts as unset (shells and launch files export empty values); an empty flag
    is refused.
    """
    token = flag_value if flag_value is not None else (os.environ.get(TOKEN_ENV) or None)
    if token is None:
        return None
    token = str(token)
    if not token or not all(33 <= ord(c) <= 126 for c in token):
        raise TokenConfigError("the auth token must be non-empty printable ASCII without spaces")
    return token


def check_bind(host: str, token: str | None, insecure: bool, exposure: str) -> None:
    """Refuse to listen beyond loopback without a token unless `insecure`; `exposure` says what an unprotected
    server would hand to anyone who can reach it."""
    if token is None and not insecure and not is_loopback(host):
        raise TokenConfigError(
            f"refusing to serve on {host} without a token: {exposure}; set --auth_token=SECRET or "
            f"{TOKEN_ENV}=SECRET, or pass --insecure=True")
