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
    """A demo-sized page: 11 selectors incl. the controls x 3 ratios, 3 judges, training logs, long health text."""
    from gsnr_bench.core.fileio import write_jsonl
    from gsnr_bench.reporting.html import PageExtras

    out = tmp_path_factory.mktemp("lb")
    sels = {"oracle": 0.6, "anti-oracle": -0.6, "random": 0.0, "longest": 0.05, "ifd-superfiltering": 0.1}
    sels |= {"ifd-cherry": 0.08, "gsnr": 0.3, "gsnr-alt1": 0.2, "gsnr-alt2": 0.1, "gsnr-alt3": 0.15, "grads": -0.05}
    edges, meta, logs = {}, {}, {}
    for sel, e in sels.items():
        for ratio in (0.05, 0.1, 0.15):
            edges[f"{sel}@{ratio:g}"] = e + ratio
            meta[f"{sel}@{ratio:g}"] = CellMeta("demo", "tiny-gpt2", "lora", sel, ratio)
    recs = synthetic_judgments(edges, judges=("gpt-4o", "gpt-3.5", "qwen"), testsets={"vicuna": 20, "wizardlm": 30})
    for r in recs:  # no answer lengths: LC-PWS stays empty (and costs nothing)
        r["system_len"] = r["baseline_len"] = None
    for i, name in enumerate(sorted(edges)[:12] + ["full"]):
        write_jsonl(out / f"log{i}.jsonl", [{"step": s, "loss": 3 / (1 + s / 9) + 0.05 * i} for s in range(80)])
        logs[name] = out / f"log{i}.jsonl"
    long = "norms rose for 40% of examples between epochs 1 and 2; the drop term is negative for most examples " * 2
    health = [{"selector": s, "eligible": 579, "ineligible": 21, "signal": long, "warning": long} for s in sels]
    extras = PageExtras(title="gsnr-bench: demo", train_logs=logs, health=health, bootstrap_rounds=1000)
    publish(results_from_judgments(recs, meta), out, extras)
    return out / "index.html"


def probe(page, tmp_path, width):
    """The page with a script that records the document's and the leaderboard box's scroll widths, dumped after
    layout in a window `width` px wide."""
    js = (
        "<script>var b=document.getElementById('leaderboard').parentNode;document.body.setAttribute('data-scroll',"
        "[document.scrollingElement.scrollWidth,innerWidth,b.scrollWidth,b.clientWidth].join('/'));</script>"
    )
    probe_page = page.parent / f"probe{width}.html"
    probe_page.write_text(page.read_text().replace("</body>", js + "</body>"))
    res = chromium(tmp_path, f"--window-size={width},900", "--dump-dom", probe_page.as_uri())
    m = re.search(r'data-scroll="(\d+)/(\d+)/(\d+)/(\d+)"', res.stdout)
    assert m, res.stderr[-2000:]
    return tuple(int(x) for x in m.groups())


def test_dom_after_js(page, tmp_path):
    res = chromium(tmp_path, "--dump-dom", page.as_uri() + "#sort=1")  # sort by selector
    dom = res.stdout
    assert 'data-ready="1"' in dom, res.stderr[-2000:]
    board = dom[dom.index('id="leaderboard"') :]
    board = board[: board.index("</table>")]
    groups = board.split("<tbody>")[1:]
    assert [re.search(r'class="group"><td[^>]*>([^<]+)<', g).group(1) for g in groups] == [
        "5% of the pool",
        "10% of the pool",
        "15% of the pool",
    ]
    for g in groups:  # the JS sorted each ratio's rows by the clicked column, and kept the groups apart
        selectors = re.findall(r"<tr><td[^>]*>(?:\d+|control)</td><td>([^<]+)</td>", g)
        assert len(selectors) == 11 and selectors == sorted(selectors)
    assert "sorted-asc" in board
    assert dom.count("<svg") == 3 and dom.count("<path") > 20  # PWS by ratio, W/T/L, training loss
    head = re.findall(r"<th[^>]*>([^<]+)</th>", board)
    assert "Wins / ties / losses" in head and not any("_" in h for h in head)  # written for people


@pytest.mark.parametrize("width", [1280, 1920])
def test_no_sideways_scroll(page, tmp_path, width):
    doc, inner, board, board_box = probe(page, tmp_path, width)
    assert doc <= inner  # document.scrollingElement.scrollWidth <= innerWidth
    assert board <= board_box  # and the leaderboard itself needs no scrolling either


@pytest.mark.parametrize("width", [1280, 1920])
def test_screenshot_shows_table_and_plots(page, tmp_path, width):
    import numpy as np
    from PIL import Image

    png = tmp_path / "shot.png"
    res = chromium(tmp_path, f"--screenshot={png}", f"--window-size={width},2600", page.as_uri())
    assert png.exists(), res.stderr[-2000:]
    img = Image.open(png).convert("RGB")
    assert img.size == (width, 2600)
    px = np.asarray(img).reshape(-1, 3).astype(int)
    assert len(np.unique(px, axis=0)) > 200  # text, bars and plots, not a blank page
    r, g, b = px.T
    green = int(((g > 150) & (r < 120) & (b < 120)).sum())  # significant PWS bars / win bars
    red = int(((r > 200) & (g < 140) & (b < 140)).sum())  # the anti-oracle's bars, loss bars
    assert green > 2000 and red > 2000
