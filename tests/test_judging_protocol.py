"""Verdict parser on realistic judge replies, order shuffling and its inverse, combine rules, prompt."""

import pytest

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.domain.judgment import call_outcome, combine, to_system_side
from gsnr_bench.judging.protocol import load_prompt, parse_verdict, presentation_orders, shuffle_first


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("8 7\nAssistant 1 gave a more detailed answer, while Assistant 2 missed the second part.", (8.0, 7.0)),
        ("8, 7\nBoth are relevant.", (8.0, 7.0)),
        ("8,7", (8.0, 7.0)),
        ("9.5 6\nAssistant 1 is accurate.", (9.5, 6.0)),
        ("10 10\nBoth answers are identical and correct.", (10.0, 10.0)),
        ("**7 9**\nAssistant 2 is clearer.", (7.0, 9.0)),
        ("Assistant 1: 8\nAssistant 2: 7\n\nAssistant 1 provides 3 examples.", (8.0, 7.0)),
        ("Assistant 1 receives a score of 8 out of 10, while Assistant 2 receives 6.5/10.", (8.0, 6.5)),
        ("8/10 and 7/10\nAssistant 2 missed 2 points.", (8.0, 7.0)),
        ("Scores: 6 9\nAssistant 1 listed 4 steps, Assistant 2 listed 5.", (6.0, 9.0)),
        ("Assistant 2 is better than Assistant 1.\n4 8", (4.0, 8.0)),
        ("  \n\n7 3\nexplanation", (7.0, 3.0)),
        # SmolLM2-135M served by vLLM (tests/test_vllm_served_judge.py): list numbers are not scores
        ("[System]\n1. Assistant 1: 9.9\n2. Assistant 2: 9.9\n\n[System]\n1. Assistant 1:", (9.9, 9.9)),
        ("1. Assistant 1: 6\n2. Assistant 2: 8", (6.0, 8.0)),
        ("2) Assistant 1 scores 5, Assistant 2 scores 7", (5.0, 7.0)),
    ],
)
def test_parser_reads_real_replies(reply, expected):
    assert parse_verdict(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, I cannot evaluate these responses.",
        "I'm sorry, but I can't compare these 2 answers.",
        "As an AI language model, I do not have personal opinions.",
        "12 7\nAssistant 1 is excellent.",  # out of range
        "-1 -1",  # the reference code's failure marker must not be scored
        "8 7 6\nthree numbers",
        "8\nonly one number",
        "Assistant 1: 8",  # one labelled score
        # SmolLM2-135M served by vLLM: prose whose only numbers are label remnants ("Assistant 1 and 2") was (2, 2)
        "The system is designed to provide a comprehensive evaluation of the performance of both Assistant 1 and 2."
        " The system provides a score based on the provided two values, which are separated by a space. The system "
        "also provides a detailed evaluation of the performance of both Assistant 1 and 2. The system is designed to",
        "1. Brazil\n2. Argentina\n3. Chile\n\nSystem:\n1. The system is designed to provide a comprehensive evaluation",
        "[System]\n[System]\n[System]",
        "",
        None,
    ],
)
def test_parser_refuses_unreadable_replies(reply):
    assert parse_verdict(reply) is None


def test_shuffle_is_seeded_and_balanced():
    firsts = [shuffle_first(0, "vicuna", str(i)) for i in range(400)]
    assert firsts == [shuffle_first(0, "vicuna", str(i)) for i in range(400)]
    assert 160 < firsts.count("system") < 240
    assert firsts != [shuffle_first(1, "vicuna", str(i)) for i in range(400)]
    assert presentation_orders("both", 0, "v", "1") == ["system", "baseline"]
    with pytest.raises(ConfigError):
        presentation_orders("sideways", 0, "v", "1")


def test_mapping_back_to_system_side():
    assert to_system_side("system", [7, 8]) == (7.0, 8.0)
    assert to_system_side("baseline", [7, 8]) == (8.0, 7.0)
    assert call_outcome("system", [7, 8]) == "lose"
    assert call_outcome("baseline", [7, 8]) == "win"
    assert call_outcome("baseline", [5, 5]) == "tie"


@pytest.mark.parametrize(
    "outcomes, lenient, strict",
    [
        (["win", "win"], "win", "win"),
        (["win", "tie"], "win", "tie"),
        (["win", "lose"], "tie", "tie"),
        (["tie", "tie"], "tie", "tie"),
        (["lose", "tie"], "lose", "tie"),
        (["lose", "lose"], "lose", "lose"),
        (["win"], "win", "win"),
        (["win", "failed"], "failed", "failed"),
    ],
)
def test_combine_rules(outcomes, lenient, strict):
    assert combine(outcomes, "lenient") == lenient
    assert combine(outcomes, "strict") == strict


def test_prompt_is_versioned_data():
    p = load_prompt("vicuna-pair-v1")
    assert p.version == "vicuna-pair-v1" and len(p.sha256) == 64
    assert p.system == "You are a helpful and precise assistant for checking the quality of the answer."
    msgs = p.messages("What is {x}?", "ans {1}", "other {answer_2}")
    user = msgs[1]["content"]
    assert user.startswith("[Question]\nWhat is {x}?\n\n[The Start of Assistant 1's Answer]\nans {1}\n\n")
    assert "other {answer_2}\n\n[The End of Assistant 2's Answer]\n\n[System]\nWe would like" in user
    assert user.endswith("does not affect your judgment.\n\n")
    with pytest.raises(ConfigError):
        load_prompt("no-such-prompt")
