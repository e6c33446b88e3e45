"""Judges as data: every shipped YAML loads; the vLLM template works by YAML alone; bad specs and
missing env vars fail with one line."""

from pathlib import Path

import pytest
import yaml

from gsnr_bench.core.errors import EndpointError, RegistryError
from gsnr_bench.core.resources import list_resources
from gsnr_bench.judging.spec import PLACEHOLDER_KEY, load_judge, parse_judge, resolve_endpoint

ROOT = Path(__file__).resolve().parent.parent


def test_every_shipped_judge_loads():
    names = set(list_resources("judges"))
    assert {"gpt", "gpt-3.5", "qwen", "reference"} <= names
    for name in names:
        spec = load_judge(name)
        assert spec.name == name and spec.model


def test_vllm_template_is_a_valid_judge(tmp_path):
    data = yaml.safe_load((ROOT / "judges" / "_template-vllm.yaml.example").read_text())
    p = tmp_path / "llama.yaml"
    p.write_text(yaml.safe_dump(data))
    spec = load_judge(str(p))
    assert spec.provider == "openai-compatible" and spec.base_url.startswith("http://")


def test_bad_specs_fail_in_one_line():
    with pytest.raises(RegistryError, match="provider"):
        parse_judge({"name": "x", "provider": "anthropic", "model": "m"})
    with pytest.raises(RegistryError, match="base_url"):
        parse_judge({"name": "x", "provider": "openai-compatible", "model": "m"})
    with pytest.raises(RegistryError, match="api_key_env"):
        parse_judge({"name": "x", "provider": "openai", "model": "m"})
    with pytest.raises(RegistryError, match="unknown_field|extra"):
        parse_judge({"name": "x", "provider": "reference", "model": "m", "unknown_field": 1})
    with pytest.raises(RegistryError, match="did you mean"):
        load_judge("qwne")


def test_endpoint_from_env(monkeypatch):
    spec = load_judge("qwen")
    monkeypatch.delenv("QWEN_BASE_URL", raising=False)
    with pytest.raises(EndpointError, match="QWEN_BASE_URL"):
        resolve_endpoint(spec)
    monkeypatch.setenv("QWEN_BASE_URL", "http://h:8000/v1")
    monkeypatch.delenv("QWEN_API_KEY", raising=False)
    with pytest.raises(EndpointError, match="QWEN_API_KEY") as exc:
        resolve_endpoint(spec)
    assert "\n" not in str(exc.value)
    monkeypatch.setenv("QWEN_API_KEY", "k")
    assert resolve_endpoint(spec) == ("http://h:8000/v1", "k")
    gpt = load_judge("gpt")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "k2")
    assert resolve_endpoint(gpt) == (None, "k2")  # SDK default endpoint
    ref = load_judge("reference").model_copy(update={"base_url": "http://127.0.0.1:1/v1"})
    assert resolve_endpoint(ref) == ("http://127.0.0.1:1/v1", PLACEHOLDER_KEY)


def test_cost_from_prices():
    spec = load_judge("gpt")
    assert spec.cost(1_000_000, 0) == pytest.approx(spec.price_input_per_1m)
    assert spec.cost(0, 2_000_000) == pytest.approx(2 * spec.price_output_per_1m)
