"""Test support (not shipped): the reference judge with faults, latency, other reply styles and a request log,
for the judging tests and bench/judging.py (run as a script there: `python tests/judge_faults.py --latency S`).

Faults: fractions of requests answered 429 with Retry-After, 500, hanging past the client's timeout, or with
text that holds no scores; a fixed latency. Which request gets a fault is a seeded hash of (request body, how
many times that body was seen), so a retried request draws again and a run is reproducible whatever the thread
timing. Also: replies without `usage` or with invalid counts (`rate_no_usage`, `rate_bad_usage`), labelled reply
styles (`style="labelled"` / `"labelled-reversed"`: "Assistant 2: 6/10, Assistant 1: 9/10"), and a key revoked
mid-run (`revoke_after=N`: every chat request after the N-th is answered 401)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

if __name__ == "__main__":  # run as a script (bench/judging.py): the checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gsnr_bench.judging.reference_server import (  # noqa: E402
    DEFAULT_MODEL,
    Handler,
    ReferenceJudgeServer,
    Response,
    body_hash,
    score_pair,
)

GARBAGE_REPLY = "I'm sorry, but I can't provide ratings for these responses."
REPLY_STYLES = ("pair", "labelled", "labelled-reversed")


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


class _CountingHandler(Handler):
    def do_GET(self) -> None:
        srv = self.server.owner
        with srv.log.lock:
            srv.log.models_requests += 1
        super().do_GET()


class FaultyJudgeServer(ReferenceJudgeServer):
    """The reference judge, plus `latency`, `faults`, `style` ("pair": "8 9" first line, FastChat; "labelled":
    "Assistant 1: 8/10, Assistant 2: 9/10"; "labelled-reversed": Assistant 2's score first), `revoke_after`
    (answer 401 to every chat request after that many) and a request `log`."""

    handler_class = _CountingHandler

    def __init__(
        self,
        references: Mapping[str, str] | None = None,
        *,
        latency: float = 0.0,
        faults: Faults | None = None,
        style: str = "pair",
        revoke_after: int | None = None,
        **kw: Any,
    ) -> None:
        if style not in REPLY_STYLES:
            raise ValueError(f"style must be one of {REPLY_STYLES}")
        super().__init__(references, **kw)
        self.latency, self.faults, self.style, self.revoke_after = latency, faults or Faults(), style, revoke_after
        self.log = ServerLog()

    def reply_text(self, user_text: str) -> str:
        scored = score_pair(user_text, self.references, self.patterns)
        if self.style == "pair" or scored is None:
            return super().reply_text(user_text)
        s1, s2, basis = scored
        if self.style == "labelled":
            return f"Assistant 1: {s1}/10, Assistant 2: {s2}/10\nScores by {basis}."
        return f"Assistant 2: {s2}/10, Assistant 1: {s1}/10\nScores by {basis}."

    def respond(self, messages: list[dict[str, Any]]) -> Response:
        h = body_hash(messages)
        with self.log.lock:
            revoked = self.revoke_after is not None and self.log.chat_requests >= self.revoke_after
            if revoked:
                self.log.refused += 1
            else:
                self.log.receipts[h] += 1
                receipt = self.log.receipts[h]
        if revoked:
            return 401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}, {}
        fault = self.faults.draw(h, receipt)
        with self.log.lock:
            self.log.events.append((time.monotonic(), h, fault or "200"))
        if self.latency:
            time.sleep(self.latency)
        if fault == "429":
            headers = {"Retry-After": f"{self.faults.retry_after:g}"}
            return 429, {"error": {"message": "Rate limit reached", "type": "requests"}}, headers
        if fault == "500":
            return 500, {"error": {"message": "internal error (injected)"}}, {}
        if fault == "hang":
            time.sleep(self.faults.hang_s)
        if fault == "garbage":
            payload = self.completion(messages, GARBAGE_REPLY, f"{h[:12]}-{receipt}")
        else:
            status, payload, _ = super().respond(messages)
            payload["id"] = f"chatcmpl-{h[:12]}-{receipt}"
        usage_fault = self.faults.draw_usage(h, receipt)
        if usage_fault == "bad":
            payload["usage"] = {"prompt_tokens": -900000, "completion_tokens": "many", "total_tokens": -1}
        elif usage_fault == "missing":
            del payload["usage"]
        return 200, payload, {}


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground with a fixed latency (bench/judging.py): prints its base URL on one line."""
    ap = argparse.ArgumentParser(prog="tests/judge_faults.py")
    ap.add_argument("--references", help="JSON file mapping question text to reference answer")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    refs = json.loads(Path(args.references).read_text(encoding="utf-8")) if args.references else {}
    with FaultyJudgeServer(refs, model=args.model, latency=args.latency, port=args.port) as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
