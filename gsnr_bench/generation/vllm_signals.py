"""Signals while a vLLM engine is alive (docs/gpu.md, "Engine lifetime"): SIGTERM is turned into an
`EngineInterrupted` (a KeyboardInterrupt, as SIGINT already is) raised in the main thread, so the command unwinds
and the engine is shut down on the way out; further signals are ignored while the engine shuts down (`Quiet`)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class EngineInterrupted(KeyboardInterrupt):
    """SIGTERM arrived while an engine was alive: raised in the main thread so the command unwinds and shuts the
    engine down (Python's default SIGTERM action would end the process at once and orphan vLLM's engine process)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


_GUARDED = (signal.SIGTERM,)  # SIGINT already raises KeyboardInterrupt
_PREVIOUS: dict[int, Any] = {}  # signal -> the handler to restore once no engine is alive


def on_signal(signum: int, frame: Any) -> None:
    raise EngineInterrupted(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def guard_signals() -> None:
    """While an engine is alive, SIGTERM unwinds the command instead of killing it on the spot."""
    if not _main_thread():
        return  # signal handlers can only be set from the main thread; its own handlers stay
    for sig in _GUARDED:
        if sig not in _PREVIOUS:
            _PREVIOUS[sig] = signal.getsignal(sig)
            signal.signal(sig, on_signal)


def unguard_signals() -> None:
    if not _main_thread():
        return
    for sig, handler in list(_PREVIOUS.items()):
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    _PREVIOUS.clear()


class Quiet:
    """SIGTERM and SIGINT ignored while an engine shuts down: a second Ctrl-C must not cut its teardown short
    (that is what would orphan its processes)."""

    def __enter__(self) -> None:
        self.saved = {}
        if _main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.saved[sig] = signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
