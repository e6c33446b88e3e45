import json

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.data.pool import load_pool
from gsnr_bench.data.testsets import detect_format, load_testset


def test_real_alpaca_files_load(shared_data):
    pool = load_pool(shared_data / "alpaca_sample.json")
    assert len(pool) == 2000 and pool[0].id == "0"
    assert len(load_pool(shared_data / "alpaca_gpt4_sample.json")) == 1488


def test_real_testsets_load_in_both_formats(shared_data):
    wiz = load_testset(str(shared_data / "wizardlm_218.jsonl"))
    vic = load_testset(str(shared_data / "vicuna_80.jsonl"))
    assert len(wiz) == 218 and wiz[0].testset == "wizardlm" and wiz[0].question_id == "1"
    assert len(vic) == 80 and vic[-1].question_id == "80" and vic[0].category == "generic"


def test_crlf_and_older_vicuna_text_field(tmp_path, shared_data):
    crlf = tmp_path / "wiz_crlf.jsonl"
    crlf.write_bytes((shared_data / "wizardlm_218.jsonl").read_bytes().replace(b"\n", b"\r\n"))
    qs = load_testset(str(crlf))
    assert len(qs) == 218 and not qs[0].text.endswith("\r")
    old = tmp_path / "old_vicuna.jsonl"
    old.write_text(json.dumps({"question_id": 1, "text": "Hi?", "category": "generic"}) + "\n")
    assert load_testset(f"vic={old}")[0].text == "Hi?"
    assert load_testset(f"vic={old}")[0].testset == "vic"


def test_jsonl_pool_and_bad_pools(tmp_path):
    good = tmp_path / "p.jsonl"
    good.write_text('{"instruction": "a", "output": "b"}\r\n{"instruction": "c", "input": "d", "output": "e"}\r\n')
    pool = load_pool(good)
    assert [(e.id, e.input) for e in pool] == [("0", ""), ("1", "d")]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output"\n')
    with pytest.raises(DataError, match="line 2"):
        load_pool(bad)

    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "x"}]))
    with pytest.raises(DataError, match="record 2: missing field.*output"):
        load_pool(missing)

    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(DataError, match="empty"):
        load_pool(empty)

    dup = tmp_path / "dup.json"
    dup.write_text(
        json.dumps([{"id": 7, "instruction": "a", "output": "b"}, {"id": "7", "instruction": "c", "output": "d"}])
    )
    with pytest.raises(DataError, match="duplicate id '7'"):
        load_pool(dup)

    with pytest.raises(DataError, match="not found"):
        load_pool(tmp_path / "nope.json")


def test_hub_dataset_name_fails_clearly_offline():
    with pytest.raises(DataError, match="cannot load dataset 'tatsu-lab/alpaca'"):
        load_pool("tatsu-lab/alpaca")


def test_unknown_testset_format(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"foo": 1}\n')
    with pytest.raises(DataError, match="neither WizardLM"):
        detect_format(p)


def test_pool_loader_input_mistakes(tmp_path):
    """A directory, an upper-case .JSONL, and 1-based record numbers (found on real inputs)."""
    with pytest.raises(DataError, match="is a directory") as e:
        load_pool(tmp_path)
    assert "\n" not in str(e.value)
    upper = tmp_path / "POOL.JSONL"
    upper.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}\n')
    assert [e.instruction for e in load_pool(upper)] == ["a", "c"]
    upper_json = tmp_path / "POOL.JSON"
    upper_json.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": 3, "output": "d"}]))
    with pytest.raises(DataError, match="record 2: field\\(s\\) instruction must be strings"):
        load_pool(upper_json)
    first = tmp_path / "first.json"
    first.write_text(json.dumps([{"instruction": "a"}]))
    with pytest.raises(DataError, match="first.json record 1: missing field"):
        load_pool(first)
    dup = tmp_path / "dup.json"
    dup.write_text(
        json.dumps([{"id": 1, "instruction": "a", "output": "b"}, {"id": 1, "instruction": "c", "output": "d"}])
    )
    with pytest.raises(DataError, match="record 2: duplicate id '1' \\(first at .*record 1\\)"):
        load_pool(dup)
    with pytest.raises(DataError, match="not found"):
        load_pool(tmp_path / "missing.JSONL")
    with pytest.raises(DataError, match="is a directory"):
        load_testset(str(tmp_path))


def test_ids_are_the_id_field_else_the_position(tmp_path):
    """docs/ids.md: `id` as a string when given, else the 0-based position; a clash is a one-line error."""
    from gsnr_bench.data.pool import load_pool

    p = tmp_path / "pool.jsonl"
    p.write_text(
        '{"instruction": "a", "output": "x"}\n\n{"id": 7, "instruction": "b", "output": "y"}\n'
        '{"instruction": "c", "output": "z"}\n'
    )
    assert [e.id for e in load_pool(p)] == ["0", "7", "2"]  # the blank line does not count
    p.write_text('{"id": "1", "instruction": "a", "output": "x"}\n{"instruction": "b", "output": "y"}\n')
    with pytest.raises(DataError, match="duplicate id '1'"):
        load_pool(p)
