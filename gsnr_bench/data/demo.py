"""The offline demo world (README: "The offline demo"): everything real but small.

- a seeded synthetic instruction pool in Alpaca format over verifiable task families (arithmetic, reversing,
  sorting, counting, case changes, ...), with planted defects (wrong answers, truncated or empty outputs,
  off-topic answers, duplicates) whose ground truth is written apart (truth.json), never into the pool;
- test sets in the WizardLM and Vicuna file formats, each question with a reference answer (for the
  reference judge), drawn from the same families and disjoint from the pool;
- a byte-level BPE tokenizer trained on the pool and test text, and GPT-2-architecture proxy and target
  models built from configs and pre-trained briefly on clean task text in a plain "Q: ... A: ..." form
  (never the Alpaca template, never a test question): like a real base model, they know the material
  but not the instruction format, which fine-tuning then teaches, and which defective data can spoil.

`build_world` is idempotent: world.json is written last, and a directory that has it is only read back."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import write_json, write_jsonl
from gsnr_bench.data.config import DemoConfig

WORLD_VERSION = 1

WORDS = (
    "apple river stone cloud green happy quick light music table window garden paper silver ocean "
    "forest yellow little bright winter summer orange purple candle pencil rocket mountain yellow "
    "tiger rabbit coffee bread honey lemon sugar planet rain snow wind fire metal glass wood"
).split()
WORDS = sorted(set(WORDS))

# share of each kind among the defective examples
DEFECT_MIX = {"wrong": 0.35, "off_topic": 0.2, "truncated": 0.2, "empty": 0.1, "duplicate": 0.15}


@dataclass(frozen=True)
class Task:
    family: str
    question: str  # the whole request in one line (test sets, and the pool's no-input form)
    instruction: str  # the pool's with-input form: instruction + input
    input: str
    answer: str


def _words(rng: np.random.Generator, lo: int, hi: int) -> list[str]:
    return [str(w) for w in rng.choice(WORDS, size=int(rng.integers(lo, hi + 1)), replace=False)]


def _numbers(rng: np.random.Generator, k: int, hi: int = 99) -> list[int]:
    return [int(x) for x in rng.choice(np.arange(1, hi + 1), size=k, replace=False)]


def _task(family: str, rng: np.random.Generator) -> Task:
    if family in ("add", "subtract"):
        a, b = sorted(_numbers(rng, 2), reverse=family == "subtract")
        op, verb, val = ("plus", "Add", a + b) if family == "add" else ("minus", "Subtract", a - b)
        how = "the second number from the first" if family == "subtract" else "the two numbers"
        return Task(family, f"What is {a} {op} {b}?", f"{verb} {how}.", f"{a} and {b}", str(val))
    if family == "reverse":
        w = _words(rng, 3, 5)
        return Task(
            family,
            f"Reverse the order of these words: {' '.join(w)}",
            "Reverse the order of the words.",
            " ".join(w),
            " ".join(reversed(w)),
        )
    if family == "sort":
        n = _numbers(rng, int(rng.integers(3, 6)))
        s = ", ".join(map(str, n))
        return Task(
            family,
            f"Sort these numbers from smallest to largest: {s}",
            "Sort the numbers from smallest to largest.",
            s,
            ", ".join(map(str, sorted(n))),
        )
    if family == "count":
        w = _words(rng, 2, 7)
        return Task(
            family,
            f"How many words are in this sentence: {' '.join(w)}",
            "Count the words in the sentence.",
            " ".join(w),
            f"There are {len(w)} words.",
        )
    if family == "upper":
        w = _words(rng, 2, 4)
        return Task(
            family,
            f"Write these words in capital letters: {' '.join(w)}",
            "Write the words in capital letters.",
            " ".join(w),
            " ".join(w).upper(),
        )
    if family == "largest":
        n = _numbers(rng, int(rng.integers(3, 6)))
        s = ", ".join(map(str, n))
        return Task(
            family,
            f"Which number is the largest: {s}?",
            "Name the largest number.",
            s,
            f"The largest number is {max(n)}.",
        )
    if family == "last":
        w = _words(rng, 3, 6)
        return Task(
            family,
            f"What is the last word of: {' '.join(w)}",
            "Give the last word.",
            " ".join(w),
            f"The last word is {w[-1]}.",
        )
    raise ValueError(family)


FAMILIES = ("add", "subtract", "reverse", "sort", "count", "upper", "largest", "last")


@dataclass(frozen=True)
class World:
    root: Path
    pool: Path  # Alpaca JSON with ids
    truth: Path  # {"clean": {id: bool}, "defect": {id: kind | null}, ...}
    testsets: dict[str, Path]  # "demo-wizardlm", "demo-vicuna" -> JSONL with references
    proxy: Path  # model directory (config, weights, tokenizer)
    target: Path


def build_world(cfg: DemoConfig, root: str | Path, progress: Callable[[str, int, int], None] | None = None) -> World:
    root = Path(root)
    world = World(
        root,
        root / "pool.json",
        root / "truth.json",
        {"demo-wizardlm": root / "wizardlm.jsonl", "demo-vicuna": root / "vicuna.jsonl"},
        root / "proxy",
        root / "target",
    )
    marker = root / "world.json"
    if marker.is_file():
        have = json.loads(marker.read_text())
        if have.get("version") != WORLD_VERSION or have.get("config") != cfg.model_dump(mode="json"):
            raise DataError(f"{root} holds a demo world built from another config; use a new --run-dir")
        return world
    step = _stepper(progress, 7)
    rng = np.random.default_rng(cfg.seed)
    records, truth, seen = make_pool(cfg, rng)
    step()
    tests = make_testsets(cfg, rng, seen)
    step()
    root.mkdir(parents=True, exist_ok=True)
    write_json(world.pool, records)
    write_json(world.truth, truth)
    for name, rows in tests.items():
        write_jsonl(world.testsets[name], rows)
    corpus = [_text(r) for r in records] + [json.dumps(r) for rows in tests.values() for r in rows]
    tok_dir = root / "tokenizer"
    _train_tokenizer(corpus, cfg.vocab_size, tok_dir)
    step()
    corpus = pretraining_corpus(
        cfg,
        np.random.default_rng(cfg.seed + 7),
        exclude={r.get("Instruction") or r["turns"][0] for rows in tests.values() for r in rows},
    )
    step()
    for out, layers, embd, seed in (
        (world.proxy, cfg.proxy_layers, cfg.proxy_embd, cfg.seed),
        (world.target, cfg.target_layers, cfg.target_embd, cfg.seed + 1),
    ):
        _build_model(tok_dir, out, layers, embd, seed, corpus, cfg)
        step()
    write_json(
        marker,
        {
            "version": WORLD_VERSION,
            "config": cfg.model_dump(mode="json"),
            "pool": len(records),
            "defective": sum(not c for c in truth["clean"].values()),
            "testsets": {k: len(v) for k, v in tests.items()},
        },
    )
    return world


def _stepper(progress: Callable[[str, int, int], None] | None, total: int) -> Callable[[], None]:
    done = [0]

    def step() -> None:
        done[0] += 1
        if progress:
            progress("demo world", done[0], total)

    return step


def _text(r: dict[str, str]) -> str:
    return f"{r['instruction']}\n{r['input']}\n{r['output']}"


def make_pool(cfg: DemoConfig, rng: np.random.Generator) -> tuple[list[dict], dict[str, Any], set[str]]:
    """Alpaca records with ids, and the hidden truth. Half the clean records carry their data in `input`."""
    n = cfg.pool_size
    n_bad = int(round(cfg.defect_rate * n))
    kinds = rng.choice(list(DEFECT_MIX), size=n_bad, p=list(DEFECT_MIX.values())).tolist()
    is_bad = np.zeros(n, dtype=bool)
    is_bad[rng.choice(n, size=n_bad, replace=False)] = True
    tasks = [_task(FAMILIES[i % len(FAMILIES)], rng) for i in range(n)]
    records: list[dict] = []
    clean: dict[str, bool] = {}
    defect: dict[str, str | None] = {}
    clean_rows: list[dict] = []
    bad_kinds = iter(kinds)
    for i, t in enumerate(tasks):
        rid = f"demo-{i:05d}"
        with_input = bool(rng.random() < 0.5)
        row = {
            "id": rid,
            "instruction": t.instruction if with_input else t.question,
            "input": t.input if with_input else "",
            "output": t.answer,
        }
        kind = next(bad_kinds) if is_bad[i] else None
        if kind == "duplicate" and not clean_rows:
            kind = "wrong"
        if kind == "wrong":
            other = _task(t.family, rng)
            row["output"] = other.answer if other.answer != t.answer else t.answer + " " + t.answer
        elif kind == "off_topic":
            fam = FAMILIES[(FAMILIES.index(t.family) + 1 + int(rng.integers(len(FAMILIES) - 1))) % len(FAMILIES)]
            row["output"] = _task(fam, rng).answer
        elif kind == "truncated":
            toks = t.answer.split()
            row["output"] = " ".join(toks[: len(toks) // 2]) if len(toks) > 1 else t.answer[: len(t.answer) // 2]
        elif kind == "empty":
            row["output"] = ""
        elif kind == "duplicate":
            src = clean_rows[int(rng.integers(len(clean_rows)))]
            row.update(instruction=src["instruction"], input=src["input"], output=src["output"])
        if kind is None:
            clean_rows.append(row)
        records.append(row)
        clean[rid] = kind is None
        defect[rid] = kind
    truth = {
        "version": WORLD_VERSION,
        "clean": clean,
        "defect": defect,
        "base_rate": sum(clean.values()) / n,
        "families": {r["id"]: t.family for r, t in zip(records, tasks)},
    }
    seen = {t.question for t in tasks}
    return records, truth, seen


def make_testsets(cfg: DemoConfig, rng: np.random.Generator, seen: set[str]) -> dict[str, list[dict]]:
    """WizardLM (idx, Skill, Difficulty, Instruction) and Vicuna (question_id, category, turns) rows, each with
    a `reference`; questions never seen in the pool and never repeated."""
    out: dict[str, list[dict]] = {"demo-wizardlm": [], "demo-vicuna": []}
    used = set(seen)
    for name, count in (("demo-wizardlm", cfg.wizardlm_questions), ("demo-vicuna", cfg.vicuna_questions)):
        for k in range(count):
            for _ in range(1000):
                t = _task(FAMILIES[k % len(FAMILIES)], rng)
                if t.question not in used:
                    break
            else:
                raise DataError("demo: cannot draw enough distinct test questions; lower the question counts")
            used.add(t.question)
            if name == "demo-wizardlm":
                out[name].append(
                    {
                        "idx": k + 1,
                        "Skill": t.family,
                        "Difficulty": 1 + k % 3,
                        "Instruction": t.question,
                        "reference": t.answer,
                    }
                )
            else:
                out[name].append(
                    {"question_id": k + 1, "category": t.family, "turns": [t.question], "reference": t.answer}
                )
    return out


def _train_tokenizer(corpus: list[str], vocab_size: int, out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from gsnr_bench.domain.templates import load_template  # the template's words get tokens too

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(corpus + [load_template("input"), load_template("noinput")] * 50, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|pad|>",
        model_max_length=512,
    )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tok.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def pretraining_corpus(cfg: DemoConfig, rng: np.random.Generator, exclude: set[str]) -> list[str]:
    """Clean "Q: ... A: ..." texts over every family, none of them a test question."""
    out = []
    while len(out) < cfg.pretrain_examples:
        t = _task(FAMILIES[len(out) % len(FAMILIES)], rng)
        if t.question not in exclude:
            out.append(f"Q: {t.question}\nA: {t.answer}")
    return out


def _pretrain(model: Any, tok: Any, texts: list[str], cfg: DemoConfig, seed: int) -> None:
    """Brief pre-training, on one CPU thread: the models are so small that intra-op threads only contend (on a
    shared 2-core machine 20 steps took 11.6 s with 2 threads and 1.7 s with 1), and one thread also makes the
    world's weights independent of the machine's core count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _pretrain_steps(model, tok, texts, cfg, seed)
    finally:
        torch.set_num_threads(threads)


def _pretrain_steps(model: Any, tok: Any, texts: list[str], cfg: DemoConfig, seed: int) -> None:
    import torch

    g = torch.Generator().manual_seed(seed)
    enc = [tok(t)["input_ids"] + [tok.eos_token_id] for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.0)
    steps = cfg.pretrain_epochs * ((len(enc) + cfg.pretrain_batch - 1) // cfg.pretrain_batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    model.train()
    for _ in range(cfg.pretrain_epochs):
        order = torch.randperm(len(enc), generator=g).tolist()
        for b in range(0, len(order), cfg.pretrain_batch):
            seqs = [enc[i] for i in order[b : b + cfg.pretrain_batch]]
            width = max(map(len, seqs))
            ids = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
            labels = torch.full((len(seqs), width), -100, dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = torch.tensor(s)
                labels[i, : len(s)] = torch.tensor(s)
            loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
    model.eval()


def _build_model(
    tok_dir: Path, out: Path, n_layer: int, n_embd: int, seed: int, corpus: list[str], demo: DemoConfig
) -> None:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the world's own progress bar is enough
    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=max(1, n_embd // 32),
        activation_function="gelu_new",
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    model = GPT2LMHeadModel(cfg)
    model.loss_type = "ForCausalLM"  # transformers cannot infer it from the class name and warns
    if demo.pretrain_epochs:
        _pretrain(model, tok, corpus, demo, seed)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
