"""Selector health: truth files, enrichment by hand, the controls, health numbers against hand-computed norms,
the regime warning, and one G-SNR ensemble per shipped config."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gsnr_bench.analysis.health import health_of, warning_lines
from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.domain.records import Example
from gsnr_bench.domain.truth import check_against_pool, labels_of, parse_truth, truth_record
from gsnr_bench.reporting.metrics import bootstrap_pws_diff, defect_counts, precision_lift, ranking_auc
from gsnr_bench.selection.base import ScoreResult, SelectionContext
from gsnr_bench.selection.ranking import rank_order, score_rows

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ truth files
def test_truth_formats_parse_to_the_same_labels(tmp_path):
    want = {"a": "clean", "b": "empty", "c": "clean", "d": "defective"}
    (tmp_path / "t.json").write_text(json.dumps({"a": "clean", "b": "empty", "c": "CLEAN", "d": False}))
    (tmp_path / "t.jsonl").write_text(
        '{"id": "a", "label": "clean"}\n\n{"id": "b", "label": "empty"}\n'
        '{"id": "c", "label": true}\n{"id": "d", "label": "defective"}\n'
    )
    (tmp_path / "t.csv").write_text("id,label\na,clean\nb,empty\nc,clean\nd,defective\n")
    (tmp_path / "list.json").write_text(json.dumps([{"id": k, "label": v} for k, v in want.items()]))
    (tmp_path / "demo.json").write_text(json.dumps(truth_record(want)))
    for f in ("t.json", "t.jsonl", "t.csv", "list.json", "demo.json"):
        assert parse_truth(tmp_path / f) == want, f
    assert labels_of(truth_record(want)) == want


@pytest.mark.parametrize(
    "name,text,where",
    [
        ("bad.jsonl", '{"id": "a", "label": "clean"}\n{"id": "b"}\n', "bad.jsonl line 2: no 'label'"),
        ("bad2.jsonl", '{"id": "a", "label": "clean"}\nnot json\n', "bad2.jsonl line 2: malformed JSON"),
        (
            "dup.jsonl",
            '{"id": "a", "label": "clean"}\n{"id": "a", "label": "empty"}\n',
            "line 2: id 'a' is labelled twice",
        ),
        ("bad.csv", "id,label\na,clean\nb,\n", "bad.csv line 3: label must be"),
        ("short.csv", "id,label\na\n", "short.csv line 2: expected 2 columns"),
        ("head.csv", "name,kind\na,clean\n", "head.csv line 1: the header must name"),
        ("bad.json", '{"a": 3}', "bad.json id 'a': label must be"),
        ("list.json", '[{"id": "a", "label": "clean"}, {"label": "empty"}]', "list.json record 1: no 'id'"),
    ],
)
def test_bad_truth_rows_are_one_line_errors_naming_the_line(tmp_path, name, text, where):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError) as e:
        parse_truth(tmp_path / name)
    assert where in str(e.value) and "\n" not in str(e.value)


def test_truth_must_cover_exactly_the_pool():
    check_against_pool({"a": "clean", "b": "empty"}, ["a", "b"], "t.json")
    with pytest.raises(DataError, match="1 id\\(s\\) are not in the pool \\(first: 'z'\\)"):
        check_against_pool({"a": "clean", "z": "empty"}, ["a"], "t.json")
    with pytest.raises(DataError, match="1 pool example\\(s\\) have no label \\(first: 'b'\\)"):
        check_against_pool({"a": "clean"}, ["a", "b"], "t.json")


# ------------------------------------------------------------------ enrichment by hand
def test_enrichment_numbers_against_a_hand_computed_example():
    # ranking used (best first; the last two were ineligible, so ranked last): c1 d1 c2 d2 | c3 d3
    ranked = ["c1", "d1", "c2", "d2", "c3", "d3"]
    labels = {"c1": "clean", "c2": "clean", "c3": "clean", "d1": "empty", "d2": "off_topic", "d3": "empty"}
    clean = {k: v == "clean" for k, v in labels.items()}
    (half,) = precision_lift(ranked, clean, [0.5])
    assert half["n"] == 3 and half["precision"] == pytest.approx(2 / 3) and half["lift"] == pytest.approx(4 / 3)
    # AUC of score = -rank: clean ranks 1,3,5 vs defective 2,4,6: pairs won (c above d) = 3 + 2 + 1 = 6 of 9
    assert ranking_auc(ranked, clean) == pytest.approx(6 / 9)
    assert defect_counts(ranked[:4], labels) == {"empty": 1, "off_topic": 1}


def test_collect_enrichment_uses_the_ranking_with_ineligible_last(tmp_path):
    from gsnr_bench.core.fileio import write_json, write_jsonl
    from gsnr_bench.reporting.scorings import enrichment

    labels = {"c1": "clean", "c2": "clean", "d1": "empty", "d2": "wrong"}
    # the selector scored d1 highest but marked it ineligible: selection ranks it last
    res = ScoreResult(ids=["d1", "c1", "d2", "c2"], scores=[9.0, 3.0, 2.0, 1.0], eligible=[False, True, True, True])
    write_jsonl(tmp_path / "scores" / "s" / "scores.jsonl", score_rows(res, rank_order(res, 0)))
    write_json(tmp_path / "truth.json", truth_record(labels))
    cells = [{"selector": "x", "ratio": 0.5, "scores": "scores/s/scores.jsonl", "truth": "truth.json"}]
    (row,) = enrichment(tmp_path, cells)
    # ranking c1 d2 c2 d1: top 2 = c1, d2; AUC: c1 beats d2, d1; c2 beats d1 -> 3 of 4
    assert row["n"] == 2 and row["clean_rate"] == 0.5 and row["lift"] == 1.0 and row["auc"] == 0.75
    assert row["defects"] == "wrong 1"
    # side by side, on the 3 records it could score (c1 d2 c2): c1 beats d2, d2 beats c2 -> AUC 1 of 2; the top
    # 2 of them (c1, d2) are half clean against a base rate of 2/3 -> lift 0.75. The filter is no longer credited.
    assert row["unscorable"] == 1 and row["auc_scorable"] == 0.5 and row["lift_scorable"] == 0.75


def test_paired_pws_difference_by_hand():
    a = [("j", ("t", str(q)), "win") for q in range(4)]
    b = [("j", ("t", "0"), "lose"), ("j", ("t", "1"), "lose"), ("j", ("t", "2"), "tie"), ("j", ("t", "3"), "tie")]
    point, lo, hi = bootstrap_pws_diff(a, b, rounds=200)
    assert point == pytest.approx(2.0 - 0.5)  # PWS(a) = 2, PWS(b) = 1 + (0 - 2) / 4
    assert 1.0 <= lo <= point <= hi <= 2.0
    p2, lo2, hi2 = bootstrap_pws_diff(a, a, rounds=200)
    assert (p2, lo2, hi2) == (0.0, 0.0, 0.0)


# ------------------------------------------------------------------ controls
def _pool():
    return [Example(f"e{i}", f"q{i}", "", f"a{i}") for i in range(6)]


def test_controls_rank_by_truth_and_refuse_without_it(tmp_path):
    from gsnr_bench.core import registry

    reg = registry.selectors()
    truth = {"e0": "empty", "e1": "clean", "e2": "wrong", "e3": "clean", "e4": "clean", "e5": "empty"}
    ctx = SelectionContext(pool=_pool(), params={}, seed=0, workdir=tmp_path, proxy="", truth=truth)
    for name, first in (("oracle", True), ("anti-oracle", False)):
        sel = reg.build(name)
        assert sel.needs_truth and sel.name == name
        res = sel.score(ctx)
        top = [res.ids[i] for i in rank_order(res, 0)[:3]]
        assert all((truth[i] == "clean") == first for i in top)
    with pytest.raises(ConfigError, match="needs ground truth"):
        reg.build("oracle").score(SelectionContext(pool=_pool(), params={}, seed=0, workdir=tmp_path, proxy=""))


def test_controls_are_valid_only_in_a_run_with_truth(tmp_path):
    from gsnr_bench.core.config import build_config
    from gsnr_bench.pipeline import Pipeline
    from gsnr_bench.run.store import RunStore

    pool = tmp_path / "pool.json"
    pool.write_text(
        json.dumps([{"id": e.id, "instruction": e.instruction, "input": "", "output": e.output} for e in _pool()])
    )
    base = {"data": {"train": str(pool), "testsets": []}, "selection": {"ratios": [0.5]}}
    pipe = Pipeline(build_config([], [], base), RunStore(tmp_path / "run", create=False))
    with pytest.raises(ConfigError) as e:
        pipe.validate(["oracle"], "select")
    assert "needs the pool's ground truth: pass --truth FILE" in str(e.value)
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n" + "".join(f"e{i},{'clean' if i % 2 else 'empty'}\n" for i in range(6)))
    cfg = build_config([], [], {**base, "data": {**base["data"], "truth": str(truth)}})
    Pipeline(cfg, RunStore(tmp_path / "run", create=False)).validate(["oracle", "anti-oracle", "random"], "select")
    truth.write_text("id,label\ne0,clean\nzz,empty\n")
    with pytest.raises(DataError, match="not in the pool"):
        Pipeline(
            build_config([], [], {**base, "data": {**base["data"], "truth": str(truth)}}),
            RunStore(tmp_path / "run2", create=False),
        ).validate(["random"], "select")


# ------------------------------------------------------------------ health
def _gsnr_rows(norms_s, norms_t, variant="gsnr", eps=1e-8):
    from gsnr_bench.analysis.gsnr_utility import gsnr_table

    tab = gsnr_table(np.array(norms_s), np.array(norms_t), eps, variant)
    cols = {f"norm_m{m}_e{e}": list(v[m]) for e, v in ((1, norms_s), (2, norms_t)) for m in range(len(v))}
    cols.update({k: list(tab[k]) for k in ("G_s", "G_t", "V_s", "V_t", "utility")})
    n = len(norms_s[0])
    res = ScoreResult(ids=[f"e{i}" for i in range(n)], scores=list(tab["utility"]), columns=cols)
    return score_rows(res, rank_order(res, 0))


def test_gsnr_health_against_hand_computed_norms():
    # two members, four examples; epoch 1 -> 2 norms
    s = [[2.0, 1.0, 4.0, 1.0], [2.0, 3.0, 4.0, 1.0]]
    t = [[1.0, 1.0, 5.0, 0.5], [1.0, 1.0, 3.0, 0.5]]
    # G_s = 2, 2, 4, 1 ; G_t = 1, 1, 4, 0.5 -> drops 1, 1, 0, 0.5 : drop share 3/4 (example 3 is flat: not a drop)
    # V_t = 0, 0, 1, 0 ; utility = 1/(2+eps)/eps, same, 0, 0.5/(1+eps)/eps -> none negative; the last is a hair
    # below the first two (eps), so utility ranks are 3.5, 3.5, 1, 2 and V_t ranks 2, 2, 4, 2:
    # deviations (1, 1, -1.5, -0.5) and (-0.5, -0.5, 1.5, -0.5): rho = -3 / sqrt(4.5 * 3) = -0.8165
    h = health_of("gsnr", _gsnr_rows(s, t), {"s": 1, "t": 2, "variant": "gsnr"})
    assert h["family"] == "gsnr" and h["share_norm_drop"] == 0.75 and h["share_negative_utility"] == 0.0
    assert h["spearman_utility_Vt"] == pytest.approx(-3 / math.sqrt(13.5), abs=1e-4)
    # G_s ranks 2, 2, 4, 1 (ties averaged: 2.5, 2.5, 4, 1): deviations (0, 0, 1.5, -1.5) against u's:
    # -1.5 / sqrt(4.5 * 4.5)
    assert h["spearman_utility_Gs"] == pytest.approx(-1.5 / 4.5, abs=1e-4)
    assert h["warnings"] == [] and h["ineligible"] == 0


def test_warning_fires_when_norms_rise_and_not_when_they_fall():
    rising = _gsnr_rows([[1.0, 2.0, 3.0], [1.5, 2.5, 3.0]], [[2.0, 3.0, 3.5], [2.5, 3.5, 4.5]])
    h = health_of("gsnr", rising, {"s": 1, "t": 2, "variant": "gsnr"})
    assert h["share_norm_drop"] == 0.0 and h["share_negative_utility"] == 1.0
    (line,) = warning_lines(h)
    assert line.startswith(
        "gsnr: norms rose for 100% of examples between epochs 1 and 2; the drop term is negative "
        "for most examples and 1/V then favours unstable examples; see docs/selectors.md"
    )
    assert "\n" not in line
    falling = _gsnr_rows([[2.0, 3.0, 3.5], [2.5, 3.5, 4.5]], [[1.0, 2.0, 3.0], [1.5, 2.5, 3.0]])
    assert warning_lines(health_of("gsnr", falling, {"s": 1, "t": 2})) == []
    # without notes (an older scores file) the epochs come from the norm columns
    assert "between epochs 1 and 2" in warning_lines(health_of("gsnr-alt1", rising))[0]


def test_ifd_and_other_health():
    rows = [
        {"id": "a", "eligible": True, "ifd": 0.5},
        {"id": "b", "eligible": False, "ifd": 1.5},
        {"id": "c", "eligible": False, "ifd": None},
        {"id": "d", "eligible": True, "ifd": 0.9},
    ]
    h = health_of("ifd-cherry", rows, {"filtered_ifd": 1, "skipped_empty_response": 1, "eligible": 2})
    assert h["share_ifd_ge_1"] == pytest.approx(1 / 3, abs=1e-4) and h["ineligible"] == 2
    assert h["ineligible_why"] == {"filtered_ifd": 1, "skipped_empty_response": 1} and h["warnings"] == []
    assert health_of("random", [{"id": "a", "eligible": True}])["family"] == "other"


# ------------------------------------------------------------------ one ensemble per shipped config
GSNR_FAMILY = ("gsnr", "gsnr-alt1", "gsnr-alt2", "gsnr-alt3")


@pytest.mark.parametrize(
    "config",
    sorted(
        p.relative_to(ROOT / "configs").with_suffix("").as_posix()
        for p in [*(ROOT / "configs").glob("*.yaml"), *(ROOT / "configs" / "paper").glob("*.yaml")]
    ),
)
def test_every_shipped_config_gives_the_gsnr_family_one_ensemble(config, tmp_path):
    from gsnr_bench.core import registry
    from gsnr_bench.core.config import build_config

    cfg = build_config([config], [], {})
    reg = registry.selectors()
    keys = []
    for name in GSNR_FAMILY:
        sel = reg.build(name, cfg.selection.params.get(name, {}))
        ctx = SelectionContext(
            pool=_pool(),
            params={},
            seed=cfg.seed,
            workdir=tmp_path,
            proxy="p",
            proxy_key="k",
            max_length=cfg.proxy.max_length,
        )
        keys.append(json.dumps(sel.cache_key(ctx), sort_keys=True))
    assert len(set(keys)) == 1, config


# ------------------------------------------------------------------ stability over seeds
def test_stability_of_identical_rankings_is_one_and_by_hand_otherwise():
    from gsnr_bench.analysis.health import mean_rank_order, stability

    r = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    st = stability([r, list(r), list(r)], [0.1, 0.5])
    assert st["seeds"] == 3 and st["spearman_min"] == 1.0 and st["spearman_mean"] == 1.0
    assert st["overlap"] == {"0.1": {"min": 1.0, "mean": 1.0}, "0.5": {"min": 1.0, "mean": 1.0}}
    rev = stability([r, r[::-1]], [0.5])
    assert rev["spearman_min"] == -1.0 and rev["overlap"]["0.5"]["min"] == 0.0
    swap = ["b", "a", *r[2:]]  # one adjacent swap: rho = 1 - 6 * 2 / (10 * 99)
    assert stability([r, swap], [0.1])["spearman_min"] == pytest.approx(1 - 12 / 990, abs=1e-4)
    assert stability([r], [0.1])["spearman_min"] is None
    # mean rank: a is 1st and 3rd (mean 2), b 2nd and 1st (1.5), c 3rd and 2nd (2.5)
    assert mean_rank_order([["a", "b", "c"], ["b", "c", "a"]]) == ["b", "a", "c"]


@pytest.mark.slow  # three CLI scorings: seconds
def test_select_with_truth_controls_and_seeds_through_the_cli(tmp_path):
    from conftest import run_cli

    pool = tmp_path / "pool.json"
    pool.write_text(
        json.dumps([{"id": f"e{i}", "instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(10)])
    )
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        "".join(json.dumps({"id": f"e{i}", "label": "clean" if i < 4 else "empty"}) + "\n" for i in range(10))
    )
    run = tmp_path / "run"
    args = [
        "select",
        "--train-data",
        str(pool),
        "--truth",
        str(truth),
        "--selector",
        "oracle",
        "anti-oracle",
        "random",
        "--ratio",
        "0.4",
        "--selector-seeds",
        "2",
        "--run-dir",
        str(run),
        "--quiet",
    ]
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]

    def sel(name):
        return [json.loads(x)["id"] for x in next(run.glob(f"subsets/{name}-seeds2@0.4-*/selection.jsonl")).open()]

    assert sorted(sel("oracle")) == ["e0", "e1", "e2", "e3"]
    assert all(int(i[1:]) >= 4 for i in sel("anti-oracle"))
    assert len(list(run.glob("truth/truth-*.json"))) == 1
    done = json.loads(next(run.glob("scores/random-seeds2-*/DONE")).read_text())
    assert done["stability"]["seeds"] == 2 and done["seed_scores"][1].startswith("scores/random-seed1-")
    # a control without truth, and a bad truth row: one line each, before any work
    bad = run_cli(
        "select",
        "--train-data",
        str(pool),
        "--selector",
        "oracle",
        "--ratio",
        "0.4",
        "--run-dir",
        str(tmp_path / "r2"),
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "needs the pool's ground truth" in bad.stderr and bad.stderr.count("\n") == 1
    truth.write_text('{"id": "e0", "label": "clean"}\n{"id": "e1", "label": ""}\n')
    bad = run_cli(*args[:-3], "--run-dir", str(tmp_path / "r3"), cwd=tmp_path)
    assert bad.returncode == 2 and "truth.jsonl line 2: label must be" in bad.stderr
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_training_dynamics_panels_need_two_recorded_epochs():
    from gsnr_bench.reporting.plot_kit import to_svg
    from gsnr_bench.reporting.plots import dynamics_fig

    rng = np.random.default_rng(0)
    rows = [
        {"id": f"e{i}", **{f"norm_m{m}_e{e}": float(rng.random() + e) for m in range(3) for e in (1, 2, 3)}}
        for i in range(12)
    ]
    svg = to_svg(dynamics_fig(rows, {f"e{i}": i % 2 == 0 for i in range(12)}, "gsnr"), "t1")
    assert svg.startswith("<svg") and "Figure 1" in svg and "per-example norms" in svg
    one = [{k: v for k, v in r.items() if not k.endswith(("_e2", "_e3"))} for r in rows]
    assert dynamics_fig(one, None, "gsnr") is None


def test_controls_table_from_judged_cells_and_its_words():
    from gsnr_bench.reporting.collect import sensitivity, sensitivity_sentences
    from gsnr_bench.reporting.config import ReportConfig

    cells = [
        {"protocol": "p-1", "selector": s, "ratio": 0.1, "system": f"{s}@0.1"}
        for s in ("oracle", "anti-oracle", "random")
    ]
    outcome = {"oracle": "win", "anti-oracle": "lose", "random": "win"}
    records = [
        {"cell": f"p-1|{s}@0.1", "judge": "j", "testset": "t", "question_id": q, "outcome": outcome[s]}
        for s in outcome
        for q in range(6)
    ]
    rows = sensitivity(records, cells, ReportConfig())
    by = {r.comparison: r for r in rows}
    assert by["oracle - anti-oracle"].diff == 2.0 and by["oracle - anti-oracle"].separates
    assert by["oracle - random"].diff == 0.0 and not by["oracle - random"].separates
    words = sensitivity_sentences(rows)
    assert "separates them" in words[0]
    assert "cannot separate them" in words[1]
    rows[0] = dataclasses.replace(rows[0], diff=0.1, ci_low=-0.2, ci_high=0.4, separates=False)
    assert "no selector comparison at this ratio means anything" in sensitivity_sentences(rows)[0]
