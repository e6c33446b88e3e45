"""cpu_malloc: the opt-out is honoured and the tuning is idempotent (run in subprocesses: it is per process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = "from gsnr_bench.core.cpu_malloc import keep_freed_memory as k; print(k(), k())"


def _run(env_value: str | None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "GSNR_BENCH_MALLOC"}
    if env_value is not None:
        env["GSNR_BENCH_MALLOC"] = env_value
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_applied_once_on_linux_and_opt_out_leaves_malloc_alone():
    assert _run(None).split() == ["True", "True"]
    assert _run("system").split() == ["False", "False"]


def test_cpu_device_resolution_applies_it(monkeypatch):
    from gsnr_bench.modeling.loading import resolve_device

    calls = []
    monkeypatch.setattr("gsnr_bench.modeling.loading.keep_freed_memory", lambda: calls.append(1) or True)
    assert resolve_device("cpu") == "cpu"
    assert calls == [1]
