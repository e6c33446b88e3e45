"""The selector registry: unknown names suggest close ones; plug-in selectors from a file, a working-copy YAML and
an entry point are listed and run."""

import json
import textwrap

import pytest

from gsnr_bench.core import registry
from gsnr_bench.core.errors import RegistryError

from conftest import run_cli


def test_unknown_selector_suggests_close_names():
    with pytest.raises(RegistryError, match="did you mean 'random'"):
        registry.selectors().get("randm")


PLUGIN = textwrap.dedent('''
    """Longest responses first: a toy third-party selector."""
    from gsnr_bench.selection.base import ScoreResult

    class LengthSelector:
        name = "by-length"

        def __init__(self, reverse: bool = False):
            self.reverse = reverse

        def score(self, ctx):
            sign = -1.0 if self.reverse else 1.0
            return ScoreResult(ids=[e.id for e in ctx.pool], scores=[sign * len(e.output) for e in ctx.pool])
''')


def _pool(tmp_path):
    p = tmp_path / "pool.json"
    p.write_text(json.dumps([{"instruction": f"q{i}", "input": "", "output": "x" * (i * 7 % 13)} for i in range(20)]))
    return p


def _select_args(tmp_path, pool, selector):
    return [
        "select",
        "--selector",
        selector,
        "--ratio",
        "0.25",
        "--train-data",
        str(pool),
        "--proxy",
        "unused",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    ]


def _selected(tmp_path):
    [sel] = list((tmp_path / "run" / "subsets").glob("*/selection.jsonl"))
    return [json.loads(line)["id"] for line in sel.read_text().splitlines()]


def test_file_plugin_selector_lists_and_runs(tmp_path, cli):
    plugin = tmp_path / "mysel.py"
    plugin.write_text(PLUGIN)
    pool = _pool(tmp_path)
    res = cli(*_select_args(tmp_path, pool, f"{plugin}:LengthSelector"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lengths = {str(i): i * 7 % 13 for i in range(20)}
    chosen = _selected(tmp_path)
    assert len(chosen) == 5 and sorted(lengths[i] for i in chosen) == sorted(lengths.values())[-5:]


def test_yaml_plugin_selector_in_working_copy(tmp_path, cli):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "mysel.py").write_text(PLUGIN)
    (tmp_path / "selectors").mkdir()
    (tmp_path / "selectors" / "shortest.yaml").write_text(
        "name: shortest\ndescription: Shortest responses first.\ntarget: plugins/mysel.py:LengthSelector\n"
        "params: {reverse: true}\n"
    )
    res = cli("ls", "selectors", cwd=tmp_path, env={"COLUMNS": "200"})
    assert res.returncode == 0 and "shortest" in res.stdout and "Shortest responses first." in res.stdout
    assert "random" in res.stdout  # shipped selectors are still listed
    res = cli(*_select_args(tmp_path, _pool(tmp_path), "shortest"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lengths = {str(i): i * 7 % 13 for i in range(20)}
    assert sorted(lengths[i] for i in _selected(tmp_path)) == sorted(lengths.values())[:5]


def test_entry_point_selector(tmp_path):
    site = tmp_path / "site"
    (site / "toy_selectors").mkdir(parents=True)
    (site / "toy_selectors" / "__init__.py").write_text(PLUGIN)
    dist = site / "toy_selectors-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-selectors\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gsnr_bench.selectors]\nby-length = toy_selectors:LengthSelector\n")
    env = {"PYTHONPATH": str(site), "COLUMNS": "200"}
    res = run_cli("ls", "selectors", cwd=tmp_path, env=env)
    assert res.returncode == 0 and "by-length" in res.stdout and "toy third-party selector" in res.stdout
    res = run_cli(*_select_args(tmp_path, _pool(tmp_path), "by-length"), cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert len(_selected(tmp_path)) == 5
