"""Who may use the review server. It writes scores and creates datasets, so beyond loopback it needs a token.

- Bound to loopback without a token: anyone on this machine; Host names other than loopback ones are refused, so
  a web page re-pointed at 127.0.0.1 (DNS rebinding) cannot use it (`server.ReviewHandler._check_host`).
- With a token (`--auth_token`, else `POSITRONIC_AUTH_TOKEN`): every page, asset and API call must present it,
  as `Authorization: Bearer <token>` (scripts), or as the session cookie the server sets when a page is opened
  with `?token=<token>` (people: the page then reloads without the token in its address; URL-encode a token
  holding characters such as `&`, `+` or `%`). The cookie holds an
  HMAC of the token, not the token, and is HttpOnly and SameSite=Strict. Every comparison is constant-time.
- Any other address without a token is refused at start, unless `--insecure` says so explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie

from positronic_core.wire import access_token

COOKIE = "positronic_review_session"
TOKEN_PARAM = "token"
_SESSION_CONTEXT = b"positronic-review-session-v1"


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    access_token.check_bind(host, token, insecure, "anyone who can reach it could score episodes and write clips")


class Gate:
    """Checks requests against the token; with no token every request passes."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._bearer = f"Bearer {token}".encode() if token else b""
        self._session = hmac.new(token.encode(), _SESSION_CONTEXT, hashlib.sha256).hexdigest() if token else ""

    @property
    def required(self) -> bool:
        return self.token is not None

    def admits(self, authorization: str | None, cookie_header: str | None) -> bool:
        """Whether a request carrying these headers may proceed."""
        if self.token is None:
            return True
        # Either will do: a proxy in front may add its own Authorization to a browser's requests.
        bearer = hmac.compare_digest((authorization or "").strip().encode("utf-8", "replace"), self._bearer)
        session = hmac.compare_digest(_cookie(cookie_header).encode("utf-8", "replace"), self._session.encode())
        return bearer or session

    def token_matches(self, presented: str) -> bool:
        return self.token is not None and hmac.compare_digest(presented.encode("utf-8", "replace"),
                                                              self.token.encode())

    def session_cookie(self) -> str:
        """The Set-Cookie value that admits this browser from now on."""
        return f"{COOKIE}={self._session}; Path=/; HttpOnly; SameSite=Strict"


def _cookie(header: str | None) -> str:
    if not header:
        return ""
    try:
        morsel = SimpleCookie(header).get(COOKIE)
    except CookieError:
        return ""
    return morsel.value if morsel is not None else ""
