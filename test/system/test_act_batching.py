"""Cross-session batching on the real tiny ACT model over real sockets: the same replies as unbatched serving."""

import threading

import numpy as np
import pytest
from tiny_act import make_observation, make_tiny_act_checkpoint

from positronic_core.codecs import get_codec
from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.models.lerobot_act import load_act_checkpoint
from positronic_core.serve.checkpoint_source import CheckpointSource
from positronic_core.serve.server import ServerConfig, running_server
from positronic_core.wire.client import InferenceClient

ROBOTS = 4


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    make_tiny_act_checkpoint(root, step=1000)
    codec = get_codec("ee")
    return CheckpointSource(CheckpointRegistry(root), lambda path, progress: load_act_checkpoint(path, codec))


def serve_robots(source, batching):
    replies, sizes = {}, []
    with running_server(source, ServerConfig(port=0, batching=batching)) as server:
        barrier = threading.Barrier(ROBOTS)

        def robot(i):
            with InferenceClient("127.0.0.1", server.port).new_session() as session:
                for round_ in range(2):
                    barrier.wait()
                    result = session.infer(make_observation(seed=10 * i + round_))
                    replies[(i, round_)] = np.array([a["robot_command"]["pose"] for a in result])
                    sizes.append(session.last_timing["batch_size"])

        threads = [threading.Thread(target=robot, args=(i,)) for i in range(ROBOTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    return replies, sizes


def test_batched_and_unbatched_replies_are_identical(source):
    batched, batched_sizes = serve_robots(source, batching=True)
    serial, serial_sizes = serve_robots(source, batching=False)
    assert set(batched) == set(serial) and len(batched) == ROBOTS * 2
    for key in serial:
        assert batched[key].shape == (30, 12)
        np.testing.assert_allclose(batched[key], serial[key], atol=1e-5)
    assert max(batched_sizes) > 1
    assert set(serial_sizes) == {1}
    # different robots got different chunks: the batch did not mix observations up
    assert not np.allclose(batched[(0, 0)], batched[(1, 0)])
