"""The page comes from the package's Jinja2 templates: tables, the matplotlib loss SVG, escaping, stable bytes."""

import re

from gsnr_bench.core.fileio import write_jsonl
from gsnr_bench.reporting.html import PageExtras, environment, render_html
from gsnr_bench.reporting.results import CellMeta, results_from_judgments
from gsnr_bench.reporting.synthetic import synthetic_judgments

EVIL = "<script>alert(1)</script>"


def _page(tmp_path):
    edges = {"gsnr@0.1": 0.3, f"{EVIL}@0.1": -0.1}
    meta = {
        "gsnr@0.1": CellMeta("demo", "tiny-gpt2", "lora", "gsnr", 0.1),
        f"{EVIL}@0.1": CellMeta("demo", "tiny-gpt2", "lora", EVIL, 0.1),
    }
    df = results_from_judgments(synthetic_judgments(edges, testsets={"vicuna": 6}, seed=0), meta)
    logs = {}
    for i, label in enumerate(("gsnr@0.1", f"{EVIL}@0.1")):
        p = tmp_path / f"{i}.jsonl"
        write_jsonl(p, [{"step": s, "loss": 2.0 / (1 + s) + 0.1 * i} for s in range(10)])
        logs[label] = p
    extras = PageExtras(
        title="<b>demo</b>", train_logs=logs, notes="a & b", bias=[{"judge": EVIL, "rate": 0.5, "n": 3}]
    )
    return render_html(df, extras), render_html(df, extras)


def test_templates_are_package_data():
    assert {"page.html.j2", "macros.html.j2", "style.css", "table_sort.js"} <= set(environment().list_templates())


def test_page_from_templates(tmp_path):
    page, again = _page(tmp_path)
    assert page == again  # byte-identical on a second render
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</html>\n")
    assert '<table id="leaderboard" class="sortable">' in page and '<table id="all-results"' in page
    assert '<table id="bias"' in page and 'id="loss-plot"' not in page  # no hand-written JS chart any more
    assert 'data-plot="training-loss"' in page and page.count("<svg") == 3  # PWS by ratio, W/T/L, loss
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>&lt;b&gt;demo&lt;/b&gt;</title>" in page and "a &amp; b" in page
    assert page.count("<script>") == 1  # only the table-sorting JS
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_leaderboard_groups_by_ratio_controls_last_colour_only_when_significant():
    from gsnr_bench.reporting.html import header, leaderboard_table, significance

    edges = {"gsnr@0.1": 0.9, "random@0.1": 0.0, "oracle@0.1": 0.95, "gsnr@0.05": 0.0, "anti-oracle@0.05": -0.9}
    meta = {s: CellMeta("demo", "tiny-gpt2", "lora", s.split("@")[0], float(s.split("@")[1])) for s in edges}
    recs = synthetic_judgments(edges, testsets={"vicuna": 30}, seed=0)
    for r in recs:
        r["system_len"] = r["baseline_len"] = None
    t = leaderboard_table(results_from_judgments(recs, meta))
    assert [g["title"] for g in t["groups"]] == ["5% of the pool", "10% of the pool"]
    names = [[row[1]["text"] for row in g["rows"]] for g in t["groups"]]
    assert names == [["gsnr", "anti-oracle (control)"], ["gsnr", "random", "oracle (control)"]]
    assert [row[0]["text"] for row in t["groups"][1]["rows"]] == ["1", "2", "control"]  # controls are not ranked
    pws = {row[1]["text"]: row[2] for g in t["groups"] for row in g["rows"]}
    assert "better" in pws["oracle (control)"]["cls"] and "worse" in pws["anti-oracle (control)"]["cls"]
    assert (significance(1.01, 1.3), significance(0.5, 0.99), significance(0.9, 1.1)) == ("better", "worse", "")
    assert [h for h, _ in t["head"]][:5] == ["#", "Selector", "PWS", "95% CI", "Wins / ties / losses"]
    assert header("share_norm_drop") == "Share norm drop" and header("ci_low") == "CI low"
    assert header("why ineligible") == "Why ineligible" and header("auc") == "ROC-AUC"
