from positronic_core.bags.derived_statics import DerivedStatics

TICK_NS = 1_000_000_000 // 15


def test_verdict_and_counts_come_from_the_signals_as_an_in_process_run_records_them():
    derived = DerivedStatics()
    for i in range(20):
        derived.add("stacking_success", 1.0 if i >= 8 else 0.2, 5_000_000_000 + i * TICK_NS)
        derived.add("inference.idle", int(i < 3), i * TICK_NS)
        if i % 10 == 0:
            derived.add("inference.chunk_size", 15, i * TICK_NS)
    assert derived.statics() == {"eval.auto_success": True, "eval.final_stacking_success": 1.0,
                                 "inference.requests": 2, "inference.idle_ticks": 3}


def test_a_bag_without_those_signals_derives_nothing():
    derived = DerivedStatics()
    derived.add("grip", 0.5, 0)
    assert derived.statics() == {}
