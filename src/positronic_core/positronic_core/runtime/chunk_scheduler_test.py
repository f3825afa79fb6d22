from positronic_core.robot.commands import Action, Reset
from positronic_core.runtime.chunk_scheduler import ChunkScheduler

TICK = 1 / 15


def chunk(n, stamped=True):
    return [Action(Reset(), float(i), i * TICK if stamped else None) for i in range(n)]


def test_plays_one_action_per_tick_in_order():
    s = ChunkScheduler(TICK)
    s.accept(chunk(3), requested_at=0.0, now=0.0)
    played = [s.pop_due(k * TICK) for k in range(4)]
    assert [a.target_grip for a in played[:3]] == [0, 1, 2]
    assert played[3] is None


def test_untimestamped_chunks_are_one_tick_apart():
    s = ChunkScheduler(TICK)
    s.accept(chunk(2, stamped=False), requested_at=1.0, now=1.0)
    assert s.pop_due(1.0).target_grip == 0
    assert s.pop_due(1.0 + TICK).target_grip == 1


def test_stale_actions_are_dropped_when_a_chunk_arrives_late():
    s = ChunkScheduler(TICK)
    # asked at t=0, arrived at t=0.28: the actions due at 0 .. 3/15 are past; the one due at 4/15 is current
    s.accept(chunk(10), requested_at=0.0, now=0.28)
    assert s.pop_due(0.28).target_grip == 4
    assert s.dropped == 4


def test_requests_early_enough_to_cover_latency():
    s = ChunkScheduler(TICK)
    assert s.should_request(0.0)
    s.accept(chunk(30), requested_at=0.0, now=0.0)
    s.observe_latency(0.3)
    assert not s.should_request(1.0)
    # plan ends at 29/15 = 1.933; asking at 1.55 would come back at 1.85 + one tick of slack = 1.917 < 1.933
    assert not s.should_request(1.55)
    assert s.should_request(1.6)


def test_new_chunk_replaces_unplayed_tail():
    s = ChunkScheduler(TICK)
    s.accept(chunk(30), requested_at=0.0, now=0.0)
    s.pop_due(0.0)
    s.accept([Action(Reset(), 9.0, 0.0)], requested_at=TICK, now=TICK)
    assert s.pop_due(TICK).target_grip == 9.0
    assert s.pop_due(2 * TICK) is None


def test_ticks_out_of_phase_with_the_chunk_still_play_one_action_each():
    s = ChunkScheduler(TICK)
    s.accept(chunk(10), requested_at=0.013, now=0.013)
    played = [s.pop_due(k * TICK + 0.002) for k in range(9)]
    assert [a.target_grip for a in played] == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert s.dropped == 0
