"""Reproduce the G-SNR regime measurements of docs/selectors.md on a real pool.

    .venv/bin/python scripts/gsnr-regimes.py --pool ../shared/data/alpaca_sample.json [--n 1040] [--defects 200]
        [--out /tmp/gsnr-regimes] [--settings shipped lr1e-3 late snapshot] [--seeds 0 1 2]

Takes the first N Alpaca records, plants defects in a seeded random subset (cycling off_topic: another
record's answer; truncated: the first half of the answer's words; empty: ""; duplicate: an exact copy of
another record), builds a small GPT-2 proxy (a BPE trained on the pool; 2 layers, 128 dims, about 1M
parameters; pre-trained `--pretrain-epochs` on the clean records' text), then scores the pool with G-SNR under
each setting and prints the selector-health numbers (selection/health.py), the ROC-AUC of the ranking used and
the lift at 5%; with several `--seeds` the shipped setting is scored once per seed and the ranking stability
(Spearman, top-10% overlap) is printed. Writes OUT/regimes.json."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SETTINGS = {
    "shipped": {},  # selectors/gsnr.yaml: lr 5e-5, 2 epochs, s=1, t=2, in-pass norms
    "lr1e-3": {"lr": 1e-3},
    "late": {"lr": 1e-3, "epochs": 5, "s": 4, "t": 5},
    "snapshot": {"lr": 1e-3, "norms": "snapshot"},
}
KINDS = ("off_topic", "truncated", "empty", "duplicate")


def plant(records: list[dict], n_bad: int, seed: int) -> tuple[list[dict], dict[str, str]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    pool = [
        {"id": f"alpaca-{i:05d}", **{k: r.get(k, "") for k in ("instruction", "input", "output")}}
        for i, r in enumerate(records)
    ]
    bad = rng.choice(len(pool), size=n_bad, replace=False)
    truth = {r["id"]: "clean" for r in pool}
    good = [i for i in range(len(pool)) if i not in set(bad.tolist())]
    for j, i in enumerate(bad.tolist()):
        kind = KINDS[j % len(KINDS)]
        src = pool[int(rng.choice(good))]
        if kind == "off_topic":
            pool[i]["output"] = src["output"]
        elif kind == "truncated":
            words = pool[i]["output"].split()
            pool[i]["output"] = " ".join(words[: max(1, len(words) // 2)])
        elif kind == "empty":
            pool[i]["output"] = ""
        else:
            pool[i].update(instruction=src["instruction"], input=src["input"], output=src["output"])
        truth[pool[i]["id"]] = kind
    return pool, truth


def build_proxy(pool: list[dict], truth: dict[str, str], out: Path, epochs: int, seed: int) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    if (out / "config.json").is_file():
        return out
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in pool]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=4000,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_positions=256,
            n_embd=128,
            n_layer=2,
            n_head=4,
            eos_token_id=tok.eos_token_id,
            bos_token_id=tok.eos_token_id,
        )
    )
    clean = [t for t, r in zip(texts, pool) if truth[r["id"]] == "clean"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(clean), generator=g).tolist()
        for b in range(0, len(order), 16):
            enc = tok(
                [clean[i] for i in order[b : b + 16]],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=256,
            )
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
            model(**enc, labels=labels).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--n", type=int, default=1040)
    ap.add_argument("--defects", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("/tmp/gsnr-regimes"))
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--pretrain-epochs", type=int, default=1)
    ap.add_argument("--max-length", type=int, default=256)
    a = ap.parse_args()

    from gsnr_bench.health import health_of, stability
    from gsnr_bench.records import Example
    from gsnr_bench.reporting.metrics import precision_lift, ranking_auc
    from gsnr_bench.selection.base import SelectionContext
    from gsnr_bench.selection.gsnr import GsnrSelector
    from gsnr_bench.selection.ranking import rank_order, score_rows

    records = json.loads(a.pool.read_text())[: a.n]
    pool, truth = plant(records, a.defects, seed=0)
    proxy = build_proxy(pool, truth, a.out / "proxy", a.pretrain_epochs, seed=0)
    examples = [Example(r["id"], r["instruction"], r["input"], r["output"]) for r in pool]
    clean = {k: v == "clean" for k, v in truth.items()}
    results, rankings = {}, []
    runs = [(s, 0) for s in a.settings] + [("shipped", seed) for seed in a.seeds if seed != 0]
    for name, seed in runs:
        t0 = time.perf_counter()
        sel = GsnrSelector(**SETTINGS[name])
        ctx = SelectionContext(
            pool=examples,
            params={},
            seed=seed,
            workdir=a.out / "work",
            proxy=str(proxy),
            device="cpu",
            max_length=a.max_length,
            shared_cache=a.out / "cache",
        )
        res = sel.score(ctx)
        rows = score_rows(res, rank_order(res, seed))
        ranked = [r["id"] for r in rows]
        h = health_of("gsnr", rows, res.notes)
        (lift,) = precision_lift(ranked, clean, [0.05])
        empty_top = sum(1 for i in ranked[: lift["n"]] if truth[i] == "empty")
        key = f"{name}@seed{seed}"
        results[key] = {
            "params": SETTINGS[name],
            "health": h,
            "auc": ranking_auc(ranked, clean),
            "lift_5pct": lift["lift"],
            "empty_in_top_5pct": empty_top,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if name == "shipped":
            rankings.append(ranked)
        print(
            f"{key:18s} drop {h['share_norm_drop']:.3f}  u<0 {h['share_negative_utility']:.3f}  "
            f"rho(u,V_t) {h['spearman_utility_Vt']:+.3f}  rho(u,G_s) {h['spearman_utility_Gs']:+.3f}  "
            f"AUC {results[key]['auc']:.3f}  lift@5% {lift['lift']:.3f}  empty in top 5%: {empty_top}  "
            f"({results[key]['seconds']} s)",
            flush=True,
        )
        for w in h["warnings"]:
            print(f"  warning: {w}")
    if len(rankings) > 1:
        st = stability(rankings, [0.05, 0.10])
        results["stability_shipped"] = st
        print(
            f"stability over seeds {a.seeds}: Spearman min {st['spearman_min']}, mean {st['spearman_mean']}; "
            f"top-10% overlap {st['overlap']['0.1']}"
        )
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "regimes.json").write_text(
        json.dumps(
            {"pool": str(a.pool), "n": len(pool), "defects": a.defects, "results": results}, indent=2, default=str
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
