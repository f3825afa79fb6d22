"""`validate-server` against a real policy server: per-model datasets on shared seeds, the plan, failures, flags."""

import socket
import subprocess
import sys
from pathlib import Path

import configuronic as cfn
import pytest

from positronic_core.cli.runner import build
from positronic_core.cli.validate_server import _quote_text_flags, main
from positronic_core.dataset import layout
from positronic_core.dataset.reader import Dataset
from positronic_core.evaluate.validate_server import directory_name, parse_model_ids, validate_server
from positronic_core.models.errors import UnknownModelError
from positronic_core.serve.backends.hold_pose import HoldPoseModel, HoldPoseSource
from positronic_core.serve.server import ServerConfig, running_server

pytestmark = pytest.mark.timeout(180)

FAST = ["--camera_width=96", "--camera_height=72", "--simulation_time=1"]


class FlakyModel(HoldPoseModel):
    """Answers `good_calls` requests, then every request fails on the server."""

    def __init__(self, good_calls: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.good_calls = good_calls

    def infer_batch(self, observations):
        if self.good_calls <= 0:
            raise RuntimeError("CUDA out of memory")
        self.good_calls -= 1
        return super().infer_batch(observations)


class TroubledSource(HoldPoseSource):
    """Hold-pose models, except ids in `broken` (loading raises) and in `flaky` (inference fails after a while)."""

    def __init__(self, model_ids, broken=(), flaky=None) -> None:
        super().__init__(model_ids, chunk_size=15)
        self.broken = set(broken)
        self.flaky = dict(flaky or {})

    def load(self, model_id, progress):
        if model_id in self.broken:
            raise OSError(f"checkpoint {model_id} is truncated")
        if model_id in self.flaky:
            self.loads.append(model_id)
            return FlakyModel(self.flaky[model_id], **self.model_kwargs)
        return super().load(model_id, progress)


def run_main(*args: str) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    return stopped.value.code


def episodes(path: Path) -> list:
    return list(Dataset(path))


def unfinished(path: Path) -> list[Path]:
    return [p for _, p in layout.episode_dirs(path) if not layout.is_finished(p)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_model_gets_its_own_dataset_on_the_same_seeds_and_a_report(tmp_path, capsys):
    out = tmp_path / "runs"
    with running_server(HoldPoseSource(["ckpt-1000", "ckpt-2000"], chunk_size=15), ServerConfig(port=0)) as server:
        code = run_main("--host=127.0.0.1", f"--port={server.port}", f"--output_dir={out}", "--episodes=2", *FAST)
        first = capsys.readouterr()
        assert code == 0, first.err
        assert sorted(p.name for p in out.iterdir()) == ["ckpt-1000", "ckpt-2000"]
        for model_id in ("ckpt-1000", "ckpt-2000"):
            recorded = episodes(out / model_id)
            assert [ep.static["simulation.seed"] for ep in recorded] == [0, 1]
            for ep in recorded:
                assert ep.static["inference.policy.server.model_id"] == model_id
                assert ep.static["inference.policy.server.checkpoint_id"] == model_id
                assert ep.static["inference.policy.model_id"] == model_id
                assert ep.static["eval.auto_success"] in (True, False)
        assert "[1/2] model ckpt-1000" in first.out and "[2/2] model ckpt-2000" in first.out
        assert "episode 1 seed=1" in first.out
        assert "95% CI" in first.out
        report_lines = [line for line in first.out.splitlines() if line.startswith("hold_pose")]
        assert len(report_lines) == 2 and "ckpt-1000" in report_lines[0] and "ckpt-2000" in report_lines[1]
        assert "Paired comparison on (task, seed): ckpt-1000 vs ckpt-2000" in first.out
        assert "pairs 2" in first.out

        # A second run appends to the model's dataset rather than replacing it.
        code = run_main("--host=127.0.0.1", f"--port={server.port}", f"--output_dir={out}", "--episodes=1",
                        "--seed=7", "--models=ckpt-2000", *FAST)
        second = capsys.readouterr()
        assert code == 0, second.err
    assert "appends to 2 existing episodes" in second.out
    assert [ep.static["simulation.seed"] for ep in episodes(out / "ckpt-2000")] == [0, 1, 7]
    assert len(episodes(out / "ckpt-1000")) == 2
    assert "Paired comparison" not in second.out


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "runs"
    source = HoldPoseSource(["a", "b"])
    with running_server(source, ServerConfig(port=0)) as server:
        code = run_main(f"--port={server.port}", f"--output_dir={out}", "--episodes=3", "--seed=4",
                        "--dry_run=True")
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 models, 3 episodes each (seeds 4..6" in printed
    assert f"[1/2] a -> {out / 'a'} (new dataset)" in printed and f"[2/2] b -> {out / 'b'}" in printed
    assert "nothing was run or written" in printed
    assert not out.exists()
    assert source.loads == []


def test_unreachable_server_is_named_and_nothing_is_written(tmp_path, capsys):
    out = tmp_path / "runs"
    port = free_port()
    code = run_main("--host=127.0.0.1", f"--port={port}", f"--output_dir={out}")
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot reach policy server at 127.0.0.1:{port}" in err and "nothing was run" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_model_that_cannot_load_stops_the_run(tmp_path, capsys):
    out = tmp_path / "runs"
    source = TroubledSource(["a", "bad", "c"], broken={"bad"})
    with running_server(source, ServerConfig(port=0)) as server:
        code = run_main(f"--port={server.port}", f"--output_dir={out}", "--episodes=1", *FAST)
    printed = capsys.readouterr()
    assert code == 1
    assert "model bad (2/3) failed" in printed.err and "checkpoint bad is truncated" in printed.err
    assert "--continue_on_error=True" in printed.err
    assert "FAILED bad" in printed.out and "not run: c" in printed.out
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    assert len(episodes(out / "a")) == 1
    assert "95% CI" in printed.out
    assert "c" not in source.loads


def test_continue_on_error_reports_the_failed_model_and_runs_the_rest(tmp_path, capsys):
    out = tmp_path / "runs"
    source = TroubledSource(["a", "bad", "c"], broken={"bad"})
    with running_server(source, ServerConfig(port=0)) as server:
        code = run_main(f"--port={server.port}", f"--output_dir={out}", "--episodes=1", "--continue_on_error=True",
                        *FAST)
    printed = capsys.readouterr()
    assert code == 1
    assert "model bad (2/3) failed" in printed.err
    assert "2 of 3 models completed" in printed.out and "FAILED bad" in printed.out
    assert sorted(p.name for p in out.iterdir()) == ["a", "c"]
    assert [len(episodes(out / m)) for m in ("a", "c")] == [1, 1]
    assert "Paired comparison on (task, seed): a vs c" in printed.out


def test_a_session_failing_mid_episode_keeps_earlier_episodes_and_discards_the_cut_one(tmp_path, capsys):
    out = tmp_path / "runs"
    # One 1 s episode with 15-action chunks at 15 fps asks twice; the third request (episode 2) fails.
    source = TroubledSource(["flaky", "b"], flaky={"flaky": 2})
    with running_server(source, ServerConfig(port=0)) as server:
        code = run_main(f"--port={server.port}", f"--output_dir={out}", "--episodes=2", *FAST)
    printed = capsys.readouterr()
    assert code == 1
    assert "model flaky (1/2) failed" in printed.err and "CUDA out of memory" in printed.err
    assert "episode 1 seed=1: stopped by an error at" in printed.out and "discarded" in printed.out
    assert "not run: b" in printed.out
    assert [ep.static["simulation.seed"] for ep in episodes(out / "flaky")] == [0]
    assert unfinished(out / "flaky") == []
    assert len(layout.episode_dirs(out / "flaky")) == 1
    assert not (out / "b").exists()


def test_a_session_refused_after_the_model_loaded_leaves_no_empty_episode(tmp_path, capsys):
    class VanishingSource(HoldPoseSource):
        """Serves the first session (validate-server's load check), then forgets the model."""

        def resolve(self, model_id):
            if self.loads:
                raise UnknownModelError(f"model {model_id!r} was deleted")
            return super().resolve(model_id)

    out = tmp_path / "runs"
    with running_server(VanishingSource(["a"], chunk_size=15), ServerConfig(port=0)) as server:
        code = run_main(f"--port={server.port}", f"--output_dir={out}", "--episodes=1", *FAST)
    printed = capsys.readouterr()
    assert code == 1
    assert "model a (1/1) failed" in printed.err and "was deleted" in printed.err
    assert layout.episode_dirs(out / "a") == []


def test_unknown_model_is_refused_naming_what_the_server_has(tmp_path, capsys):
    out = tmp_path / "runs"
    with running_server(HoldPoseSource(["a", "b"]), ServerConfig(port=0)) as server:
        code = run_main(f"--port={server.port}", f"--output_dir={out}", "--models=a,zzz")
    err = capsys.readouterr().err
    assert code == 2
    assert "zzz not listed by the policy server" in err and "it lists: a, b" in err
    assert not out.exists()


def test_bad_flag_values_are_refused_before_contacting_the_server(capsys):
    assert run_main("--port=1", "--episodes=5") == 2
    assert "--output_dir is required" in capsys.readouterr().err
    assert run_main("--port=1", "--output_dir=/tmp/x", "--episodes=0") == 2
    assert "--episodes must be at least 1" in capsys.readouterr().err


def test_unknown_flag_is_refused_and_help_lists_the_flags(tmp_path):
    command = [sys.executable, "-m", "positronic_core.cli.validate_server"]
    result = subprocess.run([*command, "--episdoes=3", f"--output_dir={tmp_path / 'runs'}"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown flag --episdoes" in result.stderr and "--episodes" in result.stderr
    assert not (tmp_path / "runs").exists()
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--host", "--port", "--output_dir", "--episodes", "--models", "--continue_on_error", "--dry_run",
                 "--seed", "--token", "--camera_width"):
        assert flag in result.stdout


def test_model_ids_stay_text_and_become_safe_directory_names():
    config = cfn.Config(validate_server)
    assert build(config, _quote_text_flags(["--models=1,2"])).kwargs["models"] == "1,2"
    assert build(config, _quote_text_flags(["--models=010000"])).kwargs["models"] == "010000"
    assert build(config, _quote_text_flags(["--episodes=3"])).kwargs["episodes"] == 3
    assert build(config, _quote_text_flags(["--models=None"])).kwargs["models"] is None
    assert parse_model_ids("1, 2,1") == ["1", "2"]
    assert parse_model_ids("['a', 'b']") == ["a", "b"]
    assert parse_model_ids(None) is None
    assert directory_name("org/act-1") == "org_act-1"
    assert directory_name("..") == "model-.."
    assert directory_name("000000001000") == "model-000000001000"
    assert directory_name("010000") == "010000"
