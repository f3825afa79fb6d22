"""End-to-end: bags built with rosbags (MCAP and SQLite), converted, and read back with our Dataset reader."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")

from synthetic_bags import (  # noqa: E402
    RECEIVE_OFFSETS_NS,
    TIMELINE_REQUEST_EVERY,
    BagSpec,
    frame_rgb,
    timeline_value,
    write_episode_bag,
)

from positronic_core.bags import ConversionError, convert_bags, validate_bags  # noqa: E402
from positronic_core.bags.bag_reader import available_backend  # noqa: E402
from positronic_core.dataset import Dataset  # noqa: E402
from positronic_core.dataset import writer as dataset_writer  # noqa: E402

METADATA = {
    "positronic.task": "Stack the green cube on the red cube.",
    "positronic.policy.type": "act",
    "positronic.policy.model_id": "act-sim-0042",
    "positronic.outcome": "success",
}
FULL_SPEC = dict(
    custom_data=METADATA,
    gripper_only_joint_states=True,
    duplicate_joint_state=True,
    late_frame=True,
    policy_stats=True,
    row_padding=2,
)


def _backends() -> list:
    params = [pytest.param("rosbags", id="rosbags")]
    try:
        available_backend("rosbag2_py")
        params.append(pytest.param("rosbag2_py", id="rosbag2_py", marks=pytest.mark.ros))
    except ValueError:
        skip = pytest.mark.skip("needs a full ROS 2 install: rosbag2_py is not importable (and not on PyPI)")
        params.append(pytest.param("rosbag2_py", id="rosbag2_py", marks=skip))
    return params


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def recorded(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"bags-{request.param}")
    spec = BagSpec(storage=request.param, **FULL_SPEC)
    truth = write_episode_bag(root / "episode_0", spec)
    return root / "episode_0", spec, truth


@pytest.fixture(scope="module")
def converted(recorded, tmp_path_factory):
    bag, spec, truth = recorded
    out = tmp_path_factory.mktemp("dataset")
    (report,) = convert_bags([bag], out, progress=False, backend="rosbags")
    dataset = Dataset(out)
    assert len(dataset) == 1
    return report, dataset[0], spec, truth


def test_joint_vectors_are_in_panda_order_at_header_stamps(converted):
    _, episode, _, truth = converted
    q = episode.signal("robot_state.q")
    np.testing.assert_allclose(q.values, truth.q)
    np.testing.assert_allclose(episode.signal("robot_state.dq").values, truth.dq)
    np.testing.assert_array_equal(q.timestamps, truth.stamps_ns)


def test_poses_have_quaternions_w_first(converted):
    _, episode, _, truth = converted
    ee_pose = episode.signal("robot_state.ee_pose").values
    np.testing.assert_allclose(ee_pose, truth.ee_pose)
    assert np.all(ee_pose[:, 3] > 0.85)  # w, the dominant component of the synthetic rotation, comes first
    np.testing.assert_allclose(episode.signal("robot_commands.pose").values, truth.command_pose)


def test_scalars_and_commands_use_receive_time_when_there_is_no_usable_stamp(converted):
    _, episode, _, truth = converted
    expected = {
        "grip": truth.grip,
        "target_grip": truth.target_grip,
        "box_distance": truth.box_distance,
        "stacking_success": truth.stacking_success,
    }
    for name, values in expected.items():
        signal = episode.signal(name)
        np.testing.assert_allclose(signal.values, values, rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(signal.timestamps, truth.received_ns + RECEIVE_OFFSETS_NS[name], err_msg=name)
    joints = episode.signal("robot_commands.joints")
    np.testing.assert_allclose(joints.values, truth.command_joints)
    np.testing.assert_array_equal(joints.timestamps, truth.received_ns + RECEIVE_OFFSETS_NS["robot_commands.joints"])


def test_video_frames_are_rgb_whatever_the_camera_encoding(converted):
    _, episode, spec, truth = converted
    assert episode.video_names == ["image.front", "image.wrist"]
    for camera, name in enumerate(spec.cameras):
        signal = episode.signal(f"image.{name}")
        np.testing.assert_array_equal(signal.timestamps, truth.stamps_ns)
        assert signal.frame_shape == (spec.height, spec.width, 3)
        frames = list(signal)
        assert len(frames) == spec.steps
        for step, frame in enumerate(frames):
            original = frame_rgb(step, camera, spec.width, spec.height).astype(np.int16)
            error = np.abs(frame.astype(np.int16) - original).mean()
            swapped = np.abs(frame.astype(np.int16) - original[..., ::-1]).mean()
            assert error < 6, (name, step, error)  # H.264 is lossy, but not this lossy
            assert swapped > 5 * error, (name, step, error, swapped)


def test_statics_come_from_custom_data(converted):
    _, episode, _, _ = converted
    static = episode.static
    assert static["task"] == METADATA["positronic.task"]
    assert static["inference.policy.type"] == "act"
    assert static["inference.policy.model_id"] == "act-sim-0042"
    assert static["eval.outcome"] == "success"
    assert static["ros.bag"] == "episode_0"


def test_report_counts_messages_frames_gaps_drops_and_skipped_topics(converted):
    report, episode, spec, _ = converted
    assert report.episode == episode.path
    assert report.topics["/joint_states"].messages == 2 * spec.steps + 1
    assert report.topics["/joint_states"].ignored == spec.steps  # the finger-only messages
    assert report.signals["robot_state.q"].duplicates == 1
    assert report.signals["image.front"].out_of_order == 1
    assert report.dropped == 3  # q, dq and the late frame
    assert report.frames == {"image.front": spec.steps, "image.wrist": spec.steps}
    assert report.signals["image.wrist"].frame_size == (spec.width, spec.height)
    period = round(1e9 / spec.rate_hz)
    assert report.topics["/ee_pose"].largest_gap_ns == period
    (skipped,) = report.skipped
    assert skipped.topic == "/policy/stats" and "unknown" in skipped.reason
    text = report.format()
    for expected in ("/joint_states", "image.front", "/policy/stats", "largest gap", "frames per camera"):
        assert expected in text


@pytest.mark.parametrize("backend", _backends())
def test_backends_agree(recorded, backend, tmp_path):
    bag, _, truth = recorded
    (report,) = convert_bags([bag], tmp_path, progress=False, backend=backend)
    assert report.backend == backend
    episode = Dataset(tmp_path)[0]
    np.testing.assert_allclose(episode.signal("robot_state.q").values, truth.q)
    assert episode.static["task"] == METADATA["positronic.task"]


def test_episode_metadata_topic_stands_in_for_custom_data(tmp_path):
    messages = [{"positronic.task": "pick", "policy": {"type": "remote", "server": {"checkpoint_id": "12"}}}]
    write_episode_bag(tmp_path / "bag", BagSpec(steps=3, metadata_messages=messages, commands=False))
    (report,) = validate_bags([tmp_path / "bag"], progress=False)
    assert report.statics["task"] == "pick"
    assert report.statics["inference.policy.type"] == "remote"
    assert report.statics["inference.policy.server.checkpoint_id"] == "12"


def test_episodes_append_after_existing_ones_and_progress_is_reported(tmp_path):
    bags = [tmp_path / "a", tmp_path / "b"]
    for bag in bags:
        write_episode_bag(bag, BagSpec(steps=3, commands=False, sim_observers=False))
    out = tmp_path / "out"
    convert_bags(bags[:1], out, progress=False)
    calls = []
    reports = convert_bags(bags, out, progress=lambda *args: calls.append(args))
    assert Dataset(out).ids == [0, 1, 2]
    assert [r.episode.name for r in reports] == ["000000000001", "000000000002"]
    finals = {(bag.name, phase) for bag, phase, done, total in calls if done == total}
    assert finals == {(b, p) for b in ("a", "b") for p in ("validating", "converting")}


def _listing(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


def _refused(bags, out) -> ConversionError:
    before = _listing(out)
    with pytest.raises(ConversionError) as caught:
        convert_bags(bags, out, progress=False)
    assert _listing(out) == before, "a refused batch must write nothing"
    return caught.value


def test_bag_without_joint_states_is_refused(tmp_path):
    write_episode_bag(tmp_path / "no_joints", BagSpec(steps=3, joint_states=False))
    error = _refused([tmp_path / "no_joints"], tmp_path / "out")
    assert "no_joints" in str(error) and "/joint_states" in str(error)


def test_bag_without_cameras_is_refused(tmp_path):
    write_episode_bag(tmp_path / "blind", BagSpec(steps=3, cameras={}))
    error = _refused([tmp_path / "blind"], tmp_path / "out")
    assert "blind" in str(error) and "camera" in str(error)


def test_joint_states_naming_no_arm_joint_are_refused(tmp_path):
    write_episode_bag(tmp_path / "fingers", BagSpec(steps=3, joint_names=("panda_finger_joint1",)))
    error = _refused([tmp_path / "fingers"], tmp_path / "out")
    assert "panda_joint1" in str(error)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_refuses_the_whole_batch(tmp_path, storage):
    good, cut = tmp_path / "good", tmp_path / "cut"
    write_episode_bag(good, BagSpec(steps=3, storage=storage))
    write_episode_bag(cut, BagSpec(steps=6, storage=storage))
    (storage_file,) = [p for p in cut.iterdir() if p.suffix in (".mcap", ".db3")]
    size = storage_file.stat().st_size
    with storage_file.open("r+b") as file:
        file.truncate(size * 2 // 3)
    out = tmp_path / "out"
    out.mkdir()
    error = _refused([good, cut], out)
    (failure,) = error.errors
    assert failure.bag == cut
    assert "truncated" in str(failure)
    assert Dataset(out).ids == []


def test_writer_failure_aborts_that_episode_and_keeps_earlier_ones(tmp_path, monkeypatch):
    bags = [tmp_path / "first", tmp_path / "second"]
    for bag in bags:
        write_episode_bag(bag, BagSpec(steps=4, commands=False, sim_observers=False))
    original = dataset_writer.EpisodeWriter.append
    appended = {"count": 0}

    def flaky_append(self, name, value, ts_ns):
        if self.id == 1:
            appended["count"] += 1
            if appended["count"] > 10:
                raise OSError("disk went away")
        original(self, name, value, ts_ns)

    monkeypatch.setattr(dataset_writer.EpisodeWriter, "append", flaky_append)
    out = tmp_path / "out"
    with pytest.raises(ConversionError) as caught:
        convert_bags(bags, out, progress=False)
    assert caught.value.errors[0].bag == bags[1]
    assert "disk went away" in str(caught.value)
    assert [r.bag for r in caught.value.converted] == [bags[0]]
    assert Dataset(out).ids == [0]
    assert not (out / "000000000000" / "000000000001").exists()


def test_a_bag_that_changes_between_the_passes_is_aborted(tmp_path, monkeypatch):
    from positronic_core.bags import convert

    bag, shorter = tmp_path / "bag", tmp_path / "shorter"
    write_episode_bag(bag, BagSpec(steps=4, commands=False, sim_observers=False))
    write_episode_bag(shorter, BagSpec(steps=3, commands=False, sim_observers=False))
    validate = convert._validate

    def validate_then_swap(path, progress, backend):
        plan = validate(path, progress, backend)
        (bag / "bag.mcap").write_bytes((shorter / "shorter.mcap").read_bytes())
        (bag / "metadata.yaml").write_text((shorter / "metadata.yaml").read_text().replace("shorter.mcap", "bag.mcap"))
        return plan

    monkeypatch.setattr(convert, "_validate", validate_then_swap)
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="changed between validation and conversion"):
        convert_bags([bag], out, progress=False)
    assert Dataset(out).ids == []
    assert list(out.rglob("*.mp4")) == []


def test_odd_frame_sizes_are_refused_before_anything_is_written(tmp_path):
    write_episode_bag(tmp_path / "odd", BagSpec(steps=2, width=63))
    error = _refused([tmp_path / "odd"], tmp_path / "out")
    assert "63x48" in str(error) and "odd size" in str(error)


def test_header_stamps_on_another_clock_are_warned_about(tmp_path):
    sim_time_offset = 1_000_000_000_000 - BagSpec().start_ns  # stamps start at 1000 s, receive times at 2023
    write_episode_bag(tmp_path / "bag", BagSpec(steps=3, header_clock_offset_ns=sim_time_offset))
    (report,) = validate_bags([tmp_path / "bag"], progress=False)
    (warning,) = [w for w in report.warnings if "receive times" in w]
    assert "/gripper/state" in warning and "use_sim_time" in warning
    (clean,) = validate_bags([_small_bag(tmp_path / "clean")], progress=False)
    assert not [w for w in clean.warnings if "receive times" in w]


def _small_bag(path: Path) -> Path:
    write_episode_bag(path, BagSpec(steps=3))
    return path


def test_the_policy_nodes_inference_timeline_becomes_the_same_signals_at_their_own_times(tmp_path):
    spec = BagSpec(timeline=True)
    truth = write_episode_bag(tmp_path / "bag", spec)
    convert_bags([tmp_path / "bag"], tmp_path / "out", progress=False, backend="rosbags")
    (episode,) = Dataset(tmp_path / "out")
    idle = episode.signal("inference.idle")
    assert np.array_equal(idle.timestamps, truth.stamps_ns)
    assert [int(v) for v in idle.values] == [timeline_value("inference.idle", s) for s in range(spec.steps)]
    asked = list(range(0, spec.steps, TIMELINE_REQUEST_EVERY))
    for name in ("inference.latency_ms", "inference.chunk_size", "inference.chunk"):
        signal = episode.signal(name)
        assert np.array_equal(signal.timestamps, truth.stamps_ns[asked]), name
    assert np.array_equal(episode.signal("inference.chunk").values[1], timeline_value("inference.chunk", 5))
    assert list(episode.signal("inference.latency_ms").values) == [20.0 + s for s in asked]
    # As an in-process run records them: the simulator's verdict and the inference counts.
    assert episode.static["inference.requests"] == len(asked)
    assert episode.static["inference.idle_ticks"] == sum(timeline_value("inference.idle", s) for s in range(spec.steps))
    assert episode.static["eval.auto_success"] is False  # stacking held for 2 ticks only
