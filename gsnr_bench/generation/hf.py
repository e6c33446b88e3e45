"""Hugging Face `generate` backend: batched, left-padded, greedy unless temperature > 0.

Every sampling knob is set explicitly: transformers fills unset (None) values from the model's own
generation_config (LLaMA-2 ships temperature 0.6 / top_p 0.9), which would silently change the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.generation.base import Completion
from gsnr_bench.generation.config import GenerationConfig


class HFGenerator:
    """Hugging Face generate: batched, left-padded, greedy by default"""

    name = "hf"

    def __init__(self, model_dir: Path, cfg: GenerationConfig, *, device: str = "auto") -> None:
        from gsnr_bench.domain.templates import prepare_tokenizer
        from gsnr_bench.modeling.artifacts import load_for_inference
        from gsnr_bench.modeling.loading import resolve_device

        self.cfg = cfg
        self.device = resolve_device(device)
        self.model, tok, self.info = load_for_inference(model_dir, device=self.device, dtype="auto")
        self.tok = prepare_tokenizer(tok)
        self.tok.padding_side = "left"  # new tokens must follow the prompt directly in every row
        mc = self.model.config
        self.max_positions = getattr(mc, "max_position_embeddings", None) or getattr(mc, "n_positions", None)
        if cfg.max_model_len is not None:  # the same context cap as vLLM's max_model_len: prompts fitted alike
            self.max_positions = min(self.max_positions or cfg.max_model_len, cfg.max_model_len)

    def count_tokens(self, text: str) -> int:
        """Tokens of one prompt as _batch encodes it (special tokens included)."""
        return len(self.tok(text, add_special_tokens=True)["input_ids"])

    def _gen_config(self) -> Any:
        from transformers import GenerationConfig as HFGenConfig

        c = self.cfg
        sample = c.temperature > 0
        # greedy ignores temperature/top_p/top_k (setting them only draws warnings); sampling pins all three
        knobs = {"temperature": c.temperature, "top_p": c.top_p, "top_k": 0} if sample else {}
        return HFGenConfig(
            max_new_tokens=c.max_new_tokens,
            do_sample=sample,
            num_beams=1,
            repetition_penalty=1.0,
            pad_token_id=self.tok.pad_token_id,
            eos_token_id=self.tok.eos_token_id,
            **knobs,
        )

    def generate(self, prompts: list[str]) -> list[Completion]:
        out: list[Completion] = []
        for i in range(0, len(prompts), self.cfg.batch_size):
            out.extend(self._batch(prompts[i : i + self.cfg.batch_size]))
        return out

    def _batch(self, prompts: list[str]) -> list[Completion]:
        import torch

        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=True).to(self.device)
        width = enc["input_ids"].shape[1]
        if self.max_positions and width + self.cfg.max_new_tokens > self.max_positions:
            raise DataError(
                f"a prompt of {width} tokens plus generation.max_new_tokens={self.cfg.max_new_tokens} "
                f"exceeds the model's {self.max_positions} positions; set "
                "generation.long_prompts=truncate or generation.long_prompts=skip"
            )
        if self.cfg.temperature > 0:
            torch.manual_seed(self.cfg.seed)
        try:
            with torch.inference_mode():
                seqs = self.model.generate(**enc, generation_config=self._gen_config())
        except torch.OutOfMemoryError:
            raise DataError(
                f"out of GPU memory while generating; lower generation.batch_size "
                f"(now {self.cfg.batch_size}) or generation.max_new_tokens"
            ) from None
        results = []
        eos = self.tok.eos_token_id
        for row, mask in zip(seqs[:, width:].tolist(), enc["attention_mask"].tolist()):
            n = row.index(eos) + 1 if eos in row else len(row)  # the EOS is generated, so it counts
            text = self.tok.decode(row[:n], skip_special_tokens=True).strip()
            results.append(Completion(text=text, prompt_tokens=int(sum(mask)), completion_tokens=n))
        return results
