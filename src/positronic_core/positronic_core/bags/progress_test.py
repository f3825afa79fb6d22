import io
from pathlib import Path

from positronic_core.bags.progress import StderrProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_progress_rewrites_one_line_and_ends_it_when_the_pass_is_done():
    stream = _Terminal()
    progress = StderrProgress(stream, interval_s=0.0)
    for done in range(1, 4):
        progress(Path("ep"), "validating", done, 3)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("validating ep: 3/3 messages (100%)\n")


def test_logs_get_whole_lines_throttled_and_the_final_count():
    stream = io.StringIO()
    progress = StderrProgress(stream, log_interval_s=3600)
    for done in range(1, 101):
        progress(Path("ep"), "converting", done, 100)
    lines = stream.getvalue().splitlines()
    assert lines == ["converting ep: 1/100 messages (1%)", "converting ep: 100/100 messages (100%)"]


def test_end_line_closes_a_pass_that_stopped_early():
    stream = _Terminal()
    progress = StderrProgress(stream, interval_s=0.0)
    progress(Path("ep"), "validating", 1, 10)
    progress.end_line()
    assert stream.getvalue().endswith("\n")
