"""The paper tables (reporting/paper.py, leads.py): per test set and judge, intervals, controls apart and never
bold, bold only for a lead whose paired interval excludes 0, only existing cells, and LaTeX that compiles in
one- and two-column articles without an overfull box."""

import re
import shutil

import pytest

from gsnr_bench.reporting.config import ReportConfig
from gsnr_bench.reporting.leads import lead_rows
from gsnr_bench.reporting.paper import TableOptions, build_tables, render_latex, render_markdown
from gsnr_bench.reporting.results import CellMeta, results_from_csv, results_from_judgments, results_to_csv
from gsnr_bench.reporting.synthetic import synthetic_judgments

from conftest import pdflatex

SELECTORS = {"oracle": 0.9, "anti-oracle": -0.6, "random": 0.0, "ifd-superfiltering": 0.05, "gsnr": 0.5}
RATIOS = (0.05, 0.1, 0.15)


def world(selectors=SELECTORS, ratios=RATIOS, dataset="alpaca", seed=1, testsets=None):
    edges, meta = {}, {}
    for sel, e in selectors.items():
        for r in ratios:
            edges[f"{sel}@{r:g}"] = e
            meta[f"{sel}@{r:g}"] = CellMeta(dataset, "llama2-7b", "lora", sel, r)
    recs = synthetic_judgments(edges, testsets=testsets or {"vicuna": 80, "wizardlm": 218}, seed=seed)
    for r in recs:  # no answer lengths: the length-controlled columns (not tested here) stay empty and cost nothing
        r["system_len"] = r["baseline_len"] = None
    df = results_from_csv(results_to_csv(results_from_judgments(recs, meta)))
    return df, recs, meta


@pytest.fixture(scope="module")
def demo():
    df, recs, meta = world(testsets={"vicuna": 40, "wizardlm": 60})
    return df, lead_rows(recs, meta, ReportConfig())


def test_one_table_per_judge_test_set_blocks_ratio_groups_and_intervals(demo):
    df, leads = demo
    tables = build_tables(df, leads)
    assert [t.judge for t in tables] == ["gpt-4o", "qwen"]  # per judge; no mean unless asked
    assert [t.judge for t in build_tables(df, leads, TableOptions(judge_mean=True))][-1] == "mean"
    t = tables[0]
    assert t.ratios == list(RATIOS)
    assert [ts for ts, _ in t.blocks] == ["wizardlm", "vicuna", "pooled"]
    assert all(sels[0] == "gsnr" and "oracle" not in sels for _, sels in t.blocks)
    assert [sels for _, sels in t.controls] == [["oracle", "anti-oracle"]] * 3
    tex = render_latex(tables, TableOptions())
    row = df[(df.judge == "gpt-4o") & (df.testset == "vicuna") & (df.selector == "random") & (df.ratio == 0.1)].iloc[0]
    assert f"\\scriptsize[{row.ci_low:.3f}, {row.ci_high:.3f}]" in tex  # the interval under its PWS
    assert "WizardLM" in tex and "Vicuna" in tex and "Pooled" in tex
    assert "100\\%" not in tex.split("\\begin{tabular}")[1].split("\\end{tabular}")[0]  # no made-up 100% column
    wtl = render_latex(tables, TableOptions(wtl=True, interval="pm"))
    assert f"{int(row.wins)}/{int(row.ties)}/{int(row.losses)}" in wtl
    assert f"{row.pws:.3f}$^{{+{row.ci_high - row.pws:.3f}}}_{{-{row.pws - row.ci_low:.3f}}}$" in wtl


def test_bold_only_for_a_significant_lead_never_for_controls(demo):
    df, leads = demo
    tex = render_latex(build_tables(df, leads), TableOptions())
    controls = "".join(t.split("\\end{tabular}")[0] for t in tex.split("Controls (not ranked)")[1:])
    assert "\\textbf" not in controls  # the oracle scores highest but is never bold
    bold_rows = re.findall(r"\\quad (\S+) & [^\n]*\\textbf", tex)
    assert bold_rows and set(bold_rows) == {"gsnr"}
    for lead in leads:
        assert lead["leader"] not in ("oracle", "anti-oracle") and lead["runner_up"] not in ("oracle", "anti-oracle")
        assert lead["significant"] == (lead["ci_low"] > 0)
    assert "excluding 0" in tex  # the note says what bold means
    # two selectors of the same edge: a lead, but not a significant one -> nothing bold
    df2, recs2, meta2 = world({"a": 0.1, "b": 0.1}, ratios=(0.1,), testsets={"vicuna": 40}, seed=3)
    leads2 = lead_rows(recs2, meta2, ReportConfig())
    assert leads2 and not any(x["significant"] for x in leads2)
    assert "\\textbf" not in render_latex(build_tables(df2, leads2), TableOptions()).split("\\begin{tabular}")[1]


def test_merged_runs_show_only_existing_cells():
    df_a, _, _ = world({"gsnr": 0.3, "random": 0.0}, ratios=(0.05,), dataset="alpaca", testsets={"vicuna": 10})
    df_b, _, _ = world({"ifd": 0.2}, ratios=(0.1, 0.15), dataset="dolly", testsets={"vicuna": 10})
    import pandas as pd

    tables = build_tables(pd.concat([df_a, df_b], ignore_index=True))
    by_group = {(t.group[0], t.judge): t for t in tables}
    assert by_group[("alpaca", "gpt-4o")].ratios == [0.05] and by_group[("dolly", "gpt-4o")].ratios == [0.1, 0.15]
    assert {s for _, sels in by_group[("dolly", "gpt-4o")].blocks for s in sels} == {"ifd"}
    md = render_markdown(tables, TableOptions())
    assert "1.000 |" not in md.replace("[1.000", "")  # no invented baseline cells
    assert "dolly / llama2-7b / lora" in md and "alpaca / llama2-7b / lora" in md


@pytest.fixture(scope="module")
def wide_tex():
    """Every layout at once: long selector names, four ratios (W/T/L splits them over tables), both intervals."""
    many = {**SELECTORS, "gsnr-alt1": 0.2, "ifd-cherry (scores-0123abcd)": 0.1}
    df, recs, meta = world(many, ratios=(0.02, 0.05, 0.1, 0.3), testsets={"vicuna": 12, "wizardlm": 16})
    leads = lead_rows(recs, meta, ReportConfig())
    opts = (TableOptions(), TableOptions(wtl=True), TableOptions(wtl=True, interval="pm", judge_mean=True))
    tables = [build_tables(df, leads, o) for o in opts]
    assert any(t.part for t in tables[1])  # the W/T/L layout is split over tables
    return "\n".join(render_latex(t, o) for t, o in zip(tables, opts))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (CI installs texlive)")
@pytest.mark.parametrize("columns", ["onecolumn", "twocolumn"])
def test_latex_compiles_without_overfull_boxes(tmp_path, columns, wide_tex):
    rc, log = pdflatex(tmp_path, wide_tex, columns)
    assert rc == 0, log[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)[:5]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def test_leads_over_merged_runs_keep_each_runs_cells_apart():
    from pathlib import Path

    from gsnr_bench.reporting.build import run_leads, table_options
    from gsnr_bench.reporting.collect import RunResults

    def rr(name, selectors):
        df, recs, meta = world(selectors, ratios=(0.1,), testsets={"vicuna": 60}, seed=len(name))
        tagged = [{**r, "cell": r["system"]} for r in recs]  # collect() tags records with their group
        info = {"report": ReportConfig().model_dump(mode="json")}
        return RunResults(Path(name), df, tagged, cell_meta=meta, info=info)

    a, b = rr("a", {"gsnr": 0.8, "random": 0.0}), rr("bb", {"ifd": 0.1})
    pooled = [x for x in run_leads([a, b]) if x["judge"] == "mean" and x["testset"] == "pooled"]
    assert len(pooled) == 1 and pooled[0]["leader"] == "gsnr"  # one column shared by both runs
    assert pooled[0]["runner_up"] in ("random", "ifd") and pooled[0]["significant"]
    assert run_leads([a, rr("bb", {"gsnr": 0.0})]) == []  # one name for two runs' cells: no lead is named
    assert table_options([a], {"wtl": True, "interval": None}).wtl is True
