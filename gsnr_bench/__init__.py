"""gsnr-bench: a reproducible harness for instruction-tuning data selection.

Importing this package is cheap: nothing here imports torch or transformers.
"""

__version__ = "0.1.0"

# Bumped when the layout of a run directory changes incompatibly; a run dir written by
# another major store version is refused instead of being silently mixed.
STORE_VERSION = 2

__all__ = ["__version__", "STORE_VERSION"]
