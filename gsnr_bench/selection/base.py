"""The selector plug-in contract.

A selector is any object with a `name` and a `score(ctx) -> ScoreResult` method. The selection
stage (not the selector) turns scores into ranks, budgets and selection files, so every selector
gets the same tie-breaking, budget rule and file formats.

Higher score = more useful = selected first. A selector that wants a filter (e.g. IFD < 1)
returns `eligible=False` for the examples it refuses; they are ranked after all eligible ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from gsnr_bench.domain.records import Example


@dataclass
class SelectionContext:
    """Everything a selector may use. `workdir` is private to this (selector, pool, params)
    combination: put checkpoints there so an interrupted scoring resumes."""

    pool: Sequence[Example]
    params: Mapping[str, Any]
    seed: int
    workdir: Path
    proxy: str  # local dir or hub name of the proxy model ("gpt2" in the paper)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    max_length: int | None = None  # run-wide cap on tokens per example; None = the proxy's own context
    progress: Callable[[str, int, int], None] | None = None  # (task, done, total)
    shared_cache: Path | None = None  # dir shared by selectors that can reuse work (G-SNR + ablations)
    proxy_key: str | None = None  # content fingerprint of the proxy (weights, config, tokenizer), for cache keys
    truth: Mapping[str, str] | None = None  # id -> "clean" | defect label; given only to `needs_truth` selectors


@dataclass
class ScoreResult:
    """Per-example scores. `scores[i]` belongs to `ids[i]`; every pool id must appear exactly once.
    `columns` holds every intermediate statistic (per-member norms, G_s, V_t, losses...) for the
    shareable scores file. NaN scores are not allowed: mark such examples ineligible instead."""

    ids: list[str]
    scores: list[float]
    eligible: list[bool] | None = None
    columns: dict[str, list[Any]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. {"skipped_empty_response": 3}


@runtime_checkable
class Selector(Protocol):
    name: str
    # optional: `uses_proxy = True` asks the run to check the proxy model (ctx.proxy) before any stage;
    # `needs_truth = True` (the oracle controls) makes the selector valid only in a run with ground truth

    def score(self, ctx: SelectionContext) -> ScoreResult: ...
