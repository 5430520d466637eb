"""Exact, atomic, resumable checkpoints: data only (numpy arrays and JSON), never pickle."""
