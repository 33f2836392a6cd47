"""End to end through the real Dagster services: ``dagster-webserver`` and ``dagster-daemon`` run as subprocesses on a
temporary ``DAGSTER_HOME`` (the project's ``dagster.yaml``), the sensors pick up a file dropped into the inbox folder
and another uploaded to a moto S3 bucket, the daemon launches their runs (DeepSeek is the fake server, with latency),
the test waits through the GraphQL API, reads ``easycrm status``, then cancels a slow third run with
``easycrm cancel`` (through ``instance.run_launcher.terminate``: the daemon launched it) and checks it ends
``cancelled`` with no row of that file stored.

Timing: the sensors' minimum intervals are 15 s (inbox) and 30 s (S3), but a sensor's first tick comes as soon as
the daemon has loaded the code, so the first two files are put in place before the daemon starts; the third waits
for the inbox sensor's next tick (at most 15 s; 5 s with ``EASYCRM_SENSOR_INTERVAL_SECONDS=5``).
"""
from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import duckdb
import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.config import PROJECT_ROOT
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek
from easycrm_tests.support.fixtures import moto_server  # noqa: F401 - pytest fixture

BIN = Path(sys.executable).parent
WORKSPACE = PROJECT_ROOT / "workspace.yaml"
BUCKET = "easycrm-e2e-drops"
HEADER = "First Name,Last Name,Company,Title,Email,Phone,Notes\n"
#: Seconds to wait for the webserver to answer, for a run to appear, for a run to finish (2 busy cores).
SERVICE_START_TIMEOUT = 90.0
RUN_APPEAR_TIMEOUT = 60.0
RUN_FINISH_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


def _csv(n: int, start: int, domain: str) -> str:
    rows = [HEADER] + [
        f"First{i},OKAFOR,Company {i % 7},buyer,Person{i}@{domain},+44 7700 9{i:05d},note {i}\n"
        for i in range(start, start + n)
    ]
    return "".join(rows)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Services:
    """The running webserver + daemon: the GraphQL port and the log files (printed when an assertion fails)."""

    port: int
    logs: list[Path]

    def tail(self, lines: int = 40) -> str:
        out = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            out.append(f"--- {log.name} (last {lines} lines)\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started (the service plus its code servers and run workers), SIGKILL after
    :data:`STOP_TIMEOUT` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # children left behind by the group leader, if any
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def fake_deepseek() -> Iterator[FakeDeepSeek]:
    with FakeDeepSeek(latency=0.3) as fake:
        yield fake


@pytest.fixture
def dagster_env(isolated_env, moto_server, fake_deepseek, monkeypatch):  # noqa: F811 - fixture
    """Environment of the services (and of the test's own ``easycrm`` calls): temp DAGSTER_HOME/DB/inbox from
    ``isolated_env``, the moto S3 bucket, the fake DeepSeek."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("EASYCRM_S3_BUCKET", BUCKET)
    monkeypatch.setenv("EASYCRM_S3_PREFIX", "uploads/")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-e2e-test")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", fake_deepseek.base_url)
    # read by sensors.py once it has the proposed EASYCRM_SENSOR_INTERVAL_SECONDS override (ignored until then;
    # the test passes either way, the third drop is just picked up sooner)
    monkeypatch.setenv("EASYCRM_SENSOR_INTERVAL_SECONDS", "5")
    return isolated_env


def start_services(tmp: Path) -> tuple[Services, list[subprocess.Popen]]:
    """Start ``dagster-webserver`` (free loopback port) and ``dagster-daemon``; each in its own process group."""
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    commands = {
        "webserver.log": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(WORKSPACE)],
        "daemon.log": [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
    }
    procs, logs = [], []
    for name, cmd in commands.items():
        log = tmp / name
        logs.append(log)
        with open(log, "wb") as fh:
            procs.append(
                subprocess.Popen(
                    cmd, cwd=PROJECT_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    return Services(port, logs), procs


def wait_for_webserver(services: Services, procs: list[subprocess.Popen]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + SERVICE_START_TIMEOUT
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"a Dagster service exited with {p.returncode}\n{services.tail()}"
        try:
            with opener.open(f"http://127.0.0.1:{services.port}/server_info", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1.0)
    pytest.fail(f"dagster-webserver did not answer within {SERVICE_START_TIMEOUT} s\n{services.tail()}")


def wait_for_run(instance, partition: str, services: Services):
    """The run record of the first ingest run launched for ``partition`` (waits for the sensor to request it)."""
    import dagster as dg

    deadline = time.monotonic() + RUN_APPEAR_TIMEOUT
    while time.monotonic() < deadline:
        records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": partition}), limit=1)
        if records:
            return records[0]
        time.sleep(1.0)
    pytest.fail(f"no run for {partition!r} within {RUN_APPEAR_TIMEOUT} s\n{services.tail()}")


def wait_for_status(client, run_id: str, services: Services, timeout: float = RUN_FINISH_TIMEOUT):
    """Poll ``client.get_run_status`` until the run is finished; returns its ``DagsterRunStatus``."""
    import dagster as dg

    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in finished:
            return status
        time.sleep(1.0)
    pytest.fail(f"run {run_id} still {status} after {timeout} s\n{services.tail()}")


def easycrm_json(capsys, *args: str) -> dict:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def stored_rows(db: Path, source_file: str) -> int:
    if not db.exists():
        return 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute('SELECT count(*) FROM leads WHERE "sourceFile" = ?', [source_file]).fetchone()[0]
    finally:
        con.close()


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_webserver_daemon_sensors_status_and_cancel(dagster_env, fake_deepseek, capsys):
    import dagster as dg
    from dagster._core.storage.tags import GRPC_INFO_TAG
    from dagster_graphql import DagsterGraphQLClient

    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.dagster_defs.tags import PID_TAG

    started = time.monotonic()
    tmp = Path(dagster_env)
    inbox, db = Path(os.environ["EASYCRM_INBOX"]), Path(os.environ["EASYCRM_DB"])
    # the first two files are in place before the daemon's first sensor ticks
    (inbox / "inbox_leads.csv").write_text(_csv(35, 0, "inbox.example"), encoding="utf-8")
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="uploads/s3_leads.csv", Body=_csv(22, 100, "s3.example").encode()
    )
    s3_partition = f"s3://{BUCKET}/uploads/s3_leads.csv"
    instance = get_instance()  # creates the SQLite storages before the services start using them

    phases: dict[str, float] = {}

    def mark(name: str) -> None:
        phases[name] = round(time.monotonic() - started, 1)
        with capsys.disabled():  # shown with pytest -s
            print(f"e2e {name}: {phases[name]} s", file=sys.stderr, flush=True)

    services, procs = start_services(tmp)
    try:
        wait_for_webserver(services, procs)
        mark("webserver up")
        client = DagsterGraphQLClient("127.0.0.1", port_number=services.port)

        # 1. both drops become partitions + runs launched by the daemon, and succeed
        inbox_run = wait_for_run(instance, "inbox_leads.csv", services)
        s3_run = wait_for_run(instance, s3_partition, services)
        for record in (inbox_run, s3_run):
            status = wait_for_status(client, record.dagster_run.run_id, services)
            assert status == dg.DagsterRunStatus.SUCCESS, services.tail()
        mark("inbox + S3 runs succeeded")
        assert set(instance.get_dynamic_partitions("lead_files")) >= {"inbox_leads.csv", s3_partition}

        # 2. easycrm status reads Dagster: counts and 100 %
        for name, rows in (("inbox_leads.csv", 35), ("s3_leads.csv", 22)):
            doc = easycrm_json(capsys, "status", name)
            assert doc["status"] == "completed"
            assert doc["percentage"] == 100.0
            assert (doc["totalLeads"], doc["processedLeads"]) == (rows, rows)
            assert doc["totalBatches"] == doc["completedBatches"] == math.ceil(rows / 10)
            assert doc["failedBatches"] == 0 and doc["error"] is None
            assert stored_rows(db, name) == rows
        listed = easycrm_json(capsys, "status")["files"]
        assert {f["file"] for f in listed} >= {"inbox_leads.csv", "s3_leads.csv"}

        # 3. a slow third file, cancelled mid-standardize through the run launcher (the daemon launched it)
        fake_deepseek.latency = 1.5
        (inbox / "slow_leads.csv").write_text(_csv(400, 1000, "slow.example"), encoding="utf-8")
        slow = wait_for_run(instance, "slow_leads.csv", services)
        mark("slow run requested")
        run_id = slow.dagster_run.run_id
        deadline = time.monotonic() + RUN_FINISH_TIMEOUT
        doc = easycrm_json(capsys, "status", "slow_leads.csv")
        while doc["completedBatches"] < 1 and time.monotonic() < deadline:
            assert doc["status"] in ("uploaded", "processing"), doc
            time.sleep(0.5)
            doc = easycrm_json(capsys, "status", "slow_leads.csv")
        assert doc["status"] == "processing" and 1 <= doc["completedBatches"] < doc["totalBatches"] == 40, doc
        mark("slow run mid-standardize")
        run = instance.get_run_by_id(run_id)
        assert GRPC_INFO_TAG in run.tags  # launched by the daemon: cancel goes through run_launcher.terminate
        assert PID_TAG in run.tags  # its parse step tagged the run process for the dead-run reaper

        cancelled = easycrm_json(capsys, "cancel", "slow_leads.csv")
        assert cancelled == {
            "file": "slow_leads.csv", "runId": run_id, "status": "cancelled", "dagsterStatus": "CANCELED"
        }  # fmt: skip
        assert client.get_run_status(run_id) == dg.DagsterRunStatus.CANCELED
        mark("slow run cancelled")
        doc = easycrm_json(capsys, "status", "slow_leads.csv")
        assert doc["status"] == "cancelled" and doc["percentage"] < 100, doc
        assert stored_rows(db, "slow_leads.csv") == 0  # no half-written batch: collect never ran
        claimed = instance.event_log_storage.get_concurrency_info("deepseek").claimed_slots
        assert [s for s in claimed if s.run_id == run_id] == []
        # the sensors do not retry a cancelled run (run retries only follow failures)
        time.sleep(2)
        assert len(instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": "slow_leads.csv"}))) == 1
    finally:
        for proc in procs:
            _stop(proc)
    for proc in procs:
        assert proc.poll() is not None
    mark("services stopped")
    assert phases["services stopped"] < 180, f"the end-to-end test took too long (budget 180 s): {phases}"


def graphql(services: Services, query: str, variables: dict | None = None) -> dict:
    """POST one GraphQL query to the webserver; returns ``data`` (fails the test on GraphQL errors)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{services.port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with opener.open(request, timeout=30) as resp:
        doc = json.loads(resp.read())
    assert not doc.get("errors"), doc["errors"]
    return doc["data"]


PARTITION_STATS = """
query { assetNodeOrError(assetKey: {path: ["leads"]}) { ... on AssetNode {
  partitionStats { numMaterialized numFailed numPartitions } } } }
"""


SENSOR_TICKS = """
query($selector: InstigationSelector!) { instigationStateOrError(instigationSelector: $selector) {
  ... on InstigationState { ticks(limit: 30) { status skipReason runKeys logEvents { events { message } } } } } }
"""
#: A partition's events as the UI's partition page asks for them (AssetPartitionDetailQuery).
PARTITION_EVENTS = """
query { assetOrError(assetKey: {path: ["leads"]}) { ... on Asset {
  assetEventHistory(partitions: ["%s"], limit: 100,
                    eventTypeSelectors: [MATERIALIZATION, OBSERVATION, FAILED_TO_MATERIALIZE]) {
    results { __typename ... on ObservationEvent { description runId } } } } } }"""
LOCATIONS = "query { repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


def sensor_ticks(services: Services, sensor: str) -> list[dict]:
    """The sensor's latest ticks as the UI's tick list gets them (status, skip reason, run keys, tick logs)."""
    (repo,) = graphql(services, LOCATIONS)["repositoriesOrError"]["nodes"]
    selector = {"repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"], "name": sensor}
    return graphql(services, SENSOR_TICKS, {"selector": selector})["instigationStateOrError"]["ticks"]


def check_records(instance, partition: str | None = None) -> dict[str, list]:
    """``{check_name: [execution records of the partition, newest first]}`` for the checks on ``leads``."""
    import dagster as dg

    from easycrm_pipeline.dagster_defs.checks import CHECKS

    out = {}
    for name in CHECKS:
        history = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("leads"), name), limit=50
        )
        out[name] = [r for r in history if partition is None or r.partition == partition]
    return out


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_ui_good_bad_partial_files_and_a_ui_materialization(dagster_env, fake_deepseek, capsys):
    """Issue 14 through the real webserver + daemon: a good, a bad and a partial file dropped into the inbox, then a
    partition materialized the way the UI does it (no run config, no tags but the partition)."""
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.dagster_defs.failures import ERROR_TAG
    from easycrm_pipeline.dagster_defs.run_marks import COST_TAG

    tmp = Path(dagster_env)
    inbox = Path(os.environ["EASYCRM_INBOX"])
    good_rows = _csv(20, 0, "good.example")
    (inbox / "good.csv").write_text(good_rows, encoding="utf-8")
    (inbox / "bad.xlsx").write_text("meeting notes\nremember to call back\n", encoding="utf-8")
    instance = get_instance()
    services, procs = start_services(tmp)
    try:
        wait_for_webserver(services, procs)
        client = DagsterGraphQLClient("127.0.0.1", port_number=services.port)
        good = wait_for_run(instance, "good.csv", services).dagster_run
        bad = wait_for_run(instance, "bad.xlsx", services).dagster_run
        assert wait_for_status(client, good.run_id, services) == dg.DagsterRunStatus.SUCCESS
        assert wait_for_status(client, bad.run_id, services) == dg.DagsterRunStatus.FAILURE

        # the bad file: one-line reason as a run tag, no check record for its partition (nothing "Execution failed")
        bad = instance.get_run_by_id(bad.run_id)
        assert bad.tags[ERROR_TAG].startswith("parse_file: bad.xlsx: not an Excel workbook: bad.xlsx is neither")
        assert all(records == [] for records in check_records(instance, "bad.xlsx").values())
        # ... and on its partition page: the partition's events hold an observation with that line
        events = graphql(services, PARTITION_EVENTS % "bad.xlsx")["assetOrError"]["assetEventHistory"]["results"]
        assert [e["description"] for e in events if e["__typename"] == "ObservationEvent"] == [
            f"run failed: {bad.tags[ERROR_TAG]}"]
        good_checks = check_records(instance, "good.csv")
        assert {n: [r.status.value for r in rs] for n, rs in good_checks.items()} == {
            n: ["SUCCEEDED"] for n in good_checks
        }
        assert instance.get_run_by_id(good.run_id).tags[COST_TAG].startswith("$")

        # a partial file: its 20 known rows come from the cache, DeepSeek refuses the batch of 10 new ones
        fake_deepseek.default_action = {"status": 400}
        (inbox / "partial.csv").write_text(good_rows + _csv(10, 500, "new.example")[len(HEADER):], encoding="utf-8")
        partial = wait_for_run(instance, "partial.csv", services).dagster_run
        assert wait_for_status(client, partial.run_id, services) == dg.DagsterRunStatus.SUCCESS
        partial = instance.get_run_by_id(partial.run_id)
        assert partial.tags["easycrm/partial"] == "10 rows not stored"
        (stored_check,) = check_records(instance, "partial.csv")["all_rows_stored"]
        evaluation = stored_check.evaluation
        assert stored_check.status.value == "FAILED" and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.description.startswith("10 rows not stored")
        rejected = Path(evaluation.metadata["rejected_rows_csv"].value)
        assert rejected.read_text(encoding="utf-8-sig").count("\n") == 11  # header + the 10 refused rows
        warnings = [e for e in instance.all_logs(partial.run_id) if e.level == 30]
        assert any("10 rows not stored" in e.user_message for e in warnings)
        mat = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("leads"), asset_partitions=["partial.csv"]), limit=1
        ).records[0].asset_materialization
        assert mat.metadata["duplicate_detection_ms"].value == round(mat.metadata["duplicate_detection_ms"].value, 1)
        stats = graphql(services, PARTITION_STATS)["assetNodeOrError"]["partitionStats"]
        assert stats == {"numMaterialized": 2, "numFailed": 1, "numPartitions": 3}

        # sensor decisions are visible: the launching tick names the file in its logs (compute logs on), skipped
        # ticks say why, and files merely left in the inbox are not logged as dropped again
        ticks = sensor_ticks(services, "inbox_sensor")
        launched = [t for t in ticks if any(k.startswith("good.csv@") for k in t["runKeys"])]
        assert launched and any(
            "run 'good.csv' (new" in e["message"] for t in launched for e in t["logEvents"]["events"]
        ), launched
        skipped = [t for t in ticks if t["status"] == "SKIPPED"]
        assert skipped and all(t["skipReason"].startswith("no new or changed lead files in") for t in skipped)
        assert not any("dropped again" in e["message"] for t in ticks for e in t["logEvents"]["events"])

        # Materialize good.csv from the UI: no run config, no location tag; the file has left the inbox
        fake_deepseek.default_action = {}
        (inbox / "good.csv").unlink()
        ui_run_id = client.submit_job_execution(
            "ingest_job", tags={"dagster/partition": "good.csv"}, asset_selection=["leads"]
        )
        # (the UI's default executor until the job defines its own is a process per step: slow on 2 busy cores)
        status = wait_for_status(client, ui_run_id, services, timeout=3 * RUN_FINISH_TIMEOUT)
        assert status == dg.DagsterRunStatus.SUCCESS, services.tail()
        ui_run = instance.get_run_by_id(ui_run_id)
        assert "easycrm/location" not in ui_run.tags and not ui_run.run_config.get("ops")
        assert stored_rows(Path(os.environ["EASYCRM_DB"]), "good.csv") == 20
        ui_checks = {n: [r for r in rs if r.run_id == ui_run_id] for n, rs in check_records(instance, "good.csv").items()}
        assert {n: [r.status.value for r in rs] for n, rs in ui_checks.items()} == {n: ["SUCCEEDED"] for n in ui_checks}
        lead_file = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("lead_files"), asset_partitions=["good.csv"]), limit=1
        ).records[0].asset_materialization
        assert lead_file.metadata["rows"].value == 20 and len(lead_file.metadata["sha256"].value) == 64
        # the asset's check state is the latest evaluations', never the bad file's
        latest = instance.event_log_storage.get_asset_check_summary_records(
            [dg.AssetCheckKey(dg.AssetKey("leads"), n) for n in check_records(instance)]
        )
        assert all(s.last_check_execution_record.partition != "bad.xlsx" for s in latest.values())
    finally:
        for proc in procs:
            _stop(proc)
