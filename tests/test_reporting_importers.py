"""Importers of Superfiltering/Cherry review JSON and FastChat pairwise JSONL."""

import json

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.reporting.importers import import_fastchat, import_superfiltering
from gsnr_bench.reporting.results import CellMeta, results_from_judgments


def cherry_file(tmp_path, items, meta=None, name="vicuna_wrap_reviews_gpt4.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"Meta_Info": meta or {"dataset_name": "vicuna"}, "data": items}), encoding="utf-8")
    return p


def item(s, r, text="q"):
    # As the reference code writes them: str() of a list; reverse has the baseline (Answer2) first.
    return {"text": text, "Answer1": "sys answer", "Answer2": "base", "scores": str(s), "scores_reverse": str(r)}


ITEMS = [
    item([9.0, 8.0], [8.0, 9.0]),  # win, win
    item([9.0, 8.0], [8.0, 8.0]),  # win, tie   -> lenient win, strict tie
    item([9.0, 8.0], [9.0, 8.0]),  # win, lose  -> tie
    item([7.0, 8.0], [8.0, 7.0]),  # lose, lose
    item([8.0, 8.0], [7.0, 7.0]),  # tie, tie
    item([-1, -1], [8.0, 9.0]),  # parse failure in one order -> failed
]


@pytest.mark.parametrize(
    "rule,want",
    [
        ("lenient", ["win", "win", "tie", "lose", "tie", "failed"]),
        ("strict", ["win", "tie", "tie", "lose", "tie", "failed"]),
    ],
)
def test_superfiltering_both_rules(tmp_path, rule, want):
    recs = import_superfiltering(
        cherry_file(tmp_path, ITEMS), system="cherry@0.05", testset="vicuna", judge="gpt-4", combine_rule=rule
    )
    assert [r["outcome"] for r in recs] == want
    r0 = recs[0]
    assert r0["question_id"] == "1" and r0["order"] == "both" and r0["combine"] == rule
    assert [c["first"] for c in r0["calls"]] == ["system", "baseline"]
    assert r0["calls"][1]["scores"] == [8.0, 9.0] and r0["system_len"] == len("sys answer")
    assert recs[5]["calls"][0]["parse_failed"] is True
    # Imported records go through the same reporting path as our own.
    meta = {"cherry@0.05": CellMeta("alpaca", "llama-7b", "full", "cherry", 0.05)}
    df = results_from_judgments(recs, meta, prompt_version="vicuna-pair-v1")
    pooled = df[(df.judge == "gpt-4") & (df.testset == "pooled")].iloc[0]
    assert pooled.failed == 1 and pooled.n == 5


def test_superfiltering_bare_list_and_list_scores(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps([{"instruction": "x", "scores": [6, 5], "scores_reverse": [5, 6], "idx": 7}]))
    (r,) = import_superfiltering(p, system="s", testset="wizardlm")
    assert r["question_id"] == "7" and r["outcome"] == "win"


def test_superfiltering_refuses_bad_files(tmp_path):
    with pytest.raises(DataError, match="for test set 'vicuna', not 'wizardlm'"):
        import_superfiltering(cherry_file(tmp_path, ITEMS), system="s", testset="wizardlm")
    with pytest.raises(DataError, match="judged with prompt 'other-v2'"):
        import_superfiltering(
            cherry_file(tmp_path, ITEMS, {"dataset_name": "vicuna", "prompt_version": "other-v2"}),
            system="s",
            testset="vicuna",
        )
    bad = [
        item([9, 8], [8, 9]),
        {"text": "q", "scores": "[9, 8]"},
        {"text": "q", "scores": "nope", "scores_reverse": "[1, 2]"},
    ]
    with pytest.raises(DataError, match="item 2: scores_reverse missing.*item 3: scores missing"):
        import_superfiltering(cherry_file(tmp_path, bad), system="s", testset="vicuna")
    with pytest.raises(DataError, match="unknown question id '3'"):
        import_superfiltering(cherry_file(tmp_path, ITEMS[:3]), system="s", testset="vicuna", questions={"1", "2"})
    with pytest.raises(DataError, match="no review items"):
        import_superfiltering(cherry_file(tmp_path, []), system="s", testset="vicuna")
    with pytest.raises(DataError, match="unknown combine rule"):
        import_superfiltering(cherry_file(tmp_path, ITEMS), system="s", testset="vicuna", combine_rule="avg")


def fastchat_file(tmp_path, rows):
    p = tmp_path / "gpt-4_pair.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def fc(qid, m1, m2, g1, g2, prompt="pair-v2", turn=1):
    return {
        "question_id": qid,
        "model_1": m1,
        "model_2": m2,
        "g1_winner": g1,
        "g2_winner": g2,
        "judge": ["gpt-4", prompt],
        "g1_judgment": "...",
        "g2_judgment": "...",
        "turn": turn,
        "tstamp": 1.0,
    }


def test_fastchat_both_rules_and_sides(tmp_path):
    rows = [
        fc(81, "mine", "full", "model_1", "model_1"),  # win, win
        fc(82, "mine", "full", "model_1", "tie"),  # win, tie
        fc(83, "full", "mine", "model_1", "model_2"),  # system is model_2: lose, win -> tie
        fc(84, "mine", "full", "error", "model_1"),  # failed
        fc(85, "mine", "full", "model_2", "model_2"),  # lose, lose
        fc(81, "mine", "full", "model_1", "model_1", turn=2),
    ]  # MT-bench turn 2: skipped
    p = fastchat_file(tmp_path, rows)
    strict = import_fastchat(p, testset="mt_bench", prompt_version="pair-v2", combine_rule="strict")
    lenient = import_fastchat(p, testset="mt_bench", prompt_version="pair-v2", combine_rule="lenient")
    assert [r["outcome"] for r in strict] == ["win", "tie", "tie", "failed", "lose"]
    assert [r["outcome"] for r in lenient] == ["win", "win", "tie", "failed", "lose"]
    assert strict[0]["judge"] == "gpt-4" and strict[0]["system"] == "mine" and strict[0]["question_id"] == "81"
    assert [c["first"] for c in strict[2]["calls"]] == ["system", "baseline"]  # schema order kept


def test_fastchat_refuses_other_prompt_version_and_bad_rows(tmp_path):
    p = fastchat_file(
        tmp_path,
        [
            fc(1, "mine", "full", "model_1", "model_1", prompt="pair-v1"),
            fc(2, "a", "b", "tie", "tie", prompt="pair-v2"),
            fc(3, "mine", "full", "A", "tie", prompt="pair-v2"),
        ],
    )
    with pytest.raises(DataError) as e:
        import_fastchat(p, testset="vicuna", prompt_version="pair-v2")
    msg = str(e.value)
    assert "3 problem(s), nothing imported" in msg
    assert "line 1: prompt version 'pair-v1'" in msg and "line 2: a vs b does not involve" in msg
    assert "line 3: winner 'A'/'tie'" in msg
    with pytest.raises(DataError, match="empty"):
        import_fastchat(fastchat_file(tmp_path, []), testset="vicuna", prompt_version="pair-v2")


def test_fastchat_real_prompt_names_default_to_fastchats_rule(tmp_path):
    """A real FastChat file (judge ["gpt-4", "pair-v2"]) imports into a run of another prompt; with no
    --combine, the two orders are merged as FastChat's show_result.py does (a win needs both orders)."""
    # 3 agreed wins, 2 win+tie, 1 agreed loss, 1 win+lose (system as model_2), 1 turn-1 row of the multi-turn prompt
    rows = (
        [fc(i, "mine", "full", "model_1", "model_1") for i in range(1, 4)]
        + [fc(i, "mine", "full", "model_1", "tie") for i in range(4, 6)]
        + [
            fc(6, "mine", "full", "model_2", "model_2"),
            fc(7, "full", "mine", "model_1", "model_2"),
            fc(8, "mine", "full", "model_1", "model_1", prompt="pair-v2-multi-turn"),
        ]
    )
    p = fastchat_file(tmp_path, rows)
    recs = import_fastchat(p, testset="vicuna", prompt_version="vicuna-pair-v1", combine_rule=None)
    outs = [r["outcome"] for r in recs]
    assert outs == ["win"] * 3 + ["tie"] * 2 + ["lose", "tie", "win"]
    assert {r["combine"] for r in recs} == {"strict"}
    assert [r["prompt_version"] for r in recs] == ["pair-v2"] * 7 + ["pair-v2-multi-turn"]
    lenient = import_fastchat(p, testset="vicuna", prompt_version="vicuna-pair-v1", combine_rule="lenient")
    assert [r["outcome"] for r in lenient].count("win") == 6  # win+tie counts as a win only under lenient
    with pytest.raises(DataError, match="prompt version 'pair-v1', expected 'vicuna-pair-v1' or one of"):
        import_fastchat(
            fastchat_file(tmp_path, [fc(1, "mine", "full", "model_1", "model_1", prompt="pair-v1")]),
            testset="vicuna",
            prompt_version="vicuna-pair-v1",
        )


def test_importers_refuse_a_directory_in_one_line(tmp_path):
    for call in (
        lambda: import_fastchat(tmp_path, testset="vicuna", prompt_version="pair-v2"),
        lambda: import_superfiltering(tmp_path, system="s", testset="vicuna", combine_rule=None),
    ):
        with pytest.raises(DataError, match="is a directory") as e:
            call()
        assert "\n" not in str(e.value)


def test_cli_combine_defaults_to_the_formats_rule():
    from gsnr_bench.cli import build_parser

    args = build_parser().parse_args(
        ["import-judgments", "f.jsonl", "--format", "fastchat", "--run-dir", "r", "--testset", "vicuna"]
    )
    assert args.combine is None


# Cherry_LLM's published logs (github.com/tianyi-lab/Cherry_LLM, logs/cherry_alpaca_5_per-VS-alpaca/) are 5 test sets
# x 2 judges of review JSON, <testset>_wrap_reviews_<gpt4|gpt3.5>.json beside the answers files <testset>_wrap.json.
# Their pooled counts: GPT-4 507 / 225 / 298 (PWS 1.203), GPT-3.5 198 / 685 / 147 (1.050). The logs (7 MB) are not
# committed: this builds files of the same layout and format with those counts. On the real logs the same command
# printed the same two numbers (docs/report.md).
CHERRY_SIZES = {"koala": 180, "lima": 300, "sinstruct": 252, "vicuna": 80, "wizardlm": 218}
CHERRY_COUNTS = {"gpt4": (507, 225, 298), "gpt3.5": (198, 685, 147)}
SCORES = {
    "win": ("[8.0, 6.0]", "[6.0, 8.0]"),
    "tie": ("[7.0, 7.0]", "[7.0, 7.0]"),
    "lose": ("[6.0, 8.0]", "[8.0, 6.0]"),
}


def cherry_logs(root):
    d = root / "logs" / "cherry_alpaca_5_per-VS-alpaca"
    d.mkdir(parents=True)
    for judge, (w, t, lose) in CHERRY_COUNTS.items():
        outcomes = iter(["win"] * w + ["tie"] * t + ["lose"] * lose)
        for ts, n in CHERRY_SIZES.items():
            items = []
            for q in range(n):
                s, r = SCORES[next(outcomes)]
                items.append({"text": f"q{q}", "scores": s, "scores_reverse": r})  # answers left out: no LC fit
            meta = {"dataset_name": ts, "average_scores": "[7.0, 7.0]"}
            (d / f"{ts}_wrap_reviews_{judge}.json").write_text(json.dumps({"Meta_Info": meta, "data": items}))
        (d / "vicuna_wrap.json").write_text(json.dumps([{"text": "q0", "raw_output": "a"}]))  # answers: not reviews
    return d


@pytest.mark.parametrize("how", ["dir", pytest.param("glob", marks=pytest.mark.slow)])  # ~4 s each when quiet
def test_cherry_logs_in_one_command_print_the_per_judge_pws(tmp_path, capsys, how):
    from gsnr_bench.cli import main

    d = cherry_logs(tmp_path)
    src = str(d) if how == "dir" else str(d / "*_reviews_*.json")  # a quoted glob the shell left alone
    rc = main(
        ["import-judgments", src, "--format", "superfiltering", "--system", "cherry@0.05"]
        + ["--run-dir", str(tmp_path / "run"), "--model", "llama-7b", "--dataset", "alpaca"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = {ln.split("│")[2].strip(): ln for ln in out.splitlines() if "cherry@0.05" in ln}
    assert set(rows) == {"gpt-4", "gpt-3.5"}
    assert "1.203" in rows["gpt-4"] and "507/225/298" in rows["gpt-4"]
    assert "1.050" in rows["gpt-3.5"] and "198/685/147" in rows["gpt-3.5"]
    assert len(list((tmp_path / "run" / "imported").glob("*.json"))) == 10
    # the same logs again: refused before anything is written
    assert (
        main(
            [
                "import-judgments",
                str(d),
                "--format",
                "superfiltering",
                "--system",
                "cherry@0.05",
                "--run-dir",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert "already imported" in capsys.readouterr().err
    assert len(list((tmp_path / "run" / "imported").glob("*.json"))) == 10
