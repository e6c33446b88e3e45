"""Which processes a command started, and which of them are still running: the check behind "no engine process
survives" (tests/test_vllm_sigterm.py), itself tested against a deliberately leaked child
(tests/test_process_tree.py), so it is known to be able to fail."""

from __future__ import annotations

import time


def descendants(pid: int) -> set[int]:
    """Every live descendant of `pid` (children, their children, ...), zombies excluded."""
    import psutil

    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return set()
    out = set()
    for k in kids:
        try:
            if k.status() != psutil.STATUS_ZOMBIE:
                out.add(k.pid)
        except psutil.Error:
            pass
    return out


def names(pids: set[int]) -> dict[int, str]:
    import psutil

    out = {}
    for p in pids:
        try:
            out[p] = psutil.Process(p).name()
        except psutil.Error:
            pass
    return out


def running(pid: int, created: float | None = None) -> bool:
    """Whether `pid` is a live process (not a zombie), and the same one as seen before when `created` is given."""
    import psutil

    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE and (created is None or p.create_time() == created)
    except psutil.Error:
        return False


def birth_times(pids: set[int]) -> dict[int, float]:
    import psutil

    out = {}
    for p in pids:
        try:
            out[p] = psutil.Process(p).create_time()
        except psutil.Error:
            pass
    return out


def survivors(seen: dict[int, float], grace: float = 0.0) -> list[int]:
    """The processes of `seen` (pid -> creation time) still running after up to `grace` seconds."""
    end = time.time() + grace
    while True:
        left = [p for p, t in seen.items() if running(p, t)]
        if not left or time.time() >= end:
            return left
        time.sleep(0.2)
