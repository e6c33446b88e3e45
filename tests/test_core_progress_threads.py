"""Long work shows steps done of the total and an ETA, also without a terminal; torch's CPU thread count is
chosen on purpose (OMP_NUM_THREADS, else the cores available to the process)."""

from __future__ import annotations

import io
import os

import pytest
from rich.console import Console

import gsnr_bench.core.progress as P
from gsnr_bench.core import threads


def test_progress_line_counts_and_eta():
    assert P.progress_line(10, 40, 60.0, 10) == "10/40 (25%), 1m00s elapsed, ETA 3m00s"
    # steps a resumed stage found done are not progress of this command: the rate is 10 steps in 60 s
    assert P.progress_line(30, 40, 60.0, 10) == "30/40 (75%), 1m00s elapsed, ETA 1m00s"
    assert P.progress_line(0, 40, 5.0, 0).endswith("ETA unknown")
    assert P.progress_line(40, 40, 3725.0, 40) == "40/40 (100%), 1h02m elapsed, done"
    assert [P.duration(x) for x in (0.4, 59.6, 185, 7260)] == ["0s", "1m00s", "3m05s", "2h01m"]


def test_plain_progress_prints_at_most_every_interval_and_the_end(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(P, "console", Console(file=buf, width=200, color_system=None))
    now = [0.0]
    update = P._plain("finetune full", quiet=False, every=30.0, clock=lambda: now[0])
    update("train", 0, 100)
    for step in range(1, 101):  # one step per second
        now[0] = float(step)
        update("train", step, 100)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "  finetune full: train ... 0/100"
    assert lines[1] == "  finetune full: train 30/100 (30%), 30s elapsed, ETA 1m10s"
    assert lines[-1] == "  finetune full: train 100/100 (100%), 1m40s elapsed, done"
    assert len(lines) == 5  # start, 30 s, 60 s, 90 s, done: nothing in between, nothing after
    update("train", 100, 100)
    assert len(buf.getvalue().splitlines()) == 5


def test_plain_progress_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv("GSNR_BENCH_PROGRESS_SECONDS", "5")
    assert P._every() == 5.0
    monkeypatch.setenv("GSNR_BENCH_PROGRESS_SECONDS", "soon")
    assert P._every() == 30.0


def test_threads_follow_omp_num_threads_else_the_affinity():
    assert threads.chosen_threads({"OMP_NUM_THREADS": "3"}) == (3, "OMP_NUM_THREADS=3")
    n, why = threads.chosen_threads({})
    assert n == len(os.sched_getaffinity(0)) and "available" in why
    n, why = threads.chosen_threads({"OMP_NUM_THREADS": "0"})
    assert n == len(os.sched_getaffinity(0)) and "ignored" in why


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this platform")
def test_threads_see_a_restricted_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert threads.chosen_threads({}) == (1, "1 core(s) available to the process")


def test_configure_sets_torch_once(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_APPLIED", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    try:
        assert threads.configure_torch_threads() == 2 and torch.get_num_threads() == 2
        torch.set_num_threads(1)  # a caller's later explicit choice is left alone
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert threads.configure_torch_threads() == 2 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
