"""The leaderboard page opens in headless Chromium: the JS runs, the table and plots render."""

import re
import shutil
import subprocess

import pytest

from gsnr_bench.reporting.publish import publish
from gsnr_bench.reporting.results import CellMeta, results_from_judgments
from gsnr_bench.reporting.synthetic import synthetic_judgments

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,  # a headless browser per module: seconds of start-up; CI runs it with -m slow
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)"),
]


def chromium(tmp_path, *args):
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("lb")
    edges, meta = {}, {}
    for sel, base in (("random", -0.2), ("gsnr", 0.35), ("ifd", 0.1)):
        for ratio in (0.05, 0.1, 0.15):
            edges[f"{sel}@{ratio:g}"] = base + ratio
            meta[f"{sel}@{ratio:g}"] = CellMeta("demo", "tiny-gpt2", "lora", sel, ratio)
    recs = synthetic_judgments(edges, testsets={"vicuna": 10, "wizardlm": 12}, seed=1)
    publish(results_from_judgments(recs, meta), out)
    return out / "index.html"


def test_dom_after_js(page, tmp_path):
    res = chromium(tmp_path, "--dump-dom", page.as_uri() + "#sort=1")  # sort by selector
    dom = res.stdout
    assert 'data-ready="1"' in dom, res.stderr[-2000:]
    board = dom[dom.index('id="leaderboard"') :]
    board = board[: board.index("</table>")]
    selectors = re.findall(r"<tr><td[^>]*>\d+</td><td>([^<]+)</td>", board)
    assert len(selectors) == 9
    assert selectors == sorted(selectors)  # the JS sorted the table by the clicked column
    assert "sorted-asc" in board
    assert dom.count("<svg") == 2 and dom.count("<path") > 20  # PWS-by-ratio and win/tie/lose plots


def test_screenshot_shows_table_and_plots(page, tmp_path):
    import numpy as np
    from PIL import Image

    png = tmp_path / "shot.png"
    res = chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,1600", page.as_uri())
    assert png.exists(), res.stderr[-2000:]
    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 1600)
    px = np.asarray(img).reshape(-1, 3).astype(int)
    assert len(np.unique(px, axis=0)) > 200  # text, bars and plots, not a blank page
    r, g, b = px.T
    green = int(((g > 150) & (r < 120) & (b < 120)).sum())  # win bars / PWS bars
    red = int(((r > 200) & (g < 140) & (b < 140)).sum())  # loss bars
    assert green > 2000 and red > 2000
