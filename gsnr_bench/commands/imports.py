"""`gsnr-bench import-judgments` and `gsnr-bench import-human`: bring other tools' judgments and human
labels into a run. Everything is validated in full (the file, the names, the merge with what the run
already holds) before anything is written; then the report is re-rendered from the run's files."""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..fileio import write_json
from ..progress import console, stdout_console
from ..reporting.collect import HUMAN, IMPORTED, IMPORTED_PROTOCOL, check_run, collect, imported_group
from ..store import MARKER, RunStore


def parse_system(name: str) -> tuple[str, float]:
    """`selector@ratio` (ratio in (0, 1]) -> (selector, ratio); anything else is a one-line error."""
    sel, sep, ratio = name.partition("@")
    try:
        value = float(ratio)
    except ValueError:
        value = math.nan
    if not sep or not sel or not (0 < value <= 1):
        raise DataError(f"--system {name!r} must look like SELECTOR@RATIO with a ratio in (0, 1], e.g. cherry@0.1")
    return sel, value


def _open_run(run_dir: Path) -> Path:
    """An existing run, or a new empty directory made into one (a run can hold imports only)."""
    run = Path(run_dir)
    if not (run / MARKER).is_file():
        RunStore(run, create=False)  # refuses files and foreign directories
    return check_run(run) if (run / MARKER).is_file() else run


def cmd_import_judgments(args: argparse.Namespace) -> int:
    from ..reporting.build import write_report
    from ..reporting.importers import import_fastchat, import_superfiltering
    from ..reporting.results import check_records

    run = _open_run(args.run_dir)
    src = Path(args.file)
    if src.is_dir():
        raise DataError(f"{src} is a directory; give the judgment file to import")
    if not src.is_file():
        raise DataError(f"file not found: {src}")
    existing = collect(run) if (run / MARKER).is_file() else None
    testsets = existing.info["testsets"] if existing else {}
    if testsets and args.testset not in testsets:
        raise DataError(f"test set {args.testset!r} is not in run {run} (has: {', '.join(testsets)})")
    qids = {str(q) for q in testsets[args.testset]} if testsets else None
    versions = sorted({c["prompt_version"] for c in existing.cells}) if existing else []
    prompt = versions[0] if len(versions) == 1 else "vicuna-pair-v1"
    baseline = args.baseline
    run_baselines = sorted({c["baseline"] for c in existing.cells}) if existing else []
    if run_baselines and baseline not in run_baselines:
        raise DataError(f"baseline {baseline!r} differs from the run's {run_baselines[0]!r}")
    if args.format == "superfiltering":
        if not args.system:
            raise DataError("--system SELECTOR@RATIO is required for the superfiltering format")
        parse_system(args.system)
        records = import_superfiltering(
            src,
            system=args.system,
            testset=args.testset,
            baseline=baseline,
            judge=args.judge,
            combine_rule=args.combine or "lenient",
            prompt_version=prompt,
            questions=qids,
        )
    else:
        if args.system:
            parse_system(args.system)
        records = import_fastchat(
            src,
            testset=args.testset,
            baseline=baseline,
            prompt_version=prompt,
            combine_rule=args.combine or "strict",
            judge=None if args.judge == "imported" else args.judge,
            systems=[args.system] if args.system else None,
            questions=qids,
        )
    if not records:
        raise DataError(f"{src}: no judgments to import")
    systems: dict[str, dict[str, Any]] = {}
    for s in sorted({r["system"] for r in records}):
        sel, ratio = parse_system(s)
        systems[s] = {
            "dataset": args.dataset,
            "target_model": args.model,
            "regime": args.regime,
            "selector": sel,
            "ratio": ratio,
            "protocol": f"{IMPORTED_PROTOCOL}-{records[0]['prompt_version']}",
        }
    tagged = [{**r, "cell": imported_group(r["system"], systems[r["system"]])} for r in records]
    check_records((existing.records if existing else []) + tagged)  # duplicates, outcomes, prompt versions
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    dest = run / IMPORTED / f"{src.stem}-{digest}.json"
    if dest.exists():
        raise DataError(f"{src} is already imported into {run} ({dest.name})")
    RunStore(run)  # creates the marker of a new imports-only run
    write_json(dest, {"source": str(src), "format": args.format, "systems": systems, "records": records})
    console.print(f"imported {len(records)} judgments of {', '.join(systems)} into {dest}")
    write_report(run)
    return 0


def cmd_import_human(args: argparse.Namespace) -> int:
    """Adds to the run's labels (human/labels.jsonl); a label already there for the same annotator and
    item is an error, so importing a file twice cannot double-count it."""
    from dataclasses import asdict

    from ..fileio import read_jsonl, write_jsonl
    from ..reporting.build import write_report
    from ..reporting.human import HumanLabel, read_rows, validate
    from ..reporting.printing import print_report

    run = check_run(Path(args.run_dir))
    rr = collect(run)
    pairs = {(r["system"], r["baseline"]) for r in rr.records}
    questions = {(t, str(q)) for t, qs in rr.info["testsets"].items() for q in qs}
    questions |= {(r["testset"], str(r["question_id"])) for r in rr.records}
    new = validate(read_rows(args.file), questions=questions, pairs=pairs, source=str(args.file))
    old = [HumanLabel(**r, line=i) for i, r in enumerate(read_jsonl(run / HUMAN), 1)] if (run / HUMAN).is_file() else []
    have = {(h.annotator,) + h.item for h in old}
    again = [h for h in new if (h.annotator,) + h.item in have]
    if again:
        h = again[0]
        raise DataError(
            f"{args.file}: {len(again)} label(s) are already in {run / HUMAN} (first: line {h.line}, "
            f"annotator {h.annotator or '(none)'}, {h.testset}/{h.question_id}); nothing imported"
        )
    RunStore(run, create=False).check_writable()
    write_jsonl(run / HUMAN, [{k: v for k, v in asdict(h).items() if k != "line"} for h in old + new])
    console.print(f"imported {len(new)} human labels into {run / HUMAN} ({len(old) + len(new)} in all)")
    print_report(write_report(run), stdout_console())
    return 0
