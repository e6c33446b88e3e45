"""SIGTERM to a running `gsnr-bench generate` on the real vLLM engine (CPU build): the command unwinds, shuts
its engine down and exits 143 with one line; no process it started survives. The survivor check is the one
tests/test_process_tree.py shows catching a deliberately leaked child. Marker `vllm`.

The run is the offline demo, small (a random@0.2 subset of 160 examples, full fine-tunes of the tiny GPT-2),
generating 40 questions in chunks of 2 through vLLM; SIGTERM is sent once the engine process is up and the
first answers are on disk, and the processes seen up to that moment are checked."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest

from proc_tree import birth_times, descendants, names, survivors

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (see .ci/run)"),
]

ARGS = [
    "--selector", "random", "--ratio", "0.2", "--quiet",
    "--set", "demo.pool_size=160", "--set", "demo.pretrain_examples=96", "--set", "demo.pretrain_epochs=1",
    "--set", "demo.wizardlm_questions=24", "--set", "demo.vicuna_questions=16",
    "--set", "finetune.epochs=1", "--set", "finetune.batch_size=8", "--set", "finetune.micro_batch_size=8",
    "--set", "generation.backend=vllm", "--set", "generation.chunk_size=2",
]  # fmt: skip


def test_sigterm_leaves_no_engine_process(tmp_path, report):
    rd = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gsnr_bench", "generate", "--run-dir", str(rd), *ARGS],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own, for the cleanup below; SIGTERM goes to the command alone
    )
    seen: dict[int, float] = {}
    called: dict[int, str] = {}
    engine = False
    try:
        end = time.time() + 540
        while time.time() < end and proc.poll() is None:
            kids = descendants(proc.pid)
            seen.update(birth_times(kids - set(seen)))
            called.update(names(kids))
            engine = any(n.startswith("VLLM") for n in names(kids).values())
            if engine and any(p.stat().st_size for p in rd.glob("answers/*/*.jsonl")):
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the command ended before it was caught generating: {proc.stderr.read()[-2000:]}"
        assert engine, "no vLLM engine process in time"
        t = time.perf_counter()
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=120)
        stopped = time.perf_counter() - t
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # a few seconds of grace: multiprocessing's resource tracker, say, exits once it reads EOF from the command
    left = survivors(seen, grace=10.0)
    for p in left:  # ours: never leave them running, but the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, (
        f"processes {[(p, called.get(p)) for p in left]} outlived the SIGTERMed command (of {called} it started); "
        + err[-1500:]
    )
    assert rc == 128 + signal.SIGTERM, err[-2000:]
    # (the engine's own log lines and, when SIGTERM lands while an engine starts, multiprocessing's resource
    # tracker's note that it removed a shared-memory block vLLM had not unlinked, may surround it)
    ours = [ln for ln in err.splitlines() if ln.startswith("gsnr-bench:")]
    assert "Traceback" not in err, err[-3000:]
    assert ours == ["gsnr-bench: stopped by signal 15; run the same command again to resume where it stopped"], err
    report(f"SIGTERM mid-generation: exited {rc} after {stopped:.1f} s, {len(seen)} child processes seen, none left")
