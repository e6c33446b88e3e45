"""Bad inputs and a bad environment give one line and lose nothing: a full disk (injected, and on a real tiny
tmpfs where the test may mount one), a data file that is not UTF-8 (the file and byte offset named), a plug-in
selector named like a built-in (both sources named, or an explicit override)."""

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from test_judging_stage import fast_cfg, make_items, spec_for

from gsnr_bench.core import fileio
from gsnr_bench.core.errors import DataError, StoreError
from gsnr_bench.core.fileio import append_jsonl, read_jsonl, write_json

from judge_faults import FaultyJudgeServer


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ------------------------------------------------------------------ full disk
def test_a_full_disk_on_an_atomic_write_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    write_json(path, {"v": 1})
    monkeypatch.setattr(fileio.os, "replace", _enospc)
    with pytest.raises(StoreError) as exc:
        write_json(path, {"v": 2})
    msg = str(exc.value)
    assert "\n" not in msg and "no space left on device" in msg and str(path) in msg
    assert json.loads(path.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_full_disk_on_an_append_leaves_whole_rows_only(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    append_jsonl(path, [{"i": 0}])
    before = path.read_bytes()
    monkeypatch.setattr(fileio.os, "fsync", _enospc)  # the rows reached the file, then the disk filled
    with pytest.raises(StoreError) as exc:
        append_jsonl(path, [{"i": 1}, {"i": 2}])
    assert "\n" not in str(exc.value) and "no space left" in str(exc.value)
    assert path.read_bytes() == before


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs, where the machine lets this process mount one (root in a container); else skipped."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_real_full_disk_is_one_line_and_loses_nothing(tiny_tmpfs):
    path = tiny_tmpfs / "records.jsonl"
    append_jsonl(path, [{"i": i} for i in range(10)])
    write_json(tiny_tmpfs / "small.json", {"ok": True})
    big = [{"text": "x" * 1000, "i": i} for i in range(200)]  # 200 KB into 64 KB
    with pytest.raises(StoreError):
        append_jsonl(path, big)
    with pytest.raises(StoreError):
        write_json(tiny_tmpfs / "small.json", big)
    assert read_jsonl(path) == [{"i": i} for i in range(10)]
    assert json.loads((tiny_tmpfs / "small.json").read_text()) == {"ok": True}
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["records.jsonl", "small.json"]  # no temp files


def test_judging_stops_sending_when_its_records_cannot_be_written(tmp_path, monkeypatch):
    from gsnr_bench.judging import loop
    from gsnr_bench.judging.stage import judge

    items, refs = make_items(60)

    def full(path, rows):
        raise StoreError(f"no space left on device writing {path}")

    with FaultyJudgeServer(refs, latency=0.02) as srv:
        spec = spec_for(srv)
        with monkeypatch.context() as m:
            m.setattr(loop, "append_jsonl", full)
            with pytest.raises(StoreError):
                judge(items, spec, fast_cfg(concurrency=4), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        sent = srv.log.chat_requests
        assert sent < len(items)  # it stopped instead of paying for replies it cannot record
        s = judge(items, spec, fast_cfg(concurrency=4), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        assert s.complete and srv.log.chat_requests == len(items)  # what was paid for came from the cache
    assert len(read_jsonl(tmp_path / "j.jsonl")) == len(items)


# ------------------------------------------------------------------ not UTF-8
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_pool_that_is_not_utf8_names_the_file_and_byte_offset(tmp_path, cli, suffix):
    good = {"instruction": "Say hi", "input": "", "output": "hi"}
    bad = {"instruction": "Say hi", "input": "", "output": "caf\u00e9"}
    if suffix == ".json":
        text = json.dumps([good, good, bad], ensure_ascii=False)
    else:
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in (good, good, bad)) + "\n"
    raw = text.encode("utf-8").replace("\u00e9".encode("utf-8"), b"\xe9")  # latin-1 e-acute
    pool = tmp_path / f"pool{suffix}"
    pool.write_bytes(raw)
    offset = raw.index(b"\xe9")
    res = cli(
        "select",
        "--selector",
        "random",
        "--ratio",
        "0.5",
        "--train-data",
        str(pool),
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    )
    assert res.returncode == 2
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(pool) in line and f"byte offset {offset}" in line and "not UTF-8" in line
    assert not (tmp_path / "run" / "config.yaml").exists()  # nothing was written


def test_read_text_counts_the_offset_past_a_bom(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"\xef\xbb\xbfab\ncd\xff")
    with pytest.raises(DataError) as exc:
        fileio.read_text(p)
    assert "byte offset 8 (line 2)" in str(exc.value) and "0xff" in str(exc.value)
    p.write_bytes(b"\xef\xbb\xbfok")
    assert fileio.read_text(p) == "ok"


# ------------------------------------------------------------------ name clashes
PLUGIN = """
from gsnr_bench.selection.base import ScoreResult


class Mine:
    name = "random"
    {extra}

    def score(self, ctx):
        ids = [e.id for e in ctx.pool]
        return ScoreResult(ids=ids, scores=[0.0] * len(ids))
"""


def test_a_yaml_selector_named_like_a_built_in_is_an_error_naming_both(tmp_path, cli):
    (tmp_path / "selectors").mkdir()
    (tmp_path / "selectors" / "mine.yaml").write_text("name: random\ntarget: mine.py:Mine\n")
    res = cli("ls", "selectors", cwd=tmp_path)
    line = res.stderr.strip()
    assert res.returncode == 2 and "\n" not in line
    assert "'random' is defined twice" in line and "built-in" in line and "random.yaml" in line
    assert str(Path("selectors") / "mine.yaml") in line and "override: true" in line


def test_a_yaml_selector_may_replace_a_built_in_when_it_says_so(tmp_path, cli):
    (tmp_path / "mine.py").write_text(PLUGIN.format(extra=""))
    (tmp_path / "selectors").mkdir()
    (tmp_path / "selectors" / "mine.yaml").write_text(
        "name: random\ndescription: my own random\ntarget: mine.py:Mine\noverride: true\n"
    )
    res = cli("ls", "selectors", cwd=tmp_path, env={"COLUMNS": "250"})
    assert res.returncode == 0, res.stderr
    assert "my own random" in res.stdout


@pytest.mark.parametrize("override", [False, True])
def test_a_file_plugin_named_like_a_built_in(tmp_path, cli, override):
    (tmp_path / "mine.py").write_text(PLUGIN.format(extra="override = True" if override else ""))
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": f"q{i}", "input": "", "output": "a" * i} for i in range(1, 21)]))
    res = cli(
        "select",
        "--selector",
        f"{tmp_path / 'mine.py'}:Mine",
        "--ratio",
        "0.25",
        "--train-data",
        str(pool),
        "--proxy",
        "unused",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        cwd=tmp_path,
    )
    if override:
        assert res.returncode == 0, res.stderr
    else:
        line = res.stderr.strip()
        assert res.returncode == 2 and "\n" not in line and "defined twice" in line
        assert "built-in" in line and "mine.py:Mine" in line and "override = True" in line
        assert not (tmp_path / "run" / "config.yaml").exists()


def test_shipped_entries_alone_do_not_clash():
    from gsnr_bench.core import registry

    assert "random" in registry.selectors().specs() and "gpt" in registry.judges().specs()


def test_cwd_data_dir_is_user_only_when_it_is_not_the_shipped_one(tmp_path):
    from gsnr_bench.core.resources import is_user_dir

    shipped = Path(__file__).resolve().parent.parent / "selectors"
    assert not is_user_dir(shipped, "selectors") and is_user_dir(tmp_path, "selectors")
    assert os.path.isdir(shipped)


def test_a_library_wrapped_full_disk_is_one_line(tmp_path, cli, monkeypatch):
    """torch.save and safetensors wrap ENOSPC in their own errors (RuntimeError "file write failed")."""
    import gsnr_bench.commands as commands

    def boom(args):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
            "data/0: file write failed"
        )

    monkeypatch.setattr(commands, "dispatch", boom)
    res = cli("ls", "selectors", cwd=tmp_path)
    line = res.stderr.strip()
    assert res.returncode == 2 and "\n" not in line and "no space left on device" in line


def test_other_errors_still_raise(tmp_path, cli, monkeypatch):
    import gsnr_bench.commands as commands

    def boom(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(commands, "dispatch", boom)
    with pytest.raises(RuntimeError, match="a bug"):
        cli("ls", "selectors", cwd=tmp_path)
