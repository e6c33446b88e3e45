"""Where user-editable data lives: selectors/, judges/, prompts/, configs/.

Lookup order: the user's working copy (current directory) first, then the copy shipped in the
wheel (gsnr_bench/_data/...), then the source checkout beside the package (editable installs)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # gsnr_bench/ (this file is gsnr_bench/core/resources.py)


def resource_dirs(kind: str) -> list[Path]:
    dirs = [Path.cwd() / kind, _PKG / "_data" / kind, _PKG.parent / kind]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


def find_resource(kind: str, relpath: str) -> Path | None:
    for d in resource_dirs(kind):
        p = d / relpath
        if p.is_file():
            return p
    return None


def list_resources(kind: str, pattern: str = "*.yaml") -> dict[str, Path]:
    """Map stem -> file; the first directory in lookup order wins for a given name."""
    found: dict[str, Path] = {}
    for d in resource_dirs(kind):
        for p in sorted(d.rglob(pattern)):
            rel = p.relative_to(d).with_suffix("").as_posix()
            found.setdefault(rel, p)
    return found


def is_user_dir(d: Path, kind: str) -> bool:
    """A data dir of the user's working copy, not one shipped with gsnr-bench."""
    return d.resolve() not in ((_PKG / "_data" / kind).resolve(), (_PKG.parent / kind).resolve())
