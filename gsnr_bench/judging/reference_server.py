"""The reference judge: a small OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models)
on 127.0.0.1, so the offline demo drives the very client code that talks to GPT or vLLM.

Scoring (deterministic, no position bias): it reads the question and both answers out of the user message,
at the places the judging prompt's own template puts them (every prompt in prompts/ is tried: the one whose
filled template is the whole message is the one used, so a new prompt version needs no change here), looks up
the question's reference answer (mapping question text -> reference, given at start) and scores each answer
on its own as 10 if it is correct, i.e. equals the reference after normalisation (lowercase, word tokens),
else 1 + round(6 * s) with s the order-aware similarity of the two token sequences (difflib's matching ratio):
a wrong answer scores at most 7, so a correct one always wins, and a wrong order (an unsorted list, words not
reversed) is not scored as correct. Without a reference both answers get 5; a message that no prompt's
template produced gets 5 and 5 with a line that says so. The reply is "s1 s2\nexplanation" with a usage
field (tokens = ceil(chars / 4)).

Tests and the judging bench add faults, latency and other reply styles by subclassing the server
(`respond`, `handler_class`): tests/judge_faults.py."""

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Mapping, Sequence

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.resources import list_resources
from gsnr_bench.judging.protocol import PromptTemplate, load_prompt

DEFAULT_MODEL = "reference-judge-v2"
_SLOTS = {"{question}": "q", "{answer_1}": "a1", "{answer_2}": "a2"}


# ------------------------------------------------------------------ scoring (pure)
def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


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


def prompt_pattern(prompt: PromptTemplate) -> re.Pattern[str]:
    """The user messages this template makes (PromptTemplate.messages), with the question and the two answers
    as named groups q, a1, a2: the template's text with its criteria filled in, literally, between them."""
    user = prompt.user.replace("{criteria}", prompt.criteria)
    parts = re.split("(" + "|".join(re.escape(slot) for slot in _SLOTS) + ")", user)
    out, seen = [], set()
    for part in parts:
        if part not in _SLOTS:
            out.append(re.escape(part))
        elif _SLOTS[part] in seen:
            out.append(f"(?P={_SLOTS[part]})")
        else:
            seen.add(_SLOTS[part])
            out.append(f"(?P<{_SLOTS[part]}>.*?)")
    return re.compile("".join(out), re.S)


def known_prompts() -> list[PromptTemplate]:
    """Every judging prompt in prompts/ that loads (the user's copies first, then the shipped ones)."""
    out = []
    for name in list_resources("prompts"):
        with contextlib.suppress(ConfigError):  # a broken prompt fails where it is used, not here
            out.append(load_prompt(name))
    return out


def read_pair(user_text: str, patterns: Sequence[re.Pattern[str]]) -> tuple[str, str, str] | None:
    """(question, answer 1, answer 2) as the first prompt whose template made this message placed them."""
    for pattern in patterns:
        m = pattern.fullmatch(user_text)
        if m:
            return m["q"], m["a1"], m["a2"]
    return None


def score_pair(
    user_text: str, references: Mapping[str, str], patterns: Sequence[re.Pattern[str]]
) -> tuple[int, int, str] | None:
    """(score of Assistant 1, score of Assistant 2, what they are based on), each answer scored alone so order
    cannot matter; None for a message no known prompt made."""
    pair = read_pair(user_text, patterns)
    if pair is None:
        return None
    q, a1, a2 = pair
    ref = references.get(q) or references.get(q.strip())
    basis = "correctness and similarity to the reference answer" if ref is not None else "no reference answer is known"
    return reference_score(a1, ref), reference_score(a2, ref), basis


NO_FORMAT_REPLY = "5 5\nThe message is not in the format of any known judging prompt; no comparison was possible."


def judge_prompt(user_text: str, references: Mapping[str, str], patterns: Sequence[re.Pattern[str]]) -> str:
    """The reply to one pairwise judging message: the two scores on the first line, then why."""
    scored = score_pair(user_text, references, patterns)
    if scored is None:
        return NO_FORMAT_REPLY
    s1, s2, basis = scored
    return f"{s1} {s2}\nScores by {basis}: Assistant 1 scores {s1}, Assistant 2 scores {s2}."


# ------------------------------------------------------------------ server
Response = tuple[int, dict[str, Any], dict[str, str]]  # (HTTP status, JSON body, extra headers)


def body_hash(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler never blocks shutdown
    block_on_close = False
    request_queue_size = 256  # 32+ clients connect at once
    owner: ReferenceJudgeServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses connections
    # headers and body go out in two writes; with Nagle on, the second waits for the client's delayed ACK
    # (~40 ms per reply on Linux), which no real endpoint adds
    disable_nagle_algorithm = True
    server: _Httpd

    def log_message(self, *args: Any) -> None:  # silent: request lines would flood test output
        pass

    def send(self, code: int, payload: dict, headers: dict[str, str] | None = None) -> None:
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
        self.send(
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
            self.send(404, {"error": {"message": f"no route {self.path}"}})
            return
        if self._authorised(srv):
            self.send(
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
            self.send(404, {"error": {"message": f"no route {self.path}"}})
            return
        if not self._authorised(srv):
            return
        try:
            req = json.loads(raw)
            messages = req["messages"]
        except (ValueError, KeyError, TypeError):
            self.send(400, {"error": {"message": "malformed request"}})
            return
        if req.get("model") != srv.model:
            self.send(404, {"error": {"message": f"The model `{req.get('model')}` does not exist."}})
            return
        self.send(*srv.respond(messages))


class ReferenceJudgeServer:
    """Context manager: starts on 127.0.0.1 with an ephemeral port, `base_url` ends in /v1. `prompts`: the
    judging prompts whose messages it reads (default: every prompt in prompts/)."""

    handler_class: type[Handler] = Handler

    def __init__(
        self,
        references: Mapping[str, str] | None = None,
        *,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        prompts: Sequence[PromptTemplate] | None = None,
    ) -> None:
        self.references = dict(references or {})
        self.model, self.api_key = model, api_key
        self.patterns = [prompt_pattern(p) for p in (known_prompts() if prompts is None else prompts)]
        self._httpd = _Httpd((host, port), self.handler_class)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    def reply_text(self, user_text: str) -> str:
        return judge_prompt(user_text, self.references, self.patterns)

    def respond(self, messages: list[dict[str, Any]]) -> Response:
        """The answer to an authorised chat request for the served model."""
        user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        return 200, self.completion(messages, self.reply_text(user)), {}

    def completion(self, messages: list[dict[str, Any]], text: str, reply_id: str = "") -> dict[str, Any]:
        """A chat.completion body holding `text`, its usage counted as ceil(chars / 4) tokens."""
        prompt_tokens = math.ceil(sum(len(m.get("content") or "") for m in messages) / 4)
        completion_tokens = math.ceil(len(text) / 4)
        return {
            "id": f"chatcmpl-{reply_id or body_hash(messages)[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

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
    """Run the server in the foreground (manual checks): prints its base URL on one line."""
    ap = argparse.ArgumentParser(prog="python -m gsnr_bench.judging.reference_server")
    ap.add_argument("--references", help="JSON file mapping question text to reference answer")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    refs = json.loads(open(args.references, encoding="utf-8").read()) if args.references else {}
    with ReferenceJudgeServer(refs, model=args.model, port=args.port) as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
