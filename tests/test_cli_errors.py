"""Bad input through the real CLI: one line on stderr, exit 2, no traceback, nothing half-written."""

import json

import pytest


def _assert_clean_error(res, pattern):
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gsnr-bench: error:"), res.stderr
    assert "Traceback" not in res.stderr
    assert pattern in lines[0], lines[0]


@pytest.fixture
def select(cli, tmp_path):
    def run(*extra, train=None):
        return _select(cli, tmp_path, *extra, train=train)

    return run


def _select(cli, tmp_path, *extra, train=None):
    args = ["select", "--selector", "random", "--proxy", "unused", "--run-dir", str(tmp_path / "run"), "--quiet"]
    if train is not None:
        args += ["--train-data", str(train)]
    return cli(*args, *extra, cwd=tmp_path)


def _no_finished_stage(tmp_path):
    return not list((tmp_path / "run").glob("*/*/DONE"))


@pytest.mark.parametrize(
    "content,pattern",
    [
        (None, "not found"),
        ('{"instruction": "a", "output": "b"}\n{"instruction": \n', "line 2"),
        ('{"instruction": "a"}\n', "missing field(s) output"),
        ("", "is empty"),
    ],
)
def test_bad_pools(tmp_path, select, content, pattern):
    pool = tmp_path / "pool.jsonl"
    if content is not None:
        pool.write_text(content)
    res = select(train=pool)
    _assert_clean_error(res, pattern)
    assert _no_finished_stage(tmp_path)


@pytest.mark.parametrize(
    "extra,pattern",
    [
        (["--ratio", "1.5"], "outside (0, 1]"),
        (["--ratio", "0"], "outside (0, 1]"),
        (["--set", "selection.ratio=0.1"], "did you mean 'ratios'"),
        (["--selector", "gsnrr"], "unknown selector 'gsnrr'"),
        (["--config", "no/such.yaml"], "config not found"),
    ],
)
def test_bad_settings(tmp_path, select, extra, pattern):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": "a", "output": "b"}] * 3))
    res = select(*extra, train=pool)
    _assert_clean_error(res, pattern)
    assert _no_finished_stage(tmp_path)


def test_incompatible_run_dir(tmp_path, select):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "gsnr-run.json").write_text(json.dumps({"store_version": 0, "created_by": "0.0.1"}))
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": "a", "output": "b"}] * 3))
    _assert_clean_error(select(train=pool), "store version 0")


def test_offline_hub_names_fail_clearly(tmp_path, select):
    res = select(train="tatsu-lab/alpaca")
    _assert_clean_error(res, "cannot load dataset 'tatsu-lab/alpaca'")


@pytest.mark.parametrize(
    "judge,env,pattern",
    [
        ("gtp", {}, "unknown judge 'gtp'; did you mean 'gpt'"),
        ("gpt", {"OPENAI_API_KEY": ""}, "OPENAI_API_KEY (its API key) is not set"),
        ("qwen", {"QWEN_BASE_URL": "http://127.0.0.1:9/v1", "QWEN_API_KEY": "k"}, "cannot reach http://127.0.0.1:9/v1"),
    ],
)
def test_bad_judges_fail_before_any_stage(tmp_path, cli, judge, env, pattern):
    res = cli(
        "run",
        "--selector",
        "random",
        "--judge",
        judge,
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        cwd=tmp_path,
        env=env,
    )
    _assert_clean_error(res, pattern)
    assert not (tmp_path / "run" / "world").exists()  # nothing expensive ran first


def test_reference_judge_refuses_test_sets_without_references(tmp_path, cli, shared_data):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": "a", "output": "b"}] * 3))
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "config.json").write_text("{}")  # passes the model-directory check
    res = cli(
        "run",
        "--selector",
        "random",
        "--train-data",
        str(pool),
        "--target",
        str(tmp_path / "target"),
        "--testset",
        str(shared_data / "vicuna_80.jsonl"),
        "--judge",
        "reference",
        "--ratio",
        "0.5",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        cwd=tmp_path,
    )
    _assert_clean_error(res, "the reference judge needs reference answers")
    assert _no_finished_stage(tmp_path)


@pytest.mark.parametrize("case", ["train-data-dir", "config-dir", "run-dir-file", "import-dir", "publish-out-file"])
def test_paths_of_the_wrong_kind_are_one_line_errors(tmp_path, cli, case):
    """The bad-input catalogue: a directory where a file is expected and the reverse, each one line, exit 2."""
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": f"q{i}", "output": "a"} for i in range(20)]))
    a_dir, a_file = tmp_path / "a_dir", tmp_path / "a_file.txt"
    a_dir.mkdir()
    a_file.write_text("x")
    base = ["select", "--selector", "random", "--ratio", "0.5", "--quiet"]
    args, pattern = {
        "train-data-dir": ([*base, "--train-data", str(a_dir), "--run-dir", str(tmp_path / "r")], "directory"),
        "config-dir": ([*base, "--config", str(a_dir), "--run-dir", str(tmp_path / "r")], "is a directory"),
        "run-dir-file": ([*base, "--train-data", str(pool), "--run-dir", str(a_file)], "is a file"),
        "import-dir": (
            [
                "import-judgments",
                str(a_dir),
                "--format",
                "superfiltering",
                "--system",
                "x@0.1",
                "--testset",
                "vicuna",
                "--run-dir",
                str(tmp_path / "r"),
            ],
            "no *review*.json files in this directory",  # a directory of review files is welcome; an empty one not
        ),
        "publish-out-file": (["leaderboard", "publish", str(tmp_path / "r"), "--out", str(a_file)], "is a file"),
    }[case]
    if case == "publish-out-file":
        assert cli(*base, "--train-data", str(pool), "--run-dir", str(tmp_path / "r")).returncode == 0
    res = cli(*args, cwd=tmp_path)
    _assert_clean_error(res, pattern)
    assert a_file.read_text() == "x"  # nothing written over
