"""The pairwise judging protocol as pure functions: prompt, presentation order, verdict parsing,
mapping verdicts back to the system's side, and the combine rules for judging in both orders."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal, Sequence

import yaml

from ..errors import ConfigError
from ..records import Side, call_outcome, to_system_side  # noqa: F401  (the record contract; re-exported)
from ..resources import find_resource

Outcome = Literal["win", "tie", "lose", "failed"]


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


def combine(outcomes: Sequence[str], rule: str) -> Outcome:
    """Outcome of a comparison from its calls' outcomes (system side).
    lenient (Superfiltering/Cherry): sign(a) + sign(b) > 0 wins, so win+tie wins and win+lose ties.
    strict (FastChat): only agreeing decisive verdicts count; any tie or disagreement is a tie."""
    if not outcomes or any(o not in ("win", "tie", "lose") for o in outcomes):
        return "failed"
    if len(outcomes) == 1:
        return outcomes[0]  # type: ignore[return-value]
    if rule == "lenient":
        total = sum({"win": 1, "tie": 0, "lose": -1}[o] for o in outcomes)
        return "win" if total > 0 else "lose" if total < 0 else "tie"
    if rule == "strict":
        return outcomes[0] if len(set(outcomes)) == 1 else "tie"  # type: ignore[return-value]
    raise ConfigError(f"unknown combine rule {rule!r} (lenient or strict)")


# ------------------------------------------------------------------ verdict parsing
_NUM = r"-?\d+(?:\.\d+)?"
_DENOM = re.compile(r"\s*(?:/|out\s+of)\s*10(?:\.0+)?\b", re.I)
_LABEL = re.compile(r"\bassistant\s*[12]\b(?:'s)?", re.I)
# The filler between a label and its score may not cross another "Assistant": in "Assistant 2 beats
# Assistant 1" the 1 is a label, not a score.
_LABELLED = re.compile(r"\bassistant\s*([12])\b(?:'s)?(?:(?!assistant)[^\d\n]){0,40}?(" + _NUM + r")", re.I)
_MARKUP = str.maketrans({c: " " for c in "*#`_[]()"})
# A list number ("1. ", "2) ") starting a line is no score: SmolLM2 served as a judge wrote
# "1. Assistant 1: 9.9\n2. Assistant 2: 9.9", which the line rule read as (1, 9.9).
_SCORE_LINE_WORDS = 4  # words (labels and denominators dropped) a line may hold beside its two scores
_ENUMERATOR = re.compile(r"^\s*\d+[.)]\s+(?=\S)")


def _in_range(x: float) -> bool:
    return 0.0 <= x <= 10.0


def _pair(a: float, b: float) -> tuple[float, float] | None:
    return (a, b) if _in_range(a) and _in_range(b) else None


def parse_verdict(text: str | None) -> tuple[float, float] | None:
    """Scores (Assistant 1, Assistant 2) from a judge reply, or None when they cannot be read
    with certainty (the caller re-asks, then records a failure; a failure is never scored).

    1. The FastChat rule: the first non-empty line, commas to spaces, is exactly two numbers in [0, 10].
    2. Fallbacks, only when unambiguous: the first line that holds numbers, after dropping
       "Assistant N" labels and "/10" or "out of 10" denominators, holds exactly two; else each of
       "Assistant 1 ... 8" and "Assistant 2 ... 7" is labelled with a score (the first per label).
       Three unlabelled numbers, one number, scores out of range or no numbers at all (refusals)
       give None."""
    if not text or not text.strip():
        return None
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    tokens = lines[0].translate(_MARKUP).replace(",", " ").split()
    if len(tokens) == 2 and all(re.fullmatch(_NUM + r"\.?", t) for t in tokens):
        return _pair(float(tokens[0].rstrip(".")), float(tokens[1].rstrip(".")))

    for line in lines:  # the first line that holds numbers, labels and denominators dropped
        bare = _LABEL.sub(" ", _DENOM.sub("", _ENUMERATOR.sub("", line))).replace(",", " ")
        nums = re.findall(_NUM, bare)
        if nums:
            # a score line, not prose that happens to hold two numbers: SmolLM2 wrote "... of both Assistant 1
            # and 2. The system provides a score based on the provided two values ...", read as (2, 2)
            if len(nums) == 2 and len(re.findall(r"[^\W\d_]+", bare)) <= _SCORE_LINE_WORDS:
                return _pair(float(nums[0]), float(nums[1]))
            break

    first: dict[str, float] = {}
    for m in _LABELLED.finditer(_DENOM.sub("", text)):
        first.setdefault(m.group(1), float(m.group(2)))
    if "1" in first and "2" in first:
        return _pair(first["1"], first["2"])
    return None
