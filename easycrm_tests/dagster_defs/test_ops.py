"""The ingest job's ops on S3 drops (issue 16 items 8, 9, 10): objects uploaded to moto in server mode on loopback,
the S3 sensor's run request executed as a real Dagster run of ``ingest_job`` on a temp instance, the DuckDB store."""
from __future__ import annotations

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.sensors import s3_sensor
from easycrm_pipeline.definitions import get_ingest_job
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.store.base import LeadQuery
from easycrm_tests.support.fixtures import moto_server  # noqa: F401

BUCKET = "easycrm-ops"
PREFIX = "uploads/"
CSV = b"First Name,Last Name,Email\nAna,Lee,ana@example.com\nBo,Kim,bo@example.com\n"


@pytest.fixture
def s3(isolated_env, moto_server, monkeypatch):  # noqa: F811
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("EASYCRM_S3_BUCKET", BUCKET)
    monkeypatch.setenv("EASYCRM_S3_PREFIX", PREFIX)
    return client


def sensor_requests(instance: dg.DagsterInstance) -> tuple[list[dg.RunRequest], list[str]]:
    """One S3 sensor tick: its run requests (partitions added to ``instance``) and its log lines."""
    import logging

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    ctx = dg.build_sensor_context(instance=instance, cursor=None, resources={"s3": S3Resource()})
    ctx.log.addHandler(Collect())
    result = s3_sensor(ctx)
    if not isinstance(result, dg.SensorResult):
        return [], lines
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, req.partition_keys)
    return list(result.run_requests or []), lines


def run_request(instance: dg.DagsterInstance, req: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute the sensor's request as a run of ingest_job (its run config, partition and tags)."""
    return get_ingest_job().execute_in_process(
        run_config={k: v for k, v in req.run_config.items() if k != "execution"},
        partition_key=req.partition_key,
        tags=req.tags,
        instance=instance,
        raise_on_error=False,
    )


def stored_source_files() -> list[str]:
    leads, _ = open_store(get_settings()).query_leads(LeadQuery(sort="email", descending=False))
    return [lead["sourceFile"] for lead in leads]


def test_s3_key_with_a_file_name_over_255_bytes_is_ingested(s3):
    """Item 9: S3 keys may be 1,024 bytes, file names only 255: the download is named by hash, so it works."""
    name = "Q4 leads " + "x" * 300 + ".csv"  # 313 bytes
    s3.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=CSV)
    with dg.instance_for_test() as instance:
        (req,), _ = sensor_requests(instance)
        result = run_request(instance, req)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert stored_source_files() == [name, name]


def test_control_and_bidi_characters_in_a_key_are_escaped_in_the_source_file(s3):
    """Item 8: ``evil\\u202egpj.csv`` would display as "evilvsc.jpg": the lead's sourceFile shows the escape,
    the object is still fetched by its real key."""
    key = PREFIX + "evil\u202egpj.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=CSV)
    with dg.instance_for_test() as instance:
        (req,), _ = sensor_requests(instance)
        assert req.tags["easycrm/location"] == f"s3://{BUCKET}/{key}"  # the key as given, for the lookup
        assert req.tags["easycrm/file_name"] == "evil\\u202egpj.csv"
        result = run_request(instance, req)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert stored_source_files() == ["evil\\u202egpj.csv"] * 2
    assert all("\u202e" not in f for f in stored_source_files())


def test_s3_object_over_the_size_limit_is_refused_from_the_listing(s3, monkeypatch):
    """Item 10: the listing's size decides, before any download, with the size and the limit."""
    monkeypatch.setenv("EASYCRM_MAX_FILE_MB", "1")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "huge.csv", Body=CSV + b"x" * (3 * 1024 * 1024 // 2))
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "small.csv", Body=CSV)
    with dg.instance_for_test() as instance:
        reqs, lines = sensor_requests(instance)
    assert [r.tags["easycrm/file_name"] for r in reqs] == ["small.csv"]
    assert any(f"'{PREFIX}huge.csv': refused before download: file is 1.5 MB, over the 1 MB limit "
               "(EASYCRM_MAX_FILE_MB)" in line for line in lines), lines


def test_parse_file_refuses_an_oversize_object_before_downloading_it(s3, monkeypatch):
    """Item 10, a run started for an object that grew past the limit: refused from its size (HEAD), one line."""
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "grew.csv", Body=CSV)
    with dg.instance_for_test() as instance:
        (req,), _ = sensor_requests(instance)
        s3.put_object(Bucket=BUCKET, Key=PREFIX + "grew.csv", Body=CSV + b"x" * (3 * 1024 * 1024 // 2))
        monkeypatch.setenv("EASYCRM_MAX_FILE_MB", "1")
        result = run_request(instance, req)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description == (
        "grew.csv: refused before download: file is 1.5 MB, over the 1 MB limit (EASYCRM_MAX_FILE_MB)")
