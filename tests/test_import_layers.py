"""The import-linter contracts in pyproject.toml (docs/ARCHITECTURE.md's layers) hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


# ------------------------------------------------------------------ 11. layers
def test_no_module_imports_a_layer_above_it():
    """The import-linter contracts in pyproject.toml (docs/ARCHITECTURE.md's layers) hold."""
    importlinter = pytest.importorskip("importlinter.cli")
    root = Path(__file__).resolve().parent.parent
    old = os.getcwd()
    os.chdir(root)
    try:
        assert importlinter.lint_imports(config_filename=str(root / "pyproject.toml")) == 0
    finally:
        os.chdir(old)
