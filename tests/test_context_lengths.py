"""max_length above the model's positions is capped with a one-line notice before work, never an IndexError:
fine-tuning (finetune.max_length), scoring (proxy.max_length), generation (max_new_tokens)."""

from __future__ import annotations

import pytest

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import read_json
from gsnr_bench.domain.records import Example
from gsnr_bench.modeling.context import cap_length, model_positions

from tiny_models import build_tiny_gpt2


@pytest.fixture(scope="module")
def short_gpt2(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("short") / "gpt2", n_positions=48, n_embd=32)


def long_examples(n=4):
    body = " ".join(["the colour is red and green and blue"] * 20)
    return [Example(f"ex{i}", f"What is colour {i}?", "", body) for i in range(n)]


def test_cap_length_notice_once(capsys):
    class Cfg:
        max_position_embeddings = 4096

    assert model_positions(Cfg()) == 4096 and model_positions(object()) is None
    assert cap_length(512, 1024, key="k.max_length") == 512
    assert cap_length(9000, 4096, key="k.max_length", model="m") == 4096
    assert cap_length(9000, 4096, key="k.max_length", model="m") == 4096
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "k.max_length=9000 exceeds the 4096 positions of m; using 4096" in err


def test_finetune_caps_max_length(short_gpt2, tmp_path, capfd):
    from gsnr_bench.training.config import FinetuneConfig
    from gsnr_bench.training.finetune import finetune

    cfg = FinetuneConfig(epochs=1, batch_size=4, micro_batch_size=4, max_length=1024)
    finetune(long_examples(), cfg, str(short_gpt2), tmp_path / "m")
    trained = read_json(tmp_path / "m" / "trained.json")
    assert trained["max_length_used"] == 48 and trained["truncated"] == 4
    assert "finetune.max_length=1024 exceeds the 48 positions" in capfd.readouterr().err


@pytest.mark.parametrize("which", ["ifd", "gsnr"])
def test_scoring_caps_proxy_max_length(short_gpt2, tmp_path, capfd, which, monkeypatch):
    import gsnr_bench.modeling.context as context

    monkeypatch.setattr(context, "_NOTICED", set())  # the notice is once per process
    from gsnr_bench.selection.base import SelectionContext
    from gsnr_bench.selection.gsnr import GsnrSelector
    from gsnr_bench.selection.ifd import SuperfilteringIfd

    sel = SuperfilteringIfd(max_length=2048) if which == "ifd" else GsnrSelector(members=2, epochs=2, lr=1e-3)
    ctx = SelectionContext(
        pool=long_examples(6), params={}, seed=0, workdir=tmp_path, proxy=str(short_gpt2), device="cpu", max_length=2048
    )
    res = sel.score(ctx)
    assert len(res.scores) == 6
    assert "max_length=2048 exceeds the 48 positions" in capfd.readouterr().err


def test_generation_max_new_tokens_beyond_positions(short_gpt2, tmp_path):
    from gsnr_bench.generation.config import GenerationConfig
    from gsnr_bench.generation.stage import generate
    from gsnr_bench.training.config import FinetuneConfig
    from gsnr_bench.training.finetune import finetune

    from tiny_models import questions

    model = finetune(
        long_examples(),
        FinetuneConfig(epochs=1, batch_size=4, micro_batch_size=4, max_length=48),
        str(short_gpt2),
        tmp_path / "m",
    ).parent
    with pytest.raises(ConfigError, match="generation.max_new_tokens=64 leaves no room .* 48 positions"):
        generate(model, questions("t", 2), GenerationConfig(backend="hf", max_new_tokens=64), tmp_path / "a")
