"""Who may use the review server: loopback by default, a token on every request beyond it, refusal without one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from positronic_core.review.access import COOKIE, Gate, check_bind
from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import ReviewServer
from positronic_core.wire.access_token import TokenConfigError, resolve_token
from positronic_core.wire.messages import TOKEN_ENV

TOKEN = "s3cret-Token_42"


def test_token_comes_from_the_flag_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(None) == "from-env"
    assert resolve_token("from-flag") == "from-flag"
    monkeypatch.setenv(TOKEN_ENV, "")
    assert resolve_token(None) is None  # an exported empty variable is unset
    for bad in ("", "with space", "tab\there", "naïve"):
        with pytest.raises(TokenConfigError, match="printable ASCII"):
            resolve_token(bad)


def test_binding_beyond_loopback_needs_a_token_or_insecure() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, None, insecure=False)
    with pytest.raises(TokenConfigError, match="refusing to serve on 0.0.0.0 without a token"):
        check_bind("0.0.0.0", None, insecure=False)
    with pytest.raises(TokenConfigError):
        check_bind("lab-box.local", None, insecure=False)
    check_bind("0.0.0.0", TOKEN, insecure=False)
    check_bind("0.0.0.0", None, insecure=True)


def test_gate_admits_the_bearer_token_or_the_session_cookie_only() -> None:
    gate = Gate(TOKEN)
    session = gate.session_cookie().split(";")[0]
    assert TOKEN not in session  # the cookie holds an HMAC of the token, not the token
    assert gate.admits(f"Bearer {TOKEN}", None)
    assert gate.admits(None, f"other=1; {session}")
    assert gate.admits("Basic cHJveHk6eA==", session)  # a proxy's own Authorization does not hide the cookie
    for authorization, cookie in ((None, None), (f"Bearer {TOKEN}x", None), ("Bearer", None), (TOKEN, None),
                                  (None, f"{COOKIE}={TOKEN}"), (None, f"{COOKIE}="), (None, "garbage;;=")):
        assert not gate.admits(authorization, cookie), (authorization, cookie)
    assert gate.token_matches(TOKEN) and not gate.token_matches(TOKEN[:-1])
    assert Gate(None).admits(None, None)


@pytest.fixture
def guarded(dataset: Path, make_client):
    index = EpisodeIndex(dataset)
    index.start()
    assert index.wait(60)
    server = ReviewServer(index, port=0, token=TOKEN).start()
    try:
        yield make_client(server.port), dataset
    finally:
        server.stop()
        index.close()


def test_every_page_and_api_call_needs_the_token(guarded, snapshot) -> None:
    client, root = guarded
    before = snapshot(root.parent)
    for path in ("/", "/index.html", "/api/status", "/api/episodes", "/api/datasets", "/static/table.js",
                 "/favicon.ico", "/episode/main/000000000000/000000000000", "/api/status?token=wrong"):
        status, headers, body = client.request("GET", path)
        assert status == 401, path
        assert headers["www-authenticate"].startswith("Bearer") and b"token" in body
        status, _, _ = client.request("GET", path, headers={"Authorization": "Bearer wrong"})
        assert status == 401, path
    status, body = client.post("/api/score", {"ep": "main/000000000000/000000000000", "outcome": "success"})
    assert status == 401
    assert snapshot(root.parent) == before

    bearer = {"Authorization": f"Bearer {TOKEN}"}
    status, table = client.get("/api/episodes?page_size=100", headers=bearer)
    assert status == 200 and table["total"] == 10
    ref = table["rows"][0]["ref"]
    status, saved = client.post("/api/score", {"ep": ref, "outcome": "success"}, headers=bearer)
    assert status == 200 and saved["row"]["outcome_source"] == "manual"


def test_a_page_opened_with_the_token_sets_a_session_cookie_and_drops_the_token(guarded) -> None:
    client, _ = guarded
    status, headers, _ = client.request("GET", f"/?f.checkpoint=10000&token={TOKEN}")
    assert status == 303 and headers["location"] == "/?f.checkpoint=10000"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = {"Cookie": cookie.split(";")[0]}
    status, _, page = client.request("GET", "/", headers=session)
    assert status == 200 and b"table.js" in page
    status, body = client.get("/api/status", headers=session)
    assert status == 200 and body["indexed"] == 10
    status, headers, _ = client.request("GET", f"/episode/main/000000000000/000000000001?token={TOKEN}&t=1.5")
    assert status == 303 and headers["location"] == "/episode/main/000000000000/000000000001?t=1.5"
    status, body = client.get(f"/api/status?token={TOKEN}")  # an API call may carry it in the query as well
    assert status == 200
    status, _, _ = client.request("GET", f"/?token={TOKEN}x")
    assert status == 401


def _server_command(dataset: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "positronic_core.review.cli", f"--dataset.path={dataset}", "--port=0", *flags]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env | extra


def test_the_command_refuses_a_network_address_without_a_token(template_dataset: Path) -> None:
    result = subprocess.run(_server_command(template_dataset, "--host=0.0.0.0"), capture_output=True, text=True,
                            timeout=120, env=_environment())
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve on 0.0.0.0 without a token" in lines[0], result.stderr
    assert TOKEN_ENV in lines[0] and "--insecure=True" in lines[0] and result.stdout == ""


def test_the_command_serves_a_network_address_with_the_token_from_the_environment(template_dataset: Path,
                                                                                   make_client) -> None:
    process = subprocess.Popen(_server_command(template_dataset, "--host=0.0.0.0"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_environment(**{TOKEN_ENV: TOKEN}))
    try:
        line = process.stdout.readline()
        assert "?token=<token>" in line and TOKEN not in line, line
        port = int(line.split("http://0.0.0.0:")[1].split("/")[0])
        client = make_client(port)
        assert client.get("/api/status")[0] == 401
        status, body = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and body["root"] == str(template_dataset.resolve())
    finally:
        process.terminate()
        process.wait(30)
