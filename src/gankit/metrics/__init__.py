"""Metrics: features -> statistics -> score (pure functions), extractors, evaluation."""
