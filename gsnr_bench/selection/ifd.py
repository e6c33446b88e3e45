"""IFD selectors (Superfiltering and Cherry variants; docs/selectors.md).

IFD compares the loss of the answer conditioned on the prompt with the loss of the answer alone.
- `ifd-superfiltering`: prompt "{instruction}\\n{input}\\n", answer alone = the bare output (its first token is
  unscored, as in a plain LM loss), IFD = exp(L_cond) / exp(L_alone) (perplexity ratio), kept if IFD < 1,
  max length 1024. The alone text is truncated to max_length - len(prompt) + 1 tokens (as the reference code),
  so both losses cover the same answer tokens.
- `ifd-cherry`: Alpaca template, answer alone = "### Response:" + output with the prefix masked, IFD = L_cond /
  L_alone (mean-token-loss ratio), kept if IFD <= 1, max length 512.
Ineligible examples (filtered, empty answers, prompts filling max_length, non-finite losses) get
eligible=False, score 0 and a count in notes. Both variants share losses.mean_losses.
"""

from __future__ import annotations

import math

import numpy as np

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.selection.base import ScoreResult, SelectionContext
from gsnr_bench.selection.common import check_pool, report
from gsnr_bench.selection.encoding import OK, EncodedSummary, encode_pairs, status_counts
from gsnr_bench.selection.prompts import CHERRY_ALONE_PREFIX, alpaca_prompt, plain_prompt


class IfdSelector:
    """Base: variant-specific texts and ratio; params common to both."""

    name = "ifd"
    uses_proxy = True
    variant = "superfiltering"

    def __init__(
        self,
        max_length: int | None = None,
        max_tokens: int = 2048,
        max_batch: int = 16,
        dtype: str = "float32",
        device: str | None = None,
        filter: bool = True,
        chunk: int = 4096,
    ):
        self.max_length = max_length
        self.chunk = chunk  # examples tokenised and scored at a time: memory follows the chunk, not the pool
        self.max_tokens = max_tokens
        self.max_batch = max_batch
        self.dtype = dtype
        self.device = device
        self.filter = filter
        if max_tokens < 8 or max_batch < 1 or chunk < 1:
            raise ConfigError("ifd: max_tokens must be >= 8, max_batch >= 1 and chunk >= 1")

    default_max_length = 1024

    def texts(self, pool):  # -> prompts, alone-prefixes
        raise NotImplementedError

    def ratio(self, l_cond: np.ndarray, l_alone: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def keep(self, ifd: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, tok, pool, max_length: int):
        prompts, prefixes = self.texts(pool)
        outputs = [e.output for e in pool]
        cond = encode_pairs(tok, prompts, outputs, max_length)
        # the alone text covers the same answer tokens as the conditioned one (reference code: the bare answer
        # gets max_length - len(prompt) + 1 tokens, its first token unscored)
        pf_len = {pf: len(tok(pf, add_special_tokens=False)["input_ids"]) for pf in set(prefixes)}
        limits = [
            max(2, pf_len[pf] + max_length - c_start + (0 if pf else 1)) for c_start, pf in zip(cond.start, prefixes)
        ]
        alone = encode_pairs(tok, prefixes, outputs, max_length, prompt_budget=limits)
        return cond, alone

    def score(self, ctx: SelectionContext) -> ScoreResult:
        from gsnr_bench.selection.losses import mean_losses
        from gsnr_bench.selection.proxy import context_limit, load_proxy

        check_pool(ctx.pool)
        tok, model, pad_id, dev = load_proxy(ctx.proxy, self.device or ctx.device, self.dtype)
        cap = min(self.default_max_length, ctx.max_length) if ctx.max_length else self.default_max_length
        max_length = context_limit(model, self.max_length or cap)
        kw = dict(pad_id=pad_id, device=dev, max_tokens=self.max_tokens, max_batch=self.max_batch)
        pool = list(ctx.pool)
        n = len(pool)
        # token ids live as Python lists (~36 bytes a token): a pool of Alpaca's size tokenised at once holds
        # ~1 GB; chunks keep that to one chunk's worth. Losses are per example, so chunking changes nothing.
        l_cond, l_alone, cond_sum, alone_sum = [], [], EncodedSummary([], []), EncodedSummary([], [])
        for lo in range(0, n, self.chunk):
            cond, alone = self.encode(tok, pool[lo : lo + self.chunk], max_length)
            m = len(cond)
            l_cond.append(
                mean_losses(
                    model,
                    cond,
                    progress=lambda d, t, lo=lo, m=m: report(
                        ctx.progress, "ifd: conditioned + alone", 2 * lo + round(m * d / max(t, 1)), 2 * n
                    ),
                    **kw,
                )
            )
            l_alone.append(
                mean_losses(
                    model,
                    alone,
                    progress=lambda d, t, lo=lo, m=m: report(
                        ctx.progress, "ifd: conditioned + alone", 2 * lo + m + round(m * d / max(t, 1)), 2 * n
                    ),
                    **kw,
                )
            )
            cond_sum.extend(cond)
            alone_sum.extend(alone)
        return self.result(pool, cond_sum, alone_sum, np.concatenate(l_cond), np.concatenate(l_alone))

    def result(self, pool, cond, alone, l_cond, l_alone) -> ScoreResult:
        notes = status_counts(cond)
        for c, a in zip(cond.status, alone.status):  # the answer alone failed where the pair did not
            if c == OK and a != OK:
                notes[f"skipped_alone_{a}"] = notes.get(f"skipped_alone_{a}", 0) + 1
        with np.errstate(all="ignore"):
            ifd = self.ratio(l_cond, l_alone)
        valid = np.array([s == OK for s in cond.status]) & np.array([s == OK for s in alone.status])
        finite = np.isfinite(ifd)
        nonfinite = int((valid & ~finite).sum())
        if nonfinite:
            notes["skipped_nonfinite_loss"] = nonfinite
        valid &= finite
        eligible = valid & self.keep(np.where(finite, ifd, np.inf)) if self.filter else valid
        notes["filtered_ifd"] = int((valid & ~eligible).sum())
        notes["eligible"] = int(eligible.sum())
        clean = lambda a: [float(x) if math.isfinite(x) else None for x in a]  # noqa: E731
        return ScoreResult(
            ids=[e.id for e in pool],
            scores=[float(x) if ok else 0.0 for x, ok in zip(ifd, valid)],
            eligible=eligible.tolist(),
            columns={
                "loss_cond": clean(l_cond),
                "loss_alone": clean(l_alone),
                "ifd": clean(ifd),
                "n_answer_tokens": [cond.n_scored(i) for i in range(len(pool))],
            },
            notes=notes,
        )


class SuperfilteringIfd(IfdSelector):
    name = "ifd-superfiltering"
    default_max_length = 1024

    def texts(self, pool):
        return [plain_prompt(e) for e in pool], ["" for _ in pool]

    def ratio(self, l_cond, l_alone):
        return np.exp(l_cond) / np.exp(l_alone)

    def keep(self, ifd):
        return ifd < 1.0


class CherryIfd(IfdSelector):
    name = "ifd-cherry"
    default_max_length = 512

    def texts(self, pool):
        return [alpaca_prompt(e) for e in pool], [CHERRY_ALONE_PREFIX for _ in pool]

    def ratio(self, l_cond, l_alone):
        return l_cond / l_alone

    def keep(self, ifd):
        return ifd <= 1.0
