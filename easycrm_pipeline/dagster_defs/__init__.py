"""Thin Dagster glue: partitions, ops, the leads asset, the ingest job, sensors. Logic lives in the pure modules."""
