"""domain: see docs/ARCHITECTURE.md."""
