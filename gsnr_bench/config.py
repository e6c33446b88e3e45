"""One typed config; precedence: defaults < preset/YAML (--config) < dotted CLI overrides (--set)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .data.config import DataConfig, DemoConfig
from .errors import ConfigError
from .generation.config import GenerationConfig
from .judging.config import JudgingConfig
from .reporting.config import ReportConfig
from .resources import find_resource
from .selection.config import ProxyConfig, SelectionConfig
from .settings_base import Section
from .training.config import FinetuneConfig


class Config(Section):
    name: str = "run"
    seed: int = 0
    data: DataConfig = DataConfig()
    demo: DemoConfig = DemoConfig()
    proxy: ProxyConfig = ProxyConfig()
    selection: SelectionConfig = SelectionConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    generation: GenerationConfig = GenerationConfig()
    judging: JudgingConfig = JudgingConfig()
    report: ReportConfig = ReportConfig()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def resolve_config_source(name_or_path: str) -> Path:
    """A --config value is a file path or the name of a shipped preset (demo, paper/alpaca-7b-lora)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    preset = find_resource("configs", f"{name_or_path}.yaml")
    if preset is not None:
        return preset
    raise ConfigError(f"config not found: {name_or_path} (neither a file nor a shipped preset)")


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"--set expects key.sub=value, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


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
    sources: list[str | Path] | None = None,
    overrides: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Config:
    """Merge YAML sources in order, then `extra` (from CLI flags), then --set overrides."""
    tree: dict[str, Any] = {}
    for src in sources or []:
        data = load_yaml(resolve_config_source(str(src)))
        data.pop("extends", None)
        tree = _deep_merge(tree, data)
    if extra:
        tree = _deep_merge(tree, extra)
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
