"""Importers: existing judgment files -> our judgment records (ARCHITECTURE.md), so published results
sit on the same leaderboard. Both formats judge both orders; the two are merged by `combine`.

Superfiltering / Cherry_LLM review JSON (evaluation/generation/eval.py there): {"Meta_Info": {...},
"data": [...]} or a bare list. Per item: the question ("text" for Vicuna, "Instruction" for WizardLM, ...),
"Answer1" (the system, their key1), "Answer2" (the baseline), "scores" = [Answer1, Answer2] as presented,
"scores_reverse" = [Answer2, Answer1] (baseline shown first). Scores are lists or their str() form; the
reference code writes [-1, -1] on a parse failure (it then counts a tie): we count it as failed. Items
carry no id: question ids are their 1-based position (the WizardLM and Vicuna files number questions
1..N in file order), unless an item has "question_id" / "idx" / "id".

FastChat llm_judge pairwise JSONL (*_pair.jsonl): question_id, model_1, model_2, g1_winner, g2_winner
in {model_1, model_2, tie, error} (g2 already mapped back to model names), judge = [judge model, prompt
name], turn. The prompt name is the prompt version: FastChat's own (pair-v2, pair-v2-multi-turn) are
accepted and recorded as such. FastChat combines the two orders strictly (show_result.py: a win needs
both orders to name the same winner, anything else is a tie; rows with an error are dropped, here they
count as failed), so that is the default for this format; `lenient` stays available as an override.

A file from another prompt version than expected, or for another test set, is refused. Every problem
is collected and raised as one DataError listing the first rows: nothing is partially imported.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Sequence

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import jsonl_lines, read_json
from gsnr_bench.domain.judgment import Judgment, combine, outcome

SHOW = 5
# FastChat llm_judge's pairwise prompts (data/judge_prompts.jsonl): the general one and its MT-bench turn-2 form.
FASTCHAT_PROMPTS = ("pair-v2", "pair-v2-multi-turn")
_QUESTION_KEYS = ("question", "instruction", "Instruction", "text", "prompt")


def _check_file(path: str | Path) -> Path:
    """The judgments file must be a file: a directory or a missing path is a one-line error."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass the judgments file inside it")
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    return path


def _raise(problems: list[str], source: str) -> None:
    if problems:
        more = f"; and {len(problems) - SHOW} more" if len(problems) > SHOW else ""
        raise DataError(f"{source}: {len(problems)} problem(s), nothing imported: " + "; ".join(problems[:SHOW]) + more)


def _scores(v: Any) -> list[float] | None:
    if isinstance(v, str):
        try:
            v = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError):
            return None
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return [float(v[0]), float(v[1])]
    return None


def _call(first: str, scores: list[float] | None, failed: bool) -> dict:
    return {
        "first": first,
        "scores": scores,
        "parse_failed": failed,
        "prompt_tokens": None,
        "completion_tokens": None,
        "cost": None,
    }


def _record(
    *,
    testset: str,
    qid: str,
    judge: str,
    judge_model: str,
    system: str,
    baseline: str,
    prompt_version: str,
    rule: str,
    calls: list[dict],
    outcome: str,
    source: str,
    system_len: int | None = None,
    baseline_len: int | None = None,
) -> dict:
    """An imported judgment record: both orders judged, combined by `rule`, never a null pair."""
    return Judgment(
        testset=testset,
        question_id=qid,
        judge=judge,
        judge_model=judge_model,
        system=system,
        baseline=baseline,
        prompt_version=prompt_version,
        order="both",
        combine=rule,
        null_pair=False,
        calls=calls,
        outcome=outcome,  # type: ignore[arg-type]
        system_len=system_len,
        baseline_len=baseline_len,
        source=source,
    ).to_dict()


def _known(qid: str, questions: set[str] | None) -> bool:
    return questions is None or qid in questions


def import_superfiltering(
    path: str | Path,
    *,
    system: str,
    testset: str,
    baseline: str = "full",
    judge: str = "imported",
    judge_model: str | None = None,
    combine_rule: str | None = "lenient",
    prompt_version: str = "vicuna-pair-v1",
    questions: set[str] | None = None,
) -> list[dict]:
    """Superfiltering/Cherry review JSON -> judgment records of `system` vs `baseline` on `testset`.
    `prompt_version` is the run's; the file must not declare another (these repos use the Vicuna pair
    prompt, our vicuna-pair-v1). `questions`: the run's question ids of `testset`, to refuse unknown ones."""
    combine_rule = combine_rule or "lenient"  # None: the format's own rule (the reference code counts win+tie a win)
    combine(["tie", "tie"], combine_rule)  # validates the rule name up front
    data = read_json(_check_file(path))
    meta = data.get("Meta_Info", {}) if isinstance(data, dict) else {}
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise DataError(f"{path}: no review items (expected a list, or {{'Meta_Info', 'data': [...]}})")
    problems: list[str] = []
    ds = meta.get("dataset_name") if isinstance(meta, dict) else None
    if ds and str(ds).lower() != testset.lower():
        problems.append(f"the file is for test set {ds!r}, not {testset!r}")
    declared = meta.get("prompt_version") if isinstance(meta, dict) else None
    if declared and declared != prompt_version:
        problems.append(f"the file was judged with prompt {declared!r}, expected {prompt_version!r}")
    out, seen = [], {}
    for pos, it in enumerate(items, start=1):
        where = f"item {pos}"
        if not isinstance(it, dict):
            problems.append(f"{where}: not an object")
            continue
        qid = str(it.get("question_id", it.get("idx", it.get("id", pos))))
        s1, s2 = _scores(it.get("scores")), _scores(it.get("scores_reverse"))
        errs = [f"{k} missing or not two numbers" for k, v in (("scores", s1), ("scores_reverse", s2)) if v is None]
        if not _known(qid, questions):
            errs.append(f"unknown question id {qid!r} in {testset}")
        if it.get("prompt_version") not in (None, prompt_version):
            errs.append(f"prompt version {it['prompt_version']!r}, expected {prompt_version!r}")
        if qid in seen:
            errs.append(f"duplicate question id {qid!r} (also item {seen[qid]})")
        if errs:
            problems.append(f"{where}: " + "; ".join(errs))
            continue
        seen[qid] = pos
        f1, f2 = s1 == [-1.0, -1.0], s2 == [-1.0, -1.0]
        a = "failed" if f1 else outcome(s1[0], s1[1])  # system shown first
        b = "failed" if f2 else outcome(s2[1], s2[0])  # baseline shown first
        ans1, ans2 = it.get("Answer1"), it.get("Answer2")
        out.append(
            _record(
                testset=testset,
                qid=qid,
                judge=judge,
                judge_model=judge_model or judge,
                system=system,
                baseline=baseline,
                prompt_version=prompt_version,
                rule=combine_rule,
                calls=[_call("system", None if f1 else s1, f1), _call("baseline", None if f2 else s2, f2)],
                outcome=combine([a, b], combine_rule),
                source="superfiltering",
                system_len=len(ans1) if isinstance(ans1, str) else None,
                baseline_len=len(ans2) if isinstance(ans2, str) else None,
            )
        )
    _raise(problems, str(path))
    return out


def _winner(w: Any, system_slot: str) -> str | None:
    if w == "tie":
        return "tie"
    if w == "error":
        return "failed"
    if w in ("model_1", "model_2"):
        return "win" if w == system_slot else "lose"
    return None


def import_fastchat(
    path: str | Path,
    *,
    testset: str,
    baseline: str = "full",
    prompt_version: str,
    combine_rule: str | None = "strict",
    judge: str | None = None,
    systems: Sequence[str] | None = None,
    questions: set[str] | None = None,
    turn: int = 1,
) -> list[dict]:
    """FastChat pairwise JSONL -> judgment records of every model judged against `baseline`.
    Rows of other turns (MT-bench turn 2) are skipped; with `systems`, rows of other models are skipped.
    `judge` overrides the judge name (default: the judge model named in the file).

    A row's prompt must be `prompt_version` (the run's) or one of FastChat's own pairwise prompts
    (FASTCHAT_PROMPTS); the record keeps the file's prompt name as its `prompt_version`, so judgments
    of different prompts are never pooled unnoticed. `combine_rule` None (the CLI default) is FastChat's
    own: its show_result.py counts a win only when both orders name the same winner, else a tie (strict)."""
    combine_rule = combine_rule or "strict"  # None: FastChat's own rule (show_result.py)
    combine(["tie", "tie"], combine_rule)
    path = _check_file(path)
    problems: list[str] = []
    out, seen = [], {}
    for lineno, r, problem in jsonl_lines(path):
        if problem is not None:
            problems.append(f"line {lineno}: {problem}")
            continue
        if int(r.get("turn", 1) or 1) != turn:
            continue
        miss = [k for k in ("question_id", "model_1", "model_2", "g1_winner", "g2_winner", "judge") if k not in r]
        if miss:
            problems.append(f"line {lineno}: missing {', '.join(miss)}")
            continue
        m1, m2 = r["model_1"], r["model_2"]
        if baseline not in (m1, m2) or m1 == m2:
            problems.append(f"line {lineno}: {m1} vs {m2} does not involve the baseline {baseline!r}")
            continue
        system, slot = (m2, "model_2") if m1 == baseline else (m1, "model_1")
        if systems is not None and system not in systems:
            continue
        jd = r["judge"]
        jmodel, jprompt = (jd[0], jd[1]) if isinstance(jd, (list, tuple)) and len(jd) == 2 else (str(jd), None)
        qid = str(r["question_id"])
        a, b = _winner(r["g1_winner"], slot), _winner(r["g2_winner"], slot)
        errs = []
        if jprompt != prompt_version and jprompt not in FASTCHAT_PROMPTS:
            errs.append(
                f"prompt version {jprompt!r}, expected {prompt_version!r} or one of FastChat's "
                f"{', '.join(FASTCHAT_PROMPTS)}"
            )
        if a is None or b is None:
            errs.append(f"winner {r['g1_winner']!r}/{r['g2_winner']!r} not in model_1/model_2/tie/error")
        if not _known(qid, questions):
            errs.append(f"unknown question id {qid!r} in {testset}")
        key = (judge or jmodel, system, qid)
        if key in seen:
            errs.append(f"duplicate of line {seen[key]}")
        if errs:
            problems.append(f"line {lineno}: " + "; ".join(errs))
            continue
        seen[key] = lineno
        g1 = {**_call("system" if slot == "model_1" else "baseline", None, a == "failed"), "winner": r["g1_winner"]}
        g2 = {**_call("baseline" if slot == "model_1" else "system", None, b == "failed"), "winner": r["g2_winner"]}
        calls = [g1, g2] if slot == "model_1" else [g2, g1]  # schema: the system-first call comes first
        out.append(
            _record(
                testset=testset,
                qid=qid,
                judge=judge or jmodel,
                judge_model=jmodel,
                system=system,
                baseline=baseline,
                prompt_version=jprompt,
                rule=combine_rule,
                calls=calls,
                outcome=combine([a, b], combine_rule),
                source="fastchat",
            )
        )
    if not out and not problems:
        problems.append(f"no pairwise judgments of turn {turn} against {baseline!r} (empty file?)")
    _raise(problems, str(path))
    return out
