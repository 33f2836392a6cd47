"""The dynamic partitions definition: one partition per dropped lead file.

Keys: a local file's path relative to the inbox (``sub dir/Léads.csv``), ``s3://bucket/key`` for S3 drops, and the
file's base name for ``easycrm ingest PATH``.
"""
import dagster as dg

lead_files = dg.DynamicPartitionsDefinition(name="lead_files")
