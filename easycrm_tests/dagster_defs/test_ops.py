"""The ingest job's ops: parse_file's location for S3 drops (issue 16 items 8, 9, 10: objects uploaded to moto in
server mode on loopback, the S3 sensor's run request executed as a real Dagster run of ``ingest_job``) and for runs
launched the way the Dagster UI launches them (Materialize / Re-execute / backfill: partition tag only, no op config,
no ``easycrm/location`` tag), which ingest the partition's kept file (issue 14 item 1)."""
from __future__ import annotations

import boto3
import dagster as dg
import duckdb
import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.resources import S3ClientResource
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

    ctx = dg.build_sensor_context(instance=instance, cursor=None, resources={"s3": S3ClientResource()})
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


def _ui_run(instance, partition: str) :
    """What the UI's Materialize does: only the partition; no run config, no easycrm tags."""
    return dg.execute_job(
        dg.reconstructable(get_ingest_job), instance=instance, tags={"dagster/partition": partition},
        raise_on_error=False,
    )


def test_ui_materialization_reads_the_kept_file(isolated_env, capsys):
    instance = dg.DagsterInstance.get()
    path = isolated_env / "ui.csv"
    path.write_text("First Name,Email\nAna,ana@example.com\nBo,bo@example.com\n", encoding="utf-8")
    assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
    path.unlink()  # the file left the drop zone: the kept copy is what the UI run reads
    with duckdb.connect(str(isolated_env / "leads.duckdb")) as con:
        con.execute("DELETE FROM leads")
    result = _ui_run(instance, "ui.csv")
    assert result.success
    with duckdb.connect(str(isolated_env / "leads.duckdb"), read_only=True) as con:
        assert con.execute("""select count(*) from leads where "sourceFile" = 'ui.csv'""").fetchone()[0] == 2


def test_ui_materialization_of_an_unknown_partition_fails_with_one_line(isolated_env):
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("lead_files", ["ghost.csv"])
    result = _ui_run(instance, "ghost.csv")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no file for partition 'ghost.csv'" in failure.step_failure_data.error.message


def test_lead_files_partition_shows_the_file(isolated_env, capsys):
    """Issue 14 item 8: lead_files looked empty; each ingest now materializes its partition with the file's facts."""
    import hashlib

    path = isolated_env / "shown.csv"
    path.write_text("First Name,Email\nAna,ana@example.com\nTotal,\n", encoding="utf-8")
    assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
    instance = dg.DagsterInstance.get()
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("lead_files"), asset_partitions=["shown.csv"]), limit=1
    ).records[0]
    md = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert md["size_bytes"] == path.stat().st_size
    assert md["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert md["rows"] == 2 and md["lead_rows"] == 1 and md["sheet_count"] == 1
    assert md["sheets"] == "csv: 1 rows"
    assert md["kept_as"] == str((isolated_env / "files" / f"{md['sha256']}.csv").resolve())
    assert md["seen_at"] > 0


def test_reexecuting_a_sensor_run_after_the_drop_left_reads_the_same_content(isolated_env):
    """A UI Re-execute copies the parent's tags: its location is gone, its fingerprint names the kept content."""
    import hashlib

    from easycrm_pipeline.cli.run_file import ensure_partition

    instance = dg.DagsterInstance.get()
    path = isolated_env / "inbox" / "again.csv"
    path.write_text("First Name,Email\nAna,ana@example.com\n", encoding="utf-8")
    fingerprint = f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{path.stat().st_size}"
    tags = {"dagster/partition": "again.csv", "easycrm/location": str(path), "easycrm/fingerprint": fingerprint}
    ensure_partition(instance, "again.csv")
    first = dg.execute_job(dg.reconstructable(get_ingest_job), instance=instance, tags=tags, raise_on_error=False)
    assert first.success
    path.unlink()
    again = dg.execute_job(dg.reconstructable(get_ingest_job), instance=instance, tags=tags, raise_on_error=False)
    assert again.success


def _deepseek_csv(k: int) -> str:
    """Row ``k`` of the DeepSeek test file: an email without a name (sent), a split name (the rules in auto mode),
    the cached row, or a repeat of the sent row 5 rows up (a copy, often in an earlier block of 7)."""
    if k % 3 == 0:
        return f"p{k}@example.org,,\n"
    if k % 3 == 1:
        return f"p{k}@example.org,Anna,Lee\n"
    return "cy@example.org,,\n" if k < 6 else _deepseek_csv(k - 5)


@pytest.mark.parametrize("block_rows", [7, 5_000])
def test_parse_on_the_deepseek_path_streams_blocks_into_the_same_plan(isolated_env, monkeypatch, block_rows):
    """Issue 13: with DeepSeek, parse plans the file block by block (header mapping, cache, auto, copies across
    blocks) and hands on chunks that point into the run's rows file; blocks of 7 rows give the plan of one block."""
    import pickle

    from easycrm_pipeline.cli.run_file import ensure_partition
    from easycrm_pipeline.pipeline import planning
    from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

    monkeypatch.setattr(planning, "PLAN_BLOCK_ROWS", block_rows)
    monkeypatch.setenv("EASYCRM_LLM", "auto")
    instance = dg.DagsterInstance.get()
    header = "Email,fld_a1,fld_a2\n"

    def run(name: str, text: str) -> dg.ExecuteInProcessResult:
        path = isolated_env / name
        path.write_text(header + text, encoding="utf-8")
        ensure_partition(instance, name)
        return get_ingest_job().execute_in_process(
            partition_key=name, tags={"easycrm/location": str(path), "easycrm/file_name": name}, instance=instance,
            raise_on_error=False)

    with FakeDeepSeek(latency=0.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        assert run("seed.csv", "cy@example.org,,\nmax@example.org,Max,Muster\n").success  # caches cy and the header
        fake.reset()
        result = run("main.csv", "".join(_deepseek_csv(k) for k in range(40)))
        sent = sorted(i for ids in fake.request_ids() for i in ids)
    assert result.success
    parse = next(e for e in result.all_events if e.is_successful_output and e.step_key == "leads.parse_file"
                 and e.event_specific_data.step_output_handle.output_name == "summary")
    md = {k: v.value for k, v in parse.event_specific_data.metadata.items()}
    assert (md["lead_rows"], md["batches"], md["chunks"]) == (40, 2, 1)
    assert (md["settled_by_rules"], md["cache_hits"], md["repeated_rows"]) == (13, 2, 11)
    assert {k: md["header_mapping"][k] for k in ("asked", "cached", "accepted")} == {"asked": 0, "cached": 1,
                                                                                    "accepted": 2}
    assert sent == sorted(f"0:{k + 2}" for k in range(0, 40, 3))  # the 14 rows to send, once each
    (chunk,) = result.output_for_node("leads.parse_file", "chunks").values()
    assert chunk.rows_file.endswith("/to_send.parquet") and chunk.rows == 14 and len(pickle.dumps(chunk)) < 2_000
    leads, _ = open_store(get_settings()).query_leads(LeadQuery(source_file="main.csv", page_size=100))
    assert len({lead["email"] for lead in leads}) == 14 + 13  # (cy's lead is unchanged: still seed.csv's)


def test_rows_read_are_reported_while_a_file_is_parsed():
    """``parse_file`` reports the rows read so far (a new user watched "0/? leads" for the 19 s parse of 100,000
    rows): every 1,000 rows once the interval passed, rows handed on unchanged."""
    from easycrm_pipeline.dagster_defs.ops import reporting_rows_read
    from easycrm_pipeline.models import RawRow

    rows = [RawRow(f"0:{i}", None, i, (("Email", f"a{i}@x.com"),)) for i in range(2, 2502)]
    seen: list[int] = []
    assert list(reporting_rows_read(iter(rows), seen.append, every=0.0)) == rows
    assert seen == [1000, 2000]
    quiet: list[int] = []
    assert len(list(reporting_rows_read(iter(rows), quiet.append, every=3600.0))) == 2500 and quiet == []
