"""cell.json, the record of one judged cell: what the report needs to know about it (selector, ratio, protocol,
run-relative paths of its scores, subset, training logs and answers, the questions judged). The pipeline writes
it into the judging stage before any comparison is sent (pipeline/cell.py); reporting reads it back
(reporting/collect.py). One typed record for both, so neither reads it by string keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json, write_json
from gsnr_bench.domain.budgets import budget_label

CELL_VERSION = 1
# fields version-1 records written before they existed lack (the report read those runs; it still does)
LATER_FIELDS = ("budget", "skipped", "lengths")


@dataclass(frozen=True)
class CellLengths:
    """Length where a user decides (reporting/length_stats.py)."""

    unit: str  # "tokens" (the proxy's) or "chars"
    pool_len: float  # mean response length of the pool
    train_len: float  # ... and of the cell's training subset
    pool_lengths: str  # run-relative path of every pool example's length
    answers: dict[str, str]  # system -> run-relative answers stage (to join token counts from)


@dataclass(frozen=True)
class CellRecord:
    """cell.json. Paths are relative to the run directory."""

    version: int
    system: str
    baseline: str
    judge: str
    judge_model: str
    selector: str
    ratio: float
    budget: str
    dataset: str
    target_model: str
    regime: str
    protocol: str  # "p-" + hash of protocol_detail's judging part: cells of different protocols never pool
    protocol_detail: dict[str, Any]
    scores: str
    subset: str
    train_logs: dict[str, str]
    truth: str | None
    testsets: dict[str, list[Any]]  # test set -> question ids judged (those skipped as too long left out)
    skipped: dict[str, list[str]]
    prompt_version: str
    run_name: str
    lengths: CellLengths | None  # None only in records written before lengths were recorded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "cell.json") -> CellRecord:
        """Checked: another version, or a field missing (other than those older records lack), is a one-line
        DataError naming the file."""
        if data.get("version") != CELL_VERSION:
            raise DataError(f"{where}: cell record version {data.get('version')!r}, expected {CELL_VERSION}")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data) - set(LATER_FIELDS))
        if missing:
            raise DataError(f"{where}: cell record lacks {', '.join(missing)}")
        kept = {k: v for k, v in data.items() if k in names}
        lengths = data.get("lengths")
        return cls(
            **{
                "budget": budget_label(data["ratio"]),
                "skipped": {},
                **kept,
                "lengths": CellLengths(**lengths) if lengths else None,
            }
        )

    @classmethod
    def read(cls, path: Path) -> CellRecord:
        return cls.from_dict(read_json(path), str(path))
