import subprocess
import sys
import time

from conftest import ROOT


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(out.stdout.split())


def test_import_gsnr_bench_does_not_import_torch():
    mods = _modules_after(
        "import gsnr_bench, gsnr_bench.cli, gsnr_bench.core.config, gsnr_bench.core.registry, gsnr_bench.run.store"
    )
    assert "torch" not in mods and "transformers" not in mods


def test_listing_selectors_does_not_import_torch():
    mods = _modules_after(
        "from gsnr_bench.core import registry\nr = registry.selectors()\n[r.get(n) for n in r.specs()]"
    )
    assert "torch" not in mods


def test_help_is_fast_and_torch_free():
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gsnr_bench", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and "run" in out.stdout
    assert " torch" not in out.stderr  # -X importtime lists every imported module on stderr
    assert time.perf_counter() - start < 10


def test_repo_root_has_no_importable_selectors_package():
    # `selectors` is a standard-library module; a package of that name at the root would shadow it.
    for d in ("selectors", "judges", "prompts", "leaderboard"):
        assert not (ROOT / d / "__init__.py").exists()
    code = "import asyncio, selectors; print(selectors.__file__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "site-packages" not in out.stdout and str(ROOT / "selectors") not in out.stdout
