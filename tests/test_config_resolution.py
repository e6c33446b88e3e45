"""Which config a command on a new run uses: real inputs get the paper defaults (demo settings never leak), no
inputs is the demo; presets, `extends`, unknown keys, `--set` values and selector params."""

from __future__ import annotations

import json

import pytest

from gsnr_bench.cli import main
from gsnr_bench.commands.runs import resolve_run
from gsnr_bench.core.config import build_config
from gsnr_bench.core.errors import ConfigError

from run_dirs import cli_args, write_pool


# ------------------------------------------------------------------ 3. demo settings never leak
def test_real_inputs_without_config_get_paper_defaults(tmp_path):
    pool = write_pool(tmp_path)
    plan = resolve_run(
        cli_args(
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
    plan = resolve_run(cli_args("run", "--run-dir", str(tmp_path / "r")))
    assert plan.cfg.name == "demo" and plan.cfg.data.train == "demo" and plan.record is None


def test_a_real_run_without_a_target_is_a_one_line_error_before_any_work(tmp_path, capsys):
    pool = write_pool(tmp_path)
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
    pool = write_pool(tmp_path)
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
