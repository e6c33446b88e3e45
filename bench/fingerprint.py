"""Content fingerprints of a 13B checkpoint: the first fingerprint (every file hashed) and a repeat with
nothing changed (one stat per file, from RUN/cache/file-hashes.json), side by side in one run.

    .venv/bin/python bench/fingerprint.py [--dir DIR] [--scale 1.0]

The checkpoint is Llama-2-13b-hf's file list with its real sizes (26.0 GB of safetensors shards, the
tokenizer, configs), made as sparse files: no disk space is used, and reading a hole is at least as
fast as reading a cached real file, so the cold time is a lower bound for a real disk (sha256 itself is
the limit on a page-cached file). `--scale 0.1` makes every weight file ten times smaller. Goal: under
1 s when unchanged. Results also go to bench/out/fingerprint.json."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsnr_bench.core.fileio import write_json  # noqa: E402
from gsnr_bench.run.fingerprint import StatCache, model_fingerprint  # noqa: E402

# meta-llama/Llama-2-13b-hf, safetensors revision: name -> bytes
LLAMA2_13B = {
    "config.json": 587,
    "generation_config.json": 188,
    "model.safetensors.index.json": 33_444,
    "model-00001-of-00003.safetensors": 9_948_693_272,
    "model-00002-of-00003.safetensors": 9_904_129_368,
    "model-00003-of-00003.safetensors": 6_178_962_272,
    "special_tokens_map.json": 414,
    "tokenizer.json": 1_842_767,
    "tokenizer.model": 499_723,
    "tokenizer_config.json": 1_618,
}


def make_checkpoint(root: Path, scale: float) -> int:
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, size in LLAMA2_13B.items():
        n = int(size * scale) if name.endswith(".safetensors") else size
        with open(root / name, "wb") as fh:
            fh.write(name.encode())  # distinct content per file
            fh.truncate(n)  # sparse: the rest is a hole
        total += n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="where to make the sparse checkpoint (default: a temp dir)")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the real shard sizes")
    ap.add_argument("--repeats", type=int, default=5, help="unchanged fingerprints to time")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ckpt, cache_file = Path(tmp) / "llama-2-13b", Path(tmp) / "file-hashes.json"
        total = make_checkpoint(ckpt, args.scale)
        t0 = time.perf_counter()
        cache = StatCache(cache_file)
        first = model_fingerprint(str(ckpt), cache)
        cache.save()
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            again = model_fingerprint(str(ckpt), StatCache(cache_file))  # a new command: cache read from disk
            warm.append(time.perf_counter() - t0)
            assert again == first
        shard = ckpt / "model-00003-of-00003.safetensors"
        with open(shard, "r+b") as fh:  # a retrained shard: same size, new content
            fh.write(b"retrained")
        t0 = time.perf_counter()
        changed = model_fingerprint(str(ckpt), StatCache(cache_file))
        one = time.perf_counter() - t0
        assert changed != first
    out = {
        "files": len(LLAMA2_13B),
        "bytes": total,
        "cold_s": round(cold, 3),
        "cold_gb_per_s": round(total / cold / 1e9, 2),
        "unchanged_s": [round(w, 5) for w in warm],
        "unchanged_max_s": round(max(warm), 5),
        "one_shard_changed_s": round(one, 3),
        "cold_over_unchanged": round(cold / max(warm), 1),
    }
    print(f"13B checkpoint ({total / 1e9:.1f} GB, {len(LLAMA2_13B)} files, sparse):")
    print(f"  first fingerprint (hash every file):  {cold:8.3f} s  ({out['cold_gb_per_s']} GB/s)")
    print(f"  unchanged (stat cache, new process):  {max(warm):8.5f} s  (max of {len(warm)}; goal < 1 s)")
    print(f"  one shard rewritten:                  {one:8.3f} s  (only that shard is hashed again)")
    print(f"  first / unchanged:                    {out['cold_over_unchanged']}x")
    write_json(ROOT / "bench" / "out" / "fingerprint.json", out)


if __name__ == "__main__":
    main()
