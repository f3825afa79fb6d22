"""The report chart keeps every label whole and inside the image, however long the group values are."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from positronic_core.evaluate import charts, difference_chart
from positronic_core.evaluate.model_comparison import ModelComparison, compare_models
from positronic_core.evaluate.report import GroupStats
from positronic_core.evaluate.trials import Trial

LONG = "Pick up the green cube and place it on the red cube, then return the arm to its home pose."


def _stats() -> list[GroupStats]:
    groups = [{"model": "lerobot_act", "checkpoint": "010000", "task": LONG},
              {"model": "lerobot_act", "checkpoint": "020000", "task": LONG},
              {"model": "a_model_name_without_any_spaces_" * 4, "checkpoint": "1", "task": "short"},
              {"model": "scripted", "checkpoint": "", "task": "t"}]
    stats = []
    for i, group in enumerate(groups):
        s = GroupStats(group=group, runs=10, scored=10 if i < 3 else 0, successes=[10, 0, 5, 0][i])
        if s.scored:
            s.success_rate, s.ci_low, s.ci_high = s.successes / 10, max(0.0, s.successes / 10 - 0.3), 1.0
        stats.append(s)
    return stats


def test_png_keeps_labels_and_values_inside_its_margins(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    charts.write_png(path, _stats(), scale=2)
    with Image.open(path) as image:
        ink = np.asarray(image.convert("L")) < 250
    columns = np.flatnonzero(ink.any(axis=0))
    rows = np.flatnonzero(ink.any(axis=1))
    margin = charts.PAD * 2 - 4  # PAD at scale 2, less antialiasing
    assert columns[0] >= margin and columns[-1] < ink.shape[1] - margin
    assert rows[0] >= margin and rows[-1] < ink.shape[0] - margin // 2


def test_labels_wrap_instead_of_being_cut() -> None:
    svg = charts.svg_chart(_stats())
    texts = [re.sub("&amp;", "&", t) for t in re.findall(r'text-anchor="end">([^<]*)<', svg)]
    assert "…" not in "".join(texts)
    joined = " / ".join(texts).replace(" /  / ", " / ")
    for s in _stats():
        for value in s.group.values():
            assert value.replace(" ", "") in joined.replace(" ", "").replace("/", ""), value
    width = float(re.search(r'width="([\d.]+)"', svg).group(1))
    x0 = float(re.search(r'<rect x="([\d.]+)"', svg).group(1))
    assert x0 - 8 - max(charts._svg_measure(t, charts.FONT_PX) for t in texts) >= charts.PAD
    assert width >= x0 + charts.PLOT_W + 8 + charts._svg_measure("100% (10/10)", charts.FONT_PX) + charts.PAD


def _models() -> ModelComparison:
    trials = [Trial(name, seed, bool((seed * (k + 1)) % 3), ((seed + k) % 5) / 4, "t")
              for k, name in enumerate(["lerobot_act:" + "checkpoint_with_a_long_name_" * 2, "scripted", "b"])
              for seed in range(12)]
    return compare_models(trials, resamples=200, rank_resamples=50)


def test_png_with_model_differences_keeps_everything_inside_its_margins(tmp_path: Path) -> None:
    path, plain = tmp_path / "chart.png", tmp_path / "plain.png"
    charts.write_png(path, _stats(), scale=2, models=_models())
    charts.write_png(plain, _stats(), scale=2)
    with Image.open(path) as image, Image.open(plain) as without:
        ink = np.asarray(image.convert("L")) < 250
        assert image.height > without.height
    columns = np.flatnonzero(ink.any(axis=0))
    margin = charts.PAD * 2 - 4
    assert columns[0] >= margin and columns[-1] < ink.shape[1] - margin
    assert np.flatnonzero(ink.any(axis=1))[-1] < ink.shape[0] - margin // 2


def test_difference_svg_draws_each_interval_where_its_bounds_are() -> None:
    models = _models()
    svg = difference_chart.difference_svg(models)
    _, _, x0 = difference_chart.size(models, difference_chart.svg_measure)
    paths = re.findall(r'<path d="M([\d.]+),([\d.]+) L([\d.]+),([\d.]+)" stroke="(#[0-9a-f]+)"', svg)
    whiskers = [(float(a), float(c), color) for a, b, c, d, color in paths if b == d]  # horizontal: the intervals
    expected = [(x0 + difference_chart.PLOT_W * (d.ci_low + 1) / 2, x0 + difference_chart.PLOT_W * (d.ci_high + 1) / 2,
                 difference_chart.METRIC_COLORS[d.metric])
                for pair in models.pairs for d in (pair.comparison.success, pair.comparison.progress)]
    assert len(whiskers) == len(expected) == 6
    for (lo, hi, color), (want_lo, want_hi, want_color) in zip(whiskers, expected, strict=True):
        assert (lo, hi, color) == (pytest.approx(want_lo, abs=0.06), pytest.approx(want_hi, abs=0.06), want_color)
