"""Pure orchestration logic (batching, standardizing a batch, collecting a file) used by the Dagster ops.

Importable and testable without Dagster.
"""
