"""Quiet means quiet: a fine-tune + generate prints no library line unless --verbose."""

from __future__ import annotations

import warnings

import pytest

from gsnr_bench.core.noise import configure_library_output

from tiny_models import build_tiny_gpt2, examples, questions


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("noise") / "gpt2", pad=False)  # EOS becomes the pad


def _finetune_and_generate(base, out, regime):
    from gsnr_bench.generation.config import GenerationConfig
    from gsnr_bench.generation.stage import generate
    from gsnr_bench.training.config import FinetuneConfig
    from gsnr_bench.training.finetune import finetune

    finetune(
        examples(8),
        FinetuneConfig(regime=regime, epochs=1, batch_size=4, micro_batch_size=4, max_length=64),
        str(base),
        out / "m",
    )
    generate(out / "m", questions("t", 3), GenerationConfig(backend="hf", max_new_tokens=4), out / "a")


@pytest.mark.parametrize("regime", ["lora", "full"])
def test_quiet_run_prints_nothing_from_libraries(base, tmp_path, capfd, regime):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")  # anything not filtered by us is recorded
        configure_library_output(verbose=False)
        capfd.readouterr()
        _finetune_and_generate(base, tmp_path, regime)
        out, err = capfd.readouterr()
    libs = [f"{w.category.__name__}: {w.message} ({w.filename})" for w in rec if "site-packages" in w.filename]
    assert libs == []
    assert [line for line in err.splitlines() + out.splitlines() if line.strip()] == []


def test_our_causes_are_fixed_even_when_verbose(base, tmp_path, capfd):
    """PAD-token alignment, loss_type and fan_in_fan_out were warnings about our setup: gone at the source."""
    try:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            configure_library_output(verbose=True)
            _finetune_and_generate(base, tmp_path, "lora")
            err = capfd.readouterr().err
    finally:
        configure_library_output(verbose=False)
    text = err + "\n".join(str(w.message) for w in rec)
    for cause in ("PAD/BOS/EOS", "loss_type", "fan_in_fan_out"):
        assert cause not in text


def test_verbose_undoes_only_what_quiet_set(monkeypatch):
    import os

    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    monkeypatch.setenv("DATASETS_VERBOSITY", "info")  # the user's own setting is kept
    configure_library_output(verbose=True)  # whatever an earlier in-process CLI call set
    before = list(warnings.filters)
    try:
        configure_library_output(verbose=False)
        assert len(warnings.filters) > len(before)
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "error" and os.environ["DATASETS_VERBOSITY"] == "info"
        configure_library_output(verbose=True)
        assert warnings.filters == before
        assert "TRANSFORMERS_VERBOSITY" not in os.environ and os.environ["DATASETS_VERBOSITY"] == "info"
        configure_library_output(verbose=False)  # quiet again after verbose (tests, notebooks)
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    finally:
        warnings.filters[:] = before


def test_cli_has_verbose_and_stays_light():
    from gsnr_bench.cli import build_parser

    assert build_parser().parse_args(["run", "--verbose"]).verbose is True
    assert build_parser().parse_args(["run"]).verbose is False
