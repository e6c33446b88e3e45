"""Test sets: WizardLM (idx, Skill, Difficulty, Instruction) and Vicuna (question_id, category,
turns | text). Given by name (`wizardlm`, `vicuna`), by path, or as `NAME=PATH`.

Known names are looked up in $GSNR_BENCH_DATA_DIR and the user cache first, then downloaded
once from the upstream repositories (the same files the papers use) into the cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_text, write_bytes
from gsnr_bench.domain.records import Question

UPSTREAM = {
    "wizardlm": (
        "wizardlm_218.jsonl",
        "https://raw.githubusercontent.com/nlpxucan/WizardLM/main/WizardLM/data/WizardLM_testset.jsonl",
    ),
    "vicuna": (
        "vicuna_80.jsonl",
        "https://raw.githubusercontent.com/lm-sys/FastChat/main/fastchat/llm_judge/data/vicuna_bench/question.jsonl",
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gsnr-bench" / "testsets"


def resolve_testset(spec: str) -> tuple[str, Path]:
    """Return (test set name, local file). Downloads a known name when no local copy exists."""
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name, _existing(Path(path))
    if spec in UPSTREAM:
        fname, url = UPSTREAM[spec]
        for d in [os.environ.get("GSNR_BENCH_DATA_DIR"), cache_dir()]:
            if d and (Path(d) / fname).is_file():
                return spec, Path(d) / fname
        return spec, _download(url, cache_dir() / fname, spec)
    path = _existing(Path(spec))
    return detect_format(path), path


def local_copy(spec: str) -> str | None:
    """The spec of a test set's copy on this machine (NAME=PATH), or None for a known name that is not cached;
    downloads nothing (the sweep plan)."""
    if spec in UPSTREAM:
        fname = UPSTREAM[spec][0]
        for d in [os.environ.get("GSNR_BENCH_DATA_DIR"), cache_dir()]:
            if d and (Path(d) / fname).is_file():
                return f"{spec}={Path(d) / fname}"
        return None
    return spec


def check_testset_spec(spec: str) -> None:
    """Cheap check before any work: a known name, or NAME=PATH / PATH naming an existing file."""
    if "=" in spec:
        name, path = spec.split("=", 1)
        if not name:
            raise DataError(f"test set {spec!r}: NAME=PATH needs a name")
        _existing(Path(path))
    elif spec not in UPSTREAM:
        _existing(Path(spec))


def _existing(path: Path) -> Path:
    if path.is_dir():
        raise DataError(f"test set {path} is a directory; give a WizardLM or Vicuna JSONL file")
    if not path.is_file():
        raise DataError(f"test set file not found: {path} (known names: {', '.join(UPSTREAM)})")
    return path


def _download(url: str, dest: Path, name: str) -> Path:
    import httpx

    try:
        resp = httpx.get(url, timeout=30, follow_redirects=True)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise DataError(
            f"test set {name!r} is not cached and cannot be downloaded ({type(exc).__name__}); offline? "
            f"put {dest.name} in $GSNR_BENCH_DATA_DIR or pass its path"
        ) from None
    write_bytes(dest, resp.content)
    return dest


def _rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: malformed JSONL at line {lineno}: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {lineno} is not a JSON object")
        rows.append((lineno, row))
    if not rows:
        raise DataError(f"test set {path} is empty")
    return rows


def detect_format(path: Path) -> str:
    _, first = _rows(path)[0]
    if "Instruction" in first or "idx" in first:
        return "wizardlm"
    if "question_id" in first:
        return "vicuna"
    raise DataError(f"{path}: neither WizardLM (idx, Instruction) nor Vicuna (question_id, turns) format")


def load_testset(spec: str, *, max_questions: int | None = None) -> list[Question]:
    name, path = resolve_testset(spec)
    fmt = detect_format(path)
    out: list[Question] = []
    seen: set[str] = set()
    for lineno, row in _rows(path):
        q = _wizardlm(name, row) if fmt == "wizardlm" else _vicuna(name, row)
        if q is None:
            need = "idx, Instruction" if fmt == "wizardlm" else "question_id, turns (or text)"
            raise DataError(f"{path}: line {lineno} lacks {need}")
        if q.question_id in seen:
            raise DataError(f"{path}: line {lineno}: duplicate question id {q.question_id}")
        seen.add(q.question_id)
        out.append(q)
    return out[:max_questions] if max_questions else out


def _wizardlm(name: str, row: dict) -> Question | None:
    if "idx" not in row or not isinstance(row.get("Instruction"), str):
        return None
    return Question(name, str(row["idx"]), row["Instruction"], str(row.get("Skill", "")), row.get("reference"))


def _vicuna(name: str, row: dict) -> Question | None:
    turns = row.get("turns")
    text = turns[0] if isinstance(turns, list) and turns and isinstance(turns[0], str) else row.get("text")
    if "question_id" not in row or not isinstance(text, str):
        return None
    return Question(name, str(row["question_id"]), text, str(row.get("category", "")), row.get("reference"))
