"""`import-judgments` and `import-human` on a run: validated in full, nothing written otherwise, one-line errors
naming the file; human labels for cells of earlier commands are accepted."""

from __future__ import annotations

import json

from gsnr_bench.cli import main
from gsnr_bench.core.fileio import write_json

from run_dirs import real_run, write_cell


# ------------------------------------------------------------------ 9. imports validated in full
def test_import_needs_a_parseable_system_and_writes_nothing_otherwise(tmp_path, capsys):
    run = real_run(tmp_path)
    write_cell(run, "random@0.1", testset="vicuna")
    review = tmp_path / "review.json"
    review.write_text(
        json.dumps(
            [
                {
                    "question_id": q,
                    "text": "q",
                    "Answer1": "a",
                    "Answer2": "b",
                    "scores": [8, 6],
                    "scores_reverse": [5, 7],
                }
                for q in (1, 2, 3)
            ]
        )
    )
    rc = main(
        [
            "import-judgments",
            str(review),
            "--format",
            "superfiltering",
            "--system",
            "cherry",
            "--testset",
            "vicuna",
            "--run-dir",
            str(run),
        ]
    )
    assert rc == 2 and "SELECTOR@RATIO" in capsys.readouterr().err
    assert not (run / "imported").exists()
    assert main(["report", "--run-dir", str(run)]) == 0  # the run is still whole
    rc = main(
        [
            "import-judgments",
            str(review),
            "--format",
            "superfiltering",
            "--system",
            "cherry@0.1",
            "--testset",
            "vicuna",
            "--run-dir",
            str(run),
            "--model",
            "llama-7b",
            "--regime",
            "lora",
            "--judge",
            "gpt-4",
        ]
    )
    assert rc == 0
    rows = [r for r in (run / "report" / "leaderboard.csv").read_text().splitlines() if ",cherry," in r]
    assert rows and all(r.startswith("imported,llama-7b,lora,imported-vicuna-pair-v1,cherry,") for r in rows)


def test_a_broken_import_file_is_a_one_line_error_naming_it(tmp_path, capsys):
    run = real_run(tmp_path)
    write_cell(run)
    write_json(run / "imported" / "x.json", {"records": []})
    assert main(["report", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "x.json" in err and "delete it" in err


def test_human_labels_for_cells_of_earlier_commands_are_accepted(tmp_path, capsys):
    """import-human checks labels against every judged cell of the run, not the last command's."""
    run = real_run(tmp_path)
    write_cell(run, "random@0.1")  # an earlier command
    write_cell(run, "ifd-superfiltering@0.25")  # the last command
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "testset,question_id,system_a,system_b,label,annotator\n"
        "vicuna,1,random@0.1,full,win,ann1\nvicuna,2,full,ifd-superfiltering@0.25,win,ann1\n"
    )
    assert main(["import-human", str(labels), "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Human PWS" in out and "random@0.1" in out
    assert len((run / "human" / "labels.jsonl").read_text().splitlines()) == 2
    # the same labels again would count twice: refused, nothing written
    assert main(["import-human", str(labels), "--run-dir", str(run)]) == 2
    assert "already in" in capsys.readouterr().err
    assert len((run / "human" / "labels.jsonl").read_text().splitlines()) == 2
