"""Bearer-token protection for servers bound beyond loopback."""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket

from positronic_core.wire.messages import TOKEN_ENV


class AuthConfigError(ValueError):
    pass


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
    if not token or not all(33 <= ord(c) <= 126 for c in token):
        raise AuthConfigError("the auth token must be non-empty printable ASCII without spaces")
    return token


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    if token is None and not insecure and not is_loopback(host):
        raise AuthConfigError(
            f"refusing to serve on {host} without a token: set --auth_token or {TOKEN_ENV}, or pass --insecure to "
            "accept unauthenticated clients from the network")


def is_authorized(authorization_header: str | None, token: str | None) -> bool:
    if token is None:
        return True
    presented = (authorization_header or "").encode("utf-8", "replace")
    return hmac.compare_digest(presented, f"Bearer {token}".encode())
