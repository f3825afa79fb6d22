"""The report chart keeps every label whole and inside the image, however long the group values are."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from positronic_core.evaluate import charts
from positronic_core.evaluate.report import GroupStats

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
