"""publish(): four files, atomically written, byte-identical on re-runs; the page is self-contained."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from gsnr_bench.core.fileio import write_jsonl
    from gsnr_bench.reporting.html import PageExtras
    from gsnr_bench.reporting.publish import publish
    from gsnr_bench.reporting.results import CellMeta, results_from_judgments
    from gsnr_bench.reporting.synthetic import synthetic_judgments

    def build(out, logs_dir):
        edges, meta = {}, {}
        for sel, base in (("random", -0.1), ("gsnr", 0.3), ("gsnr-alt1", 0.1)):
            for ratio in (0.05, 0.1):
                name = f"{sel}@{ratio:g}"
                edges[name] = base + ratio
                meta[name] = CellMeta("demo", "tiny-gpt2", "lora", sel, ratio)
        recs = synthetic_judgments(edges, testsets={"vicuna": 8, "wizardlm": 10}, failed_rate=0.05, seed=3)
        logs = {}
        for i, sel in enumerate(("gsnr@0.1", "random@0.1")):
            p = Path(logs_dir) / f"{i}.jsonl"
            write_jsonl(p, [{"step": s, "loss": 3.0 / (1 + s / 10) + 0.1 * i} for s in range(40)])
            logs[sel] = p
        extras = PageExtras(title="demo leaderboard", train_logs=logs, bootstrap_rounds=1000,
                            bias=[{"judge": "gpt-4o", "first_position_win_rate": 0.52, "swap_flip_rate": 0.12}],
                            enrichment=[{"selector": "gsnr", "ratio": 0.1, "precision": 0.9, "lift": 1.2}])
        return publish(results_from_judgments(recs, meta), out, extras)

    if __name__ == "__main__":
        build(sys.argv[1], sys.argv[2])
""")


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    d = tmp_path_factory.mktemp("build")
    (d / "lb_build.py").write_text(SCRIPT)
    sys.path.insert(0, str(d))
    import lb_build

    yield d / "lb_build.py", lb_build.build
    sys.path.remove(str(d))


@pytest.mark.slow  # two fresh interpreters (hash seeds differ): ~7 s; CI runs it with -m slow
def test_publish_files_and_byte_identical_reruns(builder, tmp_path):
    script, build = builder
    (tmp_path / "logs").mkdir()
    paths = build(tmp_path / "a", tmp_path / "logs")
    assert [p.name for p in paths[:4]] == ["leaderboard.csv", "leaderboard.md", "leaderboard.tex", "index.html"]
    figures = {p.relative_to(tmp_path / "a").as_posix() for p in paths[4:]}
    assert figures == {
        f"figures/{n}.{e}" for n in ("pws_by_ratio", "wtl", "training_loss", "enrichment") for e in ("pdf", "png")
    }
    paths = [p for p in paths if p.suffix != ".png"]  # PNG bytes depend on the freetype build; PDF and text do not
    first = {p.relative_to(tmp_path / "a").as_posix(): p.read_bytes() for p in paths}
    build(tmp_path / "a", tmp_path / "logs")  # same directory again
    assert {p.relative_to(tmp_path / "a").as_posix(): p.read_bytes() for p in paths} == first
    # a fresh interpreter (other hash seed) writes the same bytes too
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "b"), str(tmp_path / "logs")],
        check=True,
        env={
            "PYTHONHASHSEED": "123",
            "PATH": "/usr/bin:/bin",
            "MPLBACKEND": "Agg",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
    )
    assert {k: (tmp_path / "b" / k).read_bytes() for k in first} == first
    assert not list((tmp_path / "a").glob(".*.tmp"))  # atomic writes leave no temp files


def test_page_is_self_contained(builder, tmp_path):
    _, build = builder
    (tmp_path / "logs").mkdir()
    build(tmp_path / "o", tmp_path / "logs")
    page = (tmp_path / "o" / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page and "@import" not in page
    assert page.count("<svg") == 4  # PWS by ratio, win/tie/lose, loss curves, enrichment
    for name in ("pws_by_ratio", "wtl", "training_loss", "enrichment"):  # the same figures as files
        assert (tmp_path / "o" / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (tmp_path / "o" / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # plots' ids are namespaced
    assert "<th>Selector</th>" in page and "gsnr-alt1" in page and "Judge bias diagnostics" in page
    md = (tmp_path / "o" / "leaderboard.md").read_text()
    assert "## Table 1: PWS against the 100% model" in md and "## Table 2" in md and "| Pooled | gsnr |" in md
