"""Assets: the dropped lead files (a partitioned source) and the leads table they feed.

The UI's lineage shows ``lead_files`` -> ``leads``; each dropped file is one partition of both.
"""
import dagster as dg

from easycrm_pipeline.dagster_defs.ops import collect_leads, parse_file, standardize_chunk
from easycrm_pipeline.dagster_defs.partitions import lead_files

#: The dropped files themselves: an external, partitioned source asset (one partition per file).
lead_files_source = dg.AssetSpec(
    key="lead_files",
    partitions_def=lead_files,
    description="Lead files dropped into the inbox folder or the S3 bucket (one partition per file).",
    group_name="easycrm",
)


@dg.graph_asset(
    partitions_def=lead_files,
    ins={"lead_files": dg.AssetIn(key="lead_files", dagster_type=dg.Nothing)},
    group_name="easycrm",
    description="The clean, de-duplicated leads table (DuckDB `leads` or DynamoDB), one partition per source file.",
)
def leads(lead_files):
    """parse_file -> standardize_chunk (mapped; one ``deepseek`` pool slot per request) -> collect_leads."""
    summary, settled, chunks = parse_file(lead_files)
    results = chunks.map(standardize_chunk)
    return collect_leads(summary, settled, results.collect())
