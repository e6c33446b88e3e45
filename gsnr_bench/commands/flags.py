"""The one table of command-line flags that set a config key: cli/options.py writes each key into its flag's help, and
runs.py `flag_tree` turns the parsed flags into config keys from the same table. Light on purpose: the parser
imports it before any command runs."""

from __future__ import annotations

import argparse
from typing import Any

# argparse dest -> dotted config key, in the order flag_tree sets them
CONFIG_FLAGS: dict[str, str] = {
    "train_data": "data.train",
    "testsets": "data.testsets",
    "truth": "data.truth",
    "proxy": "proxy.model",
    "target": "finetune.model",
    "judges": "judging.judges",
    "selectors": "selection.selectors",
    "ratios": "selection.ratios",
    "sizes": "selection.sizes",
    "budget_base": "selection.budget_base",
    "selector_seeds": "selection.seeds",
    "max_cost": "judging.max_cost",
    "concurrency": "judging.concurrency",
    "seed": "seed",
}


def keyed(dest: str, text: str) -> str:
    """`text` naming its flag's config key: at `{key}` when the text has that mark, else appended as ` (key)`."""
    key = CONFIG_FLAGS[dest]
    return text.replace("{key}", key) if "{key}" in text else f"{text} ({key})"


def flag_tree(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys a command's flags set (a flag not given sets nothing)."""
    extra: dict[str, Any] = {}
    for dest, key in CONFIG_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        *sections, leaf = key.split(".")
        node = extra
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
        if dest == "sizes" and value and not getattr(args, "ratios", None):
            node["ratios"] = []  # `--n 1000` alone: only the absolute budget(s)
    return extra
