"""The shared-secret token that protects our servers beyond loopback: where it comes from, for every server.

Kept outside `serve` and `review` so both (and the robot-side clients) can import it without depending on each
other.
"""

from __future__ import annotations

#: The environment variable holding the token when no `--auth_token` flag is given.
TOKEN_ENV = "POSITRONIC_AUTH_TOKEN"
