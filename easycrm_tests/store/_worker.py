"""Subprocess entry points for the store's multi-process tests (run as ``python -m easycrm_tests.store._worker``).

Commands (each prints one JSON document on stdout at the end):

* ``write DB WORKER FILES START_AT [POOL]`` — wait until ``time.time() >= START_AT``, then upsert ``FILES`` files
  of ``0.4 * POOL`` leads each (default POOL 1000: 400 leads): file ``j`` of worker ``k`` holds emails
  ``p{i}@example.com`` for ``i`` in ``writer_emails(k, j, POOL)`` with title ``w{k}f{j}`` (so every match is a
  real update).
  Prints ``[{"file", "run_id", "created", "updated", "unchanged"}, ...]``.
* ``read DB STOP_FILE`` — query in a loop until ``STOP_FILE`` exists; prints ``{"reads", "counts", "errors"}``.
* ``bigupsert DB N MODE`` — upsert ``N`` leads (emails 500..500+N, title ``B``) as file ``big.csv``; with
  MODE ``pause`` the transaction stops after all its writes (before COMMIT), prints ``APPLIED`` and sleeps so the
  test can ``kill -9`` it; MODE ``run`` just runs it.
* ``collect DB N POINT`` — run the ingest's collect step (``pipeline.collect.collect_file``) on the inputs of
  :func:`collect_inputs` (file ``c.csv``: ``N`` leads + 1 without email, 2 quarantined rows); POINT ``upsert``
  stops right after the upsert (before the quarantine is written), ``quarantine`` right after the quarantine
  (before the import record), each printing ``CRASH_POINT`` and sleeping so the test can ``kill -9`` it; ``run``
  runs it through.
``DB`` is a DuckDB file path, or ``dynamodb:<table>@<endpoint url>`` for a ``DynamoDBStore`` (commands write/read/
collect).

* ``hold DB SECONDS`` — open the DuckDB file read-write WITHOUT the store lock (another program), print ``READY``,
  hold it ``SECONDS``, close.
* ``upsert-one DB EMAIL LOCK_TIMEOUT`` — upsert one lead with ``EMAIL`` (file ``one.csv``) through a ``DuckDBStore``
  whose lock timeout is ``LOCK_TIMEOUT`` seconds (an ingest in another process); prints its stats.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from easycrm_pipeline.store.base import LeadQuery
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.store.helpers import numbered_leads


def open_store(spec: str):
    """``DuckDBStore(path)`` or, for ``dynamodb:<table>@<url>``, ``DynamoDBStore(table, endpoint_url=url)``."""
    if spec.startswith("dynamodb:"):
        from easycrm_pipeline.store.dynamodb_store import DynamoDBStore

        table, _, url = spec[len("dynamodb:"):].partition("@")
        return DynamoDBStore(table, endpoint_url=url, region_name="us-east-1")
    return DuckDBStore(Path(spec))


def writer_emails(worker: int, file_no: int, pool: int = 1000) -> list[int]:
    """The email numbers of file ``file_no`` of writer ``worker``: ``0.4 * pool`` of ``pool`` numbers, overlapping
    the other writers' and files' (defaults: 400 of 1000)."""
    start = worker * pool // 4 + file_no * pool // 10
    return [(start + n) % pool for n in range(pool * 2 // 5)]


def cmd_write(db: str, worker: int, files: int, start_at: float, pool: int) -> None:
    store = open_store(db)
    while time.time() < start_at:
        time.sleep(0.005)
    out = []
    for j in range(files):
        name, run_id = f"w{worker}f{j}.csv", f"run-w{worker}f{j}"
        stats = store.upsert_file(numbered_leads(writer_emails(worker, j, pool), tag=f"w{worker}f{j}"),
                                  source_file=name, run_id=run_id)
        out.append({"file": name, "run_id": run_id, "created": stats.created, "updated": stats.updated,
                    "unchanged": stats.unchanged})
    print(json.dumps(out))


def cmd_read(db: str, stop_file: str) -> None:
    store = open_store(db)
    reads, counts, errors = 0, [], []
    while not Path(stop_file).exists():
        try:
            n = store.count_leads()
            rows, total = store.query_leads(LeadQuery(search="example", page_size=5))
            if total < n:
                errors.append(f"total {total} < count {n}")
            counts.append(n)
            reads += 1
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.01)
    print(json.dumps({"reads": reads, "counts": counts, "errors": errors}))


def cmd_bigupsert(db: str, n: int, mode: str) -> None:
    store = DuckDBStore(Path(db))
    if mode == "pause":
        original = DuckDBStore._apply

        def apply_then_pause(self, con, **kwargs):
            original(self, con, **kwargs)
            print("APPLIED", flush=True)
            time.sleep(120)

        DuckDBStore._apply = apply_then_pause
    leads = numbered_leads(list(range(500, 500 + n)), tag="B")
    print("STARTING", flush=True)
    stats = store.upsert_file(leads, source_file="big.csv", run_id="big")
    print(json.dumps({"created": stats.created, "updated": stats.updated}), flush=True)


def collect_inputs(n: int):
    """``(results, summary)`` for ``collect_file``: file ``c.csv`` with ``n`` leads (emails ``p500..``, title
    ``C``, rows 2..n+1), one lead without email (row n+2) and two rows quarantined at parse time (rows n+3, n+4)."""
    from easycrm_pipeline.models import QuarantineRow
    from easycrm_pipeline.pipeline.batches import BatchResult
    from easycrm_pipeline.pipeline.collect import ParseSummary
    from easycrm_tests.store.helpers import lead

    leads = numbered_leads(list(range(500, 500 + n)), tag="C") + [
        lead(n + 2, firstName="No", lastName="Mail", company="Solo Ltd")]
    quarantine = [QuarantineRow(None, n + 3, "footer", {"Notes": "total: 12"}),
                  QuarantineRow(None, n + 4, "no name, no email, no phone", {"Notes": "call back"})]
    summary = ParseSummary(file_name="c.csv", rows_read=n + 3, quarantine=quarantine)
    return [BatchResult(batch="settled", leads=leads)], summary


def cmd_collect(db: str, n: int, point: str) -> None:
    from easycrm_pipeline.pipeline.collect import collect_file

    store = open_store(db)
    if point != "run":
        name = {"upsert": "add_quarantine", "quarantine": "record_import"}[point]

        def crash_point(*args, **kwargs):
            print("CRASH_POINT", flush=True)
            time.sleep(120)

        setattr(type(store), name, crash_point)
    results, summary = collect_inputs(n)
    stats = collect_file(results, summary, store, run_id=f"collect-{point}")
    print(json.dumps(stats.as_dict()), flush=True)


def cmd_hold(db: str, seconds: float) -> None:
    import duckdb

    con = duckdb.connect(db)
    print("READY", flush=True)
    time.sleep(seconds)
    con.close()
    print(json.dumps({"held": seconds}))


def cmd_upsert_one(db: str, email: str, lock_timeout: float) -> None:
    from easycrm_tests.store.helpers import lead

    stats = DuckDBStore(Path(db), lock_timeout=lock_timeout).upsert_file([lead(2, email=email)], source_file="one.csv")
    print(json.dumps(stats.to_dict()), flush=True)


def main(argv: list[str]) -> None:
    cmd, db, *rest = argv
    if cmd == "write":
        cmd_write(db, int(rest[0]), int(rest[1]), float(rest[2]), int(rest[3]) if len(rest) > 3 else 1000)
    elif cmd == "read":
        cmd_read(db, rest[0])
    elif cmd == "bigupsert":
        cmd_bigupsert(db, int(rest[0]), rest[1])
    elif cmd == "collect":
        cmd_collect(db, int(rest[0]), rest[1])
    elif cmd == "hold":
        cmd_hold(db, float(rest[0]))
    elif cmd == "upsert-one":
        cmd_upsert_one(db, rest[0], float(rest[1]))
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
