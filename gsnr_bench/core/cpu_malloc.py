"""Keep freed CPU tensor memory inside the process, so per-step tensors stop page-faulting.

Why: glibc malloc serves every block above its mmap threshold (32 MiB at most) with a fresh mmap() and unmaps it
on free. A training or scoring step on CPU allocates the same big tensors every step (the [scored tokens, vocab]
logits and their gradients: 44 MB at vocab 8192, 280 MB at GPT-2's 50257), so each step touches brand-new pages
and pays a page fault per 4 KiB. Zero-filling a fresh 44 MB tensor took 10.9 ms here against 1.3 ms for reused
memory (and log_softmax 14.4 vs 4.4 ms); `GSNR_BENCH_MALLOC=system python bench/scoring.py` beside a plain run
measures the whole effect (its header says whether the tuning is on).
Turning mmap off (M_MMAP_MAX = 0) and raising the trim threshold makes freed blocks reusable, the effect
PyTorch's CPU performance guide gets by preloading jemalloc or tcmalloc.

Applied once per process when a stage computes on CPU; Linux/glibc only (a no-op elsewhere).
GSNR_BENCH_MALLOC=system leaves the allocator untouched. The cost: memory a stage frees stays reserved by the
process for its later steps instead of going back to the OS until exit."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap top instead of returning it to the OS

_state: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Tune glibc malloc for repeated large tensors (idempotent). -> whether the tuning is in effect."""
    if "applied" in _state:
        return _state["applied"]
    applied = False
    if sys.platform.startswith("linux") and os.environ.get("GSNR_BENCH_MALLOC", "").lower() != "system":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # musl and other libcs have no mallopt
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _state["applied"] = applied
    return applied
