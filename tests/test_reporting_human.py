"""Human labels: validation (one error, nothing imported), majority, agreement, human PWS."""

import json
import math

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.reporting.human import (
    human_pws,
    import_human_labels,
    inter_annotator,
    judge_agreement,
    majority,
    read_rows,
    validate,
)

QUESTIONS = {("vicuna", str(i)) for i in range(1, 6)} | {("wizardlm", str(i)) for i in range(1, 4)}
PAIRS = {("gsnr@0.1", "full"), ("random@0.1", "full")}
HEAD = "testset,question_id,system_a,system_b,label,annotator\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_import_csv_majority_and_flip(tmp_path):
    src = write(
        tmp_path,
        "h.csv",
        HEAD
        + "".join(
            [
                "vicuna,1,gsnr@0.1,full,win,ann1\n",
                "vicuna,1,gsnr@0.1,full,win,ann2\n",
                "vicuna,1,full,gsnr@0.1,win,ann3\n",  # reversed pair: baseline wins -> lose for gsnr
                "vicuna,2,gsnr@0.1,full,win,ann1\n",
                "vicuna,2,gsnr@0.1,full,lose,ann2\n",  # no plurality -> tie
                "vicuna,3,gsnr@0.1,full,TIE,ann1\n",
            ]
        ),
    )
    out = tmp_path / "run" / "human.jsonl"
    imp = import_human_labels(src, questions=QUESTIONS, pairs=PAIRS, out_path=out)
    labels = {(m["question_id"]): m["label"] for m in imp.majority}
    assert labels == {"1": "win", "2": "tie", "3": "tie"}
    assert imp.majority[0]["votes"] == {"win": 2, "lose": 1}
    assert [json.loads(x)["label"] for x in out.read_text().splitlines()][2] == "lose"
    rows = human_pws(imp.majority)
    pooled = [r for r in rows if r["testset"] == "pooled"][0]
    assert (pooled["wins"], pooled["ties"], pooled["losses"]) == (1, 2, 0)
    assert pooled["pws"] == pytest.approx(1 + 1 / 3)


def test_validation_lists_first_rows_and_writes_nothing(tmp_path):
    src = write(
        tmp_path,
        "bad.csv",
        HEAD
        + "".join(
            [
                "vicuna,1,gsnr@0.1,full,win,ann1\n",  # line 2 ok
                "vicuna,99,gsnr@0.1,full,win,ann1\n",  # line 3 unknown question
                "vicuna,2,ifd@0.1,full,win,ann1\n",  # line 4 unknown system
                "vicuna,2,gsnr@0.1,full,better,ann1\n",  # line 5 bad label
                "vicuna,1,gsnr@0.1,full,tie,ann1\n",  # line 6 duplicate of line 2
                "koala,1,gsnr@0.1,full,win,ann1\n",  # line 7 test set not in the run
                "vicuna,3,gsnr@0.1,random@0.1,win,ann1\n",  # line 8 pair never judged
            ]
        ),
    )
    out = tmp_path / "human.jsonl"
    with pytest.raises(DataError) as e:
        import_human_labels(src, questions=QUESTIONS, pairs=PAIRS, out_path=out)
    msg = str(e.value)
    assert "6 bad row(s), nothing imported" in msg
    for piece in (
        "line 3: unknown question id '99'",
        "line 4: unknown system(s) 'ifd@0.1'",
        "line 5: label 'better'",
        "line 6: duplicate of line 2",
        "line 7: test set 'koala'",
        "and 1 more",
    ):
        assert piece in msg
    assert not out.exists()


def test_empty_and_malformed_files(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_rows(write(tmp_path, "e.csv", HEAD))
    with pytest.raises(DataError, match="empty"):
        read_rows(write(tmp_path, "e.jsonl", "\n"))
    with pytest.raises(DataError, match="lacks column"):
        read_rows(write(tmp_path, "c.csv", "testset,question_id,label\nvicuna,1,win\n"))
    with pytest.raises(DataError, match="lines \\[2\\]"):
        read_rows(write(tmp_path, "m.jsonl", '{"testset": "vicuna"}\n{oops\n'))


def test_jsonl_input_line_numbers(tmp_path):
    rows = [
        {
            "testset": "vicuna",
            "question_id": 1,
            "system_a": "gsnr@0.1",
            "system_b": "full",
            "label": "win",
            "annotator": "a",
        },
        {},
        {
            "testset": "vicuna",
            "question_id": 1,
            "system_a": "gsnr@0.1",
            "system_b": "full",
            "label": "draw",
            "annotator": "b",
        },
    ]
    src = write(tmp_path, "h.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match="line 2: missing .*line 3: label 'draw'"):
        validate(read_rows(src), questions=QUESTIONS, pairs=PAIRS)


def test_inter_annotator_pairwise_kappa():
    from gsnr_bench.reporting.human import HumanLabel

    def h(q, label, ann):
        return HumanLabel("vicuna", str(q), "gsnr@0.1", "full", label, ann, 0)

    a = ["win", "win", "tie", "lose", "lose", "tie"]
    b = ["win", "lose", "tie", "lose", "tie", "win"]  # kappa 1/4 against a (hand-computed in test_metrics)
    labels = [h(i, x, "a") for i, x in enumerate(a)] + [h(i, x, "b") for i, x in enumerate(b)]
    iaa = inter_annotator(labels)
    assert iaa["annotators"] == 2 and iaa["annotator_pairs"] == 1
    assert iaa["mean_pairwise_kappa"] == pytest.approx(0.25)
    assert iaa["mean_pairwise_agreement"] == pytest.approx(0.5)
    assert math.isnan(inter_annotator(labels[:6])["mean_pairwise_kappa"])  # one annotator


def test_judge_agreement_against_majority():
    maj = majority([])
    assert maj == []
    human = [
        {"testset": "vicuna", "question_id": str(i), "system": "gsnr@0.1", "baseline": "full", "label": l}
        for i, l in enumerate(["win", "lose", "tie", "lose", "tie", "win"])
    ]
    judged = ["win", "win", "tie", "lose", "lose", "tie"]
    recs = [
        {
            "testset": "vicuna",
            "question_id": str(i),
            "system": "gsnr@0.1",
            "baseline": "full",
            "judge": "J",
            "outcome": o,
            "null_pair": False,
        }
        for i, o in enumerate(judged)
    ]
    recs.append({**recs[0], "judge": "K", "outcome": "failed"})
    (row,) = judge_agreement(human, recs)
    assert row["judge"] == "J" and row["n"] == 6
    assert (row["accuracy"], row["accuracy_no_ties"], row["kappa"]) == pytest.approx((0.5, 2 / 3, 0.25))


def test_judge_pair_agreement_on_the_same_comparisons():
    from gsnr_bench.reporting.human import judge_pair_agreement

    def rec(judge, q, outcome, system="gsnr@0.1", **kw):
        return {
            "judge": judge,
            "testset": "vicuna",
            "question_id": q,
            "system": system,
            "baseline": "full",
            "outcome": outcome,
            **kw,
        }

    a = ["win", "win", "tie", "lose", "lose", "win"]
    b = ["win", "tie", "tie", "lose", "win", "win"]
    recs = [rec("gpt-4", i, o) for i, o in enumerate(a)] + [rec("qwen", i, o) for i, o in enumerate(b)]
    recs += [rec("qwen", 99, "win"), rec("gpt-4", 98, "failed"), rec("qwen", 98, "win")]  # unpaired / failed: out
    recs += [rec("gpt-4", 0, "tie", null_pair=True), rec("qwen", 0, "win", null_pair=True)]  # null pairs: out
    (row,) = judge_pair_agreement(recs)
    assert (row["judge_a"], row["judge_b"], row["n"]) == ("gpt-4", "qwen", 6)
    assert row["agreement"] == pytest.approx(4 / 6)
    from sklearn.metrics import cohen_kappa_score

    assert row["kappa"] == pytest.approx(cohen_kappa_score(a, b, labels=["win", "tie", "lose"]))


def test_template_lists_the_runs_names_and_imports_back(tmp_path, capsys):
    from gsnr_bench.cli import main

    d = tmp_path / "logs"
    d.mkdir()
    for judge, outs in (("gpt4", "wwtl"), ("gpt3.5", "wttl")):
        sc = {"w": ("[8, 6]", "[6, 8]"), "t": ("[7, 7]", "[7, 7]"), "l": ("[6, 8]", "[8, 6]")}
        items = [{"text": f"q{i}", "scores": sc[o][0], "scores_reverse": sc[o][1]} for i, o in enumerate(outs)]
        (d / f"vicuna_wrap_reviews_{judge}.json").write_text(
            json.dumps({"Meta_Info": {"dataset_name": "vicuna"}, "data": items})
        )
    run = tmp_path / "run"
    assert (
        main(
            ["import-judgments", str(d), "--format", "superfiltering", "--system", "cherry@0.1", "--run-dir", str(run)]
        )
        == 0
    )
    summary = json.loads((run / "report" / "summary.json").read_text())
    (pair,) = summary["judge_pairs"]  # gpt-3.5 vs gpt-4 on the same 4 comparisons: 3 agree
    assert pair["n"] == 4 and pair["agreement"] == pytest.approx(0.75)
    tmpl = tmp_path / "labels.csv"
    assert main(["import-human", "--template", str(tmpl), "--run-dir", str(run)]) == 0
    lines = tmpl.read_text().splitlines()
    assert lines == [HEAD.strip()] + [f"vicuna,{q},cherry@0.1,full,," for q in range(1, 5)]
    assert main(["import-human", "--template", str(tmpl), "--run-dir", str(run)]) == 2  # never overwritten
    tmpl.write_text("\n".join([lines[0]] + [ln[:-2] + ",win,ann1" for ln in lines[1:]]) + "\n")
    capsys.readouterr()
    assert main(["import-human", str(tmpl), "--run-dir", str(run)]) == 0  # the names it wrote are accepted
    agreement = json.loads((run / "report" / "summary.json").read_text())["agreement"]
    assert {a["judge"]: a["n"] for a in agreement} == {"gpt-3.5": 4, "gpt-4": 4}
