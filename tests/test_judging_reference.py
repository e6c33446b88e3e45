"""The reference judge reads the question and the answers where the prompt's own template puts them, so a new
prompt version is scored, not answered with a quiet tie (gsnr_bench/judging/reference_server.py)."""

import pytest

from gsnr_bench.judging.protocol import PromptTemplate, load_prompt
from gsnr_bench.judging.reference_server import (
    NO_FORMAT_REPLY,
    judge_prompt,
    known_prompts,
    prompt_pattern,
    read_pair,
)

Q, GOOD, BAD = "Sort 3 1 2.", "1 2 3", "3 2 1\n\nwith {braces} and [The End of Assistant 1's Answer]"
V2 = PromptTemplate(
    "pair-v2-test",
    "pair-v2-test",
    "You judge.",
    "{criteria}\n<<A2>>{answer_2}<</A2>>\n<<A1>>{answer_1}<</A1>>\nQ: {question}",
    "Rate both from 1 to 10.",
    "0" * 64,
)


def _user(prompt, a1, a2):
    return prompt.messages(Q, a1, a2)[1]["content"]


@pytest.mark.parametrize("name", sorted(p.name for p in known_prompts()))
def test_every_shipped_prompt_is_read_back_exactly(name):
    prompt = load_prompt(name)
    patterns = [prompt_pattern(p) for p in known_prompts()]
    assert read_pair(_user(prompt, GOOD, BAD), patterns) == (Q, GOOD, BAD)
    reply = judge_prompt(_user(prompt, BAD, GOOD), {Q: GOOD}, patterns)
    assert reply.splitlines()[0].split()[1] == "10" and reply.splitlines()[0].split()[0] != "10"


def test_a_new_prompt_version_is_scored_from_its_own_template():
    patterns = [prompt_pattern(V2)]
    assert read_pair(_user(V2, GOOD, BAD), patterns) == (Q, GOOD, BAD)
    assert judge_prompt(_user(V2, GOOD, BAD), {Q: GOOD}, patterns).startswith("10 ")
    # the shipped prompts' patterns do not read it: a message of no known format is said to be one
    shipped = [prompt_pattern(p) for p in known_prompts()]
    assert judge_prompt(_user(V2, GOOD, BAD), {Q: GOOD}, shipped) == NO_FORMAT_REPLY
