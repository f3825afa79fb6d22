"""`positronic-eval sweep` from its flags to its exit, with the model list and the pool stubbed (a real server and
real workers are in test/system/test_sweep.py)."""

from __future__ import annotations

from positronic_core.dataset.writer import DatasetWriter
from positronic_core.evaluate import cli as eval_cli
from positronic_core.evaluate.sweep import pools
from positronic_core.evaluate.sweep.conditions import RECORD_FILE, check_and_record
from positronic_core.evaluate.sweep.plan import EpisodeSettings, ModelSource

ARGS = ["--server=127.0.0.1:1", "--episodes=2", "--camera_width=64", "--camera_height=48", "--cameras=image.wrist"]


def test_a_rerun_under_other_simulation_flags_is_one_line_and_nothing_runs(tmp_path, monkeypatch, capsys):
    def no_pool(*args, **kwargs):
        raise AssertionError("the refused sweep made a pool")

    monkeypatch.setattr(ModelSource, "list_models", lambda self: ["a", "b"])
    monkeypatch.setattr(pools, "LocalPool", no_pool)
    out = tmp_path / "sweep"
    check_and_record(out, EpisodeSettings(simulation_time=1.0, camera_width=64, camera_height=48,
                                          cameras=("image.wrist",)))
    writer = DatasetWriter(out / "a").new_episode()
    writer.append("grip", 0.0, 1)
    writer.finish()
    record = (out / RECORD_FILE).read_text()
    code = eval_cli.main(["sweep", f"--output_dir={out}", "--driver.simulation_time=2", *ARGS])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == (
        f"positronic-eval sweep: error: {out} holds episodes recorded under other simulation flags "
        "(--driver.simulation_time was 1.0, now 2.0): give the original flags to resume, or a new --output_dir\n")
    assert (out / RECORD_FILE).read_text() == record
