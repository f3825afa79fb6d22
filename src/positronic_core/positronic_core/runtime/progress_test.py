import io

from positronic_core.runtime.progress import PLAIN_EVERY_S, TTY_EVERY_S, ProgressLine


class Wall:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_a_terminal_gets_one_live_line_redrawn_at_most_every_quarter_second():
    out, wall = io.StringIO(), Wall()
    line = ProgressLine(out, interactive=True, wall_clock=wall)
    line.update("a")
    wall.t += TTY_EVERY_S / 2
    line.update("b")
    wall.t += TTY_EVERY_S
    line.update("c")
    line.clear()
    assert out.getvalue() == "\r\x1b[Ka\r\x1b[Kc\r\x1b[K"


def test_a_log_gets_plain_lines_every_ten_seconds_and_no_carriage_returns():
    out, wall = io.StringIO(), Wall()
    line = ProgressLine(out, interactive=False, wall_clock=wall)
    for step in range(25):
        line.update(f"t={step}")
        wall.t += 1.0
    line.clear()
    assert PLAIN_EVERY_S == 10.0
    assert out.getvalue() == "t=0\nt=10\nt=20\n"


def test_clear_restarts_the_throttle_so_the_next_episode_shows_at_once():
    out, wall = io.StringIO(), Wall()
    line = ProgressLine(out, interactive=False, wall_clock=wall)
    line.update("episode 1")
    line.clear()
    line.update("episode 2")
    assert out.getvalue() == "episode 1\nepisode 2\n"


def test_a_stream_that_is_not_a_terminal_is_detected():
    assert ProgressLine(io.StringIO()).interactive is False
