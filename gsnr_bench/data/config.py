"""Config of the inputs: training pool, test sets, and the synthetic demo world."""

from __future__ import annotations

from pydantic import Field

from gsnr_bench.core.settings_base import Section


class DataConfig(Section):
    # an Alpaca JSON/JSONL path, a Hugging Face dataset name ("tatsu-lab/alpaca"), or "demo" (the demo
    # world's synthetic pool; configs/demo.yaml). No default: a run names its pool (--train-data).
    train: str | None = None
    # "wizardlm", "vicuna" (the papers' test sets), a path, NAME=PATH, or "demo-wizardlm"/"demo-vicuna"
    testsets: list[str] = ["wizardlm", "vicuna"]
    max_examples: int | None = Field(None, gt=0)  # cap the pool (first N after loading)
    max_questions: int | None = Field(None, gt=0)  # cap each test set
    # ground truth of the pool (--truth FILE: JSON/JSONL/CSV id -> clean | defect label; domain/truth.py):
    # enrichment per selector x ratio and the oracle / anti-oracle controls. The demo brings its own.
    truth: str | None = None


class DemoConfig(Section):
    pool_size: int = Field(600, gt=0)
    defect_rate: float = Field(0.35, ge=0, lt=1)
    # enough questions that a real difference in data quality shows through the bootstrap interval
    wizardlm_questions: int = Field(72, gt=0)
    vicuna_questions: int = Field(48, gt=0)
    seed: int = 0
    vocab_size: int = Field(1024, ge=300)  # BPE trained on the pool and test text
    proxy_layers: int = Field(2, gt=0)  # GPT-2 architecture, random init
    proxy_embd: int = Field(64, gt=0)
    target_layers: int = Field(2, gt=0)
    target_embd: int = Field(128, gt=0)
    # brief pre-training on clean "Q: ... A: ..." text, so proxy and target start as base models
    pretrain_examples: int = Field(2400, gt=0)
    pretrain_epochs: int = Field(3, ge=0)
    pretrain_lr: float = Field(3e-3, gt=0)
    pretrain_batch: int = Field(32, gt=0)
