"""Test questions longer than the model's context: `generation.long_prompts` = truncate | skip | error.

A prompt fits when its tokens plus `generation.max_new_tokens` fit the model's positions. For one that does not:

- `truncate` (the default): the question text is cut in the middle. The template's head and tail stay whole
  ("Below is an instruction ... ### Instruction:" / "### Response:"), as do the question's beginning (a third of
  what fits) and its end (the rest, where the actual request usually is), joined by " ... ". Every system of a run
  sees the same cut (same template, tokenizer, positions and max_new_tokens), so comparisons stay like for like;
  the answer record says `truncated: true`. It is the default because a run never stops on one question.
- `skip`: no answer is generated; the answers file holds a record with `skipped: true` and the reason, and
  `excluded_questions()` returns its id for every comparison of that test set (system and baseline alike), so the
  report can count it.
- `error`: the stage stops with a one-line error naming both other settings.

Pure functions: the caller passes a token counter (the backend's tokenizer) and the model's positions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.domain.templates import build_prompt

POLICIES = ("truncate", "skip", "error")
JOIN = " ... "


@dataclass(frozen=True)
class Fitted:
    prompt: str | None  # None: skipped
    status: str  # "ok" | "truncated" | "skipped"
    reason: str = ""


def too_long_message(n_tokens: int, max_new_tokens: int, positions: int) -> str:
    return (
        f"a prompt of {n_tokens} tokens plus generation.max_new_tokens={max_new_tokens} exceeds the model's "
        f"{positions} positions"
    )


def fit_question(
    text: str, *, count: Callable[[str], int], positions: int | None, max_new_tokens: int, policy: str, where: str = ""
) -> Fitted:
    """The prompt for question `text` under `policy`; `count(prompt)` is its number of tokens as the backend
    tokenises it (special tokens included)."""
    if policy not in POLICIES:
        raise DataError(f"unknown generation.long_prompts={policy!r} (expected {', '.join(POLICIES)})")
    prompt = build_prompt(text)
    if not positions:
        return Fitted(prompt, "ok")
    n = count(prompt)
    budget = positions - max_new_tokens
    if n <= budget:
        return Fitted(prompt, "ok")
    why = too_long_message(n, max_new_tokens, positions)
    if policy == "error":
        at = f"{where}: " if where else ""
        raise DataError(
            f"{at}{why}; set generation.long_prompts=truncate (cut the question's middle) or "
            "generation.long_prompts=skip (leave it out of every comparison)"
        )
    if policy == "skip":
        return Fitted(None, "skipped", why)
    cut = truncate_question(text, count=count, budget=budget)
    if cut is None:
        return Fitted(None, "skipped", f"{why}; even the template alone does not fit")
    return Fitted(build_prompt(cut), "truncated", why)


def truncate_question(text: str, *, count: Callable[[str], int], budget: int) -> str | None:
    """The longest middle-cut of `text` (head third + JOIN + tail) whose prompt takes at most `budget` tokens;
    None when not even the bare template fits. Binary search over the characters kept (token counts grow with
    them), about log2(len(text)) tokenisations."""

    def cut(keep: int) -> str:
        if keep <= 0:
            return JOIN.strip()
        head = keep // 3
        return text[:head].rstrip() + JOIN + text[len(text) - (keep - head) :].lstrip()

    if count(build_prompt(cut(0))) > budget:
        return None
    lo, hi = 0, len(text) - 1  # keep=lo fits; keeping everything does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(build_prompt(cut(mid))) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return cut(lo)


def skipped_ids(rows: Iterable[dict]) -> set[str]:
    return {str(r["question_id"]) for r in rows if r.get("skipped")}


def excluded_questions(
    system_answers: str | Path | Iterable[dict], baseline_answers: str | Path | Iterable[dict]
) -> set[str]:
    """Question ids to leave out of the comparison of a system with its baseline on one test set: those either
    side skipped (generation.long_prompts=skip). Takes the two answers files (or their rows). The same model
    config skips the same questions for every system, so every system's comparisons exclude the same ids."""

    def rows(src: str | Path | Iterable[dict]) -> Iterable[dict]:
        return read_jsonl(src, tolerant=True) if isinstance(src, (str, Path)) else src

    return skipped_ids(rows(system_answers)) | skipped_ids(rows(baseline_answers))


def check_questions_fit(
    texts: Iterable[tuple[str, str]], *, count: Callable[[str], int], positions: int, max_new_tokens: int, policy: str
) -> dict[str, int]:
    """Before any work (Pipeline.validate): fit every test question as the generation stage will, and fail now
    rather than after fine-tuning. `texts` are (where, question text) pairs. A ConfigError when
    `max_new_tokens` leaves no room for even the bare template; with policy `error`, the DataError of the first
    question that does not fit. Returns how many prompts fit whole, would be truncated and would be skipped."""
    bare = count(build_prompt(JOIN.strip()))
    if bare + max_new_tokens > positions:
        raise ConfigError(
            f"generation.max_new_tokens={max_new_tokens} plus the prompt template ({bare} tokens) exceeds the "
            f"target's {positions} positions: no question can be answered; lower generation.max_new_tokens to at "
            f"most {positions - bare}"
        )
    counts = {"ok": 0, "truncated": 0, "skipped": 0}
    for where, text in texts:
        fitted = fit_question(
            text, count=count, positions=positions, max_new_tokens=max_new_tokens, policy=policy, where=where
        )
        counts[fitted.status] += 1
    return counts
