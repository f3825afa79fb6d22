from __future__ import annotations

import io

from positronic_core.evaluate.sweep.progress import SweepProgress, bar_text, clock_text, eta_s


def test_eta_is_this_runs_pace_times_what_is_left():
    assert eta_s(0, 10, 5.0) is None
    assert eta_s(4, 6, 20.0) == 30.0


def test_clock_text():
    assert clock_text(5) == "0:05" and clock_text(125) == "2:05" and clock_text(3725) == "1:02:05"


def test_bar_counts_and_eta():
    text = bar_text(done=3, total=12, running=2, failed=0, elapsed_s=30.0, eta=90.0)
    assert text.startswith("[######------------------] 3/12 episodes")
    assert "2 running" in text and "elapsed 0:30" in text and "ETA 1:30" in text


def test_resumed_episodes_count_as_done_but_not_as_pace():
    now = [100.0]
    out = io.StringIO()
    progress = SweepProgress(out, total=10, already_done=6, wall_clock=lambda: now[0], interactive=False)
    now[0] += 40.0
    progress.finished(running=1)
    # 7 of 10 done; 3 left at 40 s per episode of this run
    assert "7/10 episodes" in out.getvalue() and "ETA 2:00" in out.getvalue()
