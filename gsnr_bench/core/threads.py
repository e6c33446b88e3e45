"""The number of CPU threads torch uses, chosen on purpose once per process.

torch's own default is the machine's core count, whatever share of it this process may actually run on: in a
container or under `taskset` that oversubscribes the allowed cores and every step waits on the slowest thread.
gsnr-bench uses, in this order:

1. `OMP_NUM_THREADS` when it is set to a positive integer (the user's explicit choice, as OpenMP reads it);
2. otherwise the cores this process may run on: `os.sched_getaffinity(0)` (`os.cpu_count()` where the platform
   has no affinity call).

`configure_torch_threads()` applies it the first time a stage resolves its device (models.resolve_device) and
never again, so a later explicit `torch.set_num_threads` by a caller is left alone. README: "CPU threads"."""

from __future__ import annotations

import os
from typing import Mapping

_APPLIED: int | None = None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def chosen_threads(env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """(threads, why): OMP_NUM_THREADS when it is a positive integer, else the available cores."""
    env = os.environ if env is None else env
    raw = (env.get("OMP_NUM_THREADS") or "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw), f"OMP_NUM_THREADS={raw}"
    cores = available_cores()
    why = f"{cores} core(s) available to the process"
    if raw:
        why += f" (OMP_NUM_THREADS={raw!r} is not a positive integer: ignored)"
    return cores, why


def configure_torch_threads() -> int:
    """Set torch's intra-op thread count to chosen_threads() once per process; returns the count in force."""
    global _APPLIED
    if _APPLIED is not None:
        return _APPLIED
    import torch

    n, _ = chosen_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _APPLIED = n
    return n
