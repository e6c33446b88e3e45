"""`--set KEY=VALUE` is part of the run's record: later commands on the run start from it unless they set the key
again, and `report` renders with the run's recorded report settings."""

import json

import yaml

from gsnr_bench.cli import main


def _config(run):
    return yaml.safe_load((run / "config.yaml").read_text())


def test_set_values_carry_over_until_overridden(tmp_path):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": f"q{i}", "output": "a" * (i + 1)} for i in range(20)]))
    run = tmp_path / "run"
    base = ["select", "--selector", "random", "--ratio", "0.5", "--quiet", "--run-dir", str(run)]
    sets = ["--set", "judging.concurrency=3", "--set", "report.tables.wtl=true"]
    assert main([*base, "--train-data", str(pool), *sets]) == 0
    assert main(base) == 0  # no --set: the recorded values hold
    rec = _config(run)
    assert rec["config"]["judging"]["concurrency"] == 3 and rec["config"]["report"]["tables"]["wtl"] is True
    assert "judging.concurrency=3" in rec["history"][0]["argv"]  # the command that set it is on record
    assert "judging.concurrency" not in (rec["history"][1].get("changed") or {})
    assert main([*base, "--set", "judging.concurrency=5"]) == 0  # set again: the new value, logged as a change
    rec = _config(run)
    assert rec["config"]["judging"]["concurrency"] == 5
    assert rec["history"][2]["changed"]["judging.concurrency"] == [3, 5]
    assert rec["config"]["report"]["tables"]["wtl"] is True
