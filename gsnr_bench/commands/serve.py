"""`gsnr-bench serve-judge MODEL`: vLLM's OpenAI-compatible server in the foreground, started the way that works
(generation/vllm_server.py), for a judge YAML whose base_url_env points at it. Ctrl-C or SIGTERM stops it and
every process it started."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from gsnr_bench.core.errors import ConfigError, DataError


def _model(spec: str) -> tuple[str, str]:
    """(model directory or hub name, the name it is served under): a catalogue name resolves to its fetched dir."""
    from gsnr_bench.modeling import catalog

    d = catalog.fetched_dir(spec)
    if d is not None:
        return str(d), spec
    if spec in catalog.entries():
        raise DataError(f"model {spec!r} is not fetched yet: run `gsnr-bench models fetch {spec}` first")
    return spec, Path(spec).name if Path(spec).is_dir() else spec


def cmd_serve_judge(args: argparse.Namespace) -> int:
    from gsnr_bench.generation.vllm_engine import import_vllm
    from gsnr_bench.generation.vllm_server import serve

    import_vllm()  # one line, with the install hint, when vLLM is not installed
    model, name = _model(args.model)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
    log = args.log or Path(f"vllm-server-{args.port}.log")
    print(f"starting vLLM's OpenAI-compatible server for {model} (log: {log}) ...", flush=True)

    def stop(signum, frame):  # SIGTERM ends the wait below as Ctrl-C does; the server is stopped on the way out
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    server = serve(
        model,
        host=args.host,
        port=args.port,
        served_name=args.name or name,
        log_path=log,
        memory_utilization=args.memory_utilization,
        max_model_len=args.max_model_len,
        api_key=api_key,
    )
    try:
        print(
            f"serving {args.name or name!r} at {server.base_url} (judge YAML: model: {args.name or name}, "
            f"base_url_env naming a variable set to {server.base_url}); Ctrl-C stops it",
            flush=True,
        )
        server.proc.wait()
        print(f"gsnr-bench: vLLM's server exited ({server._last_line()}); log: {log}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
