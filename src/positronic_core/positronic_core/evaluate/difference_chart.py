"""The paired differences between models as a forest plot: per pair, success and progress differences (A - B)
with their bootstrap intervals on one axis from -1 to +1, drawn once through a small canvas interface as inline SVG
(for the HTML report) or with Pillow (for the PNG)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont

from positronic_core.evaluate.model_comparison import ModelComparison
from positronic_core.evaluate.paired import METRICS

PAD, TITLE_H, LINE_H, ROW_GAP, PLOT_W, AXIS_H, LEGEND_H = 16, 30, 15, 12, 520, 24, 22
FONT_PX, TITLE_PX = 12, 14
METRIC_COLORS = {"success": "#4c8bf5", "progress": "#e8710a"}
INK, MUTED, GRID = "#1d2330", "#6a7384", "#dde1e8"

Measure = Callable[[str, int], float]


class Canvas(Protocol):
    def text(self, x: float, y: float, text: str, size: int, color: str, anchor: str, bold: bool = False) -> None:
        """anchor: "start", "middle" or "end", with y the text's baseline."""

    def line(self, points: list[tuple[float, float]], color: str, width: float) -> None: ...

    def dot(self, x: float, y: float, radius: float, color: str) -> None: ...


def _labels(result: ModelComparison) -> list[list[str]]:
    return [[pair.comparison.a, f"- {pair.comparison.b}"] for pair in result.pairs]


def title_of(result: ModelComparison) -> str:
    return f"Paired differences A - B ({100 * result.confidence:g}% paired bootstrap intervals)"


def size(result: ModelComparison, measure: Measure) -> tuple[float, float, float]:
    """(width, height, x of the plot's left edge)."""
    label_w = max((measure(line, FONT_PX) for lines in _labels(result) for line in lines), default=0.0)
    x0 = PAD + label_w + 12
    value_w = measure("+100.0% [+100.0%, +100.0%]", FONT_PX)
    rows = len(result.pairs) * (2 * LINE_H + ROW_GAP)
    width = max(x0 + PLOT_W + 8 + value_w + PAD, 2 * PAD + measure(title_of(result), TITLE_PX))
    return math.ceil(width), math.ceil(PAD + TITLE_H + LEGEND_H + rows + AXIS_H + PAD), x0


def draw(canvas: Canvas, result: ModelComparison, measure: Measure) -> None:
    _, height, x0 = size(result, measure)

    def x_of(value: float) -> float:
        return x0 + PLOT_W * (value + 1.0) / 2.0

    canvas.text(PAD, PAD + 12, title_of(result), TITLE_PX, INK, "start", bold=True)
    legend_y = PAD + TITLE_H + 4
    x = x0
    for metric in METRICS:
        canvas.dot(x + 4, legend_y - 4, 4, METRIC_COLORS[metric])
        label = "success rate" if metric == "success" else "progress (partial credit)"
        canvas.text(x + 14, legend_y, label, FONT_PX, INK, "start")
        x += 14 + measure(label, FONT_PX) + 24
    top = PAD + TITLE_H + LEGEND_H
    axis_y = height - PAD - 4
    for tick in (-1.0, -0.5, 0.0, 0.5, 1.0):
        canvas.line([(x_of(tick), top - 4), (x_of(tick), axis_y - 14)], INK if tick == 0 else GRID, 1)
        canvas.text(x_of(tick), axis_y, f"{tick:+g}" if tick else "0", FONT_PX, MUTED, "middle")
    y = top
    for pair, lines in zip(result.pairs, _labels(result), strict=True):
        for k, line in enumerate(lines):
            canvas.text(x0 - 8, y + LINE_H * (k + 1) - 3, line, FONT_PX, INK, "end")
        for k, metric in enumerate(METRICS):
            d = pair.comparison.metric(metric)
            mid = y + LINE_H * k + LINE_H / 2
            color = METRIC_COLORS[metric]
            lo, hi = x_of(d.ci_low), x_of(d.ci_high)
            canvas.line([(lo, mid), (hi, mid)], color, 2)
            canvas.line([(lo, mid - 4), (lo, mid + 4)], color, 2)
            canvas.line([(hi, mid - 4), (hi, mid + 4)], color, 2)
            canvas.dot(x_of(d.difference), mid, 4, color)
            if metric == "success":
                text = f"{100 * d.difference:+.1f}% [{100 * d.ci_low:+.1f}%, {100 * d.ci_high:+.1f}%]"
            else:
                text = f"{d.difference:+.2f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}]"
            canvas.text(x0 + PLOT_W + 8, mid + 4, text, FONT_PX, color, "start")
        y += 2 * LINE_H + ROW_GAP


class SvgCanvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, x: float, y: float, text: str, size: int, color: str, anchor: str, bold: bool = False) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" '
                          f'text-anchor="{anchor}"{weight}>{html.escape(text)}</text>')

    def line(self, points: list[tuple[float, float]], color: str, width: float) -> None:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        self.parts.append(f'<path d="{path}" stroke="{color}" stroke-width="{width}" fill="none"/>')

    def dot(self, x: float, y: float, radius: float, color: str) -> None:
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}"/>')


def svg_measure(text: str, size: int) -> float:
    return 0.62 * size * len(text)  # as charts._svg_measure: wide enough for DejaVu Sans


def difference_svg(result: ModelComparison) -> str:
    width, height, _ = size(result, svg_measure)
    canvas = SvgCanvas()
    draw(canvas, result, svg_measure)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" font-family="sans-serif">' + "".join(canvas.parts) + "</svg>")


class PillowCanvas:
    _ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}

    def __init__(self, image: Image.Image, fonts: dict[int, ImageFont.ImageFont], scale: int) -> None:
        self.draw, self.fonts, self.scale = ImageDraw.Draw(image), fonts, scale

    def _s(self, v: float) -> int:
        return round(v * self.scale)

    def text(self, x: float, y: float, text: str, size: int, color: str, anchor: str, bold: bool = False) -> None:
        self.draw.text((self._s(x), self._s(y)), text, fill=color, font=self.fonts[size],
                       anchor=self._ANCHORS[anchor])

    def line(self, points: list[tuple[float, float]], color: str, width: float) -> None:
        self.draw.line([(self._s(x), self._s(y)) for x, y in points], fill=color, width=max(1, self._s(width)))

    def dot(self, x: float, y: float, radius: float, color: str) -> None:
        r = radius * self.scale
        self.draw.ellipse([self._s(x) - r, self._s(y) - r, self._s(x) + r, self._s(y) + r], fill=color)


def difference_image(result: ModelComparison, font: Callable[[int], ImageFont.ImageFont], scale: int) -> Image.Image:
    """The chart as a Pillow image drawn at `scale`; `font(px)` gives the font for a pixel size."""
    fonts = {FONT_PX: font(FONT_PX * scale), TITLE_PX: font(TITLE_PX * scale)}

    def measure(text: str, size_px: int) -> float:
        return fonts[size_px].getlength(text) / scale

    width, height, _ = size(result, measure)
    image = Image.new("RGB", (round(width * scale), round(height * scale)), "white")
    draw(PillowCanvas(image, fonts, scale), result, measure)
    return image
