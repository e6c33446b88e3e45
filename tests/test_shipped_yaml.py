"""Every YAML file the project ships loads and validates with the loader that uses it (as torchtune's
test_configs does): selectors build with their parameters, judges and prompts parse, every config preset
builds a Config, every fetchable-model entry validates. A new file in any of these folders is covered."""

from pathlib import Path

import pytest

from gsnr_bench.core import registry
from gsnr_bench.core.config import build_config
from gsnr_bench.judging.protocol import load_prompt
from gsnr_bench.judging.spec import load_judge
from gsnr_bench.modeling.catalog import load_entry

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("selectors", "judges", "prompts", "configs", "models")


def shipped(kind: str) -> list[Path]:
    return sorted((ROOT / kind).rglob("*.yaml"))


def test_every_folder_ships_yaml():
    for kind in KINDS:
        assert shipped(kind), f"{kind}/ ships no YAML"


@pytest.mark.parametrize("path", shipped("selectors"), ids=lambda p: p.stem)
def test_selector_yaml_builds(path):
    reg = registry.selectors()
    spec = reg._load_yaml(path)
    assert spec.name == path.stem
    assert reg.build(spec.name) is not None  # typed parameters and the constructor's own checks


@pytest.mark.parametrize("path", shipped("judges"), ids=lambda p: p.stem)
def test_judge_yaml_loads(path):
    spec = load_judge(str(path))
    assert spec.name == path.stem and spec.model


@pytest.mark.parametrize("path", shipped("prompts"), ids=lambda p: p.stem)
def test_prompt_yaml_loads(path):
    assert load_prompt(path.stem) is not None


@pytest.mark.parametrize("path", shipped("configs"), ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_config_preset_builds(path):
    if path.parent.name == "accelerate":  # accelerate's own launcher configs, not gsnr-bench presets
        import yaml

        assert isinstance(yaml.safe_load(path.read_text()), dict)
        return
    cfg = build_config([str(path)])
    assert cfg.selection.ratios or cfg.selection.sizes


@pytest.mark.parametrize("path", shipped("models"), ids=lambda p: p.stem)
def test_model_entry_validates(path):
    e = load_entry(path)
    assert e.name == path.stem and len(e.source.sha256) == 64 and e.lora_target_modules
