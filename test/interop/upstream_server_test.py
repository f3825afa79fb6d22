"""OUR client and RemotePolicy against upstream Positronic 0.2.1's `offboard.basic_server.InferenceServer`.

The server runs in upstream's venv with two toy policies written against upstream's own `Policy`, `geom` and
`command.to_wire` (see `UpstreamServer`), so its replies are exactly what upstream code puts on the wire: ndarray
poses, a bare dict instead of a list, no timestamps, and negotiated permessage-deflate that our client declines.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from upstream import UpstreamServer, guide_observation, upstream_missing_reason

from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.policy.remote import RemotePolicy
from positronic_core.robot.commands import CartesianPosition, JointPosition
from positronic_core.wire.client import InferenceClient, InferenceError

pytestmark = pytest.mark.skipif(upstream_missing_reason() is not None, reason=str(upstream_missing_reason()))

CHUNK = 3


@pytest.fixture(scope="module")
def upstream_server():
    with UpstreamServer(chunk=CHUNK) as server:
        yield server


@pytest.fixture
def client(upstream_server):
    return InferenceClient(upstream_server.host, upstream_server.port, connect_timeout=10, infer_timeout=30)


def test_models_and_handshake_meta(client):
    assert client.list_models() == ["hold", "count"]
    with client.new_session() as default:  # upstream's default is its registry's first entry
        assert default.meta == {"type": "upstream_toy", "name": "hold", "chunk": CHUNK}
    with client.new_session("count") as named:
        assert named.meta == {"type": "upstream_toy", "name": "count"}
        assert [s["status"] for s in named.statuses] == ["loading"]


def test_upstream_chunk_decodes_into_our_actions(upstream_server):
    policy = RemotePolicy(upstream_server.host, upstream_server.port, resize=None)
    session = policy.new_session({})
    try:
        obs = guide_observation(11)
        actions = session.infer(obs)
    finally:
        session.close()
    assert policy.meta["server.name"] == "hold" and policy.meta["port"] == upstream_server.port
    assert len(actions) == CHUNK
    for action in actions:
        assert isinstance(action.command, CartesianPosition)
        # Upstream built the pose with its own quaternion code; ours must read the same rotation from the same wxyz.
        np.testing.assert_allclose(action.command.translation, obs["robot_state.ee_pose"][:3], atol=1e-12)
        np.testing.assert_allclose(action.command.rotation, quat_wxyz_to_matrix(obs["robot_state.ee_pose"][3:]),
                                   atol=1e-12)
        assert action.target_grip == pytest.approx(obs["grip"])
        assert action.timestamp is None  # GUIDE-era servers stamp nothing; the chunk plays one action per tick


def test_a_bare_dict_result_is_one_action_and_each_session_resets_the_policy(upstream_server):
    policy = RemotePolicy(upstream_server.host, upstream_server.port, model_id="count", resize=None)
    obs = guide_observation(12)
    for _episode in range(2):
        session = policy.new_session({})
        try:
            for call in (1, 2):
                (action,) = session.infer(obs)
                assert isinstance(action.command, JointPosition)
                np.testing.assert_allclose(action.command.positions, obs["robot_state.q"] + call)
                assert action.target_grip == 0.0
        finally:
            session.close()


def test_unknown_model_is_an_inference_error_naming_server_and_model(client, upstream_server):
    where = re.escape(f"127.0.0.1:{upstream_server.port}")
    with pytest.raises(InferenceError, match=rf"{where}.*model nope.*Policy not found: nope"):
        client.new_session("nope")
    with pytest.raises(InferenceError, match=rf"{where}.*model nope"):
        RemotePolicy(upstream_server.host, upstream_server.port, model_id="nope").new_session({})


def test_error_reply_is_an_inference_error_and_the_session_stays_open(client, upstream_server):
    with client.new_session() as session:
        with pytest.raises(InferenceError, match=rf"{upstream_server.port}.*hold needs robot_state.ee_pose"):
            session.infer({"task": "no state at all"})
        result = session.infer(guide_observation(13))
        assert len(result) == CHUNK
