"""The review page in real headless Chromium (Playwright driving Debian's /usr/bin/chromium): table, filter,
episode page, playback, keyboard stepping, deep links, scoring across a reload, and clip export."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import ReviewServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]
TIMEOUT_MS = 30_000

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def browser_page(dataset: Path, tmp_path: Path):
    index = EpisodeIndex(dataset)
    index.start()
    assert index.wait(60)
    server = ReviewServer(index, port=0).start()
    playwright = sync_api.sync_playwright().start()
    context = None
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1400, "height": 1000}, bypass_csp=True)  # the page's CSP forbids Playwright's eval
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield page, server.url, dataset, errors
    finally:
        if context is not None:
            context.close()
        playwright.stop()
        server.stop()
        index.close()


def colours_present(path: Path, wanted: dict[str, tuple[int, int, int]], tolerance: int = 6) -> dict[str, bool]:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16).reshape(-1, 3)
    return {name: bool((np.abs(pixels - np.array(rgb)) <= tolerance).all(axis=1).any())
            for name, rgb in wanted.items()}


def seconds(text: str) -> float:
    return float(re.match(r"\s*([\d.]+) s", text).group(1))


def test_review_flow(browser_page, tmp_path: Path) -> None:
    page, url, dataset, errors = browser_page

    # Table: every episode listed, both datasets, outcome badges.
    page.goto(url + "/")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 10")
    assert page.locator("#loading").is_hidden()
    assert page.locator("#count").inner_text() == "10 episodes in 2 datasets"
    table_png = tmp_path / "table.png"
    page.screenshot(path=str(table_png), full_page=True)
    assert colours_present(table_png, {"success badge": (0xDA, 0xFB, 0xE1), "failure badge": (0xFF, 0xEB, 0xE9),
                                       "header": (0xFA, 0xFB, 0xFC)}) == {
        "success badge": True, "failure badge": True, "header": True}

    # Filter (server-side) on the checkpoint column, then sort by duration.
    page.fill("#filters input[data-key=checkpoint]", "20000")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 5")
    cells = page.locator("#rows td.checkpoint").all_inner_texts()
    assert cells == ["20000"] * 5
    assert "filter" in page.url or "f.checkpoint=20000" in page.url
    page.click("#headers th[data-key=duration_s]")
    page.wait_for_function("document.querySelector('#headers th[data-key=duration_s]').classList.contains("
                           "'sorted-asc')")
    durations = [float(x) for x in page.locator("#rows td.duration_s").all_inner_texts()]
    assert durations == sorted(durations)

    # Open the first main-dataset episode from the filtered table.
    page.fill("#filters input[data-key=dataset]", "=main")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 3")
    first_ref = page.locator("#rows tr").first.get_attribute("data-ref")
    page.locator("#rows tr").first.click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("video").count() == 2
    assert page.locator(".plot canvas").count() >= 5
    assert page.locator("#position").inner_text() == "1 of 3"
    page.wait_for_function("Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 2)")

    # Play: the clock, the scrubber and the videos all move.
    page.click("#play")
    page.wait_for_timeout(1200)
    page.click("#play")
    t_played = seconds(page.inner_text("#time"))
    assert 0.5 < t_played < 3.0
    assert float(page.input_value("#scrubber")) == pytest.approx(t_played, abs=0.01)
    media = page.evaluate("Array.from(document.querySelectorAll('video')).map(v => v.currentTime)")
    assert all(m > 0.02 for m in media)

    # Keyboard stepping moves exactly one recorded frame (15 Hz). A second back first: on a loaded machine the
    # playback above may have reached the end, where there is no next frame to step to.
    page.locator("#play").blur()
    page.keyboard.press("Shift+ArrowLeft")
    before = seconds(page.inner_text("#time"))
    page.keyboard.press("ArrowRight")
    after = seconds(page.inner_text("#time"))
    # Onto the first frame after t; t may sit a hair below that frame's time after playing, and the display (ms)
    # then shows the same time.
    assert 0 <= after - before <= 1 / 15 + 0.002
    page.keyboard.press("ArrowRight")
    assert seconds(page.inner_text("#time")) - after == pytest.approx(1 / 15, abs=0.002)
    page.keyboard.press("ArrowLeft")
    assert seconds(page.inner_text("#time")) == pytest.approx(after, abs=0.001)
    page.keyboard.press("Shift+ArrowLeft")
    assert seconds(page.inner_text("#time")) == pytest.approx(max(0.0, after - 1.0), abs=0.002)

    episode_png = tmp_path / "episode.png"
    page.screenshot(path=str(episode_png), full_page=True)
    with Image.open(episode_png) as image:
        assert image.width == 1400 and image.height > 1000
    assert colours_present(episode_png, {"plot line": (0x1F, 0x77, 0xB4), "latency bar": (0xFF, 0x7F, 0x0E)},
                           tolerance=40) == {"plot line": True, "latency bar": True}

    # Deep link at a time.
    episode_url = page.url.split("?")[0]
    page.goto(episode_url + "?t=1.2")
    page.wait_for_selector("body[data-ready='1']")
    assert seconds(page.inner_text("#time")) == pytest.approx(1.2, abs=0.001)

    # Score, reload, and the score is still there; the table shows it.
    page.check("input[name=outcome][value=partial]")
    page.fill("#items-ok", "1")
    page.fill("#items-total", "2")
    page.fill("#failure-mode", "slipped grasp")
    page.fill("#notes", "gripper closed early")
    page.click("#save-score")
    page.wait_for_function("document.getElementById('score-status').textContent.startsWith('saved')")
    assert page.locator("#outcome-badge .badge.partial").count() == 1
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_checked("input[name=outcome][value=partial]")
    assert page.input_value("#failure-mode") == "slipped grasp"
    assert page.input_value("#items-ok") == "1" and page.input_value("#items-total") == "2"
    assert page.locator("#failure-modes option[value='slipped grasp']").count() == 1
    assert (dataset / "main" / "scores.jsonl").exists()

    # Export a clip into the default target, a separate clips dataset, and open it.
    page.fill("#clip-start", "0.2")
    page.fill("#clip-end", "0.8")
    assert page.locator("#clip-dataset option:checked").inner_text() == "clips (clips dataset, new)"
    page.click("#export-clip")
    page.wait_for_selector("#export-link")
    page.click("#export-link")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("video").count() == 2
    assert seconds(page.inner_text("#time").split("/")[1]) == pytest.approx(0.6, abs=0.07)
    assert page.inner_text("#clip-of").startswith(f"clip of {first_ref} 0.20–0.80 s")
    assert (dataset / "clips" / "000000000000" / "000000000000" / "static.json").exists()

    # Back in the table the score and the clip are listed.
    page.goto(url + "/?f.outcome=partial")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 1")
    assert page.locator("#rows tr").first.get_attribute("data-ref") == first_ref
    score = page.locator("#rows td.score").first
    assert score.inner_text() == "0.50" and score.get_attribute("title") == "1 of 2 items"
    page.goto(url + "/?f.dataset=clips")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 1")
    assert page.locator("#rows td.clip_of").inner_text().startswith(first_ref)
    assert page.locator("#rows td.outcome").inner_text() == "—"  # a clip has no verdict of its own
    assert errors == []


def test_table_shows_indexing_progress(tmp_path: Path, template_dataset: Path) -> None:
    """While indexing runs the banner says so; the rows indexed so far are already listed."""
    from positronic_core.review import episode_index as module

    index = EpisodeIndex(template_dataset)
    gate_open = __import__("threading").Event()
    original = index._read

    def slow_read(*args, **kwargs):
        gate_open.wait(30)
        return original(*args, **kwargs)

    index._read = slow_read  # hold indexing until the page has looked at it
    index.start()
    server = ReviewServer(index, port=0).start()
    playwright = sync_api.sync_playwright().start()
    context = None
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, headless=True, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server.url + "/")
        page.wait_for_selector("#loading", state="visible")
        assert "Indexing episodes" in page.inner_text("#loading")
        assert "0 of 10" in page.inner_text("#progress-text")
        gate_open.set()
        page.wait_for_selector("#loading", state="hidden")
        page.wait_for_function("document.querySelectorAll('#rows tr').length === 10")
    finally:
        gate_open.set()
        if context is not None:
            context.close()
        playwright.stop()
        server.stop()
    assert module.EpisodeIndex is EpisodeIndex


def test_table_fits_1400_px_with_every_column(browser_page) -> None:
    """All columns, the clip column and a long failure mode included, fit a 1400 px window without scrolling."""
    page, url, dataset, errors = browser_page
    page.goto(url + "/")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 10")
    ref = page.locator("#rows tr").first.get_attribute("data-ref")
    mode = "gripper closed before the cube was between the fingers and pushed it off the table"
    assert page.request.post(url + "/api/score", data={"ep": ref, "outcome": "failure", "failure_mode": mode}).ok
    assert page.request.post(url + "/api/export", data={"ep": ref, "start_s": 0.1, "end_s": 0.5,
                                                        "new_dataset": "clips"}).ok
    page.reload()
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 11")
    assert page.locator("#headers th[data-key=clip_of]").is_visible()
    wrap = page.locator(".table-wrap").bounding_box()
    sizes = page.evaluate("(() => { const w = document.querySelector('.table-wrap'); "
                          "return [w.scrollWidth, w.clientWidth]; })()")
    assert sizes[0] <= sizes[1], sizes
    for key in ("failure_mode", "score", "outcome", "clip_of"):
        header = page.locator(f"#headers th[data-key={key}]").bounding_box()
        assert header["x"] + header["width"] <= wrap["x"] + wrap["width"] + 1, key
    cell = page.locator("#rows tr").first.locator("td.failure_mode")
    assert cell.inner_text() == mode and cell.bounding_box()["width"] >= 100
    badge = page.locator("#rows tr").first.locator("td.outcome .badge").bounding_box()
    assert badge["height"] < 30  # the badge stays on one line
    assert errors == []


def test_statics_with_long_keys_and_values_keep_the_panel_readable(browser_page) -> None:
    """Long keys wrap instead of squeezing the values to one character per line (a remote ACT episode's statics
    made the page 3,600 px tall); a long panel scrolls instead of growing the page."""
    page, url, dataset, errors = browser_page
    static_file = next((dataset / "main").glob("*/*/static.json"))
    static = json.loads(static_file.read_text())
    static |= {f"inference.policy.server.config.input_features.observation.images.camera_{i}.shape": [3, 224, 224]
               for i in range(12)}
    static["inference.policy.server.a_single_key_without_any_dots_that_is_much_longer_than_the_panel_width"] = 1
    static["inference.policy.server.checkpoint_path"] = "/home/lab/checkpoints/" + "experiment_" * 12 + "010000"
    static["inference.policy.server.config"] = {f"parameter_{i}": list(range(20)) for i in range(20)}
    static_file.write_text(json.dumps(static))
    ref = static_file.parent.relative_to(dataset).as_posix()
    page.goto(f"{url}/episode/{ref}")
    page.wait_for_selector("body[data-ready='1']")
    widths = page.evaluate("Array.from(document.querySelectorAll('#statics tr')).map(r => "
                           "[r.cells[0].getBoundingClientRect().width, r.cells[1].getBoundingClientRect().width])")
    assert len(widths) >= 15
    assert all(value >= 150 and key >= 100 for key, value in widths), widths
    panel = page.locator("#statics-panel").bounding_box()
    assert panel["height"] <= 500
    assert page.evaluate("document.documentElement.scrollHeight") < 2000
    assert errors == []


def test_a_token_opens_the_page_once_and_the_cookie_carries_on(dataset: Path, tmp_path: Path) -> None:
    index = EpisodeIndex(dataset)
    index.start()
    assert index.wait(60)
    server = ReviewServer(index, port=0, token="lab-secret").start()
    playwright = sync_api.sync_playwright().start()
    context = None
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, headless=True, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        assert page.goto(server.url + "/").status == 401
        page.goto(server.url + "/?token=lab-secret&f.checkpoint=10000")
        assert page.url == server.url + "/?f.checkpoint=10000"
        page.wait_for_function("document.querySelectorAll('#rows tr').length === 5")
        page.locator("#rows tr").first.click()
        page.wait_for_selector("body[data-ready='1']")
        page.check("input[name=outcome][value=success]")
        page.click("#save-score")
        page.wait_for_function("document.getElementById('score-status').textContent.startsWith('saved')")
    finally:
        if context is not None:
            context.close()
        playwright.stop()
        server.stop()
        index.close()
