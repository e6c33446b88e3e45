"""A run directory is the experiment record: which config a command uses, what it records, what the report
covers, and that nothing is written before everything is validated. Fast: synthetic run dirs, CLI in-process."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gsnr_bench.cli import build_parser, main
from gsnr_bench.commands.runs import resolve_run
from gsnr_bench.core.config import build_config
from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import write_json, write_jsonl, write_text
from gsnr_bench.domain.cell import CELL_VERSION
from gsnr_bench.run.runrecord import RunRecord, load_record, save_record
from gsnr_bench.run.store import CELL, RunStore


def _args(*argv):
    return build_parser().parse_args(list(argv))


def _pool(tmp_path, n=40):
    p = tmp_path / "pool.json"
    p.write_text(json.dumps([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(n)]))
    return p


def _cell(
    run: Path,
    system="random@0.1",
    judge="gpt",
    protocol="p-aaaa1111",
    outcomes=("win", "lose", "tie"),
    testset="vicuna",
    baseline_answers="b1",
):
    sel, ratio = system.split("@")
    d = run / "judgments" / judge / f"{system}-vs-full-{protocol}"
    recs = [
        {
            "testset": testset,
            "question_id": str(i + 1),
            "judge": judge,
            "judge_model": "m",
            "system": system,
            "baseline": "full",
            "prompt_version": "vicuna-pair-v1",
            "order": "shuffle",
            "combine": None,
            "null_pair": False,
            "calls": [],
            "outcome": o,
            "system_len": 10,
            "baseline_len": 12,
        }
        for i, o in enumerate(outcomes)
    ]
    write_jsonl(d / "judgments.jsonl", recs)
    write_json(
        d / CELL,
        {
            "version": CELL_VERSION,
            "system": system,
            "baseline": "full",
            "judge": judge,
            "judge_model": "m",
            "selector": sel,
            "ratio": float(ratio),
            "dataset": "alpaca",
            "target_model": "llama",
            "regime": "lora",
            "protocol": protocol,
            "protocol_detail": {"baseline_answers": baseline_answers},
            "scores": "scores/x/scores.jsonl",
            "subset": "subsets/x",
            "train_logs": {},
            "truth": None,
            "testsets": {testset: [str(i + 1) for i in range(len(outcomes))]},
            "prompt_version": "vicuna-pair-v1",
            "run_name": "real",
        },
    )
    return d


def _real_run(tmp_path) -> Path:
    run = tmp_path / "run"
    RunStore(run)
    save_record(run, RunRecord({"name": "real", "report": {"bootstrap_rounds": 1000}}, [{"command": "run"}]))
    return run


# ------------------------------------------------------------------ 1. report re-renders from files only
def test_report_with_no_flags_renders_the_run_never_the_demo(tmp_path, capsys):
    run = _real_run(tmp_path)
    _cell(run, "random@0.1")
    _cell(run, "ifd-superfiltering@0.25", outcomes=("win", "win", "tie"))
    before = (run / "config.yaml").read_bytes()
    assert main(["report", "--run-dir", str(run)]) == 0
    assert (run / "config.yaml").read_bytes() == before  # the record is untouched
    assert not (run / "world").exists() and not (run / "scores").exists()  # no stage, no demo
    rows = (run / "report" / "leaderboard.csv").read_text()
    assert "random" in rows and "ifd-superfiltering" in rows
    assert "gsnr-bench: real" in (run / "report" / "index.html").read_text()


# ------------------------------------------------------------------ 2. every finished cell, protocols apart
def test_report_covers_every_cell_and_keeps_protocols_apart(tmp_path):
    from gsnr_bench.reporting.collect import collect

    run = _real_run(tmp_path)
    _cell(run, "random@0.1", protocol="p-aaaa1111")
    _cell(run, "random@0.1", protocol="p-bbbb2222", outcomes=("win", "win", "win"), baseline_answers="b2")
    _cell(run, "gsnr@0.1", protocol="p-aaaa1111")
    rr = collect(run)
    pooled = rr.results[(rr.results.judge == "mean") & (rr.results.testset == "pooled")]
    assert sorted(zip(pooled.selector, pooled.protocol)) == [
        ("gsnr", "p-aaaa1111"),
        ("random", "p-aaaa1111"),
        ("random", "p-bbbb2222"),
    ]
    assert sorted(pooled.pws.round(3)) == [1.0, 1.0, 2.0]  # not pooled into one random@0.1 row
    assert main(["report", "--run-dir", str(run)]) == 0
    md = (run / "report" / "leaderboard.md").read_text()
    assert "lora [p-aaaa1111]" in md and "lora [p-bbbb2222]" in md


def test_failed_comparisons_are_counted_and_the_report_exits_nonzero(tmp_path):
    run = _real_run(tmp_path)
    _cell(run, "random@0.1", outcomes=("win", "failed", "failed"))
    assert main(["report", "--run-dir", str(run)]) == 3
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["cells"][0]["failed"] == 2 and summary["cells"][0]["complete"] is False
    assert "2 failed comparison(s)" in (run / "report" / "index.html").read_text()


def test_a_retried_comparison_keeps_its_last_record(tmp_path):
    from gsnr_bench.reporting.collect import collect

    run = _real_run(tmp_path)
    d = _cell(run, "random@0.1", outcomes=("failed", "win"))
    first = json.loads((d / "judgments.jsonl").read_text().splitlines()[0])
    with open(d / "judgments.jsonl", "a") as fh:  # the next command judged the failed one again
        fh.write(json.dumps({**first, "outcome": "lose"}) + "\n")
    rr = collect(run)
    pooled = rr.results[(rr.results.judge == "mean") & (rr.results.testset == "pooled")].iloc[0]
    assert (pooled.wins, pooled.losses, pooled.failed) == (1, 1, 0)


# ------------------------------------------------------------------ 3. demo settings never leak
def test_real_inputs_without_config_get_paper_defaults(tmp_path):
    pool = _pool(tmp_path)
    plan = resolve_run(
        _args(
            "score",
            "--train-data",
            str(pool),
            "--proxy",
            "gpt2",
            "--selector",
            "ifd-superfiltering",
            "--run-dir",
            str(tmp_path / "r"),
        )
    )
    c = plan.cfg
    assert c.proxy.max_length is None  # the proxy's own context, not the demo's 256
    assert c.selection.params == {}  # each selector's own YAML params, not the demo's G-SNR lr
    assert c.data.testsets == ["wizardlm", "vicuna"] and c.judging.judges == ["gpt"]
    assert c.finetune.model is None and c.name == "run"
    assert "demo" not in json.dumps({k: v for k, v in c.to_dict().items() if k != "demo"})


def test_no_inputs_and_no_config_is_the_demo(tmp_path):
    plan = resolve_run(_args("run", "--run-dir", str(tmp_path / "r")))
    assert plan.cfg.name == "demo" and plan.cfg.data.train == "demo" and plan.record is None


def test_a_real_run_without_a_target_is_a_one_line_error_before_any_work(tmp_path, capsys):
    pool = _pool(tmp_path)
    rc = main(["run", "--train-data", str(pool), "--selector", "random", "--run-dir", str(tmp_path / "r"), "--quiet"])
    assert rc == 2
    assert "no target model" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ 4. presets, extends, unknown keys
def test_a_demo_folder_does_not_shadow_the_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    assert build_config(["demo"]).name == "demo"
    with pytest.raises(ConfigError, match="is a directory"):
        build_config([str(tmp_path / "demo")])


def test_extends_merges_and_cycles_are_errors(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: base\nfinetune: {lr: 3.0e-5, epochs: 2}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: child\nfinetune: {epochs: 5}\n")
    c = build_config([child])
    assert (c.name, c.finetune.lr, c.finetune.epochs) == ("child", 3e-5, 5)
    preset_child = tmp_path / "p.yaml"
    preset_child.write_text("extends: paper/alpaca-llama2-7b-lora\nfinetune: {lr: 1.0e-5}\n")
    c = build_config([preset_child])
    assert c.finetune.model == "meta-llama/Llama-2-7b-hf" and c.finetune.lr == 1e-5
    base.write_text("extends: child.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        build_config([child])


def test_ignored_keys_are_unknown_keys():
    with pytest.raises(ConfigError, match="unknown config key 'proxy.dtype'"):
        build_config([], ["proxy.dtype=bfloat16"])


def test_set_values_are_yaml_1_2_scalars():
    c = build_config([], ["selection.params.gsnr.lr=5e-5", "seed=010", "finetune.lora.targets=[q_proj, v_proj]"])
    assert c.selection.params["gsnr"]["lr"] == 5e-5 and isinstance(c.selection.params["gsnr"]["lr"], float)
    assert c.seed == 10 and c.finetune.lora.targets == ["q_proj", "v_proj"]


def test_selector_params_are_checked_against_the_selector(tmp_path, capsys):
    from gsnr_bench.core import registry
    from gsnr_bench.core.errors import RegistryError

    reg = registry.selectors()
    assert reg.build("gsnr", {"lr": "5e-5"}).params.lr == 5e-5  # converted, never a string in the optimizer
    with pytest.raises(RegistryError, match=r"selection.params.gsnr.lr='fast'"):
        reg.build("gsnr", {"lr": "fast"})
    with pytest.raises(RegistryError, match=r"unknown parameter selection.params.gsnr.membres; did you mean 'members'"):
        reg.build("gsnr", {"membres": 3})
    pool = _pool(tmp_path)
    rc = main(
        [
            "select",
            "--train-data",
            str(pool),
            "--selector",
            "gsnr",
            "--set",
            "selection.params.gsnr.lr=fast",
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 2 and not (tmp_path / "r").exists()


# ------------------------------------------------------------------ existing runs: the record is the config
def test_a_command_on_an_existing_run_uses_its_record_and_logs_changes(tmp_path):
    pool = _pool(tmp_path)
    run = tmp_path / "r"
    first = resolve_run(
        _args(
            "select",
            "--train-data",
            str(pool),
            "--selector",
            "random",
            "--ratio",
            "0.25",
            "--set",
            "finetune.lr=3e-5",
            "--run-dir",
            str(run),
        )
    )
    RunStore(run)
    save_record(run, RunRecord(first.cfg.to_dict(), [{"command": "select"}]))
    again = resolve_run(_args("select", "--run-dir", str(run)))
    assert again.cfg == first.cfg and again.changed == {}
    changed = resolve_run(_args("select", "--run-dir", str(run), "--set", "finetune.lr=1e-5", "--selector", "gsnr"))
    assert changed.cfg.data.train == str(pool)  # not the demo
    assert changed.changed == {"finetune.lr": [3e-5, 1e-5], "selection.selectors": [["random"], ["gsnr"]]}


def test_select_records_history_and_keeps_it(tmp_path):
    pool = _pool(tmp_path)
    run = tmp_path / "r"
    assert (
        main(
            [
                "select",
                "--train-data",
                str(pool),
                "--selector",
                "random",
                "--ratio",
                "0.25",
                "--run-dir",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["select", "--run-dir", str(run), "--ratio", "0.5", "--quiet"]) == 0
    rec = load_record(run)
    assert [h["cells"] for h in rec.history] == [["random@0.25"], ["random@0.5"]]
    assert rec.history[1]["changed"] == {"selection.ratios": [[0.25], [0.5]]}
    assert rec.config["data"]["train"] == str(pool)
    assert len(list(run.glob("subsets/*/DONE"))) == 2 and len(list(run.glob("scores/*/DONE"))) == 1


# ------------------------------------------------------------------ 8. everything validated before any work
@pytest.mark.parametrize(
    "extra,pattern",
    [
        (["--set", "judging.judges=[gtp]"], "unknown judge 'gtp'"),
        (["--set", "data.testsets=[no/such.jsonl]"], "test set file not found"),
        (["--config", "no-such-preset"], "config not found"),
        (["--proxy", "./no/such/dir", "--selector", "ifd-superfiltering"], "proxy model not found"),
    ],
)
def test_select_validates_every_name_before_writing(tmp_path, capsys, extra, pattern):
    pool = _pool(tmp_path)
    run = tmp_path / "r"
    rc = main(["select", "--train-data", str(pool), "--selector", "random", *extra, "--run-dir", str(run), "--quiet"])
    assert rc == 2 and pattern in capsys.readouterr().err
    assert not run.exists()  # no subsets, no config.yaml, not even the marker


def test_a_failed_command_leaves_the_record_as_it_was(tmp_path, capsys):
    pool = _pool(tmp_path)
    run = tmp_path / "r"
    assert (
        main(
            [
                "select",
                "--train-data",
                str(pool),
                "--selector",
                "random",
                "--ratio",
                "0.5",
                "--run-dir",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    before = (run / "config.yaml").read_bytes()
    assert main(["select", "--run-dir", str(run), "--set", "judging.judges=[gtp]", "--quiet"]) == 2
    assert (run / "config.yaml").read_bytes() == before


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "is not a gsnr-bench run directory"),
    ],
)
def test_run_dir_that_is_not_a_run_is_refused(tmp_path, capsys, make, pattern):
    target = tmp_path / "r"
    make(target)
    assert (
        main(
            [
                "select",
                "--train-data",
                str(_pool(tmp_path)),
                "--selector",
                "random",
                "--run-dir",
                str(target),
                "--quiet",
            ]
        )
        == 2
    )
    assert pattern in capsys.readouterr().err


def test_unwritable_run_dir_is_one_line_before_work(tmp_path, capsys, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    rc = main(
        [
            "select",
            "--train-data",
            str(_pool(tmp_path)),
            "--selector",
            "random",
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 2 and "cannot write to" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ 9. imports validated in full
def test_import_needs_a_parseable_system_and_writes_nothing_otherwise(tmp_path, capsys):
    run = _real_run(tmp_path)
    _cell(run, "random@0.1", testset="vicuna")
    review = tmp_path / "review.json"
    review.write_text(
        json.dumps(
            [
                {
                    "question_id": q,
                    "text": "q",
                    "Answer1": "a",
                    "Answer2": "b",
                    "scores": [8, 6],
                    "scores_reverse": [5, 7],
                }
                for q in (1, 2, 3)
            ]
        )
    )
    rc = main(
        [
            "import-judgments",
            str(review),
            "--format",
            "superfiltering",
            "--system",
            "cherry",
            "--testset",
            "vicuna",
            "--run-dir",
            str(run),
        ]
    )
    assert rc == 2 and "SELECTOR@RATIO" in capsys.readouterr().err
    assert not (run / "imported").exists()
    assert main(["report", "--run-dir", str(run)]) == 0  # the run is still whole
    rc = main(
        [
            "import-judgments",
            str(review),
            "--format",
            "superfiltering",
            "--system",
            "cherry@0.1",
            "--testset",
            "vicuna",
            "--run-dir",
            str(run),
            "--model",
            "llama-7b",
            "--regime",
            "lora",
            "--judge",
            "gpt-4",
        ]
    )
    assert rc == 0
    rows = [r for r in (run / "report" / "leaderboard.csv").read_text().splitlines() if ",cherry," in r]
    assert rows and all(r.startswith("imported,llama-7b,lora,imported-vicuna-pair-v1,cherry,") for r in rows)


def test_a_broken_import_file_is_a_one_line_error_naming_it(tmp_path, capsys):
    run = _real_run(tmp_path)
    _cell(run)
    write_json(run / "imported" / "x.json", {"records": []})
    assert main(["report", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "x.json" in err and "delete it" in err


# ------------------------------------------------------------------ 10. files honour the umask
@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == mode


# ------------------------------------------------------------------ 11. layers
def test_no_module_imports_a_layer_above_it():
    """The import-linter contracts in pyproject.toml (docs/ARCHITECTURE.md's layers) hold."""
    importlinter = pytest.importorskip("importlinter.cli")
    root = Path(__file__).resolve().parent.parent
    old = os.getcwd()
    os.chdir(root)
    try:
        assert importlinter.lint_imports(config_filename=str(root / "pyproject.toml")) == 0
    finally:
        os.chdir(old)


# ------------------------------------------------------------------ 5. keys by content
def test_model_fingerprint_follows_content_and_caches_unchanged_files(tmp_path, monkeypatch):
    from gsnr_bench.run import fingerprint as fp

    model = tmp_path / "proxy"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights-1")
    cache = fp.StatCache(tmp_path / "hashes.json")
    k1 = fp.model_fingerprint(str(model), cache)
    cache.save()
    calls = []
    real = fp._sha256
    monkeypatch.setattr(fp, "_sha256", lambda p: calls.append(p) or real(p))
    again = fp.StatCache(tmp_path / "hashes.json")
    assert fp.model_fingerprint(str(model), again) == k1 and calls == []  # unchanged: stat only
    (model / "model.safetensors").write_bytes(b"weights-2")  # retrained in place, same path
    k2 = fp.model_fingerprint(str(model), again)
    assert k2 != k1 and [c.name for c in calls] == ["model.safetensors"]


def test_scores_stage_and_gsnr_cache_follow_the_proxy_content(tmp_path):
    from gsnr_bench.pipeline import Pipeline
    from gsnr_bench.selection.common import proxy_digest

    model = tmp_path / "proxy"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights-1")
    pool = _pool(tmp_path)

    def key():
        cfg = build_config([], [], {"data": {"train": str(pool)}, "proxy": {"model": str(model)}})
        pipe = Pipeline(cfg, RunStore(tmp_path / "run"), quiet=True)
        with pipe.peeking():
            return pipe.scores("ifd-superfiltering").key, proxy_digest(str(model))

    k1 = key()
    assert key() == k1
    (model / "model.safetensors").write_bytes(b"weights-2")
    k2 = key()
    assert k2[0] != k1[0] and k2[1] != k1[1]


def test_human_labels_for_cells_of_earlier_commands_are_accepted(tmp_path, capsys):
    """import-human checks labels against every judged cell of the run, not the last command's."""
    run = _real_run(tmp_path)
    _cell(run, "random@0.1")  # an earlier command
    _cell(run, "ifd-superfiltering@0.25")  # the last command
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "testset,question_id,system_a,system_b,label,annotator\n"
        "vicuna,1,random@0.1,full,win,ann1\nvicuna,2,full,ifd-superfiltering@0.25,win,ann1\n"
    )
    assert main(["import-human", str(labels), "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Human PWS" in out and "random@0.1" in out
    assert len((run / "human" / "labels.jsonl").read_text().splitlines()) == 2
    # the same labels again would count twice: refused, nothing written
    assert main(["import-human", str(labels), "--run-dir", str(run)]) == 2
    assert "already in" in capsys.readouterr().err
    assert len((run / "human" / "labels.jsonl").read_text().splitlines()) == 2
