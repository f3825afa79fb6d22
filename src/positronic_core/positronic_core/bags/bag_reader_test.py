import re
import shutil

import pytest

pytest.importorskip("rosbags")

from synthetic_bags import BagSpec, write_episode_bag  # noqa: E402

from positronic_core.bags.bag_reader import available_backend, open_bag  # noqa: E402
from positronic_core.bags.errors import BagError  # noqa: E402

SMALL = dict(steps=2, commands=False, sim_observers=False, custom_data={"positronic.task": "t"})


@pytest.fixture
def mcap_bag(tmp_path):
    write_episode_bag(tmp_path / "bag", BagSpec(**SMALL))
    return tmp_path / "bag"


def _storage_file(bag):
    (found,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
    return found


@pytest.mark.parametrize("keep", [0.5, 0.999, 20])
def test_mcap_cut_anywhere_is_reported_as_truncated(mcap_bag, keep):
    file = _storage_file(mcap_bag)
    size = file.stat().st_size
    with file.open("r+b") as handle:
        handle.truncate(int(size * keep) if keep < 1 else keep)
    with pytest.raises(BagError, match="truncated: it has no MCAP footer"):
        open_bag(mcap_bag, "rosbags")


def test_a_file_that_is_not_mcap_is_named(mcap_bag):
    _storage_file(mcap_bag).write_bytes(b"not an mcap file at all" * 10)
    with pytest.raises(BagError, match="not an MCAP file"):
        open_bag(mcap_bag, "rosbags")


def test_sqlite_cut_short_is_refused(tmp_path):
    write_episode_bag(tmp_path / "bag", BagSpec(storage="sqlite3", **SMALL))
    file = _storage_file(tmp_path / "bag")
    with file.open("r+b") as handle:
        handle.truncate(file.stat().st_size // 2)
    with pytest.raises(BagError, match="truncated or corrupt"):
        open_bag(tmp_path / "bag", "rosbags")


def test_bag_without_metadata_yaml_explains_reindex(mcap_bag):
    (mcap_bag / "metadata.yaml").unlink()
    with pytest.raises(BagError, match="no metadata.yaml.*reindex"):
        open_bag(mcap_bag, "rosbags")


def test_count_mismatch_with_metadata_is_caught_by_validation(mcap_bag):
    from positronic_core.bags import ConversionError, validate_bags

    metadata = mcap_bag / "metadata.yaml"
    text = metadata.read_text()
    # Claim one more /joint_states message than the storage file holds.
    text = re.sub(
        r"(- message_count: )(\d+)(\n    topic_metadata:\n      name: /joint_states)",
        lambda m: f"{m[1]}{int(m[2]) + 1}{m[3]}",
        text,
    )
    metadata.write_text(text)
    with pytest.raises(ConversionError, match="declares 3 messages but 2 could be read"):
        validate_bags([mcap_bag], progress=False, backend="rosbags")


def test_a_storage_file_beside_metadata_yaml_means_its_bag(mcap_bag):
    with open_bag(_storage_file(mcap_bag), "rosbags") as bag:
        assert bag.path == mcap_bag
        assert bag.custom_data == {"positronic.task": "t"}


def test_a_lone_storage_file_is_read_without_custom_data(mcap_bag, tmp_path):
    lone = tmp_path / "lone.mcap"
    shutil.copy(_storage_file(mcap_bag), lone)
    with open_bag(lone, "rosbags") as bag:
        assert bag.path == lone and bag.storage == "mcap"
        assert bag.custom_data == {}
        assert bag.topics["/joint_states"].count == 2
        assert sum(1 for _ in bag.messages(["/joint_states"])) == 2
        assert list(bag.messages([])) == []


def test_missing_paths_and_unknown_readers_are_errors(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        open_bag(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown bag reader"):
        available_backend("rosbag3")
    assert available_backend("rosbags") == "rosbags"
    assert available_backend("auto") in ("rosbags", "rosbag2_py")
