"""Judges as data: judges/*.yaml validated into a JudgeSpec. Keys are never stored here, only the
name of the environment variable that holds them (read at call time by `resolve_endpoint`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gsnr_bench.core.errors import EndpointError, RegistryError
from gsnr_bench.core.fileio import read_text

PLACEHOLDER_KEY = "not-needed"  # local servers (reference, vLLM without --api-key) ignore the key


class JudgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    # openai: api.openai.com unless base_url is set; openai-compatible: vLLM serve, TGI, cloud
    # endpoints; reference: the demo's local judge, whose base_url is filled in when it starts.
    provider: Literal["openai", "openai-compatible", "reference"]
    model: str
    base_url: str | None = None
    base_url_env: str | None = None  # an env var holding the base URL (wins over base_url when set)
    api_key_env: str | None = None  # an env var holding the key; None: no key needed
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, gt=0)
    # USD per 1M prompt / completion tokens: finite and >= 0 (a NaN or infinite price is refused)
    price_input_per_1m: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    price_output_per_1m: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    # local tokenizer (directory or cached hub name) of the judge model: counts tokens a reply's usage
    # lacks; None or not loadable offline: chars / 4 (judging/cost.py)
    tokenizer: str | None = None
    prompt: str | None = None  # judge prompt in prompts/; None: the run's judging.prompt
    check_model: bool = True  # pre-flight GET /v1/models to catch a misspelled model

    @model_validator(mode="after")
    def _needs_endpoint(self) -> "JudgeSpec":
        if self.provider == "openai-compatible" and not (self.base_url or self.base_url_env):
            raise ValueError("an openai-compatible judge needs base_url or base_url_env")
        if self.provider == "openai" and not self.api_key_env:
            raise ValueError("an openai judge needs api_key_env (e.g. OPENAI_API_KEY)")
        return self

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return round((prompt_tokens * self.price_input_per_1m + completion_tokens * self.price_output_per_1m) / 1e6, 10)


def parse_judge(data: dict, source: str = "<dict>") -> JudgeSpec:
    try:
        return JudgeSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "judge"
        raise RegistryError(f"{source}: {where}: {err['msg']}") from None


def load_judge(name_or_path: str) -> JudgeSpec:
    """A judge by registered name (judges/<name>.yaml, entry points) or by a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        try:
            data = yaml.safe_load(read_text(p)) or {}
        except yaml.YAMLError:
            raise RegistryError(f"{p}: malformed YAML") from None
        return parse_judge(data, str(p))
    from gsnr_bench.core import registry  # late: registry imports the world of specs

    spec = registry.judges().get(name_or_path)
    if not spec.data:
        raise RegistryError(f"judge {spec.name!r} ({spec.source}) is not a YAML judge spec")
    # `override: true` is the registry's (a user's judge replacing a shipped one on purpose), not the judge's
    return parse_judge({k: v for k, v in spec.data.items() if k != "override"}, spec.source)


def resolve_endpoint(spec: JudgeSpec) -> tuple[str | None, str]:
    """(base_url, api_key) from the spec and the environment; a one-line EndpointError when an
    env var the spec names is unset. None as base_url means the SDK default (api.openai.com)."""
    base_url = spec.base_url
    if spec.base_url_env:
        base_url = os.environ.get(spec.base_url_env) or spec.base_url
        if not base_url and spec.provider != "openai":  # openai: unset means api.openai.com
            raise EndpointError(
                f"judge {spec.name!r}: set {spec.base_url_env} to the server's base URL (e.g. http://host:8000/v1)"
            )
    if spec.provider == "reference" and not base_url:
        raise EndpointError(
            f"judge {spec.name!r}: the reference judge server is not running "
            "(start it with reference_server.serve_reference_for)"
        )
    key = PLACEHOLDER_KEY
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env, "")
        if not key:
            raise EndpointError(
                f"judge {spec.name!r}: environment variable {spec.api_key_env} (its API key) is not set"
            )
    return base_url, key
