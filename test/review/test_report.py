"""`positronic-eval report`: grouping, manual overrides, paired comparison, and every output format."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from synthetic_dataset import write_synthetic_dataset

from positronic_core.dataset import Dataset
from positronic_core.evaluate import cli, report
from positronic_core.evaluate.stats import mcnemar_exact, wilson_interval
from positronic_core.runs.score_log import Score, ScoreLog


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    write_synthetic_dataset(root / "a", 16, ticks=12, seeds=8, seed=3)
    write_synthetic_dataset(root / "b", 8, ticks=12, seeds=4, record_verdict=False, seed=4)
    return root


def test_groups_count_and_match_the_recorded_verdicts(evaluation: Path) -> None:
    rows = report.load_rows(evaluation)
    assert len(rows) == 24
    stats = report.summarize(rows, ["checkpoint"])
    assert [s.group["checkpoint"] for s in stats] == ["10000", "20000"]
    for s in stats:
        members = [r for r in rows if r["checkpoint"] == s.group["checkpoint"]]
        successes = sum(r["outcome"] == "success" for r in members)
        assert (s.runs, s.scored, s.successes) == (12, 12, successes)
        assert (s.ci_low, s.ci_high) == wilson_interval(successes, 12)
        assert s.partial_credit == pytest.approx(successes / 12)
        assert sum(s.failure_modes.values()) == 12 - successes
    recorded = [ep.static["eval.auto_success"] for ep in Dataset(evaluation / "a")]
    from_rows = [r["outcome"] == "success" for r in rows if r["dataset"] == "a"]
    assert recorded == from_rows


def test_a_manual_score_overrides_and_feeds_partial_credit(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, 4, ticks=12, checkpoints=("c",), seeds=4, success_rate=0.0, seed=5)
    rows = report.load_rows(tmp_path)
    assert all(r["outcome"] == "failure" for r in rows)
    log = ScoreLog(tmp_path)
    log.append(rows[0]["key"], Score("partial", 1, 4, "slipped"))
    log.append(rows[1]["key"], Score("success"))
    stats = report.summarize(report.load_rows(tmp_path), [])[0]
    assert (stats.successes, stats.partials, stats.failures, stats.manual) == (1, 1, 2, 2)
    assert stats.partial_credit == pytest.approx((0.25 + 1 + 0 + 0) / 4)
    assert stats.items_successful == 1 and stats.items_total == 4
    assert stats.failure_modes == {"(untagged)": 2, "slipped": 1}


def test_paired_comparison(tmp_path: Path) -> None:
    def row(index: int, checkpoint: str, seed: int, outcome: str) -> dict:
        return {"index": index, "checkpoint": checkpoint, "model": "act", "task": "t", "seed": seed,
                "outcome": outcome, "created_ts_ns": index}

    pattern = [("success", "failure")] * 6 + [("failure", "success")] + [("success", "success")] * 3 + \
        [("failure", "failure")] * 2
    rows = []
    for seed, (a, b) in enumerate(pattern):
        rows += [row(2 * seed, "A", seed, a), row(2 * seed + 1, "B", seed, b)]
    rows.append(row(100, "A", 99, "success"))  # no partner
    rows.append(row(101, "B", 0, "success"))  # B reran seed 0: the latest run counts
    c = report.compare(rows, "A", "act:B")
    assert (c.pairs, c.both_success, c.only_a, c.only_b, c.neither) == (12, 4, 5, 1, 2)
    assert c.p_value == mcnemar_exact(5, 1)
    assert (c.unpaired_a, c.unpaired_b, c.duplicates_ignored) == (1, 0, 1)
    with pytest.raises(ValueError, match="'C'"):
        report.compare(rows, "A", "C")


def test_cli_outputs(evaluation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html, png = tmp_path / "r.html", tmp_path / "r.png"
    assert cli.main(["report", str(evaluation), "--by=model,checkpoint", "--html", str(html), "--png", str(png),
                     "--compare", "10000", "20000"]) == 0
    text = capsys.readouterr().out
    assert "24 episodes" in text and "exact McNemar" in text and "10000" in text
    assert f"wrote the HTML report to {html.resolve()}" in text and f"wrote the chart to {png.resolve()}" in text
    page = html.read_text()
    assert "<svg" in page and "Paired comparison" in page and "http" not in page.replace("http://www.w3.org", "")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 800
    assert cli.main(["report", str(evaluation), "--by=task", "--json", "--png", str(png)]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)  # stdout stays pure JSON; the note about the PNG goes to stderr
    assert err.strip() == f"wrote the chart to {png.resolve()}"
    assert data["by"] == ["task"] and sum(g["runs"] for g in data["groups"]) == 24
    assert cli.main(["report", str(evaluation), "--csv", "--by=checkpoint"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["checkpoint"] for r in table] == ["10000", "20000"] and all(r["runs"] == "12" for r in table)


def test_cli_errors(evaluation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(evaluation), "--by=colour"]) == 2
    assert "cannot group by colour" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    assert cli.main(["report", str(tmp_path)]) == 1
    assert cli.main(["report", str(evaluation), "--compare", "10000", "nope"]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_counts_are_written_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_synthetic_dataset(tmp_path, 1, ticks=12, seed=6)
    assert cli.main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"1 episode under {tmp_path}, 1 with an outcome")
    assert report.counted(0, "clip") == "0 clips" and report.counted(2, "repeated run") == "2 repeated runs"


def test_unwritable_figures_fail_in_one_line(evaluation: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(evaluation), "--png", str(tmp_path / "missing" / "r.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("positronic-eval: error: cannot write") and "missing" in err


def test_output_into_a_closed_pipe_exits_quietly(evaluation: Path, tmp_path: Path) -> None:
    """`positronic-eval report | head` must not end in a BrokenPipeError traceback, nor lose the figures."""
    png = tmp_path / "r.png"
    process = subprocess.Popen([sys.executable, "-m", "positronic_core.evaluate.cli", "report", str(evaluation),
                                "--by=seed", "--png", str(png)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)})
    process.stdout.close()  # the reader is gone before anything is written
    _, err = process.communicate(timeout=120)
    assert err == b"" and process.returncode == 128 + signal.SIGPIPE
    assert png.stat().st_size > 0


@pytest.fixture(scope="module")
def three_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three checkpoints on the same 16 seeds: clearly good, middling, clearly bad; a few partial scores."""
    root = tmp_path_factory.mktemp("models")
    for name, rate, seed in (("good", 0.95, 11), ("mid", 0.5, 12), ("bad", 0.05, 13)):
        write_synthetic_dataset(root / name, 16, ticks=8, checkpoints=(name,), seeds=16, success_rate=rate,
                                minimal=True, seed=seed)
    bad = [r for r in report.load_rows(root / "bad") if r["outcome"] == "failure"]
    log = ScoreLog(root / "bad")
    for row in bad[:3]:
        log.append(row["key"], Score("partial", 1, 3))
    return root


def test_several_models_get_paired_comparisons_and_a_ranking(three_models: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    html, png, plain_png = tmp_path / "r.html", tmp_path / "r.png", tmp_path / "plain.png"
    assert cli.main(["report", str(three_models), "--by=checkpoint", "--resamples=2000", "--html", str(html),
                     "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "Paired comparison of 3 models" in text and "Holm over all 6 tests" in text
    assert any(line.split()[:2] == ["lerobot_act:good", "lerobot_act:bad"] for line in text.splitlines())
    assert "lerobot_act:good vs lerobot_act:bad: separated by" in text
    ranking = text[text.index("Ranking: Bradley-Terry"):].splitlines()
    assert [line.split()[0] for line in ranking[3:6]] == ["lerobot_act:good", "lerobot_act:mid", "lerobot_act:bad"]
    page = html.read_text()
    assert "Paired differences A - B (95% paired bootstrap intervals)" in page
    assert page.count("<circle") == 2 + 3 * 2  # legend, and one point per metric per pair
    from positronic_core.evaluate import charts

    charts.write_png(plain_png, report.summarize(report.load_rows(three_models), ["checkpoint"]))
    with Image.open(png) as with_models, Image.open(plain_png) as plain:
        assert with_models.height > plain.height + 100


def _signed_rank_by_enumeration(diffs: list[float]) -> float:
    """Two-sided Wilcoxon signed-rank p by enumerating every sign flip, ranks from scipy (ties averaged)."""
    import itertools

    import numpy as np
    from scipy.stats import rankdata

    d = np.array([x for x in diffs if abs(x) > 1e-9])
    if len(d) == 0:
        return 1.0
    ranks = rankdata(np.round(np.abs(d), 9))
    observed = ranks[d > 0].sum()
    sums = np.array(list(itertools.product((0.0, 1.0), repeat=len(d)))) @ ranks
    return min(1.0, 2 * min(np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9)))


def test_model_comparison_json_matches_statsmodels_and_enumeration_on_the_rows(three_models: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: the report's numbers recomputed from the rows by independent libraries."""
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests

    assert cli.main(["report", str(three_models), "--json", "--resamples=500"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert sorted(models["models"]) == ["lerobot_act:bad", "lerobot_act:good", "lerobot_act:mid"]
    rows = {(r["checkpoint"], r["seed"]): r for r in report.load_rows(three_models)}
    raw = []
    for pair in models["pairs"]:
        a, b = (name.split(":")[1] for name in (pair["a"], pair["b"]))
        seeds = sorted(seed for checkpoint, seed in rows if checkpoint == a)
        both = Counter((rows[a, s]["outcome"] == "success", rows[b, s]["outcome"] == "success") for s in seeds)
        table = [[both[True, True], both[True, False]], [both[False, True], both[False, False]]]
        assert pair["success"]["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9)
        diffs = [rows[a, s]["score"] - rows[b, s]["score"] for s in seeds]
        assert pair["progress"]["p_value"] == pytest.approx(_signed_rank_by_enumeration(diffs), rel=1e-9)
        assert pair["progress"]["difference"] == pytest.approx(sum(diffs) / len(diffs))
        raw += [pair["success"]["p_value"], pair["progress"]["p_value"]]
    holm = [p for pair in models["pairs"] for p in (pair["success"]["p_holm"], pair["progress"]["p_holm"])]
    assert holm == pytest.approx(list(multipletests(raw, method="holm")[1]), abs=1e-12)
    good_bad = next(p for p in models["pairs"] if {p["a"], p["b"]} == {"lerobot_act:good", "lerobot_act:bad"})
    assert good_bad["a"] == "lerobot_act:good" and good_bad["separated_by"] in ("success", "progress")
    assert good_bad["success"]["ci_low"] > 0


def test_one_model_gets_no_model_comparison(evaluation: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_synthetic_dataset(tmp_path, 4, ticks=8, checkpoints=("only",), seeds=4, minimal=True)
    assert cli.main(["report", str(tmp_path), "--json"]) == 0
    assert "models" not in json.loads(capsys.readouterr().out)
    assert cli.main(["report", str(evaluation), "--resamples=0"]) == 2
    assert capsys.readouterr().err.strip() == "positronic-eval: error: --resamples must be at least 1, got 0"
