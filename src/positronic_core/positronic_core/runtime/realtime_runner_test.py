import threading
import time

import numpy as np

from positronic_core.robot.commands import Action, JointPosition
from positronic_core.runtime.realtime_runner import RealtimePolicyRunner


class SlowPolicy:
    wants_privileged_state = False
    meta = {"type": "test"}

    def __init__(self, latency_s=0.05, chunk=10, fail_after=None):
        self.latency_s = latency_s
        self.chunk = chunk
        self.fail_after = fail_after
        self.sessions = 0
        self.calls = 0

    def new_session(self, context):
        self.sessions += 1
        policy = self

        class Session:
            def infer(self, obs):
                policy.calls += 1
                if policy.fail_after is not None and policy.calls > policy.fail_after:
                    raise ConnectionError("server lost")
                time.sleep(policy.latency_s)
                return [Action(JointPosition(np.full(7, obs["k"] + i)), 0.0, i / 15) for i in range(policy.chunk)]

            def close(self):
                pass

        return Session()

    def close(self):
        pass


def drive(runner, seconds, fps=15.0):
    actions = []
    start = time.monotonic()
    k = 0
    while time.monotonic() - start < seconds:
        now = time.monotonic() - start
        k += 1
        actions.append(runner.tick(now, lambda k=k: {"k": float(k)}))
        time.sleep(max(0.0, start + k / fps - time.monotonic()))
    return actions


def test_keeps_acting_between_chunks_once_latency_is_known():
    runner = RealtimePolicyRunner(SlowPolicy(latency_s=0.1, chunk=15))
    runner.start_episode({"task": "t"})
    actions = drive(runner, 3.0)
    runner.close()
    first = next(i for i, a in enumerate(actions) if a is not None)
    assert first <= 6
    assert runner.stats.requests >= 3
    # after the first action, the plan never runs dry: the next chunk is asked for early enough
    assert sum(a is None for a in actions[first:]) <= 1


def test_a_lost_server_holds_from_the_next_tick_until_the_next_episode():
    policy = SlowPolicy(latency_s=0.01, chunk=3, fail_after=2)
    runner = RealtimePolicyRunner(policy)
    runner.start_episode({})
    actions = drive(runner, 1.5)
    assert runner.stats.errors == 1 and "server lost" in runner.stats.last_error
    last_action = max(i for i, a in enumerate(actions) if a is not None)
    assert all(a is None for a in actions[last_action + 1:])
    assert len(actions) - last_action > 5
    policy.fail_after = None
    runner.start_episode({})
    assert any(a is not None for a in drive(runner, 0.5))
    assert policy.sessions == 2
    runner.close()


def test_no_request_before_the_first_observation_exists():
    runner = RealtimePolicyRunner(SlowPolicy())
    runner.start_episode({})
    time.sleep(0.05)
    for i in range(5):
        assert runner.tick(i / 15, lambda: None) is None
    assert runner.stats.requests == 0
    runner.close()


def test_ticks_never_wait_for_inference():
    runner = RealtimePolicyRunner(SlowPolicy(latency_s=0.5))
    runner.start_episode({})
    time.sleep(0.05)
    started = time.monotonic()
    runner.tick(0.0, lambda: {"k": 1.0})
    assert time.monotonic() - started < 0.05
    assert threading.active_count() >= 2
    runner.close()
