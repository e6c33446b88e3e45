"""Synthetic judgment records that follow the ARCHITECTURE.md schema, for tests and page previews.
Seeded and pure: a system of `edge` e wins with probability ~ (1 + e) / 3 and loses with ~ (1 - e) / 3."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def synthetic_judgments(
    edges: Mapping[str, float],
    *,
    judges: Sequence[str] = ("gpt-4o", "qwen"),
    testsets: Mapping[str, int] | None = None,
    baseline: str = "full",
    prompt_version: str = "vicuna-pair-v1",
    failed_rate: float = 0.0,
    seed: int = 0,
) -> list[dict]:
    testsets = dict(testsets or {"vicuna": 20, "wizardlm": 30})
    rng = np.random.default_rng(seed)
    out = []
    for system in sorted(edges):
        e = max(-0.95, min(0.95, float(edges[system])))
        probs = [(1 + e) / 3, 1 / 3, (1 - e) / 3]
        for judge in judges:
            for ts, nq in sorted(testsets.items()):
                for q in range(1, nq + 1):
                    outcome = str(rng.choice(["win", "tie", "lose"], p=probs))
                    failed = rng.random() < failed_rate
                    s_sys, s_base = {"win": (8.0, 6.0), "tie": (7.0, 7.0), "lose": (6.0, 8.0)}[outcome]
                    first = "system" if rng.random() < 0.5 else "baseline"
                    scores = [s_sys, s_base] if first == "system" else [s_base, s_sys]
                    out.append(
                        {
                            "testset": ts,
                            "question_id": str(q),
                            "judge": judge,
                            "judge_model": f"{judge}-model",
                            "system": system,
                            "baseline": baseline,
                            "prompt_version": prompt_version,
                            "order": "shuffle",
                            "combine": None,
                            "null_pair": False,
                            "calls": [
                                {
                                    "first": first,
                                    "scores": None if failed else scores,
                                    "parse_failed": failed,
                                    "prompt_tokens": 500,
                                    "completion_tokens": 60,
                                    "cost": 0.0,
                                }
                            ],
                            "outcome": "failed" if failed else outcome,
                            "system_len": 100 + q,
                            "baseline_len": 120,
                        }
                    )
    return out
