"""The reference judge: a small OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models)
on 127.0.0.1, so the offline demo drives the very client code that talks to GPT or vLLM.

Scoring (deterministic, no position bias): it reads the question and both answers out of the Vicuna
prompt, looks up the question's reference answer (mapping question text -> reference, given at
start) and scores each answer on its own as 10 if it is correct, i.e. equals the reference after
normalisation (lowercase, word tokens), else 1 + round(6 * s) with s the order-aware similarity of the
two token sequences (difflib's matching ratio): a wrong answer scores at most 7, so a correct one always
wins, and a wrong order (an unsorted list, words not reversed) is not scored as correct, as it was with a
bag-of-tokens F1. Without a reference both answers get 5. The reply is "s1 s2\\nexplanation" with a usage
field (tokens = ceil(chars / 4)).

Fault injection (for tests and the bench): fractions of requests answered 429 with Retry-After,
500, hanging past the client's timeout, or with text that holds no scores; a fixed latency. Which
request gets a fault is a seeded hash of (request body, how many times that body was seen), so a
retried request draws again and a run is reproducible whatever the thread timing. Also for tests: replies
without `usage` or with invalid counts (`rate_no_usage`, `rate_bad_usage`), labelled reply styles
(`style="labelled"` / `"labelled-reversed"`: "Assistant 2: 6/10, Assistant 1: 9/10"), and a key revoked
mid-run (`revoke_after=N`: every chat request after the N-th is answered 401)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Mapping

DEFAULT_MODEL = "reference-judge-v2"
_PROMPT = re.compile(
    r"\[Question\]\n(?P<q>.*?)\n\n\[The Start of Assistant 1's Answer\]\n(?P<a1>.*?)\n\n"
    r"\[The End of Assistant 1's Answer\]"
    r"\n\n\[The Start of Assistant 2's Answer\]\n(?P<a2>.*?)\n\n\[The End of Assistant 2's Answer\]",
    re.S,
)
GARBAGE_REPLY = "I'm sorry, but I can't provide ratings for these responses."


# ------------------------------------------------------------------ scoring (pure)
def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(answer: str, reference: str) -> float:
    a, r = _tokens(answer), _tokens(reference)
    if not a or not r:
        return float(a == r)
    overlap = sum((Counter(a) & Counter(r)).values())
    if overlap == 0:
        return 0.0
    p, rec = overlap / len(a), overlap / len(r)
    return 2 * p * rec / (p + rec)


def sequence_similarity(answer: str, reference: str) -> float:
    """Order-aware similarity of two answers' word tokens in [0, 1] (difflib ratio: 2 * matches / total)."""
    import difflib

    a, r = _tokens(answer), _tokens(reference)
    if not a or not r:
        return float(a == r)
    return difflib.SequenceMatcher(None, a, r, autojunk=False).ratio()


def reference_score(answer: str, reference: str | None) -> int:
    """10 for a correct answer (equal to the reference after normalisation); a wrong one 1-7 by its
    order-aware similarity to the reference; 5 for both when there is no reference."""
    if reference is None:
        return 5
    if _tokens(answer) == _tokens(reference):
        return 10
    return 1 + min(6, round(6 * sequence_similarity(answer, reference)))


REPLY_STYLES = ("pair", "labelled", "labelled-reversed")


def judge_prompt(user_text: str, references: Mapping[str, str], style: str = "pair") -> str:
    """The reply to one Vicuna pairwise prompt: each answer is scored alone, so order cannot matter."""
    m = _PROMPT.search(user_text)
    if not m:
        return "5 5\nThe prompt is not in the Vicuna pairwise format; no comparison was possible."
    ref = references.get(m["q"]) or references.get(m["q"].strip())
    s1, s2 = reference_score(m["a1"], ref), reference_score(m["a2"], ref)
    basis = "correctness and similarity to the reference answer" if ref is not None else "no reference answer is known"
    if style == "labelled":
        return f"Assistant 1: {s1}/10, Assistant 2: {s2}/10\nScores by {basis}."
    if style == "labelled-reversed":
        return f"Assistant 2: {s2}/10, Assistant 1: {s1}/10\nScores by {basis}."
    return f"{s1} {s2}\nScores by {basis}: Assistant 1 scores {s1}, Assistant 2 scores {s2}."


# ------------------------------------------------------------------ faults
@dataclass(frozen=True)
class Faults:
    rate_429: float = 0.0
    retry_after: float = 1.0  # seconds sent in the Retry-After header of a 429
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 30.0  # how long a hanging request sleeps before answering (past the client's timeout)
    rate_garbage: float = 0.0  # 200 with a refusal that holds no scores
    seed: int = 0
    # usage faults on 200 replies (drawn apart from the above): no `usage`, or negative / non-numeric counts
    rate_no_usage: float = 0.0
    rate_bad_usage: float = 0.0

    def draw_usage(self, body_hash: str, receipt: int) -> str | None:
        u = int.from_bytes(hashlib.sha256(f"u{self.seed}:{body_hash}:{receipt}".encode()).digest()[:8], "big") / 2**64
        if u < self.rate_no_usage:
            return "missing"
        return "bad" if u < self.rate_no_usage + self.rate_bad_usage else None

    def draw(self, body_hash: str, receipt: int) -> str | None:
        u = int.from_bytes(hashlib.sha256(f"{self.seed}:{body_hash}:{receipt}".encode()).digest()[:8], "big") / 2**64
        for kind, rate in (
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("hang", self.rate_hang),
            ("garbage", self.rate_garbage),
        ):
            if u < rate:
                return kind
            u -= rate
        return None


@dataclass
class ServerLog:
    """What the server saw: per-body receipt counts and an event list, for tests that count requests."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    receipts: Counter = field(default_factory=Counter)  # body hash -> chat requests received
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (time, body hash, status)
    models_requests: int = 0
    refused: int = 0  # chat requests answered 401 after `revoke_after`

    @property
    def chat_requests(self) -> int:
        return sum(self.receipts.values())


# ------------------------------------------------------------------ server
class ReferenceJudgeServer:
    """Context manager: starts on 127.0.0.1 with an ephemeral port, `base_url` ends in /v1."""

    def __init__(
        self,
        references: Mapping[str, str] | None = None,
        *,
        model: str = DEFAULT_MODEL,
        latency: float = 0.0,
        faults: Faults | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        style: str = "pair",
        revoke_after: int | None = None,
    ) -> None:
        """`style`: how a reply states its scores: "pair" ("8 9" first line, FastChat), "labelled"
        ("Assistant 1: 8/10, Assistant 2: 9/10") or "labelled-reversed" (Assistant 2's score first).
        `revoke_after`: answer 401 to every chat request after that many (a key revoked mid-run)."""
        if style not in REPLY_STYLES:
            raise ValueError(f"style must be one of {REPLY_STYLES}")
        self.style, self.revoke_after = style, revoke_after
        self.references = dict(references or {})
        self.model, self.latency, self.faults, self.api_key = model, latency, faults or Faults(), api_key
        self.log = ServerLog()
        self._httpd = _Httpd((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "ReferenceJudgeServer":
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="reference-judge", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "ReferenceJudgeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler never blocks shutdown
    block_on_close = False
    request_queue_size = 256  # 32+ clients connect at once
    owner: ReferenceJudgeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses connections
    # headers and body go out in two writes; with Nagle on, the second waits for the client's delayed ACK
    # (~40 ms per reply on Linux), which no real endpoint adds
    disable_nagle_algorithm = True
    server: _Httpd

    def log_message(self, *args: Any) -> None:  # silent: request lines would flood test output
        pass

    def _send(self, code: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): fine
            self.close_connection = True

    def _authorised(self, srv: ReferenceJudgeServer) -> bool:
        if srv.api_key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {srv.api_key}":
            return True
        self._send(
            401,
            {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        )
        return False

    def do_GET(self) -> None:
        srv = self.server.owner
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        with srv.log.lock:
            srv.log.models_requests += 1
        if self._authorised(srv):
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": srv.model, "object": "model", "created": 0, "owned_by": "gsnr-bench"}],
                },
            )

    def do_POST(self) -> None:
        srv = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        if not self._authorised(srv):
            return
        try:
            req = json.loads(raw)
            messages = req["messages"]
        except (ValueError, KeyError, TypeError):
            self._send(400, {"error": {"message": "malformed request"}})
            return
        if req.get("model") != srv.model:
            self._send(404, {"error": {"message": f"The model `{req.get('model')}` does not exist."}})
            return
        body_hash = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        with srv.log.lock:
            if srv.revoke_after is not None and srv.log.chat_requests >= srv.revoke_after:
                srv.log.refused += 1
                revoked = True
            else:
                revoked = False
                srv.log.receipts[body_hash] += 1
                receipt = srv.log.receipts[body_hash]
        if revoked:
            self._send(401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}})
            return
        fault = srv.faults.draw(body_hash, receipt)
        with srv.log.lock:
            srv.log.events.append((time.monotonic(), body_hash, fault or "200"))
        if srv.latency:
            time.sleep(srv.latency)
        if fault == "429":
            self._send(
                429,
                {"error": {"message": "Rate limit reached", "type": "requests"}},
                {"Retry-After": f"{srv.faults.retry_after:g}"},
            )
            return
        if fault == "500":
            self._send(500, {"error": {"message": "internal error (injected)"}})
            return
        if fault == "hang":
            time.sleep(srv.faults.hang_s)
        user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        text = GARBAGE_REPLY if fault == "garbage" else judge_prompt(user, srv.references, srv.style)
        prompt_chars = sum(len(m.get("content") or "") for m in messages)
        usage: dict[str, Any] = {
            "prompt_tokens": math.ceil(prompt_chars / 4),
            "completion_tokens": math.ceil(len(text) / 4),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage_fault = srv.faults.draw_usage(body_hash, receipt)
        if usage_fault == "bad":
            usage = {"prompt_tokens": -900000, "completion_tokens": "many", "total_tokens": -1}
        payload = {
            "id": f"chatcmpl-{body_hash[:12]}-{receipt}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": srv.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        }
        if usage_fault != "missing":
            payload["usage"] = usage
        self._send(200, payload)


# ------------------------------------------------------------------ for the pipeline
@contextlib.contextmanager
def serve_reference_for(spec: Any, references: Mapping[str, str]) -> Iterator[Any]:
    """For a `reference` judge: start the server with these references and yield the spec with its
    base_url filled in; any other judge is yielded unchanged (its endpoint is remote)."""
    if getattr(spec, "provider", None) != "reference":
        yield spec
        return
    with ReferenceJudgeServer(references, model=spec.model) as srv:
        yield spec.model_copy(update={"base_url": srv.base_url})


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground (bench, manual checks): prints its base URL on one line."""
    ap = argparse.ArgumentParser(prog="python -m gsnr_bench.judging.reference_server")
    ap.add_argument("--references", help="JSON file mapping question text to reference answer")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    refs = json.loads(open(args.references, encoding="utf-8").read()) if args.references else {}
    with ReferenceJudgeServer(refs, model=args.model, latency=args.latency, port=args.port) as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
