"""`gsnr-bench export`: a finished subset of a run, as training data for another trainer.

Reads RUN/subsets/<selector>@<ratio>-<hash>/selection.jsonl (ids in rank order, with score and rank; DONE marks
it finished) and the run's pool (RUN/config.yaml `data.train`: a path, a Hugging Face name, or `demo`, whose pool
is RUN/world/demo-*/world/pool.json). Writes the selected examples in rank order in the pool's own Alpaca form
(`instruction`, `input`, `output`) plus `id`, `score` and `rank`:

- `alpaca-json`: one JSON list (LLaMA-Factory `alpaca` datasets, Stanford Alpaca's train.py);
- `jsonl`: one record per line (axolotl `type: alpaca`, TRL via `datasets.load_dataset("json", ...)`);
- `hf-dataset`: a `datasets.save_to_disk` directory (`datasets.load_from_disk`);
- `sharegpt`: one JSON list of `{"id", "conversations": [{"from": "human", "value": instruction + blank line +
  input}, {"from": "gpt", "value": output}], "score", "rank"}` (LLaMA-Factory `formatting: sharegpt`, axolotl
  `type: sharegpt`, FastChat's training scripts).

`--all` writes every finished subset of the run into one directory, a file (or dataset directory) per subset
named after it (`<selector>@<ratio>-<key>.json`), checking every target before writing any.

Whole or nothing: files are written temp-then-rename, a dataset directory is built beside the target and renamed
into place. An existing --out is never replaced without --force."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import dumps, read_jsonl, write_jsonl, write_text

FORMATS = ("alpaca-json", "jsonl", "hf-dataset", "sharegpt")
_SUFFIX = {"alpaca-json": ".json", "jsonl": ".jsonl", "hf-dataset": "", "sharegpt": ".json"}
_BY_SUFFIX = {".json": "alpaca-json", ".jsonl": "jsonl"}


class ExportError(DataError):
    """An export that cannot be done as asked (no such subset, --out exists, unknown format)."""


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    n: int
    subset: Path


DONE = "DONE"  # the store's completion marker


def _slug(text: str) -> str:
    """A stage label as the store spells it in directory names."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", text).strip("_") or "x"


def find_subset(run_dir: Path, selector: str, ratio: float, subset: str | None = None) -> Path:
    """The finished subset directory of `selector` at `ratio` (or the one named `subset`)."""
    root = Path(run_dir) / "subsets"
    if not Path(run_dir).is_dir():
        raise ExportError(f"run directory not found: {run_dir}")
    label = _slug(f"{selector}@{ratio:g}")  # the subset stage's label (pipeline.system_name)
    dirs = (
        sorted(p for p in root.glob("*") if p.is_dir() and p.name.rsplit("-", 1)[0] == label) if root.is_dir() else []
    )
    if subset is not None:
        dirs = [p for p in dirs if p.name == subset]
    done = [p for p in dirs if (p / DONE).is_file() and (p / "selection.jsonl").is_file()]
    if not done:
        have = sorted({d.parent.name.rsplit("-", 1)[0] for d in root.glob("*/DONE")}) if root.is_dir() else []
        what = f"subset {subset!r}" if subset else f"finished subset {selector}@{ratio:g}"
        hint = f" (finished: {', '.join(have)})" if have else " (run `gsnr-bench select` first)"
        raise ExportError(f"no {what} in {run_dir}{hint}")
    if len(done) > 1:
        raise ExportError(
            f"{len(done)} subsets of {selector}@{ratio:g} in {run_dir} ({', '.join(p.name for p in done)}: "
            "made under different configs); choose one with --subset NAME"
        )
    return done[0]


def run_pool_sources(run_dir: Path) -> list[tuple[str, int | None]]:
    """Candidate (data.train, data.max_examples) of the run, newest first: the recorded config's, then every
    pool an earlier command used (the run record's history); `demo` resolves to the run's demo world pool."""
    from gsnr_bench.core.errors import StoreError
    from gsnr_bench.run.runrecord import load_record

    try:
        record = load_record(Path(run_dir))
    except StoreError as exc:
        raise ExportError(f"{exc}; or pass --train-data") from None
    if record is None:
        raise ExportError(
            f"{Path(run_dir) / 'config.yaml'} not found: not a gsnr-bench run directory, or pass --train-data"
        )
    data = record.config.get("data") or {}
    trains = [data.get("train")]
    for h in reversed(record.history):
        trains += list((h.get("changed") or {}).get("data.train") or [])
    out: list[tuple[str, int | None]] = []
    for train in dict.fromkeys(t for t in trains if t):
        if train == "demo":
            pools = sorted(Path(run_dir).glob("world/demo-*/world/pool.json"))
            out += [(str(p), data.get("max_examples")) for p in pools]
        else:
            out.append((str(train), data.get("max_examples")))
    if not out:
        raise ExportError(f"{run_dir}: the run record names no pool; pass --train-data POOL")
    return out


def _pool_for(subset_dir: Path, sources: list[tuple[str, int | None]]) -> tuple[str, list[Any]]:
    """The pool the subset was selected from: its content fingerprint must match the one the selection stage
    recorded (a pool edited or swapped since then is refused, never exported by matching ids)."""
    from gsnr_bench.core.fileio import read_json
    from gsnr_bench.data.pool import load_pool, pool_fingerprint

    want = read_json(subset_dir / DONE).get("pool")
    for source, max_examples in sources:
        pool = load_pool(source, max_examples=max_examples)
        if want is None or pool_fingerprint(pool)[:16] == want:
            return source, pool
    raise ExportError(
        f"{subset_dir.name} was selected from a pool that none of {', '.join(s for s, _ in sources)} "
        "holds now (its content changed); pass that pool with --train-data"
    )


def export_rows(run_dir: Path, subset_dir: Path, train_data: str | None = None) -> list[dict[str, Any]]:
    source, pool = _pool_for(subset_dir, [(train_data, None)] if train_data else run_pool_sources(run_dir))
    by_id = {e.id: e for e in pool}
    chosen = read_jsonl(subset_dir / "selection.jsonl")
    missing = [str(r["id"]) for r in chosen if str(r["id"]) not in by_id]
    if missing:
        raise ExportError(
            f"{subset_dir.name} names {len(missing)} id(s) not in the pool {source} (first: "
            f"{missing[0]!r}); pass the run's pool with --train-data"
        )
    rows = []
    for r in sorted(chosen, key=lambda r: r["rank"]):
        e = by_id[str(r["id"])]
        rows.append(
            {
                "instruction": e.instruction,
                "input": e.input,
                "output": e.output,
                "id": e.id,
                "score": r.get("score"),
                "rank": int(r["rank"]),
            }
        )
    return rows


def resolve_format(fmt: str | None, out: Path) -> str:
    if fmt is None:
        fmt = _BY_SUFFIX.get(out.suffix.lower())
        if fmt is None:
            raise ExportError(f"cannot tell the format from {out.name!r}; pass --format {'|'.join(FORMATS)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (expected {', '.join(FORMATS)})")
    return fmt


def export_subset(
    run_dir: str | Path,
    selector: str,
    ratio: float,
    out: str | Path,
    *,
    fmt: str | None = None,
    force: bool = False,
    subset: str | None = None,
    train_data: str | None = None,
) -> Exported:
    run_dir, out = Path(run_dir), Path(out)
    fmt = resolve_format(fmt, out)
    if (out.exists() or out.is_symlink()) and not force:
        raise ExportError(f"{out} exists; choose another --out or pass --force to replace it")
    sub = find_subset(run_dir, selector, ratio, subset)
    rows = export_rows(run_dir, sub, train_data)
    if out.is_dir() and fmt != "hf-dataset":
        raise ExportError(f"{out} is a directory; --format {fmt} writes a file")
    _write(rows, out, fmt)
    return Exported(out, fmt, len(rows), sub)


def _write(rows: list[dict[str, Any]], out: Path, fmt: str) -> None:
    if fmt == "alpaca-json":
        write_text(out, dumps(rows))
    elif fmt == "jsonl":
        write_jsonl(out, rows)
    elif fmt == "sharegpt":
        write_text(out, dumps([sharegpt_row(r) for r in rows]))
    else:
        _write_dataset(rows, out)


def sharegpt_row(r: dict[str, Any]) -> dict[str, Any]:
    """An Alpaca row as one ShareGPT conversation: the prompt (instruction, then the input after a blank line,
    as Alpaca's own template joins them) from the human, the output from gpt."""
    prompt = r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "")
    turns = [{"from": "human", "value": prompt}, {"from": "gpt", "value": r["output"]}]
    return {"id": r["id"], "conversations": turns, "score": r["score"], "rank": r["rank"]}


def finished_subsets(run_dir: Path) -> list[Path]:
    """Every finished subset directory of the run, by name."""
    root = Path(run_dir) / "subsets"
    if not Path(run_dir).is_dir():
        raise ExportError(f"run directory not found: {run_dir}")
    return sorted(p for p in root.glob("*") if (p / DONE).is_file() and (p / "selection.jsonl").is_file())


def export_all(
    run_dir: str | Path, out: str | Path, *, fmt: str | None = None, force: bool = False, train_data: str | None = None
) -> list[Exported]:
    """Every finished subset into the directory `out` (made if missing), one file per subset; every target is
    checked (and every subset read) before the first is written."""
    run_dir, out = Path(run_dir), Path(out)
    fmt = fmt or "alpaca-json"
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (expected {', '.join(FORMATS)})")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file; --all writes one file per subset into a directory")
    subs = finished_subsets(run_dir)
    if not subs:
        raise ExportError(f"no finished subset in {run_dir} (run `gsnr-bench select` first)")
    targets = [out / f"{sub.name}{_SUFFIX[fmt]}" for sub in subs]
    there = [t for t in targets if t.exists() or t.is_symlink()]
    if there and not force:
        raise ExportError(f"{there[0]} exists ({len(there)} of {len(targets)}); pass --force to replace them")
    rows = [export_rows(run_dir, sub, train_data) for sub in subs]
    done = []
    for sub, target, rs in zip(subs, targets, rows):
        _write(rs, target, fmt)
        done.append(Exported(target, fmt, len(rs), sub))
    return done


def _write_dataset(rows: list[dict[str, Any]], out: Path) -> None:
    """save_to_disk into a temp dir beside `out`, then rename it into place (replacing `out` only under --force,
    which the caller checked)."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    old = None
    try:
        Dataset.from_list(rows).save_to_disk(str(tmp / "ds"))
        if out.exists() or out.is_symlink():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp / "ds", out)
    except BaseException:
        if old is not None and not out.exists():
            os.replace(old, out)  # put the user's data back
            old = None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
