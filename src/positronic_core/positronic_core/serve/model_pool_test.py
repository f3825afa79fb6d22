"""Checkpoint switching for exclusive sources (vendor backends) and reloading a model that died, over real sockets."""

import threading
import time

import numpy as np
import pytest

from positronic_core.serve import model_pool
from positronic_core.serve.backends.hold_pose import HoldPoseModel, HoldPoseSource
from positronic_core.serve.server import running_server
from positronic_core.wire import messages
from positronic_core.wire.client import InferenceClient

STUCK_S = 30.0
OBS = {"robot_state.ee_pose": np.array([0.4, 0.1, 0.3, 1.0, 0.0, 0.0, 0.0]), "grip": np.float32(0.0)}


class _RecordingModel(HoldPoseModel):
    def __init__(self, model_id, events, **kwargs):
        super().__init__(**kwargs)
        self.model_id = model_id
        self.events = events
        self.alive = True

    def close(self):
        self.events.append(f"close {self.model_id}")


class _ExclusiveSource(HoldPoseSource):
    exclusive = True

    def __init__(self, model_ids):
        super().__init__(model_ids)
        self.events = []
        self.models = []

    def load(self, model_id, progress):
        self.events.append(f"load {model_id}")
        model = _RecordingModel(model_id, self.events)
        self.models.append(model)
        return model


@pytest.fixture
def waiting_frames(monkeypatch):
    """Short progress interval, and the waiting messages the server builds, as they are built."""
    monkeypatch.setattr(model_pool, "PROGRESS_INTERVAL_S", 0.01)
    sent, build = [], messages.waiting
    three_sent = threading.Event()

    def waiting(message):
        sent.append(message)
        if len(sent) >= 3:
            three_sent.set()
        return build(message)

    monkeypatch.setattr(messages, "waiting", waiting)
    return sent, three_sent


def _open_in_thread(client, model_id):
    opened = {}

    def run():
        try:
            opened["session"] = client.new_session(model_id)
        except Exception as e:  # reported by the test's assertion
            opened["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    return thread, opened


def test_a_switch_waits_until_the_running_session_ends(waiting_frames):
    sent, three_sent = waiting_frames
    source = _ExclusiveSource(["1", "2"])
    with running_server(source) as server:
        client = InferenceClient("127.0.0.1", server.port)
        first = client.new_session("1")
        thread, opened = _open_in_thread(client, "2")
        assert three_sent.wait(STUCK_S), "no waiting frames while the other model is in use"
        # The running episode keeps its model while the other session waits.
        assert first.infer(OBS)
        assert source.events == ["load 1"]
        assert sent[0] == "waiting for 1 session(s) on model 1 to end before switching to model 2"
        first.close()
        thread.join(STUCK_S)
        assert "error" not in opened
        second = opened["session"]
        assert second.meta["model_id"] == "2" and second.infer(OBS)
        assert second.statuses[0]["status"] == "waiting"
        assert {s["status"] for s in second.statuses} <= {"waiting", "loading"}
        # The old model is closed (its vendor stopped) before the new one loads.
        assert source.events == ["load 1", "close 1", "load 2"]
        second.close()


def test_sessions_on_the_loaded_model_join_it_without_waiting(waiting_frames):
    sent, _ = waiting_frames
    source = _ExclusiveSource(["1", "2"])
    with running_server(source) as server:
        client = InferenceClient("127.0.0.1", server.port)
        with client.new_session("1") as first, client.new_session("1") as second:
            assert first.infer(OBS) and second.infer(OBS)
            assert second.statuses == []
        with client.new_session("2") as third:  # nobody on model 1 any more: no wait
            assert third.infer(OBS)
    assert sent == []
    assert source.events == ["load 1", "close 1", "load 2", "close 2"]


def test_two_sessions_asking_for_other_models_switch_one_after_the_other(waiting_frames):
    _, three_sent = waiting_frames
    source = _ExclusiveSource(["1", "2", "3"])
    with running_server(source) as server:
        client = InferenceClient("127.0.0.1", server.port)
        first = client.new_session("1")
        threads = dict(zip(("2", "3"), (_open_in_thread(client, "2"), _open_in_thread(client, "3")), strict=True))
        assert three_sent.wait(STUCK_S)
        first.close()
        # One switch wins; the other session waits until the winner's session ends.
        give_up = time.monotonic() + STUCK_S
        while not any("session" in opened for _, opened in threads.values()):
            assert not any("error" in opened for _, opened in threads.values()), threads
            assert time.monotonic() < give_up, "no switch happened"
            time.sleep(0.01)
        winner = next(m for m, (_, opened) in threads.items() if "session" in opened)
        loser = "3" if winner == "2" else "2"
        assert threads[loser][1] == {}
        threads[winner][0].join(STUCK_S)
        threads[winner][1]["session"].close()
        threads[loser][0].join(STUCK_S)
        assert "session" in threads[loser][1], threads[loser][1]
        threads[loser][1]["session"].close()
    assert source.events[:5] == ["load 1", "close 1", f"load {winner}", f"close {winner}", f"load {loser}"]


def test_a_model_that_died_is_loaded_afresh_for_the_next_session():
    source = _ExclusiveSource(["1"])
    with running_server(source) as server:
        client = InferenceClient("127.0.0.1", server.port)
        with client.new_session() as session:
            assert session.infer(OBS)
            source.models[0].alive = False
        with client.new_session() as session:
            assert session.infer(OBS)
    assert source.events[:3] == ["load 1", "close 1", "load 1"]


def test_sources_that_are_not_exclusive_load_beside_a_running_model():
    source = HoldPoseSource(["1", "2"])
    with running_server(source) as server:
        client = InferenceClient("127.0.0.1", server.port)
        with client.new_session("1") as first, client.new_session("2") as second:
            assert first.infer(OBS) and second.infer(OBS)
            assert second.statuses == []
    assert source.loads == ["1", "2"]
