import pytest

from gsnr_bench.core.config import build_config
from gsnr_bench.core.errors import ConfigError


def test_precedence_defaults_yaml_flags_set(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("judging:\n  order: both\n  concurrency: 3\nselection:\n  ratios: [0.2]\n")
    cfg = build_config([y], ["judging.concurrency=7", "finetune.lora.r=4"], {"selection": {"ratios": [0.5]}})
    assert cfg.judging.order == "both"  # from YAML
    assert cfg.judging.concurrency == 7  # --set beats YAML
    assert cfg.selection.ratios == [0.5]  # flags beat YAML
    assert cfg.finetune.lora.r == 4
    assert cfg.judging.combine == "lenient"  # default


def test_unknown_key_is_an_error_with_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'judging.concurrenc'.*did you mean 'concurrency'"):
        build_config([], ["judging.concurrenc=3"])


@pytest.mark.parametrize("ratio", ["0", "1.5", "-0.1"])
def test_ratio_outside_unit_interval(ratio):
    with pytest.raises(ConfigError, match="outside"):
        build_config([], [f"selection.ratios=[{ratio}]"])


def test_bad_type_and_bad_override_syntax():
    with pytest.raises(ConfigError, match="judging.concurrency"):
        build_config([], ["judging.concurrency=lots"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        build_config([], ["judging.concurrency"])


def test_presets_resolve_by_name():
    cfg = build_config(["demo"])
    assert cfg.name == "demo" and cfg.data.train == "demo"


def test_malformed_yaml_names_line(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: malformed YAML at line 3$"):
        build_config([y])
