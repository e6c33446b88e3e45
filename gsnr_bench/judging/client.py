"""One judge endpoint behind AsyncOpenAI: bounded concurrency, a hard per-request deadline, and
our own retry loop (the SDK's retries are off, max_retries=0, so every request is seen and counted
exactly once here). 429 honours Retry-After; 5xx, timeouts and dropped connections back off
exponentially with jitter; other 4xx fail at once. Error texts are ours, never the server's: an
OpenAI 401 body echoes part of the key."""

from __future__ import annotations

import asyncio
import difflib
import email.utils
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import openai
from openai import AsyncOpenAI

from gsnr_bench.core.errors import EndpointError
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.cost import valid_count
from gsnr_bench.judging.spec import JudgeSpec

MAX_RETRY_AFTER = 600.0  # seconds; a longer Retry-After is waited for only this long


@dataclass(frozen=True)
class Reply:
    """A reply; a token count the server did not report validly is None here (judging/cost.py
    `valid_count`) and estimated by the stage, which then sets `usage_estimated`."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str
    usage_estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model": self.model,
            "usage_estimated": self.usage_estimated,
        }


class AuthRejected(EndpointError):
    """The endpoint refused the key (401) or access (403) mid-run: every further call would be refused too,
    so the stage stops at once (no call is sent after it) with this one line."""


class CallFailed(Exception):
    """A call that gave up: `reason` is a short text of ours that goes into the judgment record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class TransportStats:
    """Why requests were retried or given up: counts, and the waits Retry-After headers asked for."""

    requests: int = 0  # HTTP requests sent (each retry counts once, the SDK sends none of its own)
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    gave_up: int = 0
    retry_after_waits: list[float] = field(default_factory=list)

    @property
    def retry_after_s(self) -> float:
        """Seconds waited on Retry-After headers."""
        return round(sum(self.retry_after_waits), 3)

    def to_dict(self) -> dict[str, int | float]:
        """The counts and the seconds waited (the waits one by one are left out)."""
        counts = {k: v for k, v in asdict(self).items() if k != "retry_after_waits"}
        return {**counts, "retry_after_s": self.retry_after_s}


def safe_url(url: str | None) -> str:
    """A URL fit for messages: user:password@ dropped."""
    if not url:
        return "https://api.openai.com/v1"
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or retry-after-ms; None if absent."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': uniform in [d/2, d], d = min(cap, base * 2**attempt)."""
    d = min(cap, base * (2**attempt))
    return d / 2 + rng.random() * d / 2


class JudgeClient:
    def __init__(
        self, spec: JudgeSpec, cfg: JudgingConfig, *, base_url: str | None, api_key: str, seed: int = 0
    ) -> None:
        self.spec = spec
        self.cfg = cfg
        self.base_url = base_url
        self.stats = TransportStats()
        self._rng = random.Random(seed)
        self._sem = asyncio.Semaphore(cfg.concurrency)
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=cfg.timeout)

    async def aclose(self) -> None:
        await self._client.close()

    # ------------------------------------------------------------------ pre-flight
    async def preflight(self) -> None:
        """Reachability, key and model name checked with one GET /v1/models, before any judging call."""
        where = safe_url(self.base_url)
        hint = f" (set by {self.spec.base_url_env})" if self.spec.base_url_env else ""
        try:
            page = await asyncio.wait_for(
                self._client.models.list(timeout=min(self.cfg.timeout, 30.0)), timeout=min(self.cfg.timeout, 30.0) + 1
            )
        except openai.APIConnectionError:  # includes APITimeoutError
            raise EndpointError(
                f"judge {self.spec.name!r}: cannot reach {where}{hint}: connection refused, "
                "unreachable or not answering"
            ) from None
        except asyncio.TimeoutError:
            raise EndpointError(f"judge {self.spec.name!r}: {where}{hint} did not answer in time") from None
        except openai.AuthenticationError:
            raise EndpointError(
                f"judge {self.spec.name!r}: {where} rejected the API key from "
                f"{self.spec.api_key_env or '(none)'} (HTTP 401)"
            ) from None
        except openai.PermissionDeniedError:
            raise EndpointError(f"judge {self.spec.name!r}: {where} denied access (HTTP 403)") from None
        except openai.APIStatusError:
            return  # no /models here (404) or busy (429/5xx): reachable; the judging calls retry
        if not self.spec.check_model:
            return
        ids = [m.id for m in getattr(page, "data", [])]
        if ids and self.spec.model not in ids:
            close = difflib.get_close_matches(self.spec.model, ids, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f" (served: {', '.join(ids[:5])})"
            raise EndpointError(f"judge {self.spec.name!r}: model {self.spec.model!r} is not served at {where}{hint}")

    # ------------------------------------------------------------------ one call
    async def complete(self, messages: list[dict[str, str]], gate: Callable[[], None] | None = None) -> Reply:
        """One chat completion, retried on transport faults; raises CallFailed when it gives up.
        `gate` is called once, holding a concurrency slot, right before the first request goes out (the
        budget reserves there, so only calls really in flight hold a reservation); whatever it raises
        propagates and nothing is sent."""
        last = "unknown error"
        for attempt in range(self.cfg.max_retries + 1):
            delay: float | None = None
            try:
                async with self._sem:  # held only while a request is in flight, not while backing off
                    if gate is not None:
                        gate, g = None, gate
                        g()
                    self.stats.requests += 1
                    resp = await asyncio.wait_for(
                        self._client.chat.completions.create(
                            model=self.spec.model,
                            messages=messages,
                            temperature=self.spec.temperature,
                            max_tokens=self.spec.max_tokens,
                        ),
                        timeout=self.cfg.timeout,
                    )
                return _reply(resp, self.spec.model)
            except openai.RateLimitError as exc:
                self.stats.rate_limited += 1
                last = "HTTP 429 rate limited"
                delay = retry_after_seconds(getattr(exc.response, "headers", None))
                if delay is not None:
                    delay = min(delay, MAX_RETRY_AFTER)  # honoured as sent, backoff_max does not cut it
                    self.stats.retry_after_waits.append(delay)
            except openai.APITimeoutError:
                self.stats.timeouts += 1
                last = f"timeout after {self.cfg.timeout:g}s"
            except asyncio.TimeoutError:
                self.stats.timeouts += 1
                last = f"timeout after {self.cfg.timeout:g}s"
            except openai.APIConnectionError:
                self.stats.connection_errors += 1
                last = "connection error"
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                self.stats.gave_up += 1
                what = "rejected the API key" if exc.status_code == 401 else "denied access"
                raise AuthRejected(
                    f"judge {self.spec.name!r}: {safe_url(self.base_url)} {what} (HTTP {exc.status_code}) during "
                    "judging; stopped at once, nothing judged is lost (fix the key and run again)"
                ) from None
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code >= 500 or code in (408, 409):
                    self.stats.server_errors += 1
                    last = f"HTTP {code}"
                else:
                    self.stats.gave_up += 1
                    raise CallFailed(f"HTTP {code} (not retried)") from None
            if attempt == self.cfg.max_retries:
                break
            self.stats.retries += 1
            if delay is None:
                delay = backoff_delay(attempt, self.cfg.backoff_base, self.cfg.backoff_max, self._rng)
            await asyncio.sleep(delay)
        self.stats.gave_up += 1
        raise CallFailed(f"{last}; gave up after {self.cfg.max_retries + 1} attempts")


def _reply(resp: Any, default_model: str) -> Reply:
    """A reply with no choices or no content is an empty text: the parser fails it and we re-ask.
    Token counts are kept only when valid (whole numbers >= 0); anything else is None, for the stage
    to estimate: a missing `usage` is never $0 and a negative one never a refund."""
    choices = getattr(resp, "choices", None) or []
    text = (choices[0].message.content or "") if choices and choices[0].message else ""
    usage = getattr(resp, "usage", None)
    return Reply(
        text=text if isinstance(text, str) else "",
        prompt_tokens=valid_count(getattr(usage, "prompt_tokens", None)),
        completion_tokens=valid_count(getattr(usage, "completion_tokens", None)),
        model=str(getattr(resp, "model", None) or default_model),
    )
