"""The scale test's checks, run by ``scale/run_test_scale.sh`` once PostgreSQL, Redis, moto, the fake DeepSeek and two
Celery workers are up and the environment points at them (``DAGSTER_HOME``, ``DAGSTER_PG_*``, ``EASYCRM_*``,
``DEEPSEEK_*``, ``AWS_*``).

``python -m easycrm_tests_scale.check --work DIR --deepseek-url URL --workers w1,w2 [--leads-per-file N]``

1. writes three lead files (overlapping emails across files, a duplicate inside each) and runs
   ``easycrm ingest --json A B C`` — three concurrent Dagster runs, each orchestrating Celery tasks;
2. checks: every file completed; every lead stored once (the store holds exactly the expected emails, none twice,
   plus the email-less rows); at most 5 DeepSeek requests in flight across both workers (the fake's ``/_stats``);
   both workers ran steps, standardize steps included (the ``Celery worker`` of each step's engine event in the
   PostgreSQL event log); the three runs are in PostgreSQL's ``runs`` table with status SUCCESS.

Prints one ``PASS``/``FAIL`` line per check, then ``N passed, M failed``; exit status 1 if any check failed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

POOL_LIMIT = 5
FILES = ("scale_a.csv", "scale_b.csv", "scale_c.csv")
SHARED = 15  # emails present in all three files (cross-file upserts racing on the same leads)
NO_EMAIL = 3  # rows without an email per file: always new leads


def write_files(folder: Path, leads_per_file: int) -> tuple[list[Path], set[str], int]:
    """Three CSV files; returns (paths, expected distinct emails, expected email-less leads)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, emails = [], set()
    own = leads_per_file - SHARED - NO_EMAIL - 1
    for f, name in enumerate(FILES):
        rows = []
        for i in range(own):
            rows.append((f"First{f}x{i}", f"Last{f}x{i}", f"owner{f}.{i}@scale-{f}.example.com", "Buyer"))
        for i in range(SHARED):
            rows.append((f"Shared{i}", f"File{f}", f"shared.{i}@scale-shared.example.com", f"Title from file {f}"))
        for i in range(NO_EMAIL):
            rows.append((f"NoMail{f}x{i}", "Person", "", "Unknown"))
        rows.append(("Again", f"Dup{f}", f"owner{f}.0@scale-{f}.example.com", "Duplicate in file"))
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["First Name", "Last Name", "Email", "Job Title", "Company", "Phone"])
            for k, (first, last, email, title) in enumerate(rows):
                writer.writerow([first, last, email, title, f"Scale Co {f}", f"+4930{f:02d}{k:06d}"])
        emails.update(r[2] for r in rows if r[2])
        paths.append(path)
    return paths, emails, NO_EMAIL * len(FILES)


def fetch_json(url: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return json.loads(response.read())


def pg_connect():
    import psycopg2

    return psycopg2.connect(
        host=os.environ["DAGSTER_PG_HOST"], port=int(os.environ["DAGSTER_PG_PORT"]),
        user=os.environ["DAGSTER_PG_USER"], password=os.environ["DAGSTER_PG_PASSWORD"],
        dbname=os.environ["DAGSTER_PG_DB"],
    )


def steps_by_worker(run_ids: list[str]) -> dict[str, Counter]:
    """{worker hostname: Counter(op name)} from the celery tasks' engine events ("Executing steps ... in celery
    worker", metadata ``Celery worker``) in PostgreSQL's event log."""
    from dagster import deserialize_value
    from dagster._core.events.log import EventLogEntry

    out: dict[str, Counter] = {}
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT event FROM event_logs WHERE run_id = ANY(%s) AND dagster_event_type = 'ENGINE_EVENT' "
            "AND event LIKE %s",
            (run_ids, "%in celery worker%"),
        )
        for (raw,) in cur.fetchall():
            entry = deserialize_value(raw, EventLogEntry)
            metadata = entry.dagster_event.engine_event_data.metadata
            worker = metadata["Celery worker"].value
            op = (entry.step_key or "?").split("[", 1)[0].rsplit(".", 1)[-1]  # leads.standardize_chunk[chunk_0001] -> op
            out.setdefault(worker, Counter())[op] += 1
    return out


def print_timeline(run_ids: list[str]) -> None:
    """Per run, seconds from RUN_START: parse_file start/end, first/last standardize start/end, collect end; and how
    many standardize steps ran at once at most (from STEP_START/STEP_SUCCESS in PostgreSQL's event log)."""
    from dagster import DagsterEventType

    names = {DagsterEventType.RUN_START.value: "RUN_START", DagsterEventType.RUN_SUCCESS.value: "RUN_SUCCESS",
             "STEP_START": "STEP_START", "STEP_SUCCESS": "STEP_SUCCESS", "STEP_FAILURE": "STEP_FAILURE"}
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, dagster_event_type, step_key, extract(epoch from timestamp) FROM event_logs "
            "WHERE run_id = ANY(%s) AND dagster_event_type = ANY(%s) ORDER BY timestamp",
            (run_ids, list(names)),
        )
        rows = [(r, names[t], k, ts) for r, t, k, ts in cur.fetchall()]
    edges = []
    for run_id in run_ids:
        ev = [(t, k or "", float(ts)) for r, t, k, ts in rows if r == run_id]
        start = next((ts for t, _, ts in ev if t == "RUN_START"), None)
        if start is None:
            continue

        def at(kind: str, op: str, pick=min):
            times = [ts - start for t, k, ts in ev if t == kind and op in k]
            return f"{pick(times):5.1f}" if times else "    -"

        print(f"  run {run_id[:8]}: parse {at('STEP_START', 'parse_file')}-{at('STEP_SUCCESS', 'parse_file')} s, "
              f"standardize {at('STEP_START', 'standardize_chunk')}-{at('STEP_SUCCESS', 'standardize_chunk', max)} s,"
              f" collect {at('STEP_START', 'collect_leads')}-{at('STEP_SUCCESS', 'collect_leads')} s, "
              f"run end {at('RUN_SUCCESS', '')} s", flush=True)
        edges += [(ts, +1 if t == "STEP_START" else -1) for t, k, ts in ev
                  if "standardize_chunk" in k and t in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")]
    running = peak = 0
    for _, delta in sorted(edges):
        running += delta
        peak = max(peak, running)
    print(f"  standardize steps running at once (all runs): at most {peak}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easycrm_tests_scale.check")
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--deepseek-url", required=True)
    parser.add_argument("--workers", required=True, help="comma-separated worker names (node name prefixes)")
    parser.add_argument("--leads-per-file", type=int, default=100)
    parser.add_argument("--easycrm", default=str(Path(sys.executable).with_name("easycrm")))
    args = parser.parse_args(argv)
    results: list[tuple[bool, str, str]] = []

    def check(ok: bool, name: str, detail: str) -> None:
        results.append((ok, name, detail))
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)

    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.store import get_store

    settings = get_settings()
    store = get_store(settings)
    store.init()  # DynamoDB tables are created only by init(), never by a write
    io_bucket = os.environ.get("EASYCRM_IO_S3_BUCKET")
    if io_bucket:
        import boto3

        boto3.client("s3").create_bucket(Bucket=io_bucket)
    paths, expected_emails, expected_no_email = write_files(args.work / "files", args.leads_per_file)
    batches = sum(-(-(args.leads_per_file) // settings.batch_size) for _ in paths)
    print(f"store={settings.store} table={settings.dynamodb_table} files={len(paths)} "
          f"rows/file={args.leads_per_file} batches={batches} executor={os.environ.get('EASYCRM_EXECUTOR')}",
          flush=True)

    started = time.monotonic()
    proc = subprocess.run([args.easycrm, "ingest", "--json", *map(str, paths)], capture_output=True, text=True,
                          timeout=420)
    ingest_seconds = time.monotonic() - started
    print(f"easycrm ingest: exit {proc.returncode} in {ingest_seconds:.1f} s", flush=True)
    try:
        outcomes = json.loads(proc.stdout)["files"]
    except (ValueError, KeyError):
        outcomes = []
        print("stdout:", proc.stdout[-2000:], "\nstderr:", proc.stderr[-4000:], flush=True)
    for o in outcomes:
        print(f"  {o['file']}: {o['status']} created={o.get('leads_created')} updated={o.get('leads_updated')} "
              f"dupes={o.get('duplicates_resolved')} batches={o.get('batches')} llm_calls={o.get('llm_calls')} "
              f"seconds={o.get('seconds')} run={o.get('run_id')} {o.get('error') or ''}", flush=True)
    completed = [o for o in outcomes if o["status"] == "completed"]
    check(proc.returncode == 0 and len(completed) == len(paths), "three files ingested concurrently",
          f"{len(completed)}/{len(paths)} completed in {ingest_seconds:.1f} s (exit {proc.returncode})")

    leads = _all_leads(settings, store)
    emails = Counter(lead.get("email") for lead in leads if lead.get("email"))
    twice = sorted(e for e, n in emails.items() if n > 1)
    no_email = sum(1 for lead in leads if not lead.get("email"))
    expected_total = len(expected_emails) + expected_no_email
    check(
        not twice and set(emails) == expected_emails and no_email == expected_no_email and len(leads) == expected_total,
        "every lead stored once",
        f"{len(leads)} leads (expected {expected_total}): {len(emails)} distinct emails (expected "
        f"{len(expected_emails)}), {len(twice)} stored twice{' e.g. ' + twice[0] if twice else ''}, "
        f"{no_email} without email (expected {expected_no_email})",
    )

    stats = fetch_json(args.deepseek_url.rstrip("/") + "/_stats")
    check(
        0 < stats["peak_in_flight"] <= POOL_LIMIT and stats["request_count"] >= batches,
        f"at most {POOL_LIMIT} DeepSeek requests in flight",
        f"peak {stats['peak_in_flight']} across both workers, {stats['request_count']} requests for {batches} batches",
    )

    run_ids = [o["run_id"] for o in outcomes if o.get("run_id")]
    if run_ids:
        print_timeline(run_ids)
    by_worker = steps_by_worker(run_ids) if run_ids else {}
    names = [w for w in args.workers.split(",") if w]
    per_name = {n: Counter() for n in names}
    for host, counts in by_worker.items():
        for n in names:
            if host.startswith(n + "@"):
                per_name[n].update(counts)
    check(
        # each file is one chunk step (its 10 batches' requests on threads, one pool slot each): both workers run
        # steps, and the chunk steps ran on Celery workers
        all(sum(c.values()) > 0 for c in per_name.values()) and len(per_name) >= 2
        and sum(c.get("standardize_chunk", 0) for c in per_name.values()) >= len(paths),
        "both workers ran steps",
        "; ".join(f"{n}: {sum(c.values())} steps ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})"
                  for n, c in per_name.items()) or "no celery step events",
    )

    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (run_ids,))
        rows = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM runs")
        (total_runs,) = cur.fetchone()
    check(
        len(run_ids) == len(paths) and all(rows.get(r) == "SUCCESS" for r in run_ids),
        "runs visible in PostgreSQL",
        f"{sum(1 for r in run_ids if rows.get(r) == 'SUCCESS')}/{len(paths)} runs SUCCESS in the runs table "
        f"({total_runs} runs in all)",
    )

    if io_bucket:
        import boto3

        prefix = (os.environ.get("EASYCRM_IO_S3_PREFIX") or "dagster-io").rstrip("/") + "/"
        keys = [obj["Key"] for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=io_bucket, Prefix=prefix) for obj in page.get("Contents", [])]
        # keys: <prefix>storage/<run_id>/leads.standardize_chunk--chunk_0001/result
        batch_keys = [k for k in keys if "standardize_chunk" in k and any(r in k for r in run_ids)]
        local = Path(os.environ["DAGSTER_HOME"]) / "storage"
        local_runs = [p.name for p in local.iterdir() if p.name in run_ids] if local.is_dir() else []
        check(
            len(batch_keys) >= len(paths) and not local_runs,
            "step outputs went through S3",
            f"{len(keys)} objects in s3://{io_bucket}/{prefix} ({len(batch_keys)} standardize outputs of these runs), "
            f"{len(local_runs)} runs with outputs under $DAGSTER_HOME/storage",
        )

    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        storage = type(instance.run_storage).__name__
        limit = instance.event_log_storage.get_concurrency_info("deepseek").limit
        free_after = instance.run_monitoring_settings.get("free_slots_after_run_end_seconds")
        retry_ops = instance.run_retries_retry_on_asset_or_op_failure
    check(
        storage == "PostgresRunStorage" and limit == POOL_LIMIT and bool(free_after) and not retry_ops,
        "instance is deploy/dagster.yaml",
        f"run storage {storage}, pool deepseek limit {limit}, free_slots_after_run_end_seconds {free_after}, "
        f"retry_on_asset_or_op_failure {retry_ops}",
    )

    passed = sum(1 for ok, _, _ in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


def _all_leads(settings, store) -> list[dict]:
    """Every stored lead: a consistent full scan of the DynamoDB table (what is really there, whatever the store's
    read API does), or the DuckDB store's ``iter_leads``."""
    if settings.store != "dynamodb":
        return list(store.iter_leads())
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    deser = TypeDeserializer()
    client = boto3.client("dynamodb")
    out = []
    for page in client.get_paginator("scan").paginate(TableName=settings.dynamodb_table, ConsistentRead=True):
        out.extend({k: deser.deserialize(v) for k, v in item.items()} for item in page["Items"])
    return out


if __name__ == "__main__":
    sys.exit(main())
