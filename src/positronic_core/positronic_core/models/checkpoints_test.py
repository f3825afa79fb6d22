"""Checkpoint ids in LeRobot's training layout: listing, latest, padding, and refusals that name what exists."""

import pytest

from positronic_core.models.checkpoints import OPENPI_LAYOUT, CheckpointLayout, CheckpointRegistry
from positronic_core.models.errors import UnknownModelError


def _steps(root, *steps):
    for step in steps:
        (root / step / "pretrained_model").mkdir(parents=True)
    return root


def test_ids_sort_numerically_and_latest_is_the_highest(tmp_path):
    registry = CheckpointRegistry(_steps(tmp_path / "checkpoints", "900", "010000", "002000").parent)
    assert registry.list_models() == ["900", "002000", "010000"]
    assert registry.resolve(None) == "010000"
    assert registry.path("10000") == tmp_path / "checkpoints" / "010000" / "pretrained_model"


def test_a_step_without_a_model_and_other_names_are_not_ids(tmp_path):
    _steps(tmp_path, "001000")
    (tmp_path / "002000").mkdir()
    (tmp_path / "last" / "pretrained_model").mkdir(parents=True)
    assert CheckpointRegistry(tmp_path).list_models() == ["001000"]


def test_latest_follows_new_checkpoints(tmp_path):
    registry = CheckpointRegistry(_steps(tmp_path, "001000"))
    _steps(tmp_path, "002000")
    assert registry.resolve(None) == "002000"


def test_unknown_id_names_the_available_ids_before_the_directory(tmp_path):
    registry = CheckpointRegistry(_steps(tmp_path, "001000", "002000"))
    with pytest.raises(UnknownModelError) as refused:
        registry.resolve("5")
    assert str(refused.value).startswith("checkpoint '5' not found; available: 001000, 002000 (in ")


def test_a_pinned_default_must_exist_and_an_empty_directory_says_what_it_expects(tmp_path):
    with pytest.raises(UnknownModelError, match="'7' not found"):
        CheckpointRegistry(_steps(tmp_path / "run", "001000"), default_checkpoint="7")
    with pytest.raises(UnknownModelError, match="no checkpoints under .*<step>/pretrained_model/"):
        CheckpointRegistry(tmp_path / "run" / "001000").resolve(None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CheckpointRegistry(tmp_path / "missing")


def test_openpi_layout_lists_bare_step_directories(tmp_path):
    for step in ("2000", "10000"):
        (tmp_path / step / "params").mkdir(parents=True)
    (tmp_path / "wandb").mkdir()
    (tmp_path / "3000").write_text("a file, not a checkpoint")
    registry = CheckpointRegistry(tmp_path, layout=OPENPI_LAYOUT)
    assert registry.list_models() == ["2000", "10000"]
    assert registry.path("10000") == tmp_path / "10000"
    with pytest.raises(UnknownModelError, match=r"expected <step>/ \(openpi"):
        CheckpointRegistry(tmp_path / "wandb", layout=OPENPI_LAYOUT).resolve(None)


def test_a_layout_with_a_prefix_strips_it_from_the_ids(tmp_path):
    layout = CheckpointLayout("checkpoint-<N>/", prefix="checkpoint-")
    for name in ("checkpoint-500", "checkpoint-1500", "runs"):
        (tmp_path / name).mkdir()
    registry = CheckpointRegistry(tmp_path, layout=layout)
    assert registry.list_models() == ["500", "1500"]
    assert registry.path("500") == tmp_path / "checkpoint-500"
