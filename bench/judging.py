"""Judging throughput against the local reference server answering after 200 ms.

    .venv/bin/python bench/judging.py [--calls 640] [--concurrency 32] [--latency 0.2] [--sequential-calls 16]

Prints: throughput at concurrency C as a fraction of the ideal C / latency, the same for sequential
(concurrency 1, fewer calls), and the wall time of a fully cached re-run (fresh judgments file, same
cache: no request is sent). The server runs in its own process so its threads do not share the
client's GIL, as a real endpoint would not. Results also go to bench/out/judging.json."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsnr_bench.core.fileio import write_json  # noqa: E402
from gsnr_bench.judging.config import JudgingConfig  # noqa: E402
from gsnr_bench.judging.spec import parse_judge  # noqa: E402
from gsnr_bench.judging.stage import Comparison, judge  # noqa: E402


def comparisons(n: int, tag: str) -> list[Comparison]:
    return [
        Comparison(
            "bench",
            f"{tag}{i}",
            f"[{tag}] Name the capital of country number {i}.",
            "sys",
            f"The capital of country {i} is City{i}. " * 8,
            "full",
            f"I think it is Town{i}. " * 6,
        )
        for i in range(n)
    ]


def timed(items, spec, cfg, out: Path, cache: Path):
    t0 = time.perf_counter()
    summary = judge(items, spec, cfg, out, cache)
    return time.perf_counter() - t0, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=640)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--sequential-calls", type=int, default=16)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gsnr-bench-judging-"))
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "judge_faults.py"), "--latency", str(args.latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        spec = parse_judge(
            {"name": "bench", "provider": "openai-compatible", "model": "reference-judge-v2", "base_url": base_url}
        )
        cfg = JudgingConfig(concurrency=args.concurrency, timeout=30.0)
        ideal = args.concurrency / args.latency

        items = comparisons(args.calls, "c")
        t_conc, s = timed(items, spec, cfg, work / "conc.jsonl", work / "cache.sqlite")
        assert s.requests == args.calls and s.failed == 0, s
        thr = args.calls / t_conc

        seq_items = comparisons(args.sequential_calls, "s")
        t_seq, s_seq = timed(
            seq_items, spec, cfg.model_copy(update={"concurrency": 1}), work / "seq.jsonl", work / "cache.sqlite"
        )
        assert s_seq.requests == args.sequential_calls
        thr_seq = args.sequential_calls / t_seq

        t_cached, s_cached = timed(items, spec, cfg, work / "cached.jsonl", work / "cache.sqlite")
        assert s_cached.requests == 0 and s_cached.cache_hits == args.calls
        t_resume, s_resume = timed(items, spec, cfg, work / "conc.jsonl", work / "cache.sqlite")
        assert s_resume.resumed == args.calls and s_resume.calls == 0
    finally:
        server.terminate()
        server.wait()

    result = {
        "calls": args.calls,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "concurrent_s": round(t_conc, 3),
        "concurrent_calls_per_s": round(thr, 1),
        "concurrent_fraction_of_ideal": round(thr / ideal, 3),
        "sequential_calls": args.sequential_calls,
        "sequential_s": round(t_seq, 3),
        "sequential_calls_per_s": round(thr_seq, 2),
        "sequential_fraction_of_ideal": round(thr_seq / (1 / args.latency), 3),
        "speedup_vs_sequential": round(thr / thr_seq, 1),
        "cached_rerun_s": round(t_cached, 3),
        "resume_all_done_s": round(t_resume, 3),
    }
    print(
        f"concurrency {args.concurrency}: {args.calls} calls in {t_conc:.2f} s = {thr:.1f} calls/s = "
        f"{thr / ideal:.3f} of ideal {ideal:.0f}/s (goal >= 0.8)"
    )
    print(
        f"sequential: {args.sequential_calls} calls in {t_seq:.2f} s = {thr_seq:.2f} calls/s = "
        f"{thr_seq * args.latency:.3f} of ideal {1 / args.latency:.0f}/s; concurrent is {thr / thr_seq:.1f}x faster"
    )
    print(f"fully cached re-run ({args.calls} calls, fresh judgments file, 0 requests): {t_cached:.3f} s")
    print(f"resume with every record already written: {t_resume:.3f} s")
    write_json(ROOT / "bench" / "out" / "judging.json", result)


if __name__ == "__main__":
    main()
