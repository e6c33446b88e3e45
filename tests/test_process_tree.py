"""The orphan check of the vLLM tier can fail: a parent that leaks a child on SIGTERM is caught."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from proc_tree import birth_times, descendants, survivors

LEAKY = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "time.sleep(120)\n"
)


@pytest.mark.slow  # subprocesses and a wait: seconds
def test_a_leaked_child_is_detected():
    parent = subprocess.Popen([sys.executable, "-c", LEAKY], start_new_session=True)
    try:
        end = time.time() + 30
        while not descendants(parent.pid) and time.time() < end:
            time.sleep(0.1)
        seen = birth_times(descendants(parent.pid))
        assert len(seen) == 1
        os.kill(parent.pid, signal.SIGTERM)  # Python's default SIGTERM action: the parent dies, its child does not
        assert parent.wait(timeout=30) == -signal.SIGTERM
        left = survivors(seen, grace=2.0)
        assert left == list(seen), "the check missed a child that outlived its parent"
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # ours: the leaked child is in the same session
        parent.wait()
    assert survivors(seen, grace=5.0) == []
