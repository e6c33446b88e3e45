"""The pairwise judging protocol as pure functions: prompt, presentation order, verdict parsing. Mapping a
verdict back to the system's side and combining the two orders live with the record they make
(gsnr_bench/domain/judgment.py)."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

import yaml

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.resources import find_resource
from gsnr_bench.domain.judgment import Side


# ------------------------------------------------------------------ prompt
@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    user: str
    criteria: str
    sha256: str  # of the YAML file's bytes: recorded so a changed prompt is visible in every run

    def messages(self, question: str, answer_1: str, answer_2: str) -> list[dict[str, str]]:
        # str.replace, not str.format: answers routinely contain braces (code, JSON).
        user = (
            self.user.replace("{criteria}", self.criteria)
            .replace("{question}", question)
            .replace("{answer_1}", "\0A1\0")
            .replace("{answer_2}", "\0A2\0")
        )
        user = user.replace("\0A1\0", answer_1).replace("\0A2\0", answer_2)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def load_prompt(name: str) -> PromptTemplate:
    """Load prompts/<name>.yaml (user's copy first, then the shipped one)."""
    path = find_resource("prompts", f"{name}.yaml")
    if path is None:
        raise ConfigError(f"judge prompt {name!r} not found (looked for prompts/{name}.yaml)")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"{path}: malformed YAML") from None
    missing = [k for k in ("version", "system", "user", "criteria") if not isinstance((data or {}).get(k), str)]
    if missing:
        raise ConfigError(f"{path}: judge prompt needs string fields {missing}")
    for slot in ("{question}", "{answer_1}", "{answer_2}"):
        if slot not in data["user"]:
            raise ConfigError(f"{path}: the user template lacks {slot}")
    return PromptTemplate(
        name, data["version"], data["system"], data["user"], data["criteria"], hashlib.sha256(raw).hexdigest()
    )


# ------------------------------------------------------------------ order
def shuffle_first(seed: int, testset: str, question_id: str) -> Side:
    """Whose answer is shown as Assistant 1 under `shuffle`: a seeded coin per question, stable
    across processes and Python versions (sha256, not hash())."""
    digest = hashlib.sha256(f"{seed}\x1f{testset}\x1f{question_id}".encode()).digest()
    return "system" if digest[0] & 1 == 0 else "baseline"


def presentation_orders(order: str, seed: int, testset: str, question_id: str) -> list[Side]:
    """`first` of each call: one seeded call for shuffle; system first, then baseline first for both."""
    if order == "shuffle":
        return [shuffle_first(seed, testset, question_id)]
    if order == "both":
        return ["system", "baseline"]
    raise ConfigError(f"unknown judging order {order!r} (shuffle or both)")


# ------------------------------------------------------------------ verdict parsing
# A verdict is read three ways; every reading found must agree, else the reply is ambiguous (None):
#   line  - a standalone pair ("8 9", "Scores: 8, 9", "**7 9**") on the first or the last non-empty line;
#   label - scores written next to their assistant ("Assistant 2: 6/10", "Assistant 1 receives a score
#           of 8", "I give Assistant 1 an 8", "both receive 8") read by name, whatever their order;
#   loose - only when neither of the above holds anything: the first line with numbers, unlabelled, that
#           says it holds scores (a score word or "/10") and has exactly two.
_NUM = r"-?\d+(?:\.\d+)?"
_WORDS = {w: float(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_VAL = _NUM + r"|(?:" + "|".join(_WORDS) + r")(?=\s*(?:/|out\s+of)\s*(?:10|ten)\b)"  # a word only as "eight/10"
_DENOM = r"\s*(?:/|out\s+of)\s*(?:10|ten)(?:\.0+)?\b"
_MARKUP = str.maketrans({c: " " for c in "*#`_[]()|>"})
# The text is lowercased once and the patterns are anchored where a label or keyword starts (found by a
# plain literal search): scanning every position of a long reply with case-insensitive patterns cost
# milliseconds per reply.
_LABEL_AT = re.compile(r"assistant\s*#?\s*(\d+)")
# filler that stays with one label: no digit, no line break, no other "Assistant", no sentence end
_FILL = r"(?:(?!assistant|\.\s)[^\d\n])"
_SCORE_VERB = r"(?:scor\w*|rat(?:e|es|ed|ing)\b|receiv\w*|gets?\b|earns?\b|deserv\w*|award\w*|grade\w*)"
_LABEL = r"assistant\s*#?\s*[12](?:'s)?"
_END = r"(?=" + _DENOM + r"|\s*(?:[,;\n]|$|\.(?!\d))|\s+(?:and|for|out|because|as|since)\b)"  # a score ends here
# What follows a label, read within its clause (up to the next line, "Assistant" or sentence end, 90 chars):
# "Assistant 1: 8", "Assistant 1's score - 8/10", "Assistant 1 8/10" (tables), "Assistant 1 score = 8"
_DIRECT = re.compile(r"\s*(?:(?:overall\s+)?(?:score|rating|total)s?\s*)?[:=\-\u2013\u2014]?\s*(" + _VAL + r")" + _END)
# "Assistant 1 receives a score of 8", "Assistant 2's answer deserves an 8" (no number before the verb)
_VERB = re.compile(r"\b" + _SCORE_VERB)
_VERB_SCORE = re.compile(r"[^\d]{0,25}?(" + _VAL + r")" + _END)  # "gets 2 of the 3 steps right" is no score
# "Assistant 2 gave a thorough answer, 6.5/10": the clause's first number, out of 10
_FIRST_NUM = re.compile(_VAL)
_IS_DENOM = re.compile(_DENOM)
_CLAUSE_MAX = 90
# "Both Assistant 1 and Assistant 2 deserve a 9", "Assistants 1 and 2: 7/10": one score for both
_JOINT = re.compile(r"assistants?\s*1\s*(?:,|and|&)\s*(?:assistant\s*)?2(?:'s)?\b")
# "I give Assistant 1 an 8", "I would rate Assistant 2 a 7 and Assistant 1 a 4"
_VERB_BEFORE = re.compile(r"(?:\b(?:give|rate|score|award|grade)s?|\b(and))\s+$")
_AFTER_VERB = re.compile(_LABEL + r"\s+(an?\s+|with\s+|at\s+)?(?:score\s+of\s+)?(" + _VAL + r")" + _END)
# "Both assistants receive a score of 8", "both get 7/10", "a tie at 8", "equal scores of 9"
_BOTH_FILL = r"(?:(?!assistant\s*\d|\.\s)[^\d\n])"  # "both assistants" may say "assistants"
_BOTH_AT = re.compile(r"both|each|tie|equal|same|identical")
_BOTH = [
    re.compile(r"(?:both|each)\b" + _BOTH_FILL + r"{0,60}?\b" + _SCORE_VERB + _FILL + r"{0,25}?(" + _VAL + r")" + _END),
    re.compile(
        r"(?:tie[ds]?|equal|same|identical)\b"
        + _FILL
        + r"{0,30}?\b(?:scores?|ratings?|at|of)\b"
        + _FILL
        + r"{0,10}?("
        + _VAL
        + r")"
        + _END
    ),
]
_PAIR_WORDS = re.compile(r"\b(?:final|overall|scores?|ratings?|verdict)\b|[:;,]|" + _DENOM)
_SCORE_HINT = re.compile(r"\b(?:scor\w*|rat(?:e|ed|ing|ings)|tie)\b|" + _DENOM)
_PAIR_LINE_MAX = 60  # a line that is only two scores is short; longer ones are not tried


def _num(s: str) -> float:
    return _WORDS[s] if s in _WORDS else float(s)


def _word_start(text: str, pos: int) -> bool:
    return pos == 0 or not text[pos - 1].isalnum()


def _standalone_pair(line: str) -> tuple[float, float] | None:
    """A line that is two numbers and nothing else (score words, commas, colons and "/10" aside)."""
    if len(line) > _PAIR_LINE_MAX:
        return None
    tokens = _PAIR_WORDS.sub(" ", line).split()
    if len(tokens) == 2 and all(re.fullmatch(_NUM + r"\.?", t) for t in tokens):
        return float(tokens[0].rstrip(".")), float(tokens[1].rstrip("."))
    return None


def _clause(text: str, start: int) -> str:
    end = min(len(text), start + _CLAUSE_MAX)
    for stop in ("\n", "assistant", ". "):
        k = text.find(stop, start, end)
        if k != -1:
            end = k
    return text[start:end]


def _after_label(text: str, start: int) -> list[float]:
    """Scores written after a label ("Assistant 1" ends at `start`), within its clause."""
    if text.startswith("'s", start):
        start += 2
    clause = _clause(text, start)
    if "ten" not in clause and not any(ch.isdigit() for ch in clause):
        return []  # no number in the clause (most labels in an explanation): nothing to read
    out = []
    m = _DIRECT.match(clause)
    if m:
        out.append(_num(m.group(1)))
    v = _VERB.search(clause)
    if v and not any(ch.isdigit() for ch in clause[: v.start()]):
        m = _VERB_SCORE.match(clause, v.end())
        if m:
            out.append(_num(m.group(1)))
    m = _FIRST_NUM.search(clause)
    if m and _IS_DENOM.match(clause, m.end()):
        out.append(_num(m.group(1) if m.groups() else m.group(0)))
    return out


def _labelled(text: str) -> dict[str, set[float]] | None:
    """Scores found next to their labels, per label (lowercased text); None when a label other than 1 or 2
    appears."""
    found: dict[str, set[float]] = {"1": set(), "2": set()}
    for lm in _LABEL_AT.finditer(text):
        pos = lm.start()
        if not _word_start(text, pos):
            continue
        if lm.group(1) not in ("1", "2"):
            return None  # "Assistant 3": not a pairwise verdict
        label = lm.group(1)
        for score in _after_label(text, lm.end()):
            found[label].add(score)
        before = _VERB_BEFORE.search(text, max(0, pos - 16), pos)
        if before:
            m = _AFTER_VERB.match(text, pos)
            if m and (not before.group(1) or m.group(1) in ("a ", "an ")):  # "and Assistant 1 a 4"
                found[label].add(_num(m.group(2)))
    for jm in _JOINT.finditer(text):
        if not _word_start(text, jm.start()):
            continue
        clause = _clause(text, jm.end())
        if len(re.findall(_NUM, re.sub(_DENOM, "", clause))) > 1:
            return None  # "Assistant 1 and Assistant 2: 8 and 6 respectively": which is whose is a guess
        for score in _after_label(text, jm.end()):
            found["1"].add(score)
            found["2"].add(score)
    for km in _BOTH_AT.finditer(text):
        if not _word_start(text, km.start()):
            continue
        for pattern in _BOTH:
            m = pattern.match(text, km.start())
            if m:
                found["1"].add(_num(m.group(1)))
                found["2"].add(_num(m.group(1)))
    return found


def _has_label(line: str) -> bool:
    return any(_word_start(line, m.start()) for m in _LABEL_AT.finditer(line))


def _loose(lines: list[str]) -> tuple[float, float] | None:
    """The first line holding numbers, if it has no label, says it holds scores and has exactly two."""
    for line in lines:
        nums = re.findall(_NUM, re.sub(_DENOM, "", line))
        if not nums:
            continue
        if len(nums) == 2 and not _has_label(line) and _SCORE_HINT.search(line):
            return float(nums[0]), float(nums[1])
        return None
    return None


def echoes_instructions(text: str | None, instructions: str) -> bool:
    """A reply that repeats a sentence of the judging instructions word for word (small models echo their
    prompt: SmolLM2 wrote "... Each assistant receives an overall score of 10 ..."): whatever numbers it holds
    are the instructions', not a verdict."""
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    reply = norm(text or "")
    for sentence in re.split(r"(?<=[.!?])\s+", instructions):
        s = norm(sentence)
        if len(s) >= 40 and s[:60] in reply:
            return True
    return False


def read_verdict(text: str | None, instructions: str) -> tuple[float, float] | None:
    """The verdict of a reply to a prompt with these instructions; an echo of them is a parse failure."""
    return None if echoes_instructions(text, instructions) else parse_verdict(text)


def parse_verdict(text: str | None) -> tuple[float, float] | None:
    """Scores (Assistant 1, Assistant 2) from a judge reply, or None when they cannot be read with
    certainty (the caller re-asks, then records a failure; a failure is never scored).

    Labelled scores are read by name, so "Assistant 2: 6/10, Assistant 1: 9/10" is (9, 6). A reply whose
    readings disagree (a first line "8 9" under "Assistant 1: 9"), that gives one assistant two different
    scores, names a third assistant, holds three unlabelled numbers, one score, scores outside [0, 10] or
    none at all (a refusal, a tie in words with no score) gives None. docs/judging.md lists the formats."""
    if not text or not text.strip():
        return None
    return _parse(text)


@functools.lru_cache(maxsize=4096)  # a reply is read when cached, when checked and when scored: once suffices
def _parse(text: str) -> tuple[float, float] | None:
    """The reading of a non-empty reply (see parse_verdict)."""
    clean = text.translate(_MARKUP).lower()
    lines = [ln for ln in clean.strip().splitlines() if ln.strip()]
    readings: set[tuple[float, float]] = set()
    for line in {lines[0], lines[-1]}:
        pair = _standalone_pair(line)
        if pair is not None:
            readings.add(pair)
    labelled = _labelled(clean)
    if labelled is None:
        return None
    by_label = labelled["1"] | labelled["2"]
    if by_label:
        if len(labelled["1"]) != 1 or len(labelled["2"]) != 1:
            return None  # one assistant without a score, or one with two different scores
        readings.add((next(iter(labelled["1"])), next(iter(labelled["2"]))))
    if not readings:
        pair = _loose(lines)
        if pair is not None:
            readings.add(pair)
    if len(readings) != 1:
        return None
    a, b = readings.pop()
    return (a, b) if 0.0 <= a <= 10.0 and 0.0 <= b <= 10.0 else None
