"""Benchmark of ``DuckDBStore.upsert_file`` (set-based) against the old system's naive per-row lookup-then-write.

Scenario (the target in the store's brief): a table already holding N leads, then one file of N leads of which half
carry emails already in the table (updates, every one with a changed title) and half are new. Target: N = 50,000
in <= 3 s on 2 cores.

The naive baseline (the old system's ``batch_upsert_leads``, docs/old-system.md: for each lead, look the email up,
then UPDATE or INSERT) is
run on a smaller sample (``--naive-n``, default 2,000 leads, same 50 % overlap) and also extrapolated linearly to N.

Usage: ``python bench/bench_upsert.py [--n 50000] [--naive-n 2000]``. Pytest-free; prints the results.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from easycrm_pipeline.models import LEAD_FIELDS, StandardLead  # noqa: E402
from easycrm_pipeline.store.duckdb_store import DuckDBStore, utc_now  # noqa: E402


def make_leads(start: int, count: int, tag: str) -> list[StandardLead]:
    """``count`` leads with emails ``lead{i}@example.com`` for i in [start, start + count)."""
    out = []
    for n, i in enumerate(range(start, start + count)):
        fields = {
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "title": f"Title {tag}",
            "company": f"Company {i % 997}",
            "email": f"lead{i}@example.com",
            "phone": f"+49301234{i:06d}",
            "remarks": None,
        }
        out.append(
            StandardLead(
                row_id=f"0:{n + 2}",
                sheet=None,
                row_number=n + 2,
                fields=fields,
                provided=frozenset(LEAD_FIELDS),
                raw={k: v or "" for k, v in fields.items()},
                standardizer="bench",
            )
        )
    return out


def naive_upsert(path: Path, leads: list[StandardLead], source_file: str) -> tuple[int, int]:
    """The old system's way: per lead, query by email, then update or insert (one transaction, to be generous)."""
    con = duckdb.connect(str(path))
    created = updated = 0
    now = utc_now()
    con.execute("BEGIN")
    for lead in leads:
        f = lead.fields
        row = con.execute('SELECT "leadId" FROM leads WHERE email = ?', [f["email"]]).fetchone()
        if row:
            con.execute(
                'UPDATE leads SET "firstName"=?, "lastName"=?, title=?, company=?, phone=?, remarks=?, '
                '"sourceFile"=?, "updatedAt"=? WHERE "leadId"=?',
                [f["firstName"], f["lastName"], f["title"], f["company"], f["phone"], f["remarks"], source_file, now,
                 row[0]],
            )
            con.execute(
                'INSERT INTO lead_changes ("changeId","at","action","email","leadId","newSourceFile") '
                "VALUES (?,?,?,?,?,?)",
                [str(uuid.uuid4()), now, "lead_updated", f["email"], row[0], source_file],
            )
            updated += 1
        else:
            lead_id = str(uuid.uuid4())
            con.execute(
                'INSERT INTO leads ("leadId","firstName","lastName",title,company,email,phone,remarks,"sourceFile",'
                '"createdAt","updatedAt","rawRow") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
                [lead_id, f["firstName"], f["lastName"], f["title"], f["company"], f["email"], f["phone"],
                 f["remarks"], source_file, now, now, json.dumps(lead.raw)],
            )
            con.execute(
                'INSERT INTO lead_changes ("changeId","at","action","email","leadId","newSourceFile") '
                "VALUES (?,?,?,?,?,?)",
                [str(uuid.uuid4()), now, "lead_created", f["email"], lead_id, source_file],
            )
            created += 1
    con.execute("COMMIT")
    con.close()
    return created, updated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="leads in the table and in the file (default 50000)")
    ap.add_argument("--naive-n", type=int, default=2_000, help="leads for the naive baseline (default 2000)")
    args = ap.parse_args()
    n, half = args.n, args.n // 2
    print(f"cores: {os.cpu_count()}, duckdb {duckdb.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb")
        store.init()
        t = time.perf_counter()
        first = store.upsert_file(make_leads(0, n, "A"), source_file="first.csv")
        print(f"set-based: {n:,} new leads into an empty table: {time.perf_counter() - t:.2f} s "
              f"(created {first.created:,})")
        second_leads = make_leads(half, n, "B")  # half overlap the first file's emails
        t = time.perf_counter()
        stats = store.upsert_file(second_leads, source_file="second.csv")
        took = time.perf_counter() - t
        print(f"set-based: {n:,} leads ({stats.updated:,} updates, {stats.created:,} new) into a table of {n:,}: "
              f"{took:.2f} s  [{'OK' if took <= 3 else 'SLOWER THAN'} target 3 s]  "
              f"(in-store {stats.processing_ms:.0f} ms, duplicate detection {stats.duplicate_detection_ms:.0f} ms)")
        t = time.perf_counter()
        again = store.upsert_file(second_leads, source_file="second.csv")
        print(f"set-based: same file again (idempotent, {again.unchanged:,} unchanged): "
              f"{time.perf_counter() - t:.2f} s")

        m, mh = args.naive_n, args.naive_n // 2
        naive = DuckDBStore(Path(tmp) / "naive.duckdb")
        naive.init()
        naive.upsert_file(make_leads(0, m, "A"), source_file="first.csv")
        t = time.perf_counter()
        created, updated = naive_upsert(naive.path, make_leads(mh, m, "B"), "second.csv")
        nt = time.perf_counter() - t
        print(f"naive per-row: {m:,} leads ({updated:,} updates, {created:,} new) into a table of {m:,}: {nt:.2f} s "
              f"-> ~{nt / m * n:.0f} s for {n:,} (linear extrapolation, the real cost grows with the table)")


if __name__ == "__main__":
    main()
