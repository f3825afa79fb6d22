"""The protocol version a ready frame declares, and the messages each version sends."""

import pytest

from positronic_core.wire.protocol_version import UnsupportedProtocol, from_ready


def test_a_ready_frame_without_a_version_is_v1_and_sends_the_bare_observation():
    protocol = from_ready({"status": "ready", "meta": {}})
    assert protocol.version == 1 and not protocol.runs_declared_stack
    assert protocol.request({"grip": 0.0}) == {"grip": 0.0}
    assert protocol.end_request() is None


@pytest.mark.parametrize("version", [2, 3])
def test_v2_and_v3_name_the_session_in_every_request_and_end_it_with_an_echo(version):
    protocol = from_ready({"status": "ready", "protocol_version": version, "session_id": "abc", "meta": {}})
    assert protocol.request({"grip": 0.0}) == {"session_id": "abc", "observation": {"grip": 0.0}}
    assert protocol.end_request() == {"session_id": "abc", "end_session": True}
    assert protocol.is_end_echo({"session_id": "abc", "end_session": True})
    assert not protocol.is_end_echo({"session_id": "other", "end_session": True})
    assert protocol.returns_model_output is (version == 3)


@pytest.mark.parametrize(("ready", "problem"), [
    ({"protocol_version": 4, "session_id": "a"}, "protocol v4 is not supported"),
    ({"protocol_version": 2}, "protocol v2 ready frame lacks a session_id"),
    ({"protocol_version": True, "session_id": "a"}, "not supported"),
])
def test_a_ready_frame_this_client_cannot_follow(ready, problem):
    with pytest.raises(UnsupportedProtocol, match=problem):
        from_ready({"status": "ready", **ready})
