"""`gsnr-bench import-judgments` and `gsnr-bench import-human`: bring other tools' judgments and human
labels into a run. Everything is validated in full (the file, the names, the merge with what the run
already holds) before anything is written; then the report is re-rendered from the run's files."""

from __future__ import annotations

import argparse
import hashlib
import math
import re
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import write_json
from gsnr_bench.core.progress import console, stdout_console
from gsnr_bench.reporting.collect import HUMAN, IMPORTED, IMPORTED_PROTOCOL, check_run, collect, imported_group
from gsnr_bench.run.store import MARKER, RunStore


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


# Cherry_LLM / Superfiltering name their review files <testset>_wrap_reviews_<judge>.json (gpt4, gpt3.5)
_JUDGE_NAMES = {"gpt4": "gpt-4", "gpt3.5": "gpt-3.5", "gpt35": "gpt-3.5"}
_GLOB = set("*?[")


def expand_sources(sources: list[str], fmt: str) -> list[Path]:
    """Files, directories (their review files: *review*.json for superfiltering, *.jsonl for fastchat, searched
    recursively) and globs (for a pattern the shell did not expand) -> the files, each once, in order."""
    import glob

    pattern = "*review*.json" if fmt == "superfiltering" else "*.jsonl"
    out: list[Path] = []
    for src in map(str, sources):
        p = Path(src)
        if p.is_dir():
            found = sorted(f for f in p.rglob(pattern) if f.is_file())
            if not found:
                raise DataError(f"{p}: no {pattern} files in this directory (--format {fmt})")
        elif p.is_file():
            found = [p]
        elif _GLOB & set(src):
            found = sorted(Path(f) for f in glob.glob(src, recursive=True) if Path(f).is_file())
            if not found:
                raise DataError(f"no file matches {src}")
        else:
            raise DataError(f"file not found: {src}")
        out += [f for f in found if f not in out]
    return out


def review_testset(path: Path) -> str | None:
    """The test set a Superfiltering/Cherry review file names: Meta_Info.dataset_name, else the file name's
    first part (vicuna_wrap_reviews_gpt4.json -> vicuna)."""
    from gsnr_bench.core.fileio import read_json

    data = read_json(path)
    meta = data.get("Meta_Info") if isinstance(data, dict) else None
    if isinstance(meta, dict) and meta.get("dataset_name"):
        return str(meta["dataset_name"])
    m = re.match(r"(.+?)_(?:wrap_)?reviews?_", path.name)
    return m.group(1) if m else None


def review_judge(path: Path) -> str | None:
    """The judge a review file's name gives (..._reviews_gpt4.json -> gpt-4), or None."""
    m = re.search(r"reviews?_([^/]+?)\.json$", path.name)
    return _JUDGE_NAMES.get(m.group(1).lower(), m.group(1)) if m else None


def cmd_import_judgments(args: argparse.Namespace) -> int:
    from gsnr_bench.reporting.build import write_report
    from gsnr_bench.reporting.importers import import_fastchat, import_superfiltering
    from gsnr_bench.reporting.printing import print_pws_by_judge
    from gsnr_bench.reporting.results import check_records

    run = _open_run(args.run_dir)
    files = expand_sources(args.files, args.format)
    existing = collect(run) if (run / MARKER).is_file() else None
    testsets = existing.info["testsets"] if existing else {}
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
    elif args.system:
        parse_system(args.system)
    per_file: list[tuple[Path, list[dict]]] = []
    for src in files:  # every file is read and checked before anything is written
        testset = args.testset or (review_testset(src) if args.format == "superfiltering" else None)
        if not testset:
            raise DataError(f"{src}: the test set is not named in the file; give --testset")
        if testsets and testset not in testsets:
            raise DataError(f"{src}: test set {testset!r} is not in run {run} (has: {', '.join(testsets)})")
        qids = {str(q) for q in testsets[testset]} if testsets else None
        if args.format == "superfiltering":
            records = import_superfiltering(
                src,
                system=args.system,
                testset=testset,
                baseline=baseline,
                judge=args.judge or review_judge(src) or "imported",
                combine_rule=args.combine or "lenient",
                prompt_version=prompt,
                questions=qids,
            )
        else:
            records = import_fastchat(
                src,
                testset=testset,
                baseline=baseline,
                prompt_version=prompt,
                combine_rule=args.combine or "strict",
                judge=args.judge,
                systems=[args.system] if args.system else None,
                questions=qids,
            )
        if not records:
            raise DataError(f"{src}: no judgments to import")
        per_file.append((src, records))
    systems: dict[str, dict[str, Any]] = {}
    for s in sorted({r["system"] for _, recs in per_file for r in recs}):
        sel, ratio = parse_system(s)
        systems[s] = {
            "dataset": args.dataset,
            "target_model": args.model,
            "regime": args.regime,
            "selector": sel,
            "ratio": ratio,
            "protocol": f"{IMPORTED_PROTOCOL}-{per_file[0][1][0]['prompt_version']}",
        }
    tagged = [{**r, "cell": imported_group(r["system"], systems[r["system"]])} for _, recs in per_file for r in recs]
    check_records((existing.records if existing else []) + tagged)  # duplicates, outcomes, prompt versions
    dests = []
    for src, _ in per_file:
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
        dest = run / IMPORTED / f"{src.stem}-{digest}.json"
        if dest.exists() or dest in dests:
            raise DataError(f"{src} is already imported into {run} ({dest.name}); nothing imported")
        dests.append(dest)
    RunStore(run)  # creates the marker of a new imports-only run
    for (src, records), dest in zip(per_file, dests):
        file_systems = {s: systems[s] for s in sorted({r["system"] for r in records})}
        write_json(dest, {"source": str(src), "format": args.format, "systems": file_systems, "records": records})
    n = sum(len(recs) for _, recs in per_file)
    console.print(f"imported {n} judgments of {', '.join(systems)} from {len(per_file)} file(s) into {run / IMPORTED}")
    rr = write_report(run)
    keys = {
        (m["dataset"], m["target_model"], m["regime"], m["protocol"], m["selector"], float(m["ratio"]))
        for m in systems.values()
    }
    print_pws_by_judge(rr.results, stdout_console(), keys)
    return 0


def cmd_import_human(args: argparse.Namespace) -> int:
    """Adds to the run's labels (human/labels.jsonl); a label already there for the same annotator and
    item is an error, so importing a file twice cannot double-count it."""
    from dataclasses import asdict

    from gsnr_bench.core.fileio import read_jsonl, write_jsonl
    from gsnr_bench.reporting.build import write_report
    from gsnr_bench.reporting.human import HumanLabel, read_rows, validate
    from gsnr_bench.reporting.printing import print_report

    run = check_run(Path(args.run_dir))
    if args.template is not None:
        return write_human_template(run, Path(args.template))
    if args.file is None:
        raise DataError("give the labels FILE to import, or --template OUT.csv to write a template to fill in")
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


def write_human_template(run: Path, out: Path) -> int:
    """A CSV to fill in: one row per judged (test set, question, system vs baseline) of the run, with the exact
    system names and question ids import-human accepts; `label` (win / tie / lose, from system_a's side) and
    `annotator` left empty. An existing file is never overwritten."""
    import csv
    import io

    from gsnr_bench.core.fileio import write_text
    from gsnr_bench.reporting.human import FIELDS

    if out.exists():
        raise DataError(f"{out} exists; give a new path for the template (an existing file is never overwritten)")
    rr = collect(run)
    judged = {(r["testset"], str(r["question_id"]), r["system"], r["baseline"]) for r in rr.records}
    items = sorted(judged, key=lambda k: (k[0], _qkey(k[1]), k[2], k[3]))
    if not items:
        raise DataError(f"{run} holds no judged comparisons yet: nothing to label")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*FIELDS, "annotator"])
    w.writerows([[*item, "", ""] for item in items])
    write_text(out, buf.getvalue())
    systems = sorted({i[2] for i in items})
    console.print(
        f"wrote {len(items)} rows to {out}: test sets {', '.join(sorted({i[0] for i in items}))}; systems "
        f"{', '.join(systems)} vs {', '.join(sorted({i[3] for i in items}))}. Fill in label (win / tie / lose for "
        "system_a) and annotator, then: gsnr-bench import-human FILE --run-dir RUN",
        soft_wrap=True,
    )
    return 0


def _qkey(q: str) -> tuple:
    return (0, int(q), "") if q.isdigit() else (1, 0, q)
