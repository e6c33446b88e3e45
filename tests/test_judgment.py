"""The judgment record (gsnr_bench/domain/judgment.py): the bytes it writes, its round trip and its rules."""

import json

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.judgment import Judgment, combine, is_judged, latest, outcome, record_key

# A record as judging/stage.py wrote it before the record was typed (keys and values as they were).
STAGE_BEFORE = {
    "testset": "vicuna",
    "question_id": "7",
    "judge": "ref",
    "judge_model": "ref-model",
    "system": "gsnr@0.1",
    "baseline": "full",
    "prompt_version": "vicuna-pair-v1",
    "order": "both",
    "combine": "lenient",
    "null_pair": False,
    "calls": [{"first": "system", "scores": [8.0, 7.0], "parse_failed": False, "attempts": 1, "cost": 0.0}],
    "outcome": "win",
    "reason": None,
    "system_len": 120,
    "baseline_len": 98,
}
# ... and as reporting/importers.py wrote one: `source` instead of `reason`
IMPORTED_BEFORE = {k: v for k, v in STAGE_BEFORE.items() if k != "reason"} | {"source": "fastchat"}


def _bytes(d):
    return json.dumps(d, sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("before", [STAGE_BEFORE, IMPORTED_BEFORE])
def test_record_bytes_are_unchanged_and_round_trip(before):
    j = Judgment.from_dict(before)
    assert _bytes(j.to_dict()) == _bytes(before)
    assert j.key == record_key(before) == ("vicuna", "7", "gsnr@0.1", "full", False)
    assert j.judged and is_judged(before)


def test_from_dict_drops_keys_the_record_does_not_define():
    assert "cell" not in Judgment.from_dict({**STAGE_BEFORE, "cell": "c1"}).to_dict()


def test_last_record_per_key_wins_in_first_seen_order():
    a1 = {**STAGE_BEFORE, "question_id": "1", "outcome": "failed"}
    b = {**STAGE_BEFORE, "question_id": "2"}
    a2 = {**a1, "outcome": "lose"}
    assert list(latest([a1, b, a2]).values()) == [a2, b]
    assert not is_judged(a1)


def test_outcome_and_combine_rules():
    assert outcome(8, 7) == "win" and outcome(7, 8) == "lose" and outcome(5, 5) == "tie"
    assert combine(["lose"], "lenient") == "lose"  # one call (shuffle): its verdict
    assert combine([], "strict") == "failed"
    with pytest.raises(DataError, match="unknown combine rule"):
        combine(["win"], "avg")
