"""Reproduce the G-SNR regime measurements of docs/selectors.md on a real pool.

    .venv/bin/python scripts/gsnr-regimes.py --pool ../shared/data/alpaca_sample.json [--n 1040] [--defects 200]
        [--out /tmp/gsnr-regimes] [--settings shipped lr1e-3 late snapshot] [--seeds 0 1 2]
    # a real pretrained proxy, every epoch recorded once, every (s, t) pair read from that one training:
    .venv/bin/python scripts/gsnr-regimes.py --pool ../shared/data/alpaca_sample.json --n 300 --defects 60 \
        --proxy "$(gsnr-bench models fetch smollm2-135m-instruct | tail -1)" --lora-target q_proj v_proj \
        --all-pairs 3 --settings shipped lr1e-3

Takes the first N Alpaca records, plants defects in a seeded random subset (cycling off_topic: another
record's answer; truncated: the first half of the answer's words; empty: ""; duplicate: an exact copy of
another record), or, with `--truth`, takes a pool made by `gsnr-bench plant-defects` as it is. Uses
`--proxy DIR` (LoRA on `--lora-target`) or builds a small GPT-2 proxy (a BPE trained on the pool; 2 layers,
128 dims, about 1M parameters; pre-trained `--pretrain-epochs` on the clean records' text), then scores the
pool with G-SNR under each setting and prints the selector-health numbers (selection/health.py), the ROC-AUC
of the ranking used (all records, and the scorable ones) and the lift at 5/10/15%; with several `--seeds` the
shipped setting is scored once per seed and the ranking stability (Spearman, top-10% overlap) is printed.
Writes OUT/regimes.json."""

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
    "shipped-snapshot": {"norms": "snapshot"},
    "lr1e-3-batch1": {"lr": 1e-3, "batch_size": 1},  # 4x the optimizer steps per epoch
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


def snapshot_norms(sel, ctx, ckpts: dict[int, Path]) -> tuple[dict, list[str]]:
    """`norms: snapshot` without training again: each example's norm at the LoRA state an in-pass run saved
    at the end of epoch e (its ckpt.pt, copied per epoch). Both modes train identically (the same epoch plans
    and updates; snapshot only adds a no-update pass), so this is what `--settings snapshot` measures, for the
    cost of the passes alone."""
    import numpy as np
    import torch

    from gsnr_bench.selection.lora import load_lora_state
    from gsnr_bench.selection.prompts import prompt_fn

    p = sel.cache_key(ctx)["params"]
    model, pad_id, dev, amp, enc = sel.encode_pool(ctx, p, prompt_fn(p["template"]))
    ens = sel.build_ensemble(ctx, {**p, "norms": "snapshot", "record_epochs": sorted(ckpts)}, model, pad_id, dev, amp)
    layers = ens.layers
    norms = {}
    for e, path in sorted(ckpts.items()):
        if (e, path) in _SNAPSHOTS:  # every (s, t) pair reads the same passes
            norms[e] = _SNAPSHOTS[(e, path)]
            continue
        state = torch.load(path, map_location="cpu", weights_only=False)
        assert state["epoch_done"] == e, f"{path} holds epoch {state['epoch_done']}, not {e}"
        load_lora_state(layers, state["lora"])
        norms[e] = _SNAPSHOTS[(e, path)] = ens.snapshot(enc, enc.ok()).astype(np.float32).astype(np.float64)
    return norms, enc.status


_SNAPSHOTS: dict = {}


def write_results(a, proxy, pool: list[dict], results: dict) -> None:
    a.out.mkdir(parents=True, exist_ok=True)
    tmp = a.out / "regimes.json.tmp"
    tmp.write_text(
        json.dumps(
            {"pool": str(a.pool), "proxy": str(proxy), "n": len(pool), "defects": a.defects, "results": results},
            indent=2,
            default=str,
        )
        + "\n"
    )
    tmp.replace(a.out / "regimes.json")


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
    ap.add_argument(
        "--truth",
        type=Path,
        help="the truth file of a pool made by `gsnr-bench plant-defects` (--pool is then its pool.json, used as is)",
    )
    ap.add_argument("--members", type=int, help="ensemble members (default: the selector's)")
    ap.add_argument(
        "--snapshot-ckpts",
        nargs="+",
        type=Path,
        metavar="EPOCH=CKPT",
        help="score the (single) setting with snapshot norms taken at these saved end-of-epoch LoRA states of an "
        "in-pass run (e.g. 1=e1.pt 2=e2.pt) instead of training",
    )
    ap.add_argument("--proxy", type=Path, help="a pretrained proxy directory instead of the small GPT-2 built here")
    ap.add_argument("--lora-target", nargs="+", help="LoRA target modules of --proxy (e.g. q_proj v_proj)")
    ap.add_argument(
        "--all-pairs",
        type=int,
        metavar="EPOCHS",
        help="train each setting EPOCHS epochs once, recording every epoch, and report every s < t pair",
    )
    a = ap.parse_args()

    import numpy as np

    from gsnr_bench.analysis.health import health_of, stability
    from gsnr_bench.domain.records import Example
    from gsnr_bench.reporting.metrics import precision_lift, ranking_auc, score_auc
    from gsnr_bench.selection.base import SelectionContext
    from gsnr_bench.selection.gsnr import GsnrSelector
    from gsnr_bench.selection.ranking import rank_order, score_rows

    records = json.loads(a.pool.read_text())[: a.n]
    if a.truth:  # a planted pool: its records and labels as they are
        pool, labels = records, json.loads(a.truth.read_text())
        truth = {r["id"]: labels[r["id"]] for r in pool}
        a.defects = sum(1 for v in truth.values() if v != "clean")
    else:
        pool, truth = plant(records, a.defects, seed=0)
    proxy = a.proxy or build_proxy(pool, truth, a.out / "proxy", a.pretrain_epochs, seed=0)
    extra = {"target": a.lora_target} if a.lora_target else {}
    if a.members:
        extra["members"] = a.members
    examples = [Example(r["id"], r["instruction"], r["input"], r["output"]) for r in pool]
    clean = {k: v == "clean" for k, v in truth.items()}
    results, rankings = {}, []
    runs = [(s, 0, None) for s in a.settings] + [("shipped", seed, None) for seed in a.seeds if seed != 0]
    if a.all_pairs:  # one training per setting; the ensemble cache serves every (s, t) read from it
        E = a.all_pairs
        pairs = [(s, t) for t in range(2, E + 1) for s in range(1, t)]
        runs = [(n, seed, st) for n, seed, _ in runs for st in pairs]
    for name, seed, st in runs:
        t0 = time.perf_counter()
        params = {**SETTINGS[name], **extra}
        if st:
            params.update(epochs=a.all_pairs, s=st[0], t=st[1], record_all_epochs=True)
        if a.snapshot_ckpts:
            ckpts = {int(str(x).split("=")[0]): Path(str(x).split("=", 1)[1]) for x in a.snapshot_ckpts}
            e_s, e_t = sorted(ckpts)[:2] if not st else st
            params.update(epochs=max(ckpts), s=e_s, t=e_t, record_all_epochs=True)
            name = name + "+snapshot-from-ckpts"
        sel = GsnrSelector(**params)
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
        if a.snapshot_ckpts:
            norms, status = snapshot_norms(sel, ctx, {e: ckpts[e] for e in (sel.s, sel.t)})
            res = sel._result(ctx, norms, status, {"norms": "snapshot (from in-pass checkpoints)"})
        else:
            res = sel.score(ctx)
        rows = score_rows(res, rank_order(res, seed))
        ranked = [r["id"] for r in rows]
        h = health_of("gsnr", rows, res.notes)
        (lift,) = precision_lift(ranked, clean, [0.05])
        empty_top = sum(1 for i in ranked[: lift["n"]] if truth[i] == "empty")
        key = f"{name}@seed{seed}" + (f" s={st[0]} t={st[1]}" if st else "")
        results[key] = {
            "params": params,
            "health": h,
            "auc": ranking_auc(ranked, clean),
            "lift_5pct": lift["lift"],
            "empty_in_top_5pct": empty_top,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        results[key]["lift"] = {str(x["ratio"]): x["lift"] for x in precision_lift(ranked, clean, [0.05, 0.1, 0.15])}
        # AUC over the records the selector could score: an eligibility filter (empty answers) is not skill
        results[key]["auc_scorable"] = score_auc({r["id"]: r["score"] for r in rows if r["eligible"]}, clean)
        # the mechanism: how the ensemble's norms move from epoch to epoch (median over examples and members)
        epochs = sorted({int(c.rsplit("_e", 1)[1]) for c in res.columns if c.startswith("norm_m")})
        results[key]["median_norm_by_epoch"] = {
            e: float(np.nanmedian(np.array([v for c, v in res.columns.items() if c.endswith(f"_e{e}")], float)))
            for e in epochs
        }
        if name == "shipped" and not st:
            rankings.append(ranked)
        print(
            f"{key:26s} drop {h['share_norm_drop']:.3f}  u<0 {h['share_negative_utility']:.3f}  "
            f"rho(u,V_t) {h['spearman_utility_Vt']:+.3f}  rho(u,G_s) {h['spearman_utility_Gs']:+.3f}  "
            f"AUC {results[key]['auc']:.3f} (scorable {results[key]['auc_scorable']:.3f})  lift@5% {lift['lift']:.3f}  "
            f"empty in top 5%: {empty_top}  "
            f"({results[key]['seconds']} s)",
            flush=True,
        )
        for w in h["warnings"]:
            print(f"  warning: {w}")
        write_results(a, proxy, pool, results)
    if len(rankings) > 1:
        st = stability(rankings, [0.05, 0.10])
        results["stability_shipped"] = st
        print(
            f"stability over seeds {a.seeds}: Spearman min {st['spearman_min']}, mean {st['spearman_mean']}; "
            f"top-10% overlap {st['overlap']['0.1']}"
        )
    write_results(a, proxy, pool, results)


if __name__ == "__main__":
    main()
