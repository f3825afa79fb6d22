import numpy as np
import pytest

from positronic_core.dataset.sample_text import sample_from_json, sample_to_json


def test_samples_round_trip_with_their_kind_of_number():
    assert sample_from_json(sample_to_json("inference.idle", 1, 5)) == ("inference.idle", 1, 5)
    name, value, ts = sample_from_json(sample_to_json("inference.latency_ms", np.float64(12.5), 7))
    assert (name, value, ts) == ("inference.latency_ms", 12.5, 7)
    name, value, ts = sample_from_json(sample_to_json("inference.chunk", np.arange(6) / 4, 9))
    assert name == "inference.chunk" and ts == 9 and np.array_equal(value, np.arange(6) / 4)


@pytest.mark.parametrize("text, problem", [
    ("nope", "not JSON"),
    ('{"ts_ns": 1, "value": 1}', "'signal' name"),
    ('{"signal": "a", "value": 1}', "integer 'ts_ns'"),
    ('{"signal": "a", "ts_ns": 1, "value": "x"}', "not a number"),
    ('{"signal": "a", "ts_ns": 1, "value": [1, "x"]}', "not a list of numbers"),
])
def test_bad_text_is_named(text, problem):
    with pytest.raises(ValueError, match=problem):
        sample_from_json(text)


def test_only_numbers_are_carried():
    with pytest.raises(ValueError, match="not numeric"):
        sample_to_json("image.wrist", np.array(["a"]), 0)
