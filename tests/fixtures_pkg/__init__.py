"""Tiny models and data for trainrig's tests (importable as ``fixtures_pkg`` when tests/ is on sys.path)."""
