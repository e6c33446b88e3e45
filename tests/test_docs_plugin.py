"""The plug-in example of docs/plugins.md runs as documented: loaded from its file, its parameter set with --set,
its eligibility and ranking used by the selection stage."""

import json
import re
from pathlib import Path

from gsnr_bench.cli import main
from gsnr_bench.core.fileio import read_jsonl

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_the_documented_plugin_selects_as_documented(tmp_path):
    text = DOC.read_text()
    block = re.search(r"<!-- plugin-example[^>]*-->\n```python\n(.*?)```", text, re.S).group(1)
    assert len(block.strip().splitlines()) <= 20  # the doc promises a 20-line plug-in
    plugin = tmp_path / "shortest.py"
    plugin.write_text(block)
    pool = [{"instruction": "x" * (10 - i), "input": "", "output": "ok" if i % 3 else ""} for i in range(10)]
    (tmp_path / "pool.json").write_text(json.dumps(pool))
    rc = main(
        ["select", "--train-data", str(tmp_path / "pool.json"), "--selector", f"{plugin}:ShortestPrompt"]
        + ["--ratio", "0.4", "--quiet", "--run-dir", str(tmp_path / "run")]
        + ["--set", "selection.params.shortest-prompt.min_output_chars=2"]
    )
    assert rc == 0
    (sel,) = (tmp_path / "run" / "subsets").glob("shortest-prompt@0.4-*/selection.jsonl")
    # shortest prompts are the last records; ids 9, 6, 3, 0 have an empty output and are ineligible
    assert [r["id"] for r in read_jsonl(sel)] == ["8", "7", "5", "4"]
