"""The vLLM server helper without vLLM: the command it builds (the module, not `vllm serve`; the CPU settings;
no key on the command line) and its lifecycle against a stand-in server that starts a child process, as vLLM's
engine does: ready once GET /v1/models answers, and stop() leaves no process of its group."""

from __future__ import annotations

import socket
import sys

import pytest

from gsnr_bench.core.errors import EngineError
from gsnr_bench.generation.vllm_server import VLLMServer, _group_alive, server_argv

from proc_tree import birth_times, descendants, survivors

STAND_IN = """
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # the 'engine'
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.end_headers()
        self.wfile.write(b'{"data": []}')
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_command(tmp_path):
    (tmp_path / "config.json").write_text('{"dtype": "float32"}')
    cpu = server_argv(str(tmp_path), port=9001, served_name="judge", cpu=True, max_model_len=2048)
    assert cpu[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]  # not the `vllm serve` script
    flags = {a: (b if not b.startswith("--") else True) for a, b in zip(cpu[3:], cpu[4:] + [""]) if a.startswith("--")}
    assert flags["--model"] == str(tmp_path) and flags["--port"] == "9001" and flags["--host"] == "127.0.0.1"
    assert flags["--gpu-memory-utilization"] == "0.15" and flags["--served-model-name"] == "judge"
    assert flags["--dtype"] == "float32" and flags["--max-model-len"] == "2048" and "--enforce-eager" in cpu
    gpu = server_argv("org/model", cpu=False)
    assert "--gpu-memory-utilization" not in gpu and "--enforce-eager" not in gpu  # vLLM's defaults on GPUs
    assert server_argv("m", cpu=False, memory_utilization=0.8)[-2:] == ["--gpu-memory-utilization", "0.8"]
    assert not any("key" in a.lower() for a in cpu + gpu)


@pytest.mark.slow  # a real server subprocess: seconds
def test_start_and_stop_leave_no_process(tmp_path):
    port = _port()
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    server = VLLMServer([sys.executable, str(script), str(port)], f"http://127.0.0.1:{port}/v1", tmp_path / "s.log")
    server.start(ready_timeout=60)
    seen = birth_times(descendants(server.proc.pid) | {server.proc.pid})
    assert len(seen) == 2
    server.stop(grace=10)
    assert not _group_alive(server.proc.pid) and survivors(seen) == []


def test_a_server_that_dies_at_start_is_one_line(tmp_path):
    server = VLLMServer(
        [sys.executable, "-c", "import sys; print('ValueError: not enough memory'); sys.exit(1)"],
        "http://127.0.0.1:9/v1",
        tmp_path / "s.log",
    )
    with pytest.raises(EngineError, match=r"exited while starting \(ValueError: not enough memory\)"):
        server.start(ready_timeout=30)
    assert not _group_alive(server.proc.pid)
