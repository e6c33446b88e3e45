"""Stanford Alpaca prompts and the tokenisation that masks them from the loss.

The two templates live as versioned text files in prompts/ (alpaca-input-v1.txt, alpaca-noinput-v1.txt) so a
change to them is a visible, hashed change of protocol. Prompt and target are tokenised *separately* and
concatenated: the mask boundary is then exact, and generation (which tokenises the prompt alone) sees the same
prompt tokens the model was trained on.

Length policy: the sequence (prompt + output + EOS) is cut to `max_length` from the right, as in Stanford
Alpaca. An example whose prompt alone takes `max_length` tokens or more has no target left: it is skipped and
counted (`on_long_prompt="skip"`, the default) or rejected (`"error"`); if every example would be skipped the
fine-tune fails with a DataError naming `finetune.max_length`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_text
from gsnr_bench.core.resources import find_resource
from gsnr_bench.domain.records import Example

IGNORE_INDEX = -100  # label value the causal-LM loss ignores
TEMPLATE_FILES = {"input": "alpaca-input-v1.txt", "noinput": "alpaca-noinput-v1.txt"}


@functools.lru_cache(maxsize=None)
def load_template(kind: str) -> str:
    path = find_resource("prompts", TEMPLATE_FILES[kind])
    if path is None:
        raise DataError(f"prompt template prompts/{TEMPLATE_FILES[kind]} not found (broken install?)")
    # an editor may add a final newline; the template ends at "### Response:"
    return read_text(path).rstrip("\n")


def template_fingerprint() -> dict[str, str]:
    """sha256 of each template, recorded in training_args.json (a template edit changes the protocol)."""
    return {
        name: hashlib.sha256(load_template(kind).encode()).hexdigest()[:16] for kind, name in TEMPLATE_FILES.items()
    }


def build_prompt(instruction: str, input: str = "") -> str:
    """The Alpaca prompt; the no-input variant when `input` is empty or whitespace."""
    if input and input.strip():
        return load_template("input").replace("{instruction}", instruction).replace("{input}", input)
    return load_template("noinput").replace("{instruction}", instruction)


def prepare_tokenizer(tok: Any) -> Any:
    """Refuse a tokenizer without EOS (the target ends with it); use EOS as pad when there is no pad token.

    Padding with EOS is safe here because labels are built explicitly (padding is -100, the real EOS of the
    target keeps its label) and the attention mask hides padding."""
    if tok.eos_token_id is None:
        raise DataError(
            f"tokenizer {getattr(tok, 'name_or_path', '?')!r} has no EOS token; the Alpaca target is output + EOS, "
            "so training would never learn to stop: use a tokenizer with eos_token set"
        )
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


@dataclass
class Encoded:
    features: list[dict[str, list[int]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # ids whose prompt alone fills max_length
    truncated: int = 0  # examples whose target was cut
    tokens: int = 0  # total tokens (for throughput)
    target_tokens: int = 0  # tokens with a label (the answer + EOS): what the loss is taken over


def encode_example(tok: Any, ex: Example, max_length: int) -> tuple[dict[str, list[int]] | None, bool]:
    """(features, truncated). features is None when the prompt leaves no room for a target token."""
    prompt_ids = tok(build_prompt(ex.instruction, ex.input), add_special_tokens=True)["input_ids"]
    target_ids = tok(ex.output, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    if len(prompt_ids) >= max_length:
        return None, False
    ids = (prompt_ids + target_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + target_ids)[:max_length]
    return {"input_ids": ids, "labels": labels}, len(prompt_ids) + len(target_ids) > max_length


def encode_examples(tok: Any, examples: Iterable[Example], max_length: int, on_long_prompt: str = "skip") -> Encoded:
    out = Encoded()
    for ex in examples:
        feats, cut = encode_example(tok, ex, max_length)
        if feats is None:
            if on_long_prompt == "error":
                raise DataError(
                    f"example {ex.id!r}: its prompt alone is at least finetune.max_length={max_length} "
                    "tokens; raise max_length or set finetune.on_long_prompt=skip"
                )
            out.skipped.append(ex.id)
            continue
        out.features.append(feats)
        out.truncated += int(cut)
        out.tokens += len(feats["input_ids"])
        out.target_tokens += sum(1 for t in feats["labels"] if t != IGNORE_INDEX)
    if not out.features:
        raise DataError(
            f"no example fits finetune.max_length={max_length}: every prompt is at least that long "
            f"({len(out.skipped)} skipped); raise finetune.max_length"
        )
    return out


class Collator:
    """Right-pads a batch: input_ids with pad, labels with -100, attention mask 0 on padding."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad = pad_token_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids, labels, mask = [], [], []
        for b in batch:
            n = len(b["input_ids"])
            ids.append(b["input_ids"] + [self.pad] * (width - n))
            labels.append(b["labels"] + [IGNORE_INDEX] * (width - n))
            mask.append([1] * n + [0] * (width - n))
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}
