from positronic_core.wording import plural


def test_counts_read_in_the_right_number():
    assert [plural(n, "episode") for n in (0, 1, 2)] == ["0 episodes", "1 episode", "2 episodes"]
    assert plural(2, "analysis", "analyses") == "2 analyses"
