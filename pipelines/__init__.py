"""Dagster code location: resources, jobs, schedules, sensors, partitions."""
