"""The run store: other store versions and foreign directories refused, the DONE marker, a held stage lock and a
rank waiting for rank 0 end in one line."""

import json

import pytest

from gsnr_bench.core.errors import StoreError
from gsnr_bench.run.store import RunStore


def test_store_refuses_other_versions_and_foreign_dirs(tmp_path):
    store = RunStore(tmp_path / "run")
    sd = store.stage("scores", "gsnr", {"a": 1})
    assert sd == store.stage("scores", "gsnr", {"a": 1}) and sd.key != store.stage("scores", "gsnr", {"a": 2}).key
    (tmp_path / "run" / "gsnr-run.json").write_text(json.dumps({"store_version": 999, "created_by": "9.0"}))
    with pytest.raises(StoreError, match="store version 999"):
        RunStore(tmp_path / "run")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("x")
    with pytest.raises(StoreError, match="not a gsnr-bench run directory"):
        RunStore(tmp_path / "other")


def test_stage_done_marker(tmp_path):
    sd = RunStore(tmp_path).stage("models", "full", {"k": 1})
    assert not sd.done
    sd.path.mkdir(parents=True)
    sd.mark_done(1.5, n=3)
    assert sd.done and sd.meta()["n"] == 3


def test_a_held_stage_lock_names_the_stage_then_times_out(tmp_path, capsys):
    from filelock import FileLock

    from gsnr_bench.core.errors import StoreError

    sd = RunStore(tmp_path / "run").stage("models", "gsnr@0.1", {"k": 1})
    sd.path.mkdir(parents=True)
    with FileLock(str(sd.path / ".lock")):  # another process runs this stage
        with pytest.raises(StoreError, match=r"stage models gsnr@0.1 is still locked by another process after 0.3 s"):
            with sd.lock(timeout=0.3, notice_after=0.1):
                pass
    cap = capsys.readouterr()
    assert "waiting for stage models gsnr@0.1" in cap.out + cap.err
    with sd.lock(timeout=0.3, notice_after=0.1):  # released: taken at once
        pass


def test_a_rank_waiting_for_rank_0_gives_up_with_one_line(tmp_path, monkeypatch):
    from gsnr_bench.core.errors import StoreError
    from gsnr_bench.pipeline.runner import wait_done

    monkeypatch.setenv("RANK", "1")
    sd = RunStore(tmp_path / "run").stage("scores", "gsnr", {"k": 1})
    with pytest.raises(StoreError, match="rank 1: gave up after 0.2 s waiting for rank 0"):
        wait_done(sd, poll=0.05, timeout=0.2)
