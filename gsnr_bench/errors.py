"""User-facing errors: the CLI prints their message on one line and exits non-zero."""

from __future__ import annotations


class GsnrError(Exception):
    """An error caused by input or environment, shown to the user without a traceback."""

    exit_code = 2


class ConfigError(GsnrError):
    """Bad configuration: unknown key, wrong type, value out of range."""


class DataError(GsnrError):
    """Bad input data: missing file, malformed JSON/JSONL, missing fields, empty pool."""


class RegistryError(GsnrError):
    """Unknown or broken selector / judge / generator."""


class EndpointError(GsnrError):
    """A judge or model endpoint that cannot be used (unreachable, no key, unknown model)."""


class StoreError(GsnrError):
    """A run directory that cannot be used (incompatible version, corrupt manifest)."""


class BudgetExceeded(GsnrError):
    """A judging run would spend past --max-cost."""
