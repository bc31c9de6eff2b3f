"""Evaluators: callables ``arch -> dict`` of metrics (supernet, table, predictor)."""
