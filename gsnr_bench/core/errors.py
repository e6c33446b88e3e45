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


class EngineError(GsnrError):
    """A generation engine that stopped under us (vLLM's engine process died): what was written is kept."""


class StoreError(GsnrError):
    """A run directory that cannot be used (incompatible version, corrupt manifest)."""


class BudgetExceeded(GsnrError):
    """A judging run would spend past --max-cost. Exit code 4: raise the limit and run again to go on."""

    exit_code = 4


# Exit codes (README "A run directory"): 0 done; 2 bad input, config or environment (nothing ran, or the
# stage that hit it stopped); 3 finished, but some judge comparisons failed (run the same command again
# to retry exactly those); 4 stopped at --max-cost; 130 interrupted (run it again to resume).
EXIT_FAILED_COMPARISONS = 3
