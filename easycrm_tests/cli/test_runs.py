"""``easycrm status`` and ``easycrm cancel`` against real Dagster runs started by ``easycrm ingest`` (one process per
file) on the test's temporary instance, with the fake DeepSeek server on loopback."""
import json
import subprocess
import sys
import time

import dagster as dg
import duckdb
import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.dagster_defs.progress import run_progress
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek
from easycrm_tests.store.conftest import dynamo_endpoint  # noqa: F401 - pytest fixture

HEADER = "First Name,Last Name,Company,Title,Email,Phone,Notes\n"
#: Generous waits: other test suites load the same 2 cores.
RUN_TIMEOUT = 150.0


def write_csv(path, n, start=0):
    rows = [HEADER] + [
        f"First{i},OKAFOR,Company {i % 7},buyer,Person{i}@example.com,+44 7700 9{i:05d},note {i}\n"
        for i in range(start, start + n)
    ]
    path.write_text("".join(rows), encoding="utf-8")
    return path


def status_json(capsys, *args):
    code = main(["status", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def start_ingest(path):
    """``easycrm ingest PATH`` in the background (its own process, as a user would run it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "easycrm_pipeline.cli.main", "ingest", str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc, timeout=RUN_TIMEOUT):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"easycrm ingest did not finish in {timeout} s: {err[-2000:]}")
    return proc.returncode, out, err


def stored(tmp, source_file):
    db = tmp / "leads.duckdb"
    if not db.exists():
        return 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute('SELECT count(*) FROM leads WHERE "sourceFile" = ?', [source_file]).fetchone()[0]
    finally:
        con.close()


def wait_for(capsys, name, predicate, timeout=RUN_TIMEOUT, interval=0.2):
    """Poll ``easycrm status NAME --json`` until ``predicate(doc)``; returns every doc seen (the last one matches)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = main(["status", name, "--json"])
        out = capsys.readouterr()
        if code == 0:
            seen.append(json.loads(out.out))
            if predicate(seen[-1]):
                return seen
        time.sleep(interval)
    pytest.fail(f"status of {name} never matched; last: {seen[-1] if seen else None}")


def test_offline_run_is_completed_at_100_percent_with_rule_settled_rows(isolated_env, capsys):
    path = write_csv(isolated_env / "offline.csv", 27)
    assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    doc = status_json(capsys, "offline.csv")
    assert doc["status"] == "completed" and doc["dagsterStatus"] == "SUCCESS"
    assert doc["totalBatches"] == 0 and doc["completedBatches"] == 0  # the rules settled every row in parse_file
    assert (doc["totalLeads"], doc["processedLeads"], doc["settledLeads"]) == (27, 27, 27)
    assert doc["percentage"] == 100.0
    assert doc["failedBatches"] == 0 and doc["failures"] == [] and doc["error"] is None
    assert doc["etaSeconds"] is None and doc["elapsedSeconds"] >= 0
    # the progress bar view prints the same numbers
    assert main(["status", "offline.csv"]) == 0
    text = capsys.readouterr().out
    assert "completed" in text and "27/27" in text and "100.0" in text
    assert main(["status", "offline.csv", "--watch"]) == 0  # a finished run: one frame, returns at once
    assert "completed" in capsys.readouterr().out


def test_status_during_and_after_a_deepseek_run_rises_to_100(isolated_env, monkeypatch, capsys):
    """The issue's acceptance test: percentage strictly increasing, 100 at the end. The 12 batches are one chunk
    step sending 5 at once, its progress logged every 0.5 s: 20 batches of 1 s requests (4 waves) make the steps
    visible."""
    path = write_csv(isolated_env / "live.csv", 200)
    with FakeDeepSeek(latency=1.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        proc = start_ingest(path)
        watch = None
        try:
            seen = wait_for(capsys, "live.csv", lambda d: d["status"] == "processing")
            watch = subprocess.Popen(  # the live progress bar, redrawn until the run ends
                [sys.executable, "-m", "easycrm_pipeline.cli.main", "status", "live.csv", "--watch"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            seen += wait_for(capsys, "live.csv", lambda d: d["status"] in ("completed", "error", "cancelled"))
        finally:
            code, out, err = finish(proc)
            if watch is not None:
                watch_code, watch_out, watch_err = finish(watch, timeout=60)
    assert code == 0, err
    assert watch_code == 0, watch_err
    assert "completed" in watch_out and "200/200" in watch_out and "100.0" in watch_out
    final = seen[-1]
    assert final["status"] == "completed" and final["percentage"] == 100.0
    assert (final["totalBatches"], final["completedBatches"]) == (20, 20)
    assert (final["totalLeads"], final["processedLeads"]) == (200, 200)
    assert final["failedBatches"] == 0 and final["error"] is None
    running = [d for d in seen if d["status"] == "processing"]
    assert running, "never saw the run processing"
    pcts = [d["percentage"] for d in seen]
    assert pcts == sorted(pcts), pcts  # never goes back
    changes = [p for i, p in enumerate(pcts) if i == 0 or p != pcts[i - 1]]
    assert all(a < b for a, b in zip(changes, changes[1:])), changes  # each new value strictly above the last
    partial = [p for p in changes if 0 < p < 100]
    assert len(partial) >= 3, f"too few intermediate values: {changes}"  # progress is visible batch by batch
    for d in running:  # counts agree with each other during the run
        assert d["processedLeads"] == 10 * d["completedBatches"] or d["completedBatches"] == d["totalBatches"]
        assert d["percentage"] < 100
        if d["totalLeads"]:
            assert d["percentage"] == pytest.approx(min(99.9, round(100 * d["processedLeads"] / 200, 1)))
    assert any(d["etaSeconds"] is not None and d["etaSeconds"] > 0 for d in running)


def test_status_without_file_lists_each_file_once_newest_first(isolated_env, capsys):
    a = write_csv(isolated_env / "a.csv", 5)
    b = write_csv(isolated_env / "b.csv", 6, start=100)
    for paths in ((a, b), (a,)):  # a runs twice: it is listed once, with its latest run
        assert main(["ingest", *map(str, paths), "--json"]) == 0
        capsys.readouterr()
    files = status_json(capsys)["files"]
    assert [f["file"] for f in files] == ["a.csv", "b.csv"]
    assert all(f["status"] == "completed" and f["percentage"] == 100.0 for f in files)
    runs = dg.DagsterInstance.get().get_run_records(dg.RunsFilter(tags={"dagster/partition": "a.csv"}))
    assert files[0]["runId"] == runs[0].dagster_run.run_id and len(runs) == 2
    assert main(["status"]) == 0
    table = capsys.readouterr().out
    assert table.index("a.csv") < table.index("b.csv")


def test_unknown_file_is_a_usage_error(capsys):
    assert main(["status", "nothing.csv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing.csv" in err
    assert main(["cancel", "nothing.csv"]) == 2
    assert "nothing.csv" in capsys.readouterr().err


def test_cancel_mid_standardize_ends_cancelled_with_nothing_stored_then_the_file_runs_again(
    isolated_env, monkeypatch, capsys
):
    tmp = isolated_env
    path = write_csv(tmp / "slow.csv", 150)
    with FakeDeepSeek(latency=3.0) as fake:  # 15 batches in 3 waves of 5: the cancel lands mid-standardize
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        proc = start_ingest(path)
        try:
            before = wait_for(
                capsys, "slow.csv", lambda d: d["completedBatches"] >= 1 or d["status"] not in ("uploaded", "processing")
            )[-1]
            assert before["status"] == "processing" and before["completedBatches"] < 15, before
            run_id = before["runId"]
            assert "easycrm/pid" in dg.DagsterInstance.get().get_run_by_id(run_id).tags
            code = main(["cancel", "slow.csv", "--json"])
            out = capsys.readouterr()
            assert code == 0, out.err
            assert json.loads(out.out) == {
                "file": "slow.csv", "runId": run_id, "status": "cancelled", "dagsterStatus": "CANCELED"
            }  # fmt: skip
        finally:
            code, out, err = finish(proc)
        requests_at_cancel = fake.request_count
    assert code == 1  # easycrm ingest reports the file as not completed...
    assert json.loads(out)["files"][0]["status"] == "cancelled"  # ...because it was cancelled
    assert json.loads(out)["files"][0]["error"].startswith("run cancelled")  # not an exception class name
    instance = dg.DagsterInstance.get()
    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.CANCELED  # not FAILURE: no run retry starts it again
    assert requests_at_cancel < 15
    doc = status_json(capsys, "slow.csv")
    assert doc["status"] == "cancelled" and doc["percentage"] < 100
    assert stored(tmp, "slow.csv") == 0  # collect never ran: no half-written batch
    info = instance.event_log_storage.get_concurrency_info("deepseek")
    assert [s for s in info.claimed_slots if s.run_id == run_id] == []  # pool slots freed
    assert info.pending_steps == [] or all(s.run_id != run_id for s in info.pending_steps)
    assert main(["cancel", "slow.csv"]) == 2  # nothing left to cancel
    capsys.readouterr()

    # the same file runs again later and completes
    with FakeDeepSeek(latency=0.0) as fake:
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
        capsys.readouterr()
    doc = status_json(capsys, "slow.csv")
    assert doc["status"] == "completed" and doc["percentage"] == 100.0 and doc["runId"] != run_id
    assert (doc["processedLeads"], doc["totalLeads"]) == (150, 150)
    # batches finished before the cancel may come from the standardization cache now: fewer mapped batches
    assert 0 < doc["completedBatches"] == doc["totalBatches"] <= 15
    assert stored(tmp, "slow.csv") == 150


def test_cancel_of_a_queued_run_cancels_it_in_the_queue(capsys):
    """A run the daemon has not launched yet (``uploaded``) is cancelled without any process to stop."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.test_utils import create_run_for_test
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from easycrm_pipeline.cli.run_file import ensure_partition

    instance = dg.DagsterInstance.get()
    ensure_partition(instance, "queued.csv")
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=InProcessCodeLocationOrigin(
                LoadableTargetOrigin(module_name="easycrm_pipeline.definitions")
            ),
            repository_name="__repository__",
        ),
        job_name="ingest_job",
    )
    run = create_run_for_test(  # a run waiting in the queue for the daemon, as a sensor leaves it
        instance,
        job_name="ingest_job",
        status=dg.DagsterRunStatus.QUEUED,
        remote_job_origin=origin,
        tags={"dagster/partition": "queued.csv", "easycrm/file_name": "queued.csv"},
    )
    assert status_json(capsys, "queued.csv")["status"] == "uploaded"
    assert main(["status", "queued.csv"]) == 0  # the table says "starting", not "uploaded 0/?" (issue 14)
    table = capsys.readouterr().out
    assert "starting" in table and "0/?" not in table and "uploaded" not in table
    assert main(["cancel", "queued.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
    doc = status_json(capsys, "queued.csv")
    assert doc["status"] == "cancelled" and doc["totalBatches"] is None and doc["processedLeads"] == 0


def test_run_progress_reports_failed_batches_with_reasons(isolated_env, monkeypatch, capsys):
    """A batch DeepSeek fails on every try goes to the dead letter: the run completes, status names the batch."""
    path = write_csv(isolated_env / "flaky.csv", 20)
    with FakeDeepSeek() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        # every request fails with a retryable 503: both batches end in the dead letter after 3 tries
        fake.script([{"status": 503}] * 200)
        assert main(["ingest", str(path)]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
    assert "flaky.csv: 2 of 2 batches failed after 3 tries; their rows are in the quarantine" in out
    doc = status_json(capsys, "flaky.csv")
    assert doc["status"] == "completed"
    assert doc["failedBatches"] == 2 and [f["batch"] for f in doc["failures"]] == ["batch_00001", "batch_00002"]
    assert all(f["reason"] for f in doc["failures"])
    instance = dg.DagsterInstance.get()
    record = instance.get_run_records(limit=1)[0]
    assert run_progress(instance, record)["failures"] == doc["failures"]


def test_failed_run_is_error_with_a_one_line_reason(isolated_env, capsys):
    path = isolated_env / "broken.csv"
    path.write_bytes(b"\x00\x01\x02\x03PK\x00\x00" * 200)  # binary junk: the reader refuses it
    assert main(["ingest", str(path), "--json"]) == 1
    capsys.readouterr()
    doc = status_json(capsys, "broken.csv")
    assert doc["status"] == "error" and doc["dagsterStatus"] == "FAILURE"
    assert doc["error"] and "\n" not in doc["error"] and "broken.csv" in doc["error"]
    assert doc["percentage"] < 100 and doc["totalLeads"] is None
    assert main(["status", "broken.csv"]) == 0
    assert doc["error"] in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- issue 16 item 3
def _started_run(instance, file_name: str, pid: int) -> dg.DagsterRun:
    """A STARTED ingest run of ``file_name`` executed by process ``pid`` (as ``easycrm ingest`` tags it)."""
    from easycrm_pipeline.cli.run_file import ensure_partition

    ensure_partition(instance, file_name)
    tags = {"dagster/partition": file_name, "easycrm/file_name": file_name, "easycrm/pid": str(pid)}
    return instance.add_run(dg.DagsterRun(job_name="ingest_job", status=dg.DagsterRunStatus.STARTED, tags=tags))


@pytest.fixture(params=["duckdb", "dynamodb"])
def configured_store(request, isolated_env, monkeypatch):
    """The store ``get_store()`` builds (what ``easycrm cancel`` opens), of each back end."""
    from easycrm_pipeline.store import get_store
    from easycrm_tests.store.conftest import make_dynamodb_store

    if request.param == "dynamodb":
        endpoint = request.getfixturevalue("dynamo_endpoint")
        table = make_dynamodb_store(endpoint).table
        monkeypatch.setenv("EASYCRM_STORE", "dynamodb")
        monkeypatch.setenv("EASYCRM_DYNAMODB_TABLE", table)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = get_store()
    store.init()
    return store


def test_cancel_after_the_leads_are_committed_is_refused_and_the_file_is_completed(configured_store, capsys):
    """Issue 16 item 3: collect_leads committed (its import is recorded, the checks still run): the status is
    ``completed`` and a cancel is refused ("already completed") without touching the run's process."""
    instance = dg.DagsterInstance.get()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run = _started_run(instance, "done.csv", process.pid)
        configured_store.record_import("done.csv", run.run_id, {"leads_created": 3})  # what the commit wrote
        code = main(["cancel", "done.csv", "--json"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith(f"easycrm cancel: done.csv: already completed: run {run.run_id[:8]} has stored")
        assert err.count("\n") == 1
        assert process.poll() is None  # not interrupted
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # not marked CANCELING

        # the tag collect_leads sets right after its commit: the file's status is completed at once
        from easycrm_pipeline.dagster_defs.run_marks import mark_committed

        mark_committed(instance, run.run_id)
        doc = status_json(capsys, "done.csv")
        assert (doc["status"], doc["percentage"], doc["dagsterStatus"]) == ("completed", 100.0, "STARTED")
        assert main(["cancel", "done.csv"]) == 2
        assert "already completed" in capsys.readouterr().err
        # a cancel from elsewhere (the UI's Terminate) after the commit: still completed, the leads are stored
        instance.report_run_canceled(instance.get_run_by_id(run.run_id))
        assert status_json(capsys, "done.csv")["status"] == "completed"
    finally:
        process.kill()
        process.wait()


def test_cancel_racing_the_commit_is_either_refused_with_everything_stored_or_stores_nothing(isolated_env, capsys):
    """Issue 16 item 3: the collect step and the cancel meet at the store's write lock. The test holds that lock
    while the run reaches its collect step and the cancel starts, then lets both go: whichever wins, the outcome
    is consistent (refused + completed + every lead stored, or cancelled + nothing stored)."""
    import threading

    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.pipeline.collect import open_store
    from easycrm_pipeline.store.locking import file_lock

    tmp = isolated_env
    path = write_csv(tmp / "race.csv", 12)
    store = open_store(get_settings())
    outcome: dict = {}
    with file_lock(store.lock_path, exclusive=True):
        proc = start_ingest(path)
        try:
            wait_for(capsys, "race.csv", lambda d: d["totalLeads"] == 12)  # parsed; collect waits for the lock
            run_id = status_json(capsys, "race.csv")["runId"]

            def cancel() -> None:
                from easycrm_pipeline.cli.instance import get_instance
                from easycrm_pipeline.dagster_defs.cancel import AlreadyCompleted, cancel_run

                instance = get_instance()
                try:
                    outcome["status"] = cancel_run(instance, instance.get_run_by_id(run_id))
                except AlreadyCompleted as exc:
                    outcome["refused"] = str(exc)

            canceller = threading.Thread(target=cancel)
            canceller.start()
            time.sleep(1.0)
        except BaseException:
            proc.kill()
            raise
    canceller.join(RUN_TIMEOUT)
    code, out, err = finish(proc)
    assert not canceller.is_alive() and outcome, outcome
    doc = status_json(capsys, "race.csv")
    if "refused" in outcome:
        assert "already completed" in outcome["refused"]
        assert doc["status"] == "completed" and stored(tmp, "race.csv") == 12
    else:
        assert outcome["status"] == "CANCELED", (outcome, err[-2000:])
        assert doc["status"] == "cancelled" and stored(tmp, "race.csv") == 0
        assert json.loads(out)["files"][0]["status"] == "cancelled"


def test_a_cancel_claimed_before_the_commit_stores_nothing(isolated_env, capsys):
    """Issue 16 item 3, the other side of the race: the cancel got the store's lock first and marked the run
    CANCELING (its interrupt not delivered yet): the collect step, checking under the same lock, writes nothing."""
    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.pipeline.collect import open_store
    from easycrm_pipeline.store.locking import file_lock

    tmp = isolated_env
    path = write_csv(tmp / "claimed.csv", 12)
    store = open_store(get_settings())
    with file_lock(store.lock_path, exclusive=True):
        proc = start_ingest(path)
        try:
            wait_for(capsys, "claimed.csv", lambda d: d["totalLeads"] == 12)  # collect waits for the lock
            instance = get_instance()
            run = instance.get_run_by_id(status_json(capsys, "claimed.csv")["runId"])
            # what claim_cancel leaves behind under the lock (its own lock is the one this test holds)
            instance.report_run_canceling(run, message="Cancel requested with easycrm cancel")
        except BaseException:
            proc.kill()
            raise
    code, out, err = finish(proc)
    assert code != 0
    assert stored(tmp, "claimed.csv") == 0
    assert store.file_imports("claimed.csv") == []
    assert status_json(capsys, "claimed.csv")["status"] in ("cancelled", "error")


def _kill_when_the_run_holds_slots(capsys, fake, name: str) -> str:
    """Wait until ``name``'s run has 5 requests in flight, kill -9 its run process; returns the run id."""
    import os
    import signal

    doc = wait_for(capsys, name, lambda d: d["status"] == "processing" and fake.in_flight >= 5)[-1]
    run = dg.DagsterInstance.get().get_run_by_id(doc["runId"])
    info = dg.DagsterInstance.get().event_log_storage.get_concurrency_info("deepseek")
    assert len([s for s in info.claimed_slots if s.run_id == run.run_id]) == 5  # the pool is full
    os.kill(int(run.tags["easycrm/pid"]), signal.SIGKILL)
    return run.run_id


def test_kill_9_of_a_deepseek_run_ends_it_as_error_and_the_next_file_completes(isolated_env, monkeypatch, capsys):
    """issue 13 / issue 16 item 11: ``kill -9`` of the run process while it holds all 5 pool slots. ``easycrm
    ingest`` says the run process died and ends the run failed; its slots are freed, so another file's run
    completes (it would wait at 0 % for ever otherwise); ``easycrm status`` says error with the reason."""
    tmp = isolated_env
    big = write_csv(tmp / "big.csv", 400)
    other = write_csv(tmp / "other.csv", 30, start=5000)
    with FakeDeepSeek(latency=2.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        proc = start_ingest(big)
        try:
            run_id = _kill_when_the_run_holds_slots(capsys, fake, "big.csv")
        finally:
            code, out, err = finish(proc)
        outcome = json.loads(out)["files"][0]
        assert code == 1 and outcome["status"] == "error"
        assert outcome["error"].startswith("the run process died (killed by SIGKILL"), outcome["error"]
        assert outcome["run_id"] == run_id
        instance = dg.DagsterInstance.get()
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        info = instance.event_log_storage.get_concurrency_info("deepseek")
        assert [s for s in info.claimed_slots if s.run_id == run_id] == []
        doc = status_json(capsys, "big.csv")
        assert doc["status"] == "error" and doc["error"].startswith("the run process died"), doc
        started = time.monotonic()
        assert main(["ingest", str(other), "--json"]) == 0, capsys.readouterr().err
        capsys.readouterr()
        assert time.monotonic() - started < RUN_TIMEOUT
    assert stored(tmp, "other.csv") == 30 and stored(tmp, "big.csv") == 0


def test_a_run_whose_process_died_unwatched_reads_error_and_gives_its_slots_back(isolated_env, monkeypatch, capsys):
    """No ``easycrm ingest`` waits for the run (as for a run launched by a sensor or the UI): the dead-run reaper
    (here through ``easycrm status``; in the daemon the ``dead_run_sensor``) fails it and frees its slots."""
    from easycrm_pipeline.dagster_defs.dead_runs import dead_run_sensor

    tmp = isolated_env
    big = write_csv(tmp / "big2.csv", 400)
    with FakeDeepSeek(latency=2.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "easycrm_pipeline.cli.run_file", "--partition", "big2.csv", "--location",
             str(big), "--file-name", "big2.csv"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(capsys, "big2.csv", lambda d: d["status"] == "processing" and fake.in_flight >= 5)
            instance = dg.DagsterInstance.get()
            sensor_says = dead_run_sensor(dg.build_sensor_context(instance=instance))
            assert "no dead runs" in str(sensor_says.skip_message)  # a live run is left alone
            run_id = _kill_when_the_run_holds_slots(capsys, fake, "big2.csv")
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    doc = status_json(capsys, "big2.csv")
    assert doc["status"] == "error" and doc["runId"] == run_id
    assert doc["error"].startswith(f"the run process died (pid {proc.pid} on "), doc["error"]
    info = dg.DagsterInstance.get().event_log_storage.get_concurrency_info("deepseek")
    assert [s for s in info.claimed_slots if s.run_id == run_id] == []
    assert info.pending_steps == [] or all(s.run_id != run_id for s in info.pending_steps)


# ---------------------------------------------------------------------------------------------------- issue 16 follow-up
def test_cancel_right_after_ingest_waits_for_the_announced_run_and_cancels_it(isolated_env, monkeypatch, capsys):
    """The breaker's finding: ``easycrm cancel FILE`` within ~1.5 s of ``easycrm ingest FILE`` - before the run
    exists - said "no run found" (or named the file's older, finished run) and the new run then stored everything.
    ``easycrm ingest`` announces each file's run (a pending-run marker) before its run process starts; a cancel that
    finds the marker waits for that run and cancels it: real processes for both commands."""
    import os

    from easycrm_pipeline.store import get_store

    tmp = isolated_env
    path = write_csv(tmp / "early.csv", 30)
    assert main(["ingest", str(path), "--json"]) == 0  # an older, completed run of the same file (offline rules)
    capsys.readouterr()
    instance = dg.DagsterInstance.get()
    old_runs = {r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": "early.csv"}))}
    pending = tmp / "dagster_home" / ".easycrm-pending"
    with FakeDeepSeek(latency=3.0) as fake:  # 3 batches in one wave of 3 s requests: the run is still going
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        proc = start_ingest(path)
        try:
            deadline = time.monotonic() + 60
            while not list(pending.glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert list(pending.glob("*.json")), "easycrm ingest wrote no pending-run marker"
            runs_now = {r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": "early.csv"}))}
            assert runs_now == old_runs  # the cancel below starts before the new run exists
            cancel = subprocess.run([sys.executable, "-m", "easycrm_pipeline.cli.main", "cancel", "early.csv", "--json"],
                                    capture_output=True, text=True, timeout=RUN_TIMEOUT, env=os.environ.copy())
        finally:
            code, out, err = finish(proc)
    assert cancel.returncode == 0, cancel.stderr
    doc = json.loads(cancel.stdout)
    assert doc["runId"] not in old_runs and (doc["status"], doc["dagsterStatus"]) == ("cancelled", "CANCELED")
    outcome = json.loads(out)["files"][0]
    assert code == 1 and outcome["status"] == "cancelled" and outcome["run_id"] == doc["runId"], err[-2000:]
    assert instance.get_run_by_id(doc["runId"]).status == dg.DagsterRunStatus.CANCELED
    imports = get_store().file_imports("early.csv")
    assert [r["runId"] for r in imports if r["runId"] not in old_runs] == []  # the cancelled run stored nothing
    assert not list(pending.glob("*.json"))  # ingest removed its marker
