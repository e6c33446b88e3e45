"""Typed selector parameters (selection/common.py: SelectorParams; GradsParams, GsnrParams): one-line errors, and
cache keys byte-identical to the ones the hand-checked `self.p` dicts gave (so every cached ensemble and
fine-tune stays valid)."""

import hashlib
import json

import pytest

from gsnr_bench.core import registry
from gsnr_bench.core.errors import ConfigError, RegistryError
from gsnr_bench.domain.records import Example
from gsnr_bench.selection.base import SelectionContext
from gsnr_bench.selection.grads import GradsSelector
from gsnr_bench.selection.gsnr import GsnrSelector

POOL = [Example(f"e{i}", f"do {i}", "" if i % 2 else "x", f"done {i}") for i in range(4)]
# (selector, params, its cache directory's name as computed before the Params models, at commit abb1ce0)
BEFORE = [
    (GradsSelector, {}, "c6166bedce188b784e42"),
    (
        GradsSelector,
        dict(finetune="lora", ft_lr=1, lora_target="q_proj", bandwidth=1, kde="sklearn", seed=7, max_tokens=512),
        "04d61ba291381cff8e50",
    ),
    (
        GradsSelector,
        dict(finetune="none", tied="sum", feature="total", ft_max_examples=10, max_length=128, lora_target=["a", "b"])
        | dict(log=False),
        "99d3a7b1c692b210e6f3",
    ),
    (GsnrSelector, {}, "cf6f56c93ea61580b8c6"),
    (
        GsnrSelector,
        dict(variant="alt1", members=3, alpha=8, target=["q", "v"], lr=1e-3, epochs=3, s=1, t=3, order_seed=5)
        | dict(record_all_epochs=True),
        "edea70af3d50db2785b8",
    ),
    (
        GsnrSelector,
        dict(norms="snapshot", seed=2, max_length=64, dtype="bfloat16", eps=1e-6, template="alpaca", append_eos=True),
        "8c8bc9e9e135ae90e6c6",
    ),
]


@pytest.mark.parametrize("cls, params, before", BEFORE)
def test_cache_keys_are_the_ones_before_the_params_models(cls, params, before, tmp_path):
    ctx = SelectionContext(pool=POOL, params={}, seed=3, workdir="/w", proxy="p", proxy_key="k", max_length=512)
    sel = cls(**params)
    key = sel.cache_key(ctx)
    assert sel.cache_dir(ctx, key).name == before
    assert hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20] == before


@pytest.mark.parametrize(
    "cls, params, message",
    [
        (GradsSelector, {"tied": "mean"}, "grads: tied='mean': input should be 'split' or 'sum'"),
        (GradsSelector, {"ft_epochs": 0}, "grads: ft_epochs=0: input should be greater than or equal to 1"),
        (GradsSelector, {"fintune": "x"}, "grads: fintune='x': extra inputs are not permitted"),
        (GsnrSelector, {"s": 2, "t": 1}, "gsnr: need 1 <= s < t <= epochs, got s=2, t=1, epochs=2"),
        (GsnrSelector, {"variant": "alt7"}, "gsnr: variant='alt7': input should be 'gsnr', 'alt1', 'alt2' or 'alt3'"),
        (GsnrSelector, {"template": "chat"}, "gsnr: template='chat': input should be 'plain' or 'alpaca'"),
        # checked before any work now (the ensemble used to refuse them only when scoring started)
        (GsnrSelector, {"data_order": "x"}, "gsnr: data_order='x': input should be 'bucketed' or 'independent'"),
        (GsnrSelector, {"members": 0}, "gsnr: members=0: input should be greater than or equal to 1"),
    ],
)
def test_bad_params_are_one_line_config_errors(cls, params, message):
    with pytest.raises(ConfigError) as exc:
        cls(**params)
    assert str(exc.value) == message


def test_the_registry_checks_names_and_types_against_the_params_model():
    reg = registry.selectors()
    with pytest.raises(RegistryError, match=r"unknown parameter selection\.params\.grads\.fintune; did you mean"):
        reg.build("grads", {"fintune": "full"})
    with pytest.raises(RegistryError, match=r"bandwidth=-1: .*'scott' or 'silverman', or .*greater than 0"):
        reg.build("grads", {"bandwidth": -1})
    sel = reg.build("gsnr", {"lr": "5e-5", "target": "c_proj"})
    assert sel.params.lr == 5e-5 and sel.params.target == ["c_proj"]


def test_the_gsnr_family_yamls_share_gsnrs_parameters():
    """gsnr.yaml spells out GsnrParams' defaults; the ablations name only their variant, so the four can never
    drift apart (one ensemble for the family)."""
    from gsnr_bench.core import registry
    from gsnr_bench.selection.gsnr import GsnrParams

    specs = registry.selectors().specs()
    full = specs["gsnr"].params
    assert GsnrParams(**full).model_dump() == GsnrParams().model_dump()  # gsnr.yaml = the defaults, validated
    for alt in ("gsnr-alt1", "gsnr-alt2", "gsnr-alt3"):
        assert set(specs[alt].params) == {"variant"} and specs[alt].params["variant"] == alt.split("-")[1]
