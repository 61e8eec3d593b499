"""Dagster asset definitions, one module per domain."""
