"""Config of the score/select stages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gsnr_bench.core.settings_base import Section


class ProxyConfig(Section):
    model: str = "gpt2"  # a local dir or a hub name (the papers' proxy is GPT-2); "demo" = the demo world's
    max_length: int | None = Field(None, gt=8)  # None = the proxy's own context (GPT-2: 1024)
    device: str = "auto"


class SelectionConfig(Section):
    selectors: list[str] = ["gsnr"]
    ratios: list[float] = [0.05, 0.10, 0.15]
    sizes: list[int] = []  # absolute budgets beside the ratios: exactly n examples each (--n 1000)
    budget_base: int | None = None  # n = round(ratio * budget_base) when set (Superfiltering: 52002)
    params: dict[str, dict[str, Any]] = {}  # per-selector parameter overrides, e.g. params.gsnr.members
    # stability: score every selector with this many seeds (seed, seed+1, ...: ensemble init and data order);
    # the report gives Spearman and top-k overlap between the seeds' rankings. `seed_combine`: the subsets
    # come from the first seed's ranking ("first") or from the mean rank over the seeds ("mean_rank")
    seeds: int = Field(1, ge=1)
    seed_combine: Literal["first", "mean_rank"] = "first"

    @field_validator("ratios")
    @classmethod
    def _ratios_in_range(cls, v: list[float]) -> list[float]:
        for r in v:
            if not (0 < r <= 1):
                raise ValueError(f"ratio {r} is outside (0, 1]")
        return v

    @field_validator("sizes")
    @classmethod
    def _sizes_positive(cls, v: list[int]) -> list[int]:
        for n in v:
            if n < 1:
                raise ValueError(f"size {n} selects nothing; sizes are numbers of examples >= 1")
        return v

    @model_validator(mode="after")
    def _some_budget(self) -> "SelectionConfig":
        if not self.ratios and not self.sizes:
            raise ValueError("at least one ratio (or absolute size, --n) is needed")
        return self
