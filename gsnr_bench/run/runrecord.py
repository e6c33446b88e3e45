"""RUN/config.yaml: the run's recorded configuration and the history of the commands that added to it.

    config:   the run's configuration, resolved. Every command on this run starts from it; flags
              (--set, --selector, --config FILE, ...) change it for that command and the result is
              recorded here, so the next flagless command repeats the last one.
    history:  one entry per command: its arguments, when it ran, the config keys it changed (dotted
              key -> [before, after]; the first entry lists none: it created the config), and the cells
              it planned. Nothing is ever dropped from the history.

Stages are addressed by the content of their inputs, so a changed input (a new learning rate, a
retrained proxy) makes new stage directories beside the old ones; the report covers every finished
cell and groups cells made under different protocols (reporting/collect.py)."""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gsnr_bench.core import yaml12
from gsnr_bench.core.errors import StoreError
from gsnr_bench.core.fileio import write_text

RECORD = "config.yaml"
HEADER = (
    "# gsnr-bench run record. `config`: the run's configuration; every command on this run starts\n"
    "# from it. `history`: each command that added to the run, the keys it changed and its cells.\n"
    "# Reproduce with: gsnr-bench run --config <this file> --run-dir NEW_DIR\n"
)


@dataclass
class RunRecord:
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


def load_record(root: Path) -> RunRecord | None:
    path = Path(root) / RECORD
    if not path.is_file():
        return None
    try:
        data = yaml12.load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is unreadable ({type(exc).__name__}); restore it or choose a new --run-dir") from None
    if not (isinstance(data, dict) and isinstance(data.get("config"), dict) and isinstance(data.get("history"), list)):
        raise StoreError(
            f"{path} is not a gsnr-bench run record (needs `config` and `history`); "
            "restore it or choose a new --run-dir"
        )
    return RunRecord(data["config"], data["history"])


def save_record(root: Path, record: RunRecord) -> None:
    body = yaml.safe_dump(
        {"config": record.config, "history": record.history},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=110,
    )
    write_text(Path(root) / RECORD, HEADER + body)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """dotted key -> [before, after] for every leaf that differs (missing = None)."""
    a, b = flatten(before), flatten(after)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def history_entry(
    argv: list[str] | None, changed: dict[str, list[Any]], cells: list[str], judges: list[str], command: str
) -> dict[str, Any]:
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    args = list(sys.argv[1:] if argv is None else argv)
    return {"command": command, "argv": args, "at": now, "changed": changed, "cells": cells, "judges": judges}
