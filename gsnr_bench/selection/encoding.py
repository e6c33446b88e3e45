"""Tokenising (prompt, response) pairs into scored sequences.

A sequence is `ids` plus `start`: the loss covers tokens ids[start:], each predicted from the tokens before
it. Prompt and response are tokenised separately and concatenated (so the prompt/response boundary is exact),
then truncated on the right to max_length. Examples that end up with no scored token get a status saying why,
so selectors can skip them with a count instead of producing NaN."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OK, EMPTY, TOO_LONG = "ok", "empty_response", "prompt_too_long"


@dataclass
class Encoded:
    ids: list  # one int64 array of token ids per example (a list of Python ints costs ~4x the memory)
    start: list[int]
    status: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def n_scored(self, i: int) -> int:
        return max(0, len(self.ids[i]) - self.start[i])

    def ok(self) -> list[int]:
        return [i for i, s in enumerate(self.status) if s == OK]


@dataclass
class EncodedSummary:
    """What a selector keeps of an Encoded batch after scoring it: statuses and scored-token counts, not ids."""

    status: list[str]
    scored: list[int]

    def __len__(self) -> int:
        return len(self.status)

    def n_scored(self, i: int) -> int:
        return self.scored[i]

    def extend(self, enc: Encoded) -> None:
        self.status += enc.status
        self.scored += [enc.n_scored(i) for i in range(len(enc))]


def _tok_ids(tok, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return tok(texts, add_special_tokens=False)["input_ids"]


def encode_pairs(
    tok,
    prompts: list[str],
    responses: list[str],
    max_length: int,
    *,
    append_eos: bool = False,
    prompt_budget: int | None = None,
    chunk: int = 1024,
) -> Encoded:
    """Scored sequences prompt+response with the prompt masked.

    An empty prompt scores response tokens 1.. (the first has nothing to be predicted from), as a plain LM
    loss does. `prompt_budget` (answer-alone losses) truncates the response to max_length - budget + len(prompt)
    tokens so the alone text covers the same response tokens as the conditioned one."""
    eos = getattr(tok, "eos_token_id", None)
    out = Encoded([], [], [])
    # tokenised a chunk at a time: the tokenizer's lists of Python ints exist for one chunk, not the whole pool
    for lo in range(0, len(prompts), chunk):
        p_ids = _tok_ids(tok, prompts[lo : lo + chunk])
        r_ids = _tok_ids(tok, responses[lo : lo + chunk])
        for j, (p, r) in enumerate(zip(p_ids, r_ids)):
            i = lo + j
            if append_eos and eos is not None and r:
                r = r + [eos]
            limit = max_length
            if prompt_budget is not None:
                limit = min(max_length, prompt_budget[i] if isinstance(prompt_budget, list) else prompt_budget)
            full = (p + r)[:limit]
            start = max(len(p), 1)
            if not r:
                status = EMPTY
            elif start >= len(full):
                status = TOO_LONG
            else:
                status = OK
            out.ids.append(np.asarray(full, dtype=np.int64))  # 8 bytes a token, not a Python int's ~36
            out.start.append(start)
            out.status.append(status)
    return out


def status_counts(enc: Encoded) -> dict[str, int]:
    notes: dict[str, int] = {}
    for s in enc.status:
        if s != OK:
            notes[f"skipped_{s}"] = notes.get(f"skipped_{s}", 0) + 1
    return notes
