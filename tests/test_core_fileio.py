import json

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import append_jsonl, read_jsonl, write_json, write_jsonl


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": 2})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "x.jsonl"
    write_jsonl(target, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(target, rows())
    assert read_jsonl(target) == [{"a": 1}]
    assert len(list(tmp_path.iterdir())) == 1


def test_tolerant_reader_drops_torn_tail_and_append_repairs(tmp_path):
    p = tmp_path / "log.jsonl"
    append_jsonl(p, [{"i": 0}, {"i": 1}])
    with open(p, "a") as fh:
        fh.write('{"i": 2, "tru')  # a crash mid-append
    assert read_jsonl(p, tolerant=True) == [{"i": 0}, {"i": 1}]
    with pytest.raises(DataError, match="line 3"):
        read_jsonl(p)
    append_jsonl(p, [{"i": 2}])
    assert [r["i"] for r in read_jsonl(p)] == [0, 1, 2]


def test_strict_reader_names_bad_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"a": 1}) + "\n{oops\n" + json.dumps({"a": 3}) + "\n")
    with pytest.raises(DataError, match="line 2"):
        read_jsonl(p, tolerant=True)  # corruption in the middle is never tolerated
