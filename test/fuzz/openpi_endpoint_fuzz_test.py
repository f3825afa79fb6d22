"""Arbitrary openpi-style observations against a live openpi endpoint: each gets `{"actions": (H, 8)}` or openpi's
error report (a text frame, then close 1011), never a dropped connection, and the server keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from positronic_core.serve.backends.hold_pose import HoldPoseSource
from positronic_core.serve.server import ServerConfig, running_server
from positronic_core.wire.envelope import packb, unpackb

REPLY_TIMEOUT_S = 10.0
DTYPES = st.sampled_from([np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_])


def _array(max_dims: int, max_side: int) -> st.SearchStrategy:
    return DTYPES.flatmap(lambda dtype: hnp.arrays(
        dtype, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)))


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(), st.text(max_size=8),
                   st.binary(max_size=8), st.lists(st.floats(), max_size=9), _array(2, 9))
OBSERVATIONS = st.fixed_dictionaries({}, optional={
    "observation/state": st.one_of(VALUES, _array(1, 9)),
    "observation/image": st.one_of(VALUES, _array(3, 5)),
    "observation/wrist_image": st.one_of(VALUES, _array(3, 5)),
    "prompt": VALUES,
})


@pytest.fixture(scope="module")
def server():
    with running_server(HoldPoseSource(), ServerConfig(port=0, openpi_port=0)) as running:
        yield running


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(observation=OBSERVATIONS)
def test_every_observation_gets_actions_or_openpi_error_report(server, observation):
    with connect(f"ws://127.0.0.1:{server.openpi.port}", compression=None, open_timeout=REPLY_TIMEOUT_S) as ws:
        assert unpackb(ws.recv(timeout=REPLY_TIMEOUT_S))["model_id"] == "1"
        ws.send(packb(observation))
        reply = ws.recv(timeout=REPLY_TIMEOUT_S)
        if isinstance(reply, bytes):
            actions = unpackb(reply)["actions"]
            assert actions.shape == (1, 8) and np.all(np.isfinite(actions))
            return
        assert reply.startswith("positronic-policy-server: ") and "\n" not in reply
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=REPLY_TIMEOUT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


def test_a_well_formed_observation_still_works_after_the_fuzzing(server):
    observation = {"observation/state": np.array([0.4, 0.1, 0.3, 1.0, 0.0, 0.0, 0.0, 0.5]),
                   "observation/image": np.zeros((4, 4, 3), np.uint8),
                   "observation/wrist_image": np.zeros((4, 4, 3), np.uint8)}
    with connect(f"ws://127.0.0.1:{server.openpi.port}", compression=None, open_timeout=REPLY_TIMEOUT_S) as ws:
        ws.recv(timeout=REPLY_TIMEOUT_S)
        ws.send(packb(observation))
        np.testing.assert_allclose(unpackb(ws.recv(timeout=REPLY_TIMEOUT_S))["actions"][0],
                                   observation["observation/state"], atol=1e-6)
