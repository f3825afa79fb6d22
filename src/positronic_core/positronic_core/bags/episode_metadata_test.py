import pytest

from positronic_core.bags.episode_metadata import episode_statics, flatten, parse_metadata_message, static_key


def test_keys_lose_the_prefix_and_policy_moves_under_inference():
    assert static_key("positronic.task") == "task"
    assert static_key("positronic.policy.type") == "inference.policy.type"
    assert static_key("positronic.policy.model_id") == "inference.policy.model_id"
    assert static_key("positronic.outcome") == "eval.outcome"
    assert static_key("positronic.notes") == "eval.notes"
    assert static_key("positronic.eval.seed") == "eval.seed"
    assert static_key("policy.type") == "inference.policy.type"


def test_nested_json_flattens_to_dotted_keys():
    assert flatten({"policy": {"type": "act", "server": {"checkpoint_id": "7"}}, "task": "t", "empty": {}}) == {
        "policy.type": "act",
        "policy.server.checkpoint_id": "7",
        "task": "t",
        "empty": {},
    }


def test_custom_data_wins_over_the_topic_and_foreign_keys_are_left_out():
    statics, notes = episode_statics(
        {"positronic.task": "stack", "positronic.policy.type": "act", "vendor.key": "x"},
        [{"task": "old", "positronic.seed": 3}, {"seed": 4, "policy": {"model_id": "m"}}],
    )
    assert statics == {"task": "stack", "seed": 4, "inference.policy.type": "act", "inference.policy.model_id": "m"}
    assert any("vendor.key" in note for note in notes)
    assert any("task" in note and "overrides" in note for note in notes)


def test_metadata_messages_must_be_json_objects():
    assert parse_metadata_message('{"task": "t"}') == {"task": "t"}
    with pytest.raises(ValueError, match="not JSON"):
        parse_metadata_message("task=t")
    with pytest.raises(ValueError, match="list"):
        parse_metadata_message("[1, 2]")
