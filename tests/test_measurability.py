"""An experiment that cannot measure anything says so (issue 24): per cell the report shows optimizer steps,
tokens trained, first/last training loss and the share of answers identical to the 100% model's, and warns
below report.warn_min_steps or above report.warn_identical_share; finetune.min_steps caps the effective batch
so a small subset trains for real; the judge-free held-out score sits beside PWS."""

from __future__ import annotations

import json
import math

import pytest

from gsnr_bench.cli import main
from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.domain.records import Example
from gsnr_bench.reporting.metrics import bootstrap_mean_ci
from gsnr_bench.training.config import FinetuneConfig
from gsnr_bench.training.plan import capped_accum, planned_steps

from tiny_models import examples


def test_the_issue_case_is_three_steps_and_min_steps_caps_the_batch():
    paper = FinetuneConfig(lr=2e-5, batch_size=128, micro_batch_size=4, epochs=3, min_steps=0)
    accum = capped_accum(paper, 100, 1)
    assert accum == 32 and planned_steps(100, 4, accum, 1, 3) == 3
    capped = paper.model_copy(update={"min_steps": 30})
    accum = capped_accum(capped, 100, 1)
    # the largest effective batch that still gives 30 steps: 8 (4 x 2) gives 3 x 13 = 39; 12 would give 27
    assert accum == 2 and planned_steps(100, 4, 2, 1, 3) == 39 and planned_steps(100, 4, 3, 1, 3) == 27
    assert capped_accum(capped, 5200, 1) == 32  # a paper-sized subset keeps the paper's batch


@pytest.mark.slow  # a 39-step fine-tune: tens of seconds on 2 cores
def test_finetune_records_the_capped_batch_and_its_steps(tiny_gpt2, tmp_path):
    from gsnr_bench.training.finetune import finetune

    cfg = FinetuneConfig(regime="lora", lr=2e-5, batch_size=128, micro_batch_size=4, epochs=3, min_steps=30)
    finetune(examples(100), cfg, str(tiny_gpt2), tmp_path / "m")
    t = read_json(tmp_path / "m" / "trained.json")
    assert (t["global_step"], t["planned_steps"], t["effective_batch_size"], t["batch_capped"]) == (39, 39, 8, True)
    assert t["configured_batch_size"] == 128 and 0 < t["target_tokens"] < t["train_tokens"]
    assert t["tokens_trained"] == 3 * t["train_tokens"]
    assert read_json(tmp_path / "m" / "training_args.json")["effective_batch_size"] == 128  # protocol unchanged


def test_bootstrap_mean_ci():
    assert (
        bootstrap_mean_ci([], rounds=1000, ci=0.95, seed=0)[0] != bootstrap_mean_ci([], rounds=1000, ci=0.95, seed=0)[0]
    )
    m, lo, hi = bootstrap_mean_ci([0.5] * 30, rounds=1000, ci=0.95, seed=0)
    assert m == lo == hi == 0.5
    m, lo, hi = bootstrap_mean_ci([1.0, 2.0, 3.0, 4.0] * 10, rounds=1000, ci=0.95, seed=0)
    assert m == 2.5 and 2.0 < lo < 2.5 < hi < 3.0


def test_heldout_scores_match_a_one_by_one_computation(tiny_gpt2, tmp_path):
    import torch

    from gsnr_bench.domain.templates import build_prompt
    from gsnr_bench.generation.heldout import score_heldout
    from gsnr_bench.modeling.loading import load_causal_lm, load_tokenizer

    recs = examples(7) + [Example("long", "Say it.", "", " ".join(["word"] * 200))]
    score_heldout(tiny_gpt2, recs, tmp_path, max_length=80, batch_size=3)
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "scores.jsonl")}
    assert rows["long"]["truncated"] and not rows["ex0"]["truncated"]
    tok, model = load_tokenizer(str(tiny_gpt2)), load_causal_lm(str(tiny_gpt2)).eval()
    for e in recs:
        p = tok(build_prompt(e.instruction, e.input))["input_ids"]
        a = (tok(e.output, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[: 80 - len(p)]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([p + a])).logits[0].float(), -1)
        want = sum(float(logp[len(p) - 1 + k, t]) for k, t in enumerate(a)) / len(a)
        assert rows[e.id]["tokens"] == len(a) and math.isclose(rows[e.id]["mean_logprob"], want, rel_tol=1e-4)
    before = (tmp_path / "scores.jsonl").read_bytes()
    score_heldout(tiny_gpt2, recs, tmp_path, max_length=80, batch_size=3)  # finished: nothing is redone
    assert (tmp_path / "scores.jsonl").read_bytes() == before


@pytest.fixture(scope="module")
def three_step_run(tiny_gpt2, tmp_path_factory):
    """The issue's case on tiny models: LoRA r 8, lr 2e-5, batch 128, 3 epochs, a 100-example subset (25% of
    400), min_steps off; the 100% model gets 12 steps. Judged by the reference judge, held-out score on."""
    d = tmp_path_factory.mktemp("three")
    pool = [e.to_dict() for e in examples(400)]
    (d / "pool.json").write_text(json.dumps(pool))
    qs = [
        {"question_id": i, "category": "c", "turns": [f"What is colour {i % 3}?"], "reference": "red"} for i in range(6)
    ]
    (d / "toy.jsonl").write_text("\n".join(json.dumps(q) for q in qs))
    held = [{"instruction": f"Name colour number {i}.", "input": "", "output": f"It is colour {i}."} for i in range(12)]
    held += pool[:3]  # records of the pool are never held out
    (d / "held.json").write_text(json.dumps(held))
    argv = [
        "run", "--train-data", str(d / "pool.json"), "--proxy", str(tiny_gpt2), "--target", str(tiny_gpt2),
        "--testset", f"toy={d / 'toy.jsonl'}", "--judge", "reference", "--selector", "random", "--ratio", "0.25",
        "--run-dir", str(d / "run"), "--quiet",
        "--set", "finetune.regime=lora", "--set", "finetune.lr=2e-5", "--set", "finetune.batch_size=128",
        "--set", "finetune.micro_batch_size=4", "--set", "finetune.epochs=3", "--set", "finetune.min_steps=0",
        "--set", "finetune.max_length=128", "--set", "generation.max_new_tokens=6", "--set", "generation.backend=hf",
        "--set", f"heldout.data={d / 'held.json'}",
    ]  # fmt: skip
    return d / "run", argv


@pytest.mark.slow
def test_three_steps_and_identical_answers_warn(three_step_run, capsys):
    run, argv = three_step_run
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = read_json(run / "report" / "summary.json")
    rows = {r["system"]: r for r in summary["training"]}
    assert rows["random@0.25"]["steps"] == 3 and rows["full"]["steps"] == 12
    assert rows["random@0.25"]["examples"] == 100 and rows["random@0.25"]["tokens_trained"] > 0
    assert rows["random@0.25"]["loss_first"] is not None and rows["random@0.25"]["loss_last"] is not None
    share = rows["random@0.25"]["identical_to_100%"]
    assert share > 0.5  # lr 2e-5 for 3 vs 12 steps: both stay at the base model, greedy answers alike
    warn = rows["random@0.25"]["warnings"]
    assert any("3 optimizer step(s), below the floor of 10" in w for w in warn)
    assert any("identical to the 100% model's" in w for w in warn)
    flat = " ".join(out.split())
    assert "random@0.25: 3 optimizer step(s), below the floor of 10" in flat and "identical to the 100% model" in flat
    md = (run / "report" / "leaderboard.md").read_text()
    assert "Did each cell train?" in md and "3 optimizer step(s)" in md
    assert "Did each cell train?" in (run / "report" / "index.html").read_text()


@pytest.mark.slow
def test_heldout_score_beside_pws(three_step_run, capsys):
    run, argv = three_step_run
    assert main(argv) == 0  # everything cached
    capsys.readouterr()
    summary = read_json(run / "report" / "summary.json")
    rows = {r["system"]: r for r in summary["heldout"]}
    assert set(rows) == {"full", "random@0.25"}
    assert rows["full"]["records"] == 12 and rows["full"]["diff_vs_100"] is None  # the pool's 3 left out
    r = rows["random@0.25"]
    assert r["ci_low"] <= r["heldout_ll"] <= r["ci_high"] < 0
    assert r["diff_ci_low"] <= r["diff_vs_100"] <= r["diff_ci_high"]
    full = {x["id"]: x["mean_logprob"] for x in read_jsonl(next(run.glob("heldout/full-*/scores.jsonl")))}
    sub = {x["id"]: x["mean_logprob"] for x in read_jsonl(next(run.glob("heldout/random@0.25-*/scores.jsonl")))}
    assert math.isclose(r["diff_vs_100"], sum(sub[i] - full[i] for i in full) / len(full), abs_tol=1e-4)
    assert "Held-out score" in (run / "report" / "leaderboard.md").read_text()
    assert main(["report", "--run-dir", str(run)]) == 0
    assert "Held-out score" in " ".join(capsys.readouterr().out.split())


def test_heldout_file_is_checked_before_any_work(tmp_path, tiny_gpt2, capsys):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([e.to_dict() for e in examples(20)]))
    argv = ["finetune", "--train-data", str(pool), "--target", str(tiny_gpt2), "--proxy", str(tiny_gpt2),
            "--selector", "random", "--run-dir", str(tmp_path / "run")]  # fmt: skip
    assert main([*argv, "--set", f"heldout.data={tmp_path / 'nope.json'}"]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "run").exists()
    (tmp_path / "same.json").write_text(pool.read_text())  # every record is in the pool: nothing held out
    assert main([*argv, "--set", f"heldout.data={tmp_path / 'same.json'}"]) == 2
    assert "no held-out record" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_heldout_rows_pair_by_record_and_give_the_controls(tmp_path):
    from gsnr_bench.core.fileio import write_json, write_jsonl
    from gsnr_bench.reporting.config import ReportConfig
    from gsnr_bench.reporting.heldout import heldout_rows
    from gsnr_bench.run.store import DONE

    ids = [f"r{i}" for i in range(40)]
    shift = {"full": 0.0, "oracle@0.1": 0.05, "anti-oracle@0.1": -0.3}

    def stage(system: str, selector: str, ratio: float, baseline: bool) -> None:
        d = tmp_path / "heldout" / f"{system}-abc"
        rows = [{"id": i, "tokens": 5, "logprob_sum": 0.0, "mean_logprob": -2.0 - k * 0.01 + shift[system]}
                for k, i in enumerate(ids)]  # fmt: skip
        rows.append({"id": "long", "tokens": 0, "logprob_sum": None, "mean_logprob": None, "truncated": True})
        write_jsonl(d / "scores.jsonl", rows)
        write_json(d / "heldout.json", {"system": system, "selector": selector, "ratio": ratio, "records": 41,
                                        "baseline_scores": None if baseline else "heldout/full-abc/scores.jsonl",
                                        "model": f"models/{system}"})  # fmt: skip
        (d / DONE).write_text("{}")

    stage("full", "full", 1.0, True)
    stage("oracle@0.1", "oracle", 0.1, False)
    stage("anti-oracle@0.1", "anti-oracle", 0.1, False)
    rows, controls = heldout_rows(tmp_path, ReportConfig())
    by = {r["system"]: r for r in rows}
    assert rows[0]["system"] == "full" and by["full"]["diff_vs_100"] is None
    assert by["full"]["records"] == 40 and by["full"]["not_scored"] == 1
    # every record moves by the same amount: the paired difference and its interval are exactly that shift
    o = by["oracle@0.1"]
    assert math.isclose(o["diff_vs_100"], 0.05, abs_tol=1e-6) and math.isclose(o["diff_ci_low"], 0.05, abs_tol=1e-6)
    assert o["differs"] is True and by["anti-oracle@0.1"]["diff_vs_100"] < 0
    (c,) = [c for c in controls if c["comparison"] == "oracle - anti-oracle"]
    assert math.isclose(c["diff"], 0.35, abs_tol=1e-6) and c["separates"] and c["records"] == 40


def test_models_not_judged_yet_get_their_row_and_identical_share(tmp_path):
    from gsnr_bench.core.fileio import write_json, write_jsonl
    from gsnr_bench.reporting.config import ReportConfig
    from gsnr_bench.reporting.training_check import training_rows
    from gsnr_bench.run.store import DONE

    answers = {"full": ["a", "b", "c", "d"], "random@0.1": ["a", "b", "c", "x"], "oracle@0.1": ["p", "q", "c", "d"]}
    for system, texts in answers.items():
        m = tmp_path / "models" / f"{system}-k"
        write_jsonl(m / "train_log.jsonl", [{"step": 1, "loss": 3.0}, {"step": 40, "loss": 1.5}])
        write_json(m / "trained.json", {"examples": 50, "global_step": 40 if system != "oracle@0.1" else 4})
        h = tmp_path / "heldout" / f"{system}-k"
        base = None if system == "full" else "heldout/full-k/scores.jsonl"
        rec = {"system": system, "baseline": "full", "model": f"models/{system}-k", "baseline_scores": base}
        write_json(h / "heldout.json", rec)
        (h / DONE).write_text("{}")
        a = tmp_path / "answers" / f"{system}-k"
        write_jsonl(a / "toy.jsonl", [{"question_id": i, "answer": t} for i, t in enumerate(texts)])
        write_json(a / DONE, {"system": system})
    rows = training_rows(tmp_path, [], ReportConfig())
    by = {r["system"]: r for r in rows}
    assert rows[0]["system"] == "full" and by["full"]["identical_to_100%"] is None
    assert by["random@0.1"]["identical_to_100%"] == 0.75 and by["oracle@0.1"]["identical_to_100%"] == 0.5
    assert by["random@0.1"]["loss_first"] == 3.0 and by["random@0.1"]["loss_last"] == 1.5
    assert any("75% of its answers are identical" in w for w in by["random@0.1"]["warnings"])
    assert any("4 optimizer step(s)" in w for w in by["oracle@0.1"]["warnings"])
    assert by["oracle@0.1"]["warnings"] and not [w for w in by["oracle@0.1"]["warnings"] if "identical" in w]
    write_json(tmp_path / "answers" / "full-k2" / DONE, {"system": "full"})  # two 100% answer sets: no guess
    assert {r["identical_to_100%"] for r in training_rows(tmp_path, [], ReportConfig())} == {None}
