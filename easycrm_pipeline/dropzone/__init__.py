"""The drop zones (local inbox folder, S3 prefix): which files are lead files, their partition keys, and which of them
need a run. Pure logic — no Dagster import; the sensors in ``easycrm_pipeline.dagster_defs.sensors`` are thin glue.
"""
from easycrm_pipeline.dropzone.record import RECORD_VERSION, ProcessedRecord, diff, redropped
from easycrm_pipeline.dropzone.rules import (
    LEAD_EXTENSIONS,
    PARTITION_KEY_REPLACEMENTS,
    display_name,
    is_lead_file,
    partition_key_for,
    s3_location,
    sanitize_partition_key,
    size_refusal,
)
from easycrm_pipeline.dropzone.scan import DropFile, OnIgnored, scan_folder, scan_s3

__all__ = [
    "LEAD_EXTENSIONS",
    "PARTITION_KEY_REPLACEMENTS",
    "RECORD_VERSION",
    "DropFile",
    "OnIgnored",
    "ProcessedRecord",
    "diff",
    "display_name",
    "is_lead_file",
    "partition_key_for",
    "redropped",
    "s3_location",
    "sanitize_partition_key",
    "scan_folder",
    "size_refusal",
    "scan_s3",
]
