"""Plant labelled defects in real instruction records: a pool with a known ground truth (docs/real-cpu.md).

From a source file of real Alpaca records, `plant_defects` draws `n` records (seeded), marks `round(rate * n)`
of them defective, splits those over the kinds of DEFECT_MIX in fixed shares (largest remainder), and changes
each marked record in one way:

  off_topic   its output is replaced by the output of another drawn record (a real answer to another question)
  truncated   its output is cut at a word boundary to 20-50% of its words (only records of >= 8 words get this)
  empty       its output is ""
  duplicate   the whole record becomes a copy of a clean drawn record (another id, the same text)

The other records are `clean` and unchanged. Which records and which kinds are decided by the seed alone: the
generator reads only the records' texts and knows nothing of any selector or score. The truth file maps every
id to `clean` or its defect label (the format `--truth` reads, domain/truth.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json, write_json
from gsnr_bench.data.pool import load_pool

# share of each kind among the defective records (the demo's mix without "wrong", which needs verifiable tasks)
DEFECT_MIX = {"off_topic": 0.35, "truncated": 0.30, "empty": 0.10, "duplicate": 0.25}
MIN_WORDS_TO_TRUNCATE = 8
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Planted:
    records: list[dict[str, str]]  # Alpaca records with ids
    truth: dict[str, str]  # id -> clean | defect label
    meta: dict[str, Any]


def shares(n_bad: int, mix: dict[str, float]) -> dict[str, int]:
    """Counts per kind summing to n_bad: floor of each share, the remainder to the largest fractions."""
    raw = {k: n_bad * v / sum(mix.values()) for k, v in mix.items()}
    out = {k: int(np.floor(x)) for k, x in raw.items()}
    for k in sorted(raw, key=lambda k: (out[k] - raw[k], k))[: n_bad - sum(out.values())]:
        out[k] += 1
    return out


def plant_defects(source: str | Path, *, n: int, rate: float, seed: int) -> Planted:
    if not 0 <= rate < 1:
        raise DataError(f"defect rate must be in [0, 1), got {rate}")
    src = load_pool(source)
    usable = [e for e in src if e.output.strip()]  # a record whose real answer is already empty cannot be "clean"
    if n < 2 or n > len(usable):
        raise DataError(f"cannot draw {n} records from {source}: it has {len(usable)} with a non-empty output")
    rng = np.random.default_rng(seed)
    drawn = [usable[i] for i in sorted(rng.choice(len(usable), size=n, replace=False).tolist())]
    records = [
        {"id": f"r{k:05d}", "instruction": e.instruction, "input": e.input, "output": e.output}
        for k, e in enumerate(drawn)
    ]
    counts = shares(int(round(rate * n)), DEFECT_MIX)
    labels = ["clean"] * n
    free = list(rng.permutation(n).tolist())
    long_enough = {k for k, r in enumerate(records) if len(r["output"].split()) >= MIN_WORDS_TO_TRUNCATE}
    for kind in ("truncated", *(k for k in DEFECT_MIX if k != "truncated")):  # the constrained kind first
        pick = [k for k in free if kind != "truncated" or k in long_enough][: counts.get(kind, 0)]
        if len(pick) < counts.get(kind, 0):
            raise DataError(f"only {len(pick)} drawn records can be {kind}, {counts[kind]} needed; lower the rate")
        for k in pick:
            labels[k] = kind
        free = [k for k in free if k not in set(pick)]
    originals = [dict(r) for r in records]
    clean = [k for k in range(n) if labels[k] == "clean"]
    if counts.get("duplicate") and not clean:
        raise DataError("no clean record left to duplicate; lower the rate")
    for k, kind in enumerate(labels):
        r = records[k]
        if kind == "off_topic":
            other = _other(rng, originals, k)
            r["output"] = originals[other]["output"]
        elif kind == "truncated":
            words = r["output"].split()
            keep = max(1, int(len(words) * float(rng.uniform(0.2, 0.5))))
            r["output"] = " ".join(words[:keep])
        elif kind == "empty":
            r["output"] = ""
        elif kind == "duplicate":
            src_rec = originals[clean[int(rng.integers(len(clean)))]]
            r.update(instruction=src_rec["instruction"], input=src_rec["input"], output=src_rec["output"])
    truth = {r["id"]: lab for r, lab in zip(records, labels)}
    meta = {
        "generator": "gsnr_bench.data.defects",
        "version": GENERATOR_VERSION,
        "source": Path(source).name,
        "source_sha256": hashlib.sha256(Path(source).read_bytes()).hexdigest(),
        "n": n,
        "rate": rate,
        "seed": seed,
        "mix": DEFECT_MIX,
        "counts": {k: labels.count(k) for k in ("clean", *DEFECT_MIX)},
        "source_ids": {r["id"]: e.id for r, e in zip(records, drawn)},  # the source record each one came from
    }
    return Planted(records, truth, meta)


def _other(rng: np.random.Generator, records: list[dict[str, str]], k: int) -> int:
    """Another record whose question and answer both differ from record k's."""
    for _ in range(1000):
        j = int(rng.integers(len(records)))
        if (
            j != k
            and records[j]["output"] != records[k]["output"]
            and records[j]["instruction"] != records[k]["instruction"]
        ):
            return j
    raise DataError("cannot find a different record to swap an answer from; the source is too uniform")


def write_planted(p: Planted, out: Path) -> tuple[Path, Path, bool]:
    """out/pool.json, out/truth.json, out/defects.json. Returns (pool, truth, written). An existing out dir with
    the same content is left as is (written False); with other content it is an error, never overwritten."""
    out = Path(out)
    files = {"pool.json": p.records, "truth.json": p.truth, "defects.json": p.meta}
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a directory")
    present = [f for f in files if (out / f).exists()]
    if any(not (out / f).is_file() or read_json(out / f) != files[f] for f in present):
        bad = next(f for f in present if not (out / f).is_file() or read_json(out / f) != files[f])
        raise DataError(f"{out} already holds {bad} with other content; choose another --out")
    missing = [f for f in files if f not in present]  # defects.json is written last: a cut run is completed
    for f in missing:
        write_json(out / f, files[f])
    return out / "pool.json", out / "truth.json", bool(missing)
