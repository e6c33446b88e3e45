"""Did each cell measure anything? Per fine-tuned system: optimizer steps, tokens trained, the training loss at
the first and the last step, and the share of its answers identical to the 100% model's; a warning below
report.warn_min_steps steps or above report.warn_identical_share identical answers (docs/real-cpu.md).

Why these two: a subset that got a handful of optimizer steps at a small learning rate leaves the target where
it started, and so does the 100% model when it too barely trained; their answers are then largely the same text,
every comparison is a tie or noise, and every selector scores PWS ~1 for no reason that has to do with data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.modeling.artifacts import TRAINED
from gsnr_bench.run.store import DONE


def training_rows(run: Path, cells: list[dict], rcfg: Any) -> list[dict]:
    """One row per (protocol, system) of the judged cells, the 100% model first within each protocol."""
    rows: dict[tuple[str, str], dict] = {}
    many = len({c["protocol"] for c in cells}) > 1
    for c in sorted(cells, key=lambda c: (c["protocol"], c["system"])):
        baseline = c["baseline"]
        for name in (baseline, c["system"]):
            key = (c["protocol"], name)
            rel = (c.get("train_logs") or {}).get(name)
            if key in rows or rel is None:
                continue
            row = _row(run, Path(rel), name, c if name != baseline else None)
            if many:
                row = {"protocol": c["protocol"], **row}
            rows[key] = row
    covered = {
        (run / (c.get("train_logs") or {}).get(n, "")).parent for c in cells for n in (c.get("train_logs") or {})
    }
    out = list(rows.values())
    out += _heldout_only(run, covered, many)  # models scored held-out but not judged yet: no answers compared
    for r in out:
        r["warnings"] = warnings_of(r, rcfg)
    return out


def _heldout_only(run: Path, covered: set[Path], many: bool) -> list[dict]:
    """Rows for fine-tuned models the held-out stage scored (heldout/*/heldout.json) that no judged cell covers,
    so `gsnr-bench finetune` + `report` already says whether each model trained (identical answers: not known)."""
    from gsnr_bench.reporting.heldout import scan

    out, seen = [], set(covered)
    answers = _answers_by_system(run)
    for _, rec in sorted(scan(run), key=lambda x: (x[1].get("baseline_scores") is not None, x[1]["system"])):
        model = run / rec["model"]
        if model in seen or not (model / "train_log.jsonl").is_file():
            continue
        seen.add(model)
        row = _row(run, Path(rec["model"]) / "train_log.jsonl", rec["system"], None)
        base = rec.get("baseline")
        if base and rec["system"] != base and rec["system"] in answers and base in answers:
            row["identical_to_100%"] = _share(answers[rec["system"]], answers[base])
        out.append({"protocol": "not judged", **row} if many else row)
    return out


def _answers_by_system(run: Path) -> dict[str, Path]:
    """Finished answers stages by system name, only for names with exactly one (else which 100% model's answers
    to compare with would be a guess)."""
    found: dict[str, list[Path]] = {}
    for done in sorted(Path(run).glob(f"answers/*/{DONE}")):
        system = read_json(done).get("system")
        if system:
            found.setdefault(system, []).append(done.parent)
    return {k: v[0] for k, v in found.items() if len(v) == 1}


def _share(sys_dir: Path, base_dir: Path) -> float | None:
    """Share of the questions both answered whose answer text is the same (skipped questions left out)."""
    same = total = 0
    for f in sorted(sys_dir.glob("*.jsonl")):
        a, b = _answers(f), _answers(base_dir / f.name)
        for q in set(a) & set(b):
            total += 1
            same += a[q] == b[q]
    return round(same / total, 4) if total else None


def _row(run: Path, log_rel: Path, name: str, cell: dict | None) -> dict:
    log = read_jsonl(run / log_rel, tolerant=True) if (run / log_rel).is_file() else []
    trained_path = (run / log_rel).parent / TRAINED
    t = read_json(trained_path) if trained_path.is_file() else {}
    batch = t.get("effective_batch_size")
    if batch is not None and t.get("batch_capped"):
        batch = f"{batch} (capped from {t['configured_batch_size']})"
    return {
        "system": name,
        "examples": t.get("examples"),
        "steps": t.get("global_step"),
        "batch": batch,
        # older runs' trained.json lack tokens_trained: the epoch's tokens times the epochs run
        "tokens_trained": t.get("tokens_trained")
        if "tokens_trained" in t or "train_tokens" not in t
        else int(round(t["train_tokens"] * float(t.get("epochs") or 0))),
        "loss_first": round(float(log[0]["loss"]), 4) if log else None,
        "loss_last": round(float(log[-1]["loss"]), 4) if log else None,
        "identical_to_100%": identical_share(run, cell) if cell is not None else None,
    }


def identical_share(run: Path, cell: dict) -> float | None:
    """Share of the cell's compared questions whose answer text equals the 100% model's, exactly."""
    dirs = (cell.get("lengths") or {}).get("answers") or {}
    sys_dir, base_dir = dirs.get(cell["system"]), dirs.get(cell["baseline"])
    if not sys_dir or not base_dir:
        return None
    same = total = 0
    for testset, qids in cell["testsets"].items():
        a, b = _answers(run / sys_dir / f"{testset}.jsonl"), _answers(run / base_dir / f"{testset}.jsonl")
        for q in map(str, qids):
            if q in a and q in b:
                total += 1
                same += a[q] == b[q]
    return round(same / total, 4) if total else None


def _answers(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {str(r["question_id"]): r.get("answer", "") for r in read_jsonl(path, tolerant=True) if not r.get("skipped")}


def warnings_of(row: dict, rcfg: Any) -> list[str]:
    out = []
    steps, share = row.get("steps"), row.get("identical_to_100%")
    if steps is not None and steps < rcfg.warn_min_steps:
        out.append(
            f"{row['system']}: {steps} optimizer step(s), below the floor of {rcfg.warn_min_steps} "
            "(report.warn_min_steps): the target barely trained on its data, so its comparisons may measure "
            "nothing; lower finetune.batch_size or keep finetune.min_steps on (docs/real-cpu.md)"
        )
    if share is not None and share > rcfg.warn_identical_share:
        out.append(
            f"{row['system']}: {share:.0%} of its answers are identical to the 100% model's (above "
            f"{rcfg.warn_identical_share:.0%}, report.warn_identical_share): the fine-tunes hardly differ, so a "
            "PWS near 1 says nothing about the data (docs/real-cpu.md)"
        )
    return out
