"""The `longest` selector (Zhao et al. 2024) and absolute budgets (`--n`, `selection.sizes`)."""

from __future__ import annotations

import json

import pytest

from gsnr_bench.core import registry
from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.budgets import Size, budget_n, parse_system
from gsnr_bench.domain.records import Example
from gsnr_bench.selection.base import SelectionContext
from gsnr_bench.selection.longest import LongestSelector
from gsnr_bench.selection.ranking import rank_order

from tiny_models import build_tokenizer


def _pool(lengths):
    return [Example(id=f"ex{i}", instruction="say something", input="", output="a" * n) for i, n in enumerate(lengths)]


def _ctx(pool, tmp_path, seed=0, proxy="unused"):
    return SelectionContext(pool=pool, params={}, seed=seed, workdir=tmp_path, proxy=proxy)


def test_longest_selects_exactly_the_top_n_by_length_with_seeded_ties(tmp_path):
    lengths = [5, 40, 12, 40, 0, 33, 12, 40, 7, 33]
    pool = _pool(lengths)
    res = LongestSelector(unit="chars").score(_ctx(pool, tmp_path))
    assert res.scores == [float(n) for n in lengths] and res.columns["response_chars"] == lengths
    for seed in (0, 1, 2):
        order = rank_order(res, seed)
        assert order == rank_order(res, seed)  # deterministic
        ranked = [lengths[i] for i in order]
        assert ranked == sorted(lengths, reverse=True)  # exactly the top-n for every n
        for n in range(1, len(pool) + 1):
            assert sorted(lengths[i] for i in order[:n]) == sorted(lengths, reverse=True)[:n][::-1]
    # the three 40s are ordered by the seeded tie-break: some seed orders them differently from another
    ties = {tuple(i for i in rank_order(res, s) if lengths[i] == 40) for s in range(8)}
    assert len(ties) > 1 and all(sorted(t) == [1, 3, 7] for t in ties)


def test_longest_counts_proxy_tokens(tmp_path):
    tok = build_tokenizer(tmp_path / "tok")
    pool = [Example("a", "q", "", "one two three four five"), Example("b", "q", "", "red"), Example("c", "q", "", "")]
    res = LongestSelector().score(_ctx(pool, tmp_path, proxy=str(tok)))
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(tok)
    expect = [len(t(e.output, add_special_tokens=False)["input_ids"]) for e in pool]
    assert res.columns["response_tokens"] == expect and res.scores == [float(n) for n in expect]
    assert expect[0] > expect[1] > expect[2] == 0


def test_longest_is_registered_and_listed(tmp_path, cli):
    spec = registry.selectors().get("longest")
    assert spec.params == {"unit": "tokens"}
    assert registry.selectors().build("longest", {"unit": "chars"}).unit == "chars"
    res = cli("ls", "selectors", cwd=tmp_path, env={"COLUMNS": "200"})
    assert res.returncode == 0 and "longest" in res.stdout and "Long" in res.stdout


def test_budget_n_and_system_names():
    assert budget_n(1000, 52002) == 1000 and budget_n(5, 5) == 5
    with pytest.raises(DataError, match="exceeds the pool of 4 examples"):
        budget_n(5, 4)
    with pytest.raises(DataError):
        budget_n(0, 4)
    from gsnr_bench.pipeline import system_name

    assert system_name("longest", Size(1000)) == "longest@n1000" and system_name("gsnr", 0.1) == "gsnr@0.1"
    assert parse_system("longest@n1000") == ("longest", None, 1000)
    assert parse_system("gsnr@0.1") == ("gsnr", 0.1, None)
    assert parse_system("cherry") == ("cherry", None, None)
    assert parse_system("a@b@0.05") == ("a@b", 0.05, None)


def _select(cli, tmp_path, *extra):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": f"q{i}", "output": "x" * (i + 1)} for i in range(6)]))
    return cli(
        "select",
        "--selector",
        "longest",
        "--set",
        "selection.params.longest.unit=chars",
        "--train-data",
        str(pool),
        "--proxy",
        "unused",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        *extra,
        cwd=tmp_path,
    )


def test_n_above_the_pool_is_refused_with_one_line(tmp_path, cli):
    res = _select(cli, tmp_path, "--n", "7")
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gsnr-bench: error:") and "--n 7 exceeds the pool of 6" in lines[0]
    assert not list((tmp_path / "run").glob("*/*/DONE"))


def test_n_equal_to_a_ratio_budget_is_refused(tmp_path, cli):
    res = _select(cli, tmp_path, "--n", "3", "--ratio", "0.5")
    assert res.returncode == 2 and "--n 3 is the budget of ratio 0.5" in res.stderr.strip().splitlines()[-1]


def test_n_alone_selects_exactly_n_longest(tmp_path, cli):
    res = _select(cli, tmp_path, "--n", "2")
    assert res.returncode == 0, res.stderr
    subsets = list((tmp_path / "run" / "subsets").glob("longest@n2-*/selection.jsonl"))
    assert len(subsets) == 1 and not list((tmp_path / "run" / "subsets").glob("longest@0*"))
    rows = [json.loads(ln) for ln in subsets[0].read_text().splitlines()]
    assert [r["score"] for r in rows] == [6.0, 5.0]
