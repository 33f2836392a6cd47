"""inbox_sensor and s3_sensor, evaluated with a real DagsterInstance (temp dir) — S3 against moto in server mode on
loopback, with real boto3 calls over HTTP.

``tick()`` evaluates a sensor the way the daemon does for what matters here: it applies the returned dynamic-partition
requests to the instance and hands the returned cursor to the next tick.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import dagster as dg
import pytest

from easycrm_pipeline.dagster_defs import sensors
from easycrm_pipeline.dagster_defs.partitions import lead_files
from easycrm_pipeline.dagster_defs.resources import S3ClientResource
from easycrm_pipeline.dagster_defs.sensors import inbox_sensor, s3_sensor
from easycrm_tests.support.fixtures import moto_server  # noqa: F401

BUCKET = "easycrm-drops"
PREFIX = "uploads/"


# --- helpers --------------------------------------------------------------------------------------------------------


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Tick:
    result: dg.SensorResult | dg.SkipReason
    logs: list[str]
    runs: list[dg.RunRequest] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    cursor: str | None = None

    @property
    def keys(self) -> list[str]:
        return [r.partition_key for r in self.runs]

    @property
    def skip_message(self) -> str | None:
        if isinstance(self.result, dg.SkipReason):
            return self.result.skip_message
        return self.result.skip_reason.skip_message if self.result.skip_reason else None


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None, **resources) -> Tick:
    """Evaluate ``sensor`` once; apply its partition adds to ``instance`` like the daemon; return what it asked."""
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources or None)
    handler = _ListHandler()
    ctx.log.addHandler(handler)
    result = sensor(ctx)
    out = Tick(result=result, logs=handler.lines, cursor=cursor)
    if isinstance(result, dg.SensorResult):
        out.runs = list(result.run_requests or [])
        for req in result.dynamic_partitions_requests or []:
            assert req.partitions_def_name == "lead_files"
            out.added.extend(req.partition_keys)
            instance.add_dynamic_partitions(req.partitions_def_name, req.partition_keys)
        out.cursor = result.cursor
    return out


def parse_cfg(run: dg.RunRequest) -> dict:
    """parse_file's op config inside the ``leads`` graph asset."""
    return run.run_config["ops"]["leads"]["ops"]["parse_file"]["config"]


def cursor_files(cursor: str | None) -> dict[str, str]:
    return json.loads(cursor)["files"] if cursor else {}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "sensor_dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


# --- folder sensor --------------------------------------------------------------------------------------------------


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "drop_inbox"
    folder.mkdir()
    monkeypatch.setenv("EASYCRM_INBOX", str(folder))
    monkeypatch.setattr(sensors, "FOLDER_SETTLE_SECONDS", 0.0)  # files written by the test are complete
    return folder


def drop(inbox: Path, rel: str, data: bytes) -> Path:
    path = inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sha_fp(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}:{len(data)}"


def test_folder_new_same_changed(inbox: Path, instance: dg.DagsterInstance) -> None:
    v1 = b"email,firstName\na@x.com,Ann\n"
    path = drop(inbox, "leads.csv", v1)

    first = tick(inbox_sensor, instance, None)
    assert first.keys == ["leads.csv"] and first.added == ["leads.csv"]
    (run,) = first.runs
    assert run.run_key == f"leads.csv@{sha_fp(v1)}"
    assert parse_cfg(run) == {"location": str(path), "file_name": "leads.csv"}
    assert run.run_config == {  # no execution section: the job's own default executor (jobs.execution_config)
        "ops": {"leads": {"ops": {"parse_file": {"config": parse_cfg(run)}}}},
    }
    assert run.tags == {
        "easycrm/location": str(path), "easycrm/fingerprint": sha_fp(v1), "easycrm/file_name": "leads.csv"}
    doc = json.loads(first.cursor)
    assert (doc["v"], doc["files"], list(doc["drops"])) == (1, {"leads.csv": sha_fp(v1)}, ["leads.csv"])
    assert instance.get_dynamic_partitions("lead_files") == ["leads.csv"]

    again = tick(inbox_sensor, instance, first.cursor)
    assert again.runs == [] and again.added == []
    assert again.skip_message == f"no new or changed lead files in {inbox} (1 unchanged, 0 ignored)"
    assert not any("dropped again" in line for line in again.logs)  # a file merely left in place is no re-drop
    assert again.cursor == first.cursor

    # same content written again (new mtime): still the same content -> skipped
    drop(inbox, "leads.csv", v1)
    assert tick(inbox_sensor, instance, again.cursor).runs == []

    v2 = b"email,firstName\na@x.com,Anna\nb@x.com,Bob\n"
    drop(inbox, "leads.csv", v2)
    changed = tick(inbox_sensor, instance, again.cursor)
    assert changed.keys == ["leads.csv"]
    assert changed.added == []  # the partition exists already
    assert changed.runs[0].run_key == f"leads.csv@{sha_fp(v2)}" != run.run_key
    assert cursor_files(changed.cursor) == {"leads.csv": sha_fp(v2)}
    assert any("run 'leads.csv' (changed" in line for line in changed.logs)


def test_folder_revert_to_content_that_already_ran_gets_a_new_run(inbox: Path, instance: dg.DagsterInstance) -> None:
    """Issue 16 item 1: v1 -> v2 -> v1 runs v1 again ("changed" = different from the last ingested version): the
    request carries a run_key no run has yet, so the daemon does not drop it."""
    v1, v2 = b"email\na@x.com\n", b"email\nb@x.com\n"
    drop(inbox, "leads.csv", v1)
    first = tick(inbox_sensor, instance, None)
    launch(instance, first.runs[0], "r1")
    succeed(instance, "r1")
    drop(inbox, "leads.csv", v2)
    second = tick(inbox_sensor, instance, first.cursor)
    assert [r.run_key for r in second.runs] == [f"leads.csv@{sha_fp(v2)}"]
    launch(instance, second.runs[0], "r2")
    succeed(instance, "r2")
    drop(inbox, "leads.csv", v1)
    third = tick(inbox_sensor, instance, second.cursor)
    assert [r.run_key for r in third.runs] == [f"leads.csv@{sha_fp(v1)}#2"]
    assert not _run_key_taken(instance, third.runs[0].run_key)
    assert any("run 'leads.csv' (changed back to a version that ran before; attempt 2" in line for line in third.logs)
    launch(instance, third.runs[0], "r3")
    succeed(instance, "r3")
    # and once more each way: v2 again (its #1 is taken) -> #2; v1 again (#1 and #2 taken) -> #3
    drop(inbox, "leads.csv", v2)
    fourth = tick(inbox_sensor, instance, third.cursor)
    assert [r.run_key for r in fourth.runs] == [f"leads.csv@{sha_fp(v2)}#2"]
    launch(instance, fourth.runs[0], "r4")
    drop(inbox, "leads.csv", v1)
    fifth = tick(inbox_sensor, instance, fourth.cursor)
    assert [r.run_key for r in fifth.runs] == [f"leads.csv@{sha_fp(v1)}#3"]
    # an unchanged tick after it still requests nothing
    assert tick(inbox_sensor, instance, fifth.cursor).runs == []


def _run_key_taken(instance: dg.DagsterInstance, run_key: str) -> bool:
    return bool(instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1))


def test_folder_without_cursor_requests_again_but_does_not_readd_partition(
    inbox: Path, instance: dg.DagsterInstance
) -> None:
    drop(inbox, "a.csv", b"email\na@x.com\n")
    first = tick(inbox_sensor, instance, None)
    assert first.added == ["a.csv"]
    # cursor lost/reset: the file is requested again with the same run_key (the daemon drops duplicate run_keys),
    # and the existing partition is not added twice
    reset = tick(inbox_sensor, instance, None)
    assert [r.run_key for r in reset.runs] == [r.run_key for r in first.runs]
    assert reset.added == []


def test_folder_ignores_with_reasons(inbox: Path, instance: dg.DagsterInstance) -> None:
    drop(inbox, "~$lock.xlsx", b"lock")
    drop(inbox, "notes.pdf", b"hello")
    drop(inbox, ".hidden.csv", b"email\n")
    drop(inbox, ".partial/upload.csv", b"email\n")
    drop(inbox, "empty.csv", b"")
    (inbox / "just a folder").mkdir()
    result = tick(inbox_sensor, instance, None)
    assert result.runs == [] and result.added == []
    assert result.skip_message == f"no new or changed lead files in {inbox} (0 unchanged, 5 ignored)"
    assert sorted(result.logs) == sorted([
        "ignored '.partial/': hidden folder (not scanned)",
        "ignored '.hidden.csv': hidden file (name starts with '.')",
        "ignored 'empty.csv': empty file (0 bytes)",
        "ignored 'notes.pdf': not a lead file extension '.pdf' (expected .csv, .ods, .tsv, .txt, .xls, .xlsm, .xlsx)",
        "ignored '~$lock.xlsx': Excel lock file (~$...)",
    ])
    assert instance.get_dynamic_partitions("lead_files") == []


def test_folder_picks_tab_separated_tsv_and_unicode_text_txt(inbox: Path, instance: dg.DagsterInstance) -> None:
    """Delimited text under .tsv / .txt (Excel's "Unicode text" export is a UTF-16 tab-separated .txt) is a lead
    file like a .csv; the reader decides the format by content."""
    tsv = drop(inbox, "export.tsv", b"Email\tName\na@x.com\tAnn\n")
    txt = drop(inbox, "sub/Unicode Text.TXT", "Email\tName\r\nb@x.com\tZoë\r\n".encode("utf-16"))
    result = tick(inbox_sensor, instance, None)
    assert sorted(result.keys) == ["export.tsv", "sub/Unicode Text.TXT"]
    assert sorted(result.added) == ["export.tsv", "sub/Unicode Text.TXT"]
    cfgs = {parse_cfg(r)["file_name"]: parse_cfg(r)["location"] for r in result.runs}
    assert cfgs == {"export.tsv": str(tsv), "Unicode Text.TXT": str(txt)}
    assert not any(line.startswith("ignored") for line in result.logs)


def test_folder_odd_names_become_valid_partition_keys(inbox: Path, instance: dg.DagsterInstance) -> None:
    names = ["sub dir/Léads 2024.csv", "a/b/c/深い リード.xlsx", "Report... final.CSV", "tab\tand\nnewline.xls"]
    for i, name in enumerate(names):
        drop(inbox, name, f"email\n{i}@x.com\n".encode())
    result = tick(inbox_sensor, instance, None)
    keys = result.keys
    assert keys[:2] == ["Report\u2026 final.CSV #" + hashlib.sha256(b"Report... final.CSV").hexdigest()[:8],
                        "a/b/c/深い リード.xlsx"]
    assert keys[2] == "sub dir/Léads 2024.csv"
    assert keys[3].startswith("tab\u2409and\u240anewline.xls #")
    dg.StaticPartitionsDefinition(keys)  # dagster's own key validation
    assert sorted(instance.get_dynamic_partitions("lead_files")) == sorted(keys)
    by_key = {r.partition_key: r for r in result.runs}
    cfg = parse_cfg(by_key["sub dir/Léads 2024.csv"])
    assert cfg == {"location": str(inbox / "sub dir" / "Léads 2024.csv"), "file_name": "Léads 2024.csv"}
    # the real (unsanitized) name is what the job reads; sourceFile shows its control characters escaped
    # (issue 16 item 8)
    odd = parse_cfg(by_key[keys[3]])
    assert odd["file_name"] == "tab\\x09and\\x0anewline.xls"
    assert Path(odd["location"]).name == "tab\tand\nnewline.xls" and Path(odd["location"]).is_file()
    # next tick: all unchanged
    assert tick(inbox_sensor, instance, result.cursor).runs == []


def test_folder_cap_spreads_over_ticks_without_loss_or_doubles(
    inbox: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors, "MAX_RUN_REQUESTS_PER_TICK", 2)
    for i in range(5):
        drop(inbox, f"f{i}.csv", f"email\n{i}@x.com\n".encode())
    cursor, seen, sizes = None, [], []
    for _ in range(4):
        t = tick(inbox_sensor, instance, cursor)
        sizes.append(len(t.runs))
        seen += t.keys
        cursor = t.cursor
    assert sizes == [2, 2, 1, 0]
    assert seen == [f"f{i}.csv" for i in range(5)]
    assert len(cursor_files(cursor)) == 5


def test_folder_missing_inbox_skips(tmp_path: Path, instance: dg.DagsterInstance, monkeypatch) -> None:
    monkeypatch.setenv("EASYCRM_INBOX", str(tmp_path / "no such folder"))
    result = tick(inbox_sensor, instance, None)
    assert isinstance(result.result, dg.SkipReason) and "does not exist" in result.skip_message


def test_folder_run_config_is_valid_for_the_ingest_job(
    inbox: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run config must pass the real job's config schema, or the daemon refuses to launch the run."""
    from easycrm_pipeline.definitions import defs

    drop(inbox, "sub dir/Léads 2024.csv", b"email\na@x.com\n")
    (run,) = tick(inbox_sensor, instance, None).runs
    job = defs.resolve_job_def("ingest_job")
    assert job.partitions_def == lead_files
    dg.validate_run_config(job, run.run_config)  # raises DagsterInvalidConfigError on a wrong shape
    assert parse_cfg(run) == {"location": str(inbox / "sub dir" / "Léads 2024.csv"), "file_name": "Léads 2024.csv"}
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-not-used")  # with DeepSeek on: the job's own executor too
    (run_llm,) = tick(inbox_sensor, instance, None).runs
    assert "execution" not in run_llm.run_config
    dg.validate_run_config(job, run_llm.run_config)
    with pytest.raises(dg.DagsterInvalidConfigError, match="parse_file"):  # the brief's flat shape is refused
        dg.validate_run_config(job, {"ops": {"parse_file": {"config": {"location": "x", "file_name": "x"}}}})
    assert {s.name for s in defs.sensors} >= {"inbox_sensor", "s3_sensor"}
    assert "s3" in (defs.resources or {})  # s3_sensor's resource is bound


# --- S3 sensor (moto server, real HTTP) ------------------------------------------------------------------------------


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("EASYCRM_S3_BUCKET", BUCKET)
    monkeypatch.setenv("EASYCRM_S3_PREFIX", PREFIX)
    return client


def s3_tick(instance: dg.DagsterInstance, cursor: str | None) -> Tick:
    return tick(s3_sensor, instance, cursor, s3=S3ClientResource())


def etag_fp(client, key: str) -> str:
    head = client.head_object(Bucket=BUCKET, Key=key)
    return f"{head['ETag'].strip(chr(34))}:{head['ContentLength']}"


def test_s3_sensor_is_off_without_bucket(instance: dg.DagsterInstance, monkeypatch) -> None:
    monkeypatch.delenv("EASYCRM_S3_BUCKET", raising=False)
    result = tick(s3_sensor, instance, None, s3=S3ClientResource())
    assert isinstance(result.result, dg.SkipReason)
    assert result.skip_message == "EASYCRM_S3_BUCKET is not set"


def test_s3_more_than_1000_keys_across_ticks(s3_env, instance: dg.DagsterInstance) -> None:
    client = s3_env
    keys = [f"{PREFIX}batch/lead-{i:04d}.csv" for i in range(1005)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=f"email\n{k}@x.com\n".encode()), keys))
    # noise that must not become runs
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}batch/", Body=b"")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}~$lock.xlsx", Body=b"lock")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}notes.pdf", Body=b"hi")
    client.put_object(Bucket=BUCKET, Key="elsewhere/outside-prefix.csv", Body=b"email\n")
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["IsTruncated"] is True  # really > 1 page

    cap = sensors.MAX_RUN_REQUESTS_PER_TICK
    cursor, requested, sizes = None, [], []
    while True:
        t = s3_tick(instance, cursor)
        sizes.append(len(t.runs))
        requested += t.keys
        cursor = t.cursor
        if not t.runs:
            break
        assert len(sizes) < 10
    expected = [f"s3://{BUCKET}/{k}" for k in keys]
    assert sizes == [cap] * (1005 // cap) + ([1005 % cap] if 1005 % cap else []) + [0]
    assert len(requested) == len(set(requested)) == 1005
    assert sorted(requested) == expected
    assert sorted(instance.get_dynamic_partitions("lead_files")) == expected
    assert sorted(cursor_files(cursor)) == expected
    assert any(f"ignored '{PREFIX}~$lock.xlsx': Excel lock file" in line for line in t.logs)
    assert any(f"ignored '{PREFIX}batch/': folder marker" in line for line in t.logs)
    assert t.skip_message == f"no new or changed lead files in s3://{BUCKET}/{PREFIX} (1005 unchanged, 3 ignored)"


def test_s3_same_second_late_and_reuploaded(s3_env, instance: dg.DagsterInstance) -> None:
    client = s3_env
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}m-middle.csv", Body=b"email\nm@x.com\n")
    first = s3_tick(instance, None)
    assert first.keys == [f"s3://{BUCKET}/{PREFIX}m-middle.csv"]
    (run,) = first.runs
    fp = etag_fp(client, f"{PREFIX}m-middle.csv")
    body_md5 = hashlib.md5(b"email\nm@x.com\n").hexdigest()
    assert fp == f"{body_md5}:14"
    assert run.run_key == f"s3://{BUCKET}/{PREFIX}m-middle.csv@{fp}"
    assert parse_cfg(run) == {"location": f"s3://{BUCKET}/{PREFIX}m-middle.csv", "file_name": "m-middle.csv"}
    assert run.tags == {"easycrm/location": f"s3://{BUCKET}/{PREFIX}m-middle.csv", "easycrm/fingerprint": fp,
                        "easycrm/file_name": "m-middle.csv"}

    # several uploads within the same second, and a "late" one whose key sorts before every processed key
    burst = [f"{PREFIX}z-same-second-{i}.csv" for i in range(5)] + [f"{PREFIX}a-late upload Ü.csv"]
    started = time.time()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=f"email\n{k}@x.com\n".encode()), burst))
    if time.time() - started < 1.0:  # (not forced: a loaded machine may spread them out; discovery doesn't care)
        stamps = {client.head_object(Bucket=BUCKET, Key=k)["LastModified"].replace(microsecond=0) for k in burst}
        assert len(stamps) <= 2  # same second (or straddling one boundary)
    second = s3_tick(instance, first.cursor)
    assert sorted(second.keys) == sorted(f"s3://{BUCKET}/{k}" for k in burst)
    assert sorted(second.added) == sorted(second.keys)

    # re-upload the same key with the same content: skipped and logged. S3's LastModified has whole seconds, so a
    # re-upload within the second of the first upload looks like the file left in place (by design): wait it out
    first_upload = client.head_object(Bucket=BUCKET, Key=f"{PREFIX}m-middle.csv")["LastModified"].timestamp()
    time.sleep(max(0.0, first_upload + 1.2 - time.time()))
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}m-middle.csv", Body=b"email\nm@x.com\n")
    third = s3_tick(instance, second.cursor)
    assert third.runs == []
    assert any(f"skipped 's3://{BUCKET}/{PREFIX}m-middle.csv': same content dropped again" in line
               for line in third.logs)

    # re-upload with different content: run again (new run_key), partition not re-added
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}m-middle.csv", Body=b"email\nm@x.com\nn@x.com\n")
    fourth = s3_tick(instance, third.cursor)
    new_fp = etag_fp(client, f"{PREFIX}m-middle.csv")
    assert new_fp != fp
    assert [r.run_key for r in fourth.runs] == [f"s3://{BUCKET}/{PREFIX}m-middle.csv@{new_fp}"]
    assert fourth.added == []
    assert cursor_files(fourth.cursor)[f"s3://{BUCKET}/{PREFIX}m-middle.csv"] == new_fp
    assert len(cursor_files(fourth.cursor)) == 7

    # a processed key deleted from the bucket does not break later ticks (since_key would raise forever)
    client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}m-middle.csv")
    fifth = s3_tick(instance, fourth.cursor)
    assert fifth.runs == [] and fifth.skip_message.startswith("no new or changed lead files")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}0-after-delete.csv", Body=b"email\nq@x.com\n")
    assert s3_tick(instance, fifth.cursor).keys == [f"s3://{BUCKET}/{PREFIX}0-after-delete.csv"]


def test_s3_missing_bucket_fails_the_tick_clearly(s3_env, instance: dg.DagsterInstance, monkeypatch) -> None:
    monkeypatch.setenv("EASYCRM_S3_BUCKET", "no-such-bucket")
    with pytest.raises(RuntimeError, match="cannot list s3://no-such-bucket/uploads/: .*NoSuchBucket"):
        s3_tick(instance, None)


def test_moto_fixture_sets_the_aws_environment(moto_server: str) -> None:  # noqa: F811
    assert moto_server.startswith("http://127.0.0.1:")
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing" and os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert S3ClientResource().get_client().list_buckets()["Buckets"] == []


# --- through the real sensor daemon ----------------------------------------------------------------------------------
# The sensors above are called directly; here the daemon's own tick code evaluates them inside the real code location
# (easycrm_pipeline.definitions, in process), applies partition adds, dedupes run_keys and queues runs (runs are not
# executed: MockedRunLauncher). Uses dagster's test helpers (private modules), pinned with the dagster version.


@pytest.fixture
def daemon(tmp_path: Path):
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, freeze_time
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._daemon.sensor import execute_sensor_iteration

    home = tmp_path / "daemon_dagster_home"
    home.mkdir()
    launcher = {"run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}}
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="easycrm_pipeline.definitions", attribute="defs"), location_name="easycrm"
    )
    with dg.instance_for_test(temp_dir=str(home), overrides=launcher) as inst:
        with WorkspaceProcessContext(inst, InProcessTestWorkspaceLoadTarget(origin)) as ctx:
            clock = [time.time()]

            def run_tick() -> None:
                clock[0] += 120  # past both sensors' minimum_interval_seconds
                with freeze_time(clock[0]):
                    list(execute_sensor_iteration(ctx, logging.getLogger("test_sensor_daemon"), None, None))

            yield inst, run_tick


def _runs_by_sensor(instance: dg.DagsterInstance, sensor_name: str) -> list[dg.DagsterRun]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": sensor_name}))
    return sorted(runs, key=lambda r: r.tags["dagster/run_key"])


def test_daemon_folder_ticks(inbox: Path, daemon) -> None:
    instance, run_tick = daemon
    v1, v2 = b"email\na@x.com\n", b"email\na@x.com\nb@x.com\n"
    path = drop(inbox, "sub dir/Léads 2024.csv", v1)
    drop(inbox, "~$lock.xlsx", b"lock")

    run_tick()
    (run,) = _runs_by_sensor(instance, "inbox_sensor")
    assert run.job_name == "ingest_job"
    assert run.tags["dagster/partition"] == "sub dir/Léads 2024.csv"
    assert run.tags["dagster/run_key"] == f"sub dir/Léads 2024.csv@{sha_fp(v1)}"
    assert run.tags["easycrm/location"] == str(path) and run.tags["easycrm/fingerprint"] == sha_fp(v1)
    assert run.run_config["ops"]["leads"]["ops"]["parse_file"]["config"] == {
        "location": str(path), "file_name": "Léads 2024.csv"}
    assert instance.get_dynamic_partitions("lead_files") == ["sub dir/Léads 2024.csv"]

    run_tick()  # unchanged: no new run
    assert len(_runs_by_sensor(instance, "inbox_sensor")) == 1

    drop(inbox, "sub dir/Léads 2024.csv", v2)
    run_tick()  # changed content: second run of the same partition
    runs = _runs_by_sensor(instance, "inbox_sensor")
    assert {r.tags["easycrm/fingerprint"] for r in runs} == {sha_fp(v1), sha_fp(v2)}
    assert {r.tags["dagster/partition"] for r in runs} == {"sub dir/Léads 2024.csv"}
    assert instance.get_dynamic_partitions("lead_files") == ["sub dir/Léads 2024.csv"]

    # going back to content that already ran once (v1 -> v2 -> v1) is a change: a third run, whose run_key the
    # daemon has not seen (issue 16 item 1)
    drop(inbox, "sub dir/Léads 2024.csv", v1)
    run_tick()
    runs = _runs_by_sensor(instance, "inbox_sensor")
    assert len(runs) == 3
    assert sorted(r.tags["dagster/run_key"] for r in runs) == sorted([
        f"sub dir/Léads 2024.csv@{sha_fp(v1)}", f"sub dir/Léads 2024.csv@{sha_fp(v2)}",
        f"sub dir/Léads 2024.csv@{sha_fp(v1)}#2"])


def test_daemon_s3_ticks(s3_env, daemon) -> None:
    instance, run_tick = daemon
    client = s3_env
    for key in [f"{PREFIX}b.csv", f"{PREFIX}sub/ü x.xlsx", f"{PREFIX}notes.pdf"]:
        client.put_object(Bucket=BUCKET, Key=key, Body=f"email\n{key}@x.com\n".encode())
    run_tick()
    runs = _runs_by_sensor(instance, "s3_sensor")
    assert [r.tags["dagster/partition"] for r in runs] == [f"s3://{BUCKET}/{PREFIX}b.csv",
                                                            f"s3://{BUCKET}/{PREFIX}sub/ü x.xlsx"]
    assert runs[1].tags["easycrm/file_name"] == "ü x.xlsx"
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}a.csv", Body=b"email\nlate@x.com\n")
    run_tick()
    assert len(_runs_by_sensor(instance, "s3_sensor")) == 3
    assert sorted(instance.get_dynamic_partitions("lead_files")) == [
        f"s3://{BUCKET}/{PREFIX}a.csv", f"s3://{BUCKET}/{PREFIX}b.csv", f"s3://{BUCKET}/{PREFIX}sub/ü x.xlsx"]


# --- the same content dropped again: what its last run became decides -----------------------------------------------


def launch(instance: dg.DagsterInstance, req: dg.RunRequest, run_id: str,
           status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    """What the daemon does with a run request: a run of ingest_job with the request's tags, partition and run_key."""
    tags = {**req.tags, "dagster/partition": req.partition_key, "dagster/run_key": req.run_key}
    return instance.add_run(dg.DagsterRun(job_name="ingest_job", run_id=run_id, status=status, tags=tags))


def finish(instance: dg.DagsterInstance, run_id: str, status: dg.DagsterRunStatus) -> None:
    """End a run CANCELED or FAILURE the way Dagster records it (a run event)."""
    run = instance.get_run_by_id(run_id)
    if status == dg.DagsterRunStatus.CANCELED:
        instance.report_run_canceled(run)
    else:
        instance.report_run_failed(run)
    assert instance.get_run_by_id(run_id).status == status


def succeed(instance: dg.DagsterInstance, run_id: str) -> None:
    instance.report_dagster_event(
        dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="ingest_job", message="done"), run_id
    )
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS


def redrop(path: Path, data: bytes) -> None:
    """Drop the same bytes again (a new modification time, as a copy or save would give)."""
    path.write_bytes(data)
    bumped = time.time_ns() + 2_000_000_000
    os.utime(path, ns=(bumped, bumped))


class CountingQueries:
    """Counts the sensor's run queries against the instance."""

    def __init__(self, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = instance.get_run_records

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(instance, "get_run_records", counted)


def test_folder_same_content_again_runs_after_cancel_failure_or_undo(
    inbox: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from easycrm_pipeline.dagster_defs.run_marks import mark_import_undone

    data = b"email\na@x.com\n"
    path = drop(inbox, "big_inbox.csv", data)
    base = f"big_inbox.csv@{sha_fp(data)}"
    first = tick(inbox_sensor, instance, None)
    assert [r.run_key for r in first.runs] == [base]
    launch(instance, first.runs[0], "run-1")
    queries = CountingQueries(instance, monkeypatch)

    # dropped again while its run is in progress: skipped
    redrop(path, data)
    t = tick(inbox_sensor, instance, first.cursor)
    assert t.runs == []
    assert any("skipped 'big_inbox.csv': same content dropped again — a run for this content is in progress "
               "(run run-1" in line for line in t.logs), t.logs
    assert queries.calls == 1

    # the run is cancelled; the file just sitting there is not run again, and costs no query
    finish(instance, "run-1", dg.DagsterRunStatus.CANCELED)
    t = tick(inbox_sensor, instance, t.cursor)
    assert t.runs == [] and queries.calls == 1

    # dropped again after the cancel: a new run, with a run_key Dagster has not seen
    redrop(path, data)
    t = tick(inbox_sensor, instance, t.cursor)
    assert [r.run_key for r in t.runs] == [f"{base}#2"]
    assert t.runs[0].partition_key == "big_inbox.csv" and t.added == []
    assert t.runs[0].tags["easycrm/fingerprint"] == sha_fp(data)
    assert any("run 'big_inbox.csv' (same content again, its last run run-1 was CANCELED" in line for line in t.logs)
    assert queries.calls == 2
    launch(instance, t.runs[0], "run-2")

    # failed: dropped again -> attempt 3
    finish(instance, "run-2", dg.DagsterRunStatus.FAILURE)
    redrop(path, data)
    t = tick(inbox_sensor, instance, t.cursor)
    assert [r.run_key for r in t.runs] == [f"{base}#3"]
    launch(instance, t.runs[0], "run-3")

    # succeeded: dropped again -> skipped, naming the run
    succeed(instance, "run-3")
    redrop(path, data)
    t = tick(inbox_sensor, instance, t.cursor)
    assert t.runs == []
    assert any("skipped 'big_inbox.csv': same content dropped again — already ingested by run run-3" in line
               for line in t.logs), t.logs

    # its import undone (easycrm undo / undo_job mark the run): dropped again -> attempt 4
    assert mark_import_undone(instance, "run-3") is True
    redrop(path, data)
    t = tick(inbox_sensor, instance, t.cursor)
    assert [r.run_key for r in t.runs] == [f"{base}#4"]
    assert any("its last run run-3 was undone" in line for line in t.logs), t.logs
    launch(instance, t.runs[0], "run-4", dg.DagsterRunStatus.SUCCESS)
    redrop(path, data)
    t = tick(inbox_sensor, instance, t.cursor)
    assert t.runs == [] and any("already ingested by run run-4" in line for line in t.logs)

    # unchanged ticks query nothing
    before = queries.calls
    for _ in range(3):
        t = tick(inbox_sensor, instance, t.cursor)
    assert queries.calls == before


def test_folder_old_v1_cursor_is_read(inbox: Path, instance: dg.DagsterInstance) -> None:
    """A cursor written before drop times were recorded: the file present is taken as already seen (no run)."""
    data = b"email\na@x.com\n"
    drop(inbox, "leads.csv", data)
    old = json.dumps({"v": 1, "files": {"leads.csv": sha_fp(data)}})
    t = tick(inbox_sensor, instance, old)
    assert t.runs == []
    assert cursor_files(t.cursor) == {"leads.csv": sha_fp(data)}


def test_s3_same_content_again_runs_after_cancel_or_undo(s3_env, instance: dg.DagsterInstance) -> None:
    from easycrm_pipeline.dagster_defs.run_marks import mark_import_undone

    client = s3_env
    key, body = f"{PREFIX}big_inbox.csv", b"email\na@x.com\n"

    def upload() -> None:
        # S3 listings give LastModified to the second: a re-upload is seen as one in a later second
        time.sleep(1.05 - time.time() % 1)
        client.put_object(Bucket=BUCKET, Key=key, Body=body)

    client.put_object(Bucket=BUCKET, Key=key, Body=body)
    first = s3_tick(instance, None)
    base = f"s3://{BUCKET}/{key}@{etag_fp(client, key)}"
    assert [r.run_key for r in first.runs] == [base]
    launch(instance, first.runs[0], "s3-run-1")

    upload()
    t = s3_tick(instance, first.cursor)
    assert t.runs == [] and any("a run for this content is in progress" in line for line in t.logs)

    finish(instance, "s3-run-1", dg.DagsterRunStatus.CANCELED)
    t = s3_tick(instance, t.cursor)
    assert t.runs == []  # not re-uploaded: nothing
    upload()
    t = s3_tick(instance, t.cursor)
    assert [r.run_key for r in t.runs] == [f"{base}#2"]
    launch(instance, t.runs[0], "s3-run-2", dg.DagsterRunStatus.SUCCESS)

    upload()
    t = s3_tick(instance, t.cursor)
    assert t.runs == [] and any("already ingested by run s3-run-2" in line for line in t.logs)

    mark_import_undone(instance, "s3-run-2")
    upload()
    t = s3_tick(instance, t.cursor)
    assert [r.run_key for r in t.runs] == [f"{base}#3"]


def test_daemon_folder_cancelled_then_dropped_again(inbox: Path, daemon) -> None:
    """Through the real daemon: the new run_key is not swallowed by Dagster's run_key dedupe."""
    instance, run_tick = daemon
    data = b"email\na@x.com\n"
    path = drop(inbox, "big_inbox.csv", data)
    run_tick()
    (run,) = _runs_by_sensor(instance, "inbox_sensor")
    instance.report_run_canceled(run)
    redrop(path, data)
    run_tick()
    runs = _runs_by_sensor(instance, "inbox_sensor")
    assert [r.tags["dagster/run_key"] for r in runs] == [
        f"big_inbox.csv@{sha_fp(data)}", f"big_inbox.csv@{sha_fp(data)}#2"]
