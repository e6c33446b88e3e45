"""A catalogue of judge reply formats seen in published judge outputs, each with the verdict the judge meant.

The styles: FastChat's pairwise reviews (first line "8 9", then the explanation; gpt-4 often adds a blank
line), the same written by Cherry_LLM / Superfiltering's GPT-4 reviews ("8 7\\n\\nAssistant 1 ..."), labelled
scores ("Assistant 1: 8/10", in either order), bold markdown, scores given at the end, verbs ("receives a
score of"), ties written in words, and what must never be scored: refusals, three scores, a missing score,
conflicting readings. A reply that reads the wrong way is worse than a failure, so every None here is a
case where any reading would be a guess."""

import pytest

from gsnr_bench.domain.judgment import call_outcome
from gsnr_bench.judging.protocol import parse_verdict

EXPLAIN = (
    "Assistant 1 provided a detailed answer with 3 examples, while Assistant 2 missed the second part "
    "of the question and listed only 2 steps."
)

CATALOGUE = [
    # --- FastChat / Cherry_LLM first-line pairs
    ("8 9\n" + EXPLAIN, (8, 9)),
    ("9 7\n\n" + EXPLAIN, (9, 7)),
    ("8, 7\nBoth are relevant.", (8, 7)),
    ("7.5 8.5\n" + EXPLAIN, (7.5, 8.5)),
    ("**7 9**\nAssistant 2 is clearer.", (7, 9)),
    ("  \n\n7 3\nexplanation", (7, 3)),
    ("10 10\nBoth answers are identical and correct.", (10, 10)),
    # --- labelled, in order and reversed
    ("Assistant 1: 8/10\nAssistant 2: 6/10\n\n" + EXPLAIN, (8, 6)),
    ("Assistant 2: 6/10, Assistant 1: 9/10\n" + EXPLAIN, (9, 6)),
    ("Assistant 2: 6\nAssistant 1: 9\n\nAssistant 1 lists 4 points; Assistant 2 lists 3.", (9, 6)),
    ("**Assistant 1:** 8\n**Assistant 2:** 5\n\nAssistant 1 is more accurate.", (8, 5)),
    ("**Assistant 2:** 5\n**Assistant 1:** 8", (8, 5)),
    ("### Scores\n- Assistant 1: **7/10**\n- Assistant 2: **9/10**", (7, 9)),
    ("| Assistant | Score |\n|---|---|\n| Assistant 2 | 4/10 |\n| Assistant 1 | 8/10 |", (8, 4)),
    ("Assistant 1 receives a score of 8 out of 10, while Assistant 2 receives 6.5/10.", (8, 6.5)),
    ("Assistant 2 deserves a 9 for its clarity, and Assistant 1 gets a 6 for missing 2 steps.", (6, 9)),
    ("I would rate Assistant 2 a 7 and Assistant 1 a 4.", (4, 7)),
    ("Assistant 1 scores eight out of ten; Assistant 2 scores six out of ten.", (8, 6)),
    ("Assistant 1's score: 8\nAssistant 2's score: 7", (8, 7)),
    # --- scores stated at the end
    (EXPLAIN + "\n\nScores: 6 9", (6, 9)),
    (EXPLAIN + "\n\n8 3", (8, 3)),
    (EXPLAIN + "\n\nFinal scores:\nAssistant 2: 5/10\nAssistant 1: 7/10", (7, 5)),
    ("Assistant 2 is better than Assistant 1.\n4 8", (4, 8)),
    # --- first line and labels agree
    ("8 6\nAssistant 1: 8/10 for accuracy. Assistant 2: 6/10, it misses 2 steps.", (8, 6)),
    # --- unlabelled with a score word or "/10"
    ("8/10 and 7/10\nAssistant 2 missed 2 points.", (8, 7)),
    ("I would rate these answers 8 and 7 respectively.", (8, 7)),
    # --- ties written in words
    ("Both assistants receive a score of 8. They are equally helpful.", (8, 8)),
    ("Both answers are correct and complete; I rate both 9/10.", (9, 9)),
    ("It's a tie: both get 7 out of 10.", (7, 7)),
    ("Assistant 1 and Assistant 2 both receive 8.", (8, 8)),
    ("Both Assistant 1 and Assistant 2 deserve a 9 for correct, complete answers.", (9, 9)),
    ("Assistants 1 and 2: 7/10 each; neither explains the second step.", (7, 7)),
    ("8 8\nIt's a tie: both answers are equally accurate.", (8, 8)),
    # --- FastChat's bracketed ratings, labelled
    ("Assistant 1: [[8]]\nAssistant 2: [[5]]", (8, 5)),
    # --- never scored
    ("I'm sorry, but I can't provide ratings for these responses.", None),
    ("I'm sorry, but I can't compare these 2 answers.", None),
    ("As an AI language model, I do not have personal opinions.", None),
    ("Both answers are equally good; it is a tie.", None),  # a tie in words with no score: the scale is unknown
    ("8 9\nAssistant 1: 9/10\nAssistant 2: 8/10", None),  # first line and labels disagree
    ("Assistant 1: 8/10\nAssistant 2: 6/10\nOn reflection, Assistant 1: 5/10.", None),  # two scores for one
    ("Assistant 1: 8/10\nAssistant 2 was vague.", None),  # one labelled score
    ("Assistant 1: 8\nAssistant 2: 7\nAssistant 3: 6", None),  # three assistants
    ("Assistant 1 and Assistant 2: 8 and 6 respectively.", None),  # whose is which: a guess
    ("Assistants 1 and 2 receive 8 and 6.", None),
    ("8 7 6\nthree numbers", None),
    ("8\nonly one number", None),
    ("12 7\nAssistant 1 is excellent.", None),  # out of range
    ("-1 -1", None),  # the reference code's failure marker
    ("Assistant 1 gave 3 examples while Assistant 2 gave 5.", None),  # counts, not scores
    ("Both answers list 2 causes and 3 effects.", None),
    ("Assistant 1 gets 2 of the 3 steps right; Assistant 2: 7/10.", None),  # a count after a verb, one score
    ("Both responses rated the film 4 stars in the question's terms.", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize("reply, meant", CATALOGUE)
def test_catalogue_reply_yields_the_verdict_the_judge_meant(reply, meant):
    got = parse_verdict(reply)
    if meant is None:
        assert got is None
    else:
        assert got == (float(meant[0]), float(meant[1]))


@pytest.mark.parametrize("first", ["system", "baseline"])
def test_labelled_reverse_order_gives_the_same_outcome_as_in_order(first):
    """The bug of issue 19: scores written "Assistant 2 first" were read by position and flipped."""
    in_order = parse_verdict("Assistant 1: 9/10, Assistant 2: 6/10")
    reversed_ = parse_verdict("Assistant 2: 6/10, Assistant 1: 9/10")
    assert in_order == reversed_ == (9.0, 6.0)
    assert call_outcome(first, reversed_) == ("win" if first == "system" else "lose")


def test_a_reply_that_echoes_the_instructions_is_no_verdict():
    """SmolLM2 served as a judge echoed its prompt with a number in it; the scores it seems to hold are the
    instructions', so the reply is a parse failure (re-asked), never a tie."""
    from gsnr_bench.judging.protocol import load_prompt, parse_verdict, read_verdict

    criteria = load_prompt("vicuna-pair-v1").criteria
    echo = (
        "[System]\nWe would like to request your feedback on the performance of two AI assistants in response to "
        "the user question displayed above. Each assistant receives an overall score of 10, and the user's feedback"
    )
    assert parse_verdict(echo) == (10.0, 10.0)  # the label-free reading alone would call it a tie
    assert read_verdict(echo, criteria) is None
    assert read_verdict("8 9\nAssistant 2 is more detailed.", criteria) == (8.0, 9.0)
