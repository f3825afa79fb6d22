"""Bearer-token protection for servers bound beyond loopback."""

from __future__ import annotations

import hmac

from positronic_core.wire import access_token


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    access_token.check_bind(host, token, insecure, "anyone on the network could run the models")


def is_authorized(authorization_header: str | None, token: str | None, schemes: tuple[str, ...] = ("Bearer",)
                  ) -> bool:
    """Whether the header presents the token under one of `schemes` (openpi's client says `Api-Key TOKEN`)."""
    if token is None:
        return True
    presented = (authorization_header or "").encode("utf-8", "replace")
    # Every scheme is compared, so the time taken does not tell which one nearly matched.
    matches = [hmac.compare_digest(presented, f"{scheme} {token}".encode()) for scheme in schemes]
    return any(matches)
