import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The fast suite runs on both cores with pytest-xdist (`python -m pytest -n 2`): one torch thread per worker,
# not two each (oversubscribed threads made the suite slower, not faster). An explicit setting wins.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from tiny_models import tiny_gpt2, tiny_gpt2_other  # noqa: E402,F401  (session fixtures for every test module)

ROOT = Path(__file__).resolve().parent.parent
# the real public data files live beside the checkout; GSNR_BENCH_SHARED_DATA points elsewhere (a worktree)
SHARED_DATA = Path(os.environ.get("GSNR_BENCH_SHARED_DATA") or ROOT.parent / "shared" / "data")

# Never reach for the hub in tests: names that need the network must fail fast and clearly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run the real console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gsnr_bench", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pytest_collection_modifyitems(config, items):
    """`gpu` tests need CUDA: skipped (not failed) on machines without it."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if not gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    for item in gpu:
        item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch, capsys):
    """The CLI in-process (no interpreter start-up per call): cli(*args, cwd=..., env=...) -> CliResult.
    `env` values of "" unset the variable."""

    def call(*args: str, cwd: Path | None = None, env: dict | None = None) -> CliResult:
        from gsnr_bench.cli import main

        with monkeypatch.context() as m:
            if cwd is not None:
                m.chdir(cwd)
            for k, v in (env or {}).items():
                if v:
                    m.setenv(k, v)
                else:
                    m.delenv(k, raising=False)
            capsys.readouterr()
            try:
                rc = main(list(args))
            finally:
                from gsnr_bench.core.noise import configure_library_output

                configure_library_output(verbose=True)  # main() quietened libraries for the process: undo it
            out = capsys.readouterr()
        return CliResult(rc, out.out, out.err)

    return call


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def pdflatex(workdir: Path, tex_body: str, columns: str = "onecolumn") -> tuple[int, str]:
    """Compile `tex_body` (tables) in an article with booktabs, one- or two-column; -> (return code, log text).
    The caller skips when pdflatex is not installed."""
    (workdir / "tables.tex").write_text(tex_body)
    (workdir / "doc.tex").write_text(
        f"\\documentclass[{columns}]{{article}}\n\\usepackage{{booktabs}}\n\\begin{{document}}\n"
        "\\input{tables.tex}\n\\clearpage\n\\end{document}\n"
    )
    res = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = workdir / "doc.log"
    return res.returncode, log.read_text(errors="replace") if log.is_file() else res.stdout


@pytest.fixture
def report(pytestconfig):
    """Write a measured line to the terminal past output capture (the vllm tier's numbers; no capsys: vLLM's
    logger keeps a capture stream that pytest closes after the test)."""
    term = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capman = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if term is not None and capman is not None:
            with capman.global_and_fixture_disabled():
                term.write_line(f"\n[vllm tier] {line}")

    return write


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face directory: the catalogue model, fetched (and converted) once."""
    from gsnr_bench.modeling import catalog
    from gsnr_bench.modeling.fetch import fetch

    return catalog.fetched_dir("smollm2-135m-instruct") or fetch(catalog.entry("smollm2-135m-instruct"))
