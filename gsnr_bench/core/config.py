"""One typed config; precedence: defaults < preset/YAML (--config) < dotted CLI overrides (--set)."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gsnr_bench.core import yaml12
from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import read_text
from gsnr_bench.core.resources import find_resource
from gsnr_bench.core.settings_base import Section
from gsnr_bench.core.slurm_config import SlurmConfig
from gsnr_bench.data.config import DataConfig, DemoConfig
from gsnr_bench.generation.config import GenerationConfig, HeldoutConfig
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.reporting.config import ReportConfig
from gsnr_bench.selection.config import ProxyConfig, SelectionConfig
from gsnr_bench.training.config import FinetuneConfig


class Config(Section):
    name: str = "run"
    seed: int = 0
    data: DataConfig = DataConfig()
    demo: DemoConfig = DemoConfig()
    proxy: ProxyConfig = ProxyConfig()
    selection: SelectionConfig = SelectionConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    generation: GenerationConfig = GenerationConfig()
    heldout: HeldoutConfig = HeldoutConfig()
    judging: JudgingConfig = JudgingConfig()
    report: ReportConfig = ReportConfig()
    slurm: SlurmConfig = SlurmConfig()  # resources of `launch --slurm` jobs; never part of a stage's key

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


PRESET_SUFFIX = ".yaml"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A config mapping from a YAML file (YAML 1.2 scalars: `5e-5` is a float). A run's own record
    (RUN/config.yaml: `config` + `history`) loads as its `config`."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config {path} is a directory, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml12.load(read_text(path)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    if set(data) == {"config", "history"} and isinstance(data["config"], dict):
        return dict(data["config"])
    return data


def resolve_config_source(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A --config value (or an `extends:` entry) is the name of a shipped preset (demo,
    paper/alpaca-llama2-7b-lora) or a YAML file. Preset names are looked up first, so a folder or file
    that happens to be called `demo` in the working directory does not shadow the preset."""
    if not name_or_path.endswith((".yaml", ".yml")):
        preset = find_resource("configs", f"{name_or_path}{PRESET_SUFFIX}")
        if preset is not None:
            return preset
    p = Path(name_or_path).expanduser()
    if relative_to is not None and not p.is_absolute():
        p = relative_to / p
    if p.is_dir():
        raise ConfigError(f"config {name_or_path} is a directory, not a YAML file or preset name")
    if p.is_file():
        return p
    raise ConfigError(
        f"config not found: {name_or_path} (neither a shipped preset nor a file; "
        f"presets: {', '.join(list_presets()) or 'none'})"
    )


def list_presets() -> list[str]:
    from gsnr_bench.core.resources import list_resources

    return sorted(list_resources("configs"))


def load_config_tree(
    name_or_path: str, relative_to: Path | None = None, _seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """One config source with its `extends:` chain merged underneath it (a name or a list of names;
    paths relative to the extending file). A cycle is an error."""
    path = resolve_config_source(str(name_or_path), relative_to).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise ConfigError(f"config extends itself: {chain}")
    data = load_yaml(path)
    parents = data.pop("extends", None)
    if parents is None:
        return data
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(x, str) for x in parents):
        raise ConfigError(f"{path}: 'extends' must be a preset name, a file, or a list of them")
    tree: dict[str, Any] = {}
    for parent in parents:
        tree = _deep_merge(tree, load_config_tree(parent, path.parent, (*_seen, path)))
    return _deep_merge(tree, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`key.sub=value`; the value is a YAML 1.2 scalar or flow collection (5e-5 is a float, [a, b] a list)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    key, raw = text.split("=", 1)
    keys = key.strip().split(".")
    if not key.strip() or not all(keys):
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    try:
        value = yaml12.load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return keys, value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _set_path(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    node = tree
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def build_config(
    sources: list[str | Path | dict[str, Any]] | None = None,
    overrides: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Config:
    """Merge config sources in order (preset names, YAML files, or mappings such as a run's recorded
    config), then `extra` (from CLI flags), then --set overrides."""
    tree: dict[str, Any] = {}
    for src in sources or []:
        tree = _deep_merge(tree, copy.deepcopy(src) if isinstance(src, dict) else load_config_tree(str(src)))
    if extra:
        tree = _deep_merge(tree, copy.deepcopy(extra))
    for text in overrides or []:
        keys, value = parse_override(text)
        _set_path(tree, keys, value)
    return validate(tree)


def validate(tree: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown config key {loc!r}{_suggest_key(err['loc'])}") from None
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"config key {loc!r}: {msg} (got {err.get('input')!r})") from None


def _suggest_key(loc: tuple) -> str:
    model: type[Section] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, Section)):
            return ""
        model = ann
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
