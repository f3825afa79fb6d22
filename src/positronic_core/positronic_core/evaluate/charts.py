"""Report figures: success rate per group with its Wilson interval, as a self-contained HTML page (inline SVG,
no scripts or remote assets) or a PNG drawn with Pillow."""

from __future__ import annotations

import html
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from positronic_core.evaluate.report import Comparison, GroupStats, format_comparison, format_table

BAR_H, GAP, LABEL_W, PLOT_W, PAD = 22, 10, 320, 520, 16
COLORS = {"bar": "#4c8bf5", "ci": "#1d2330", "grid": "#dde1e8", "text": "#1d2330", "muted": "#6a7384"}


def _layout(count: int) -> tuple[int, int]:
    width = PAD * 2 + LABEL_W + PLOT_W + 90
    height = PAD * 2 + 30 + count * (BAR_H + GAP) + 24
    return width, height


def _shorten(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg_chart(stats: list[GroupStats], title: str = "Success rate (95% Wilson interval)") -> str:
    width, height = _layout(len(stats))
    x0, top = PAD + LABEL_W, PAD + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<text x="{PAD}" y="{PAD + 12}" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for tick in range(0, 101, 20):
        x = x0 + PLOT_W * tick / 100
        parts.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{height - PAD - 18}" stroke="{COLORS["grid"]}"/>')
        parts.append(f'<text x="{x}" y="{height - PAD - 4}" text-anchor="middle" fill="{COLORS["muted"]}">'
                     f'{tick}%</text>')
    for i, s in enumerate(stats):
        y = top + i * (BAR_H + GAP)
        parts.append(f'<text x="{x0 - 8}" y="{y + BAR_H / 2 + 4}" text-anchor="end">'
                     f'{html.escape(_shorten(s.label))}</text>')
        if s.success_rate is None:
            parts.append(f'<text x="{x0 + 4}" y="{y + BAR_H / 2 + 4}" fill="{COLORS["muted"]}">unscored</text>')
            continue
        parts.append(f'<rect x="{x0}" y="{y}" width="{PLOT_W * s.success_rate:.1f}" height="{BAR_H}" '
                     f'fill="{COLORS["bar"]}"/>')
        lo, hi = x0 + PLOT_W * s.ci_low, x0 + PLOT_W * s.ci_high
        mid = y + BAR_H / 2
        parts.append(f'<path d="M{lo:.1f},{mid} H{hi:.1f} M{lo:.1f},{mid - 6} V{mid + 6} M{hi:.1f},{mid - 6} '
                     f'V{mid + 6}" stroke="{COLORS["ci"]}" stroke-width="1.5" fill="none"/>')
        parts.append(f'<text x="{x0 + PLOT_W + 8}" y="{mid + 4}">{100 * s.success_rate:.0f}% '
                     f'({s.successes}/{s.scored})</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_html(path: Path, stats: list[GroupStats], by: list[str], source: str,
               comparison: Comparison | None = None) -> None:
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


def write_png(path: Path, stats: list[GroupStats], title: str = "Success rate (95% Wilson interval)",
              scale: int = 2) -> None:
    width, height = _layout(len(stats))
    image = Image.new("RGB", (width * scale, height * scale), "white")
    draw = ImageDraw.Draw(image)
    font, bold = _font(12 * scale), _font(14 * scale)
    x0, top = PAD + LABEL_W, PAD + 30

    def s(v: float) -> int:
        return round(v * scale)

    draw.text((s(PAD), s(PAD)), title, fill=COLORS["text"], font=bold)
    for tick in range(0, 101, 20):
        x = x0 + PLOT_W * tick / 100
        draw.line([(s(x), s(top - 4)), (s(x), s(height - PAD - 18))], fill=COLORS["grid"], width=1)
        draw.text((s(x), s(height - PAD - 4)), f"{tick}%", fill=COLORS["muted"], font=font, anchor="ms")
    for i, st in enumerate(stats):
        y = top + i * (BAR_H + GAP)
        mid = y + BAR_H / 2
        draw.text((s(x0 - 8), s(mid)), _shorten(st.label), fill=COLORS["text"], font=font, anchor="rm")
        if st.success_rate is None:
            draw.text((s(x0 + 4), s(mid)), "unscored", fill=COLORS["muted"], font=font, anchor="lm")
            continue
        if st.success_rate > 0:
            draw.rectangle([s(x0), s(y), s(x0 + PLOT_W * st.success_rate), s(y + BAR_H)], fill=COLORS["bar"])
        lo, hi = x0 + PLOT_W * st.ci_low, x0 + PLOT_W * st.ci_high
        draw.line([(s(lo), s(mid)), (s(hi), s(mid))], fill=COLORS["ci"], width=2 * scale)
        for x in (lo, hi):
            draw.line([(s(x), s(mid - 6)), (s(x), s(mid + 6))], fill=COLORS["ci"], width=2 * scale)
        draw.text((s(x0 + PLOT_W + 8), s(mid)), f"{100 * st.success_rate:.0f}% ({st.successes}/{st.scored})",
                  fill=COLORS["text"], font=font, anchor="lm")
    image.save(path, format="PNG")
