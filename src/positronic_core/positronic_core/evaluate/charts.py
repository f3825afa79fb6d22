"""Report figures: success rate per group with its Wilson interval and, when several models ran shared seeds, their
paired differences with bootstrap intervals (`difference_chart`), as a self-contained HTML page (inline SVG, no
scripts or remote assets) or a PNG drawn with Pillow."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from positronic_core.evaluate.comparison_text import format_model_comparison
from positronic_core.evaluate.difference_chart import difference_image, difference_svg
from positronic_core.evaluate.model_comparison import ModelComparison
from positronic_core.evaluate.report import Comparison, GroupStats, format_comparison, format_table

BAR_H, GAP, PLOT_W, PAD, LINE_H, TITLE_H, AXIS_H = 22, 10, 520, 16, 15, 30, 24
MAX_LABEL_W = 440  # a longer label wraps onto more lines: at " / " between group values, else between words
FONT_PX, TITLE_PX = 12, 14
COLORS = {"bar": "#4c8bf5", "ci": "#1d2330", "grid": "#dde1e8", "text": "#1d2330", "muted": "#6a7384"}
TITLE = "Success rate (95% Wilson interval)"

Measure = Callable[[str, int], float]  # (text, font px) -> width in px


@dataclass
class _Row:
    stats: GroupStats
    lines: list[str]
    top: float
    height: float

    @property
    def mid(self) -> float:
        return self.top + self.height / 2

    @property
    def value_text(self) -> str:
        return f"{100 * self.stats.success_rate:.0f}% ({self.stats.successes}/{self.stats.scored})"


@dataclass
class _Layout:
    """Where everything goes, sized from the measured text so no label or value is cut off."""

    width: float
    height: float
    x0: float  # left edge of the plot
    rows: list[_Row]

    @property
    def axis_y(self) -> float:
        return self.height - PAD - 4


def _layout(stats: list[GroupStats], measure: Measure, title: str) -> _Layout:
    wrapped = [_wrap(s.label, measure) for s in stats]
    label_w = max((measure(line, FONT_PX) for lines in wrapped for line in lines), default=0.0)
    value_w = max([measure("100% (00/00)", FONT_PX)] + [measure(f"100% ({s.successes}/{s.scored})", FONT_PX)
                                                         for s in stats] + [measure("unscored", FONT_PX)])
    x0 = PAD + label_w + 12
    rows, y = [], PAD + TITLE_H
    for s, lines in zip(stats, wrapped, strict=True):
        height = max(BAR_H, len(lines) * LINE_H + 4)
        rows.append(_Row(s, lines, y, height))
        y += height + GAP
    width = max(x0 + PLOT_W + 8 + value_w + PAD, PAD * 2 + measure(title, TITLE_PX))
    return _Layout(width=math.ceil(width), height=math.ceil(y + AXIS_H + PAD - GAP), x0=x0, rows=rows)


def _wrap(label: str, measure: Measure) -> list[str]:
    lines: list[str] = []
    for part in label.split(" / "):
        joined = f"{lines[-1]} / {part}" if lines else part
        if lines and measure(joined, FONT_PX) <= MAX_LABEL_W:
            lines[-1] = joined
            continue
        while measure(part, FONT_PX) > MAX_LABEL_W:  # one value wider than the column: break it between words
            cut = max((i for i in range(2, len(part)) if measure(part[:i], FONT_PX) <= MAX_LABEL_W), default=1)
            space = part.rfind(" ", 0, cut + 1)
            cut = space + 1 if space > 0 else cut  # or anywhere, when one word is that long
            lines.append(part[:cut].rstrip())
            part = part[cut:]
        lines.append(part)
    return lines or [""]


def _svg_measure(text: str, size: int) -> float:
    # The browser picks the sans-serif font; 0.62 em per character covers DejaVu Sans, the widest common default.
    return 0.62 * size * len(text)


def svg_chart(stats: list[GroupStats], title: str = TITLE) -> str:
    layout = _layout(stats, _svg_measure, title)
    width, height, x0 = layout.width, layout.height, layout.x0
    top = PAD + TITLE_H
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{FONT_PX}">',
             f'<text x="{PAD}" y="{PAD + 12}" font-size="{TITLE_PX}" font-weight="bold">{html.escape(title)}</text>']
    for tick in range(0, 101, 20):
        x = x0 + PLOT_W * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{layout.axis_y - 14}" '
                     f'stroke="{COLORS["grid"]}"/>')
        parts.append(f'<text x="{x:.1f}" y="{layout.axis_y}" text-anchor="middle" fill="{COLORS["muted"]}">'
                     f'{tick}%</text>')
    for row in layout.rows:
        s, mid = row.stats, row.mid
        first = mid - (len(row.lines) - 1) * LINE_H / 2 + 4
        for k, line in enumerate(row.lines):
            parts.append(f'<text x="{x0 - 8:.1f}" y="{first + k * LINE_H:.1f}" text-anchor="end">'
                         f'{html.escape(line)}</text>')
        if s.success_rate is None:
            parts.append(f'<text x="{x0 + 4:.1f}" y="{mid + 4:.1f}" fill="{COLORS["muted"]}">unscored</text>')
            continue
        bar_top = mid - BAR_H / 2
        parts.append(f'<rect x="{x0:.1f}" y="{bar_top:.1f}" width="{PLOT_W * s.success_rate:.1f}" height="{BAR_H}" '
                     f'fill="{COLORS["bar"]}"/>')
        lo, hi = x0 + PLOT_W * s.ci_low, x0 + PLOT_W * s.ci_high
        parts.append(f'<path d="M{lo:.1f},{mid:.1f} H{hi:.1f} M{lo:.1f},{mid - 6:.1f} V{mid + 6:.1f} '
                     f'M{hi:.1f},{mid - 6:.1f} V{mid + 6:.1f}" stroke="{COLORS["ci"]}" stroke-width="1.5" '
                     'fill="none"/>')
        parts.append(f'<text x="{x0 + PLOT_W + 8:.1f}" y="{mid + 4:.1f}">{row.value_text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_html(path: Path, stats: list[GroupStats], by: list[str], source: str,
               comparison: Comparison | None = None, models: ModelComparison | None = None) -> None:
    table_rows = []
    for s in stats:
        modes = ", ".join(f"{html.escape(m)} ×{n}" for m, n in s.failure_modes.items()) or "–"
        cells = [*(html.escape(s.group[k] or "–") for k in by), str(s.runs), str(s.scored),
                 f"{s.successes}/{s.scored}" + ("" if s.success_rate is None else f" ({100 * s.success_rate:.1f}%)"),
                 "–" if s.ci_low is None else f"{100 * s.ci_low:.1f}–{100 * s.ci_high:.1f}%",
                 "–" if s.partial_credit is None else f"{s.partial_credit:.2f}",
                 f"{s.items_successful}/{s.items_total}" if s.items_total else "–",
                 "–" if s.mean_duration_s is None else f"{s.mean_duration_s:.1f}", modes]
        table_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    headers = [*by, "runs", "scored", "success", "95% CI", "partial credit", "items", "mean duration (s)",
               "failure modes"]
    compared = ""
    if comparison is not None:
        compared = f"<h2>Paired comparison</h2><pre>{html.escape(format_comparison(comparison))}</pre>"
    if models is not None:
        compared += (f"<h2>Models on paired seeds</h2>{difference_svg(models)}"
                     f"<pre>{html.escape(format_model_comparison(models))}</pre>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #1d2330; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ border-bottom: 1px solid #dde1e8; padding: 4px 10px; text-align: left; }}
th {{ background: #f6f7f9; }}
.muted {{ color: #6a7384; }}
</style></head><body>
<h1>Evaluation report</h1>
<p class="muted">{html.escape(source)} · success = scored episodes judged "success" (partial is not); 95% Wilson
score intervals; partial credit = mean of item ratio, or 1 / 0.5 / 0.</p>
{svg_chart(stats)}
<table><thead><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in headers)}</tr></thead>
<tbody>{"".join(table_rows)}</tbody></table>
{compared}
<details><summary>Plain text</summary><pre>{html.escape(format_table(stats, by))}</pre></details>
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def write_png(path: Path, stats: list[GroupStats], title: str = TITLE, scale: int = 2,
              models: ModelComparison | None = None) -> None:
    """The success-rate chart, with the paired-difference chart below it when `models` is given."""
    fonts = {FONT_PX: _font(FONT_PX * scale), TITLE_PX: _font(TITLE_PX * scale)}

    def measure(text: str, size: int) -> float:
        return fonts[size].getlength(text) / scale

    layout = _layout(stats, measure, title)
    x0, top = layout.x0, PAD + TITLE_H
    image = Image.new("RGB", (round(layout.width * scale), round(layout.height * scale)), "white")
    draw = ImageDraw.Draw(image)
    font, bold = fonts[FONT_PX], fonts[TITLE_PX]

    def s(v: float) -> int:
        return round(v * scale)

    draw.text((s(PAD), s(PAD)), title, fill=COLORS["text"], font=bold)
    for tick in range(0, 101, 20):
        x = x0 + PLOT_W * tick / 100
        draw.line([(s(x), s(top - 4)), (s(x), s(layout.axis_y - 14))], fill=COLORS["grid"], width=1)
        draw.text((s(x), s(layout.axis_y)), f"{tick}%", fill=COLORS["muted"], font=font, anchor="ms")
    for row in layout.rows:
        st, mid = row.stats, row.mid
        first = mid - (len(row.lines) - 1) * LINE_H / 2
        for k, line in enumerate(row.lines):
            draw.text((s(x0 - 8), s(first + k * LINE_H)), line, fill=COLORS["text"], font=font, anchor="rm")
        if st.success_rate is None:
            draw.text((s(x0 + 4), s(mid)), "unscored", fill=COLORS["muted"], font=font, anchor="lm")
            continue
        if st.success_rate > 0:
            draw.rectangle([s(x0), s(mid - BAR_H / 2), s(x0 + PLOT_W * st.success_rate), s(mid + BAR_H / 2)],
                           fill=COLORS["bar"])
        lo, hi = x0 + PLOT_W * st.ci_low, x0 + PLOT_W * st.ci_high
        draw.line([(s(lo), s(mid)), (s(hi), s(mid))], fill=COLORS["ci"], width=2 * scale)
        for x in (lo, hi):
            draw.line([(s(x), s(mid - 6)), (s(x), s(mid + 6))], fill=COLORS["ci"], width=2 * scale)
        draw.text((s(x0 + PLOT_W + 8), s(mid)), row.value_text, fill=COLORS["text"], font=font, anchor="lm")
    if models is not None and models.pairs:
        below = difference_image(models, _font, scale)
        both = Image.new("RGB", (max(image.width, below.width), image.height + below.height), "white")
        both.paste(image, (0, 0))
        both.paste(below, (0, image.height))
        image = both
    image.save(path, format="PNG")
