"""Leads on disk as Parquet (issue 13): the parse step's settled leads and the set-based collect read them."""
from __future__ import annotations

from easycrm_pipeline.models import RawRow
from easycrm_pipeline.parsing import read_file, stream_file
from easycrm_pipeline.pipeline.collect import ParseSummary, collect_file
from easycrm_pipeline.pipeline.leadfile import BLOCK_ROWS, iter_leads, settle_by_rules, write_leads
from easycrm_pipeline.rules import standardize_rows
from easycrm_pipeline.rules.dedupe import merge_in_file
from easycrm_pipeline.store.duckdb_store import DuckDBStore

CSV = (
    "First Name,Last Name,Email,Phone,Company,Notes\n"
    "Ann,Lee,ann@example.com,+49 30 1234567,Acme,first; VIP\n"
    "Bo,,bo@example.com,,Beta,\n"
    ",,,+1 212 555 0100,Nomail Inc,no email here\n"
    "Ann,,ANN@example.com,,Acme GmbH,VIP; second\n"
    ",,,+1 212 555 0100,Nomail Inc,no email here\n"
    "Cy,Chu,cy@example.com,,,\n"
    "Ann,Lee-Smith,ann@example.com,,,third\n"
)


def test_leads_round_trip_through_the_parquet_file_in_order(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(CSV, encoding="utf-8")
    leads = standardize_rows(read_file(path).rows)
    lead_file = write_leads(tmp_path / "leads.parquet", leads)
    assert lead_file.leads == len(leads) == 7
    back = list(iter_leads(lead_file))
    assert [lead for lead, _ in back] == leads
    assert {batch for _, batch in back} == {"settled"}


def test_settle_by_rules_streams_a_csv_into_the_same_leads_as_the_whole_read(tmp_path):
    rows = [RawRow(f"0:{n}", None, n, (("Email", f"p{n}@example.com"), ("First Name", f"P{n}")))
            for n in range(2, 2 + BLOCK_ROWS + 7)]  # more than one block
    lead_file = settle_by_rules(iter(rows), tmp_path / "settled.parquet", None)
    assert lead_file.leads == len(rows)
    assert [lead for lead, _ in iter_leads(lead_file)] == standardize_rows(rows)
    path = tmp_path / "f.csv"
    path.write_text(CSV, encoding="utf-8")
    parsed, stream = stream_file(path)
    streamed = settle_by_rules(stream, tmp_path / "s2.parquet", None)
    assert parsed.rows == [] and parsed.streamed == 7 and parsed.rows_read == 7
    assert [lead for lead, _ in iter_leads(streamed)] == standardize_rows(read_file(path).rows)


def _stored(store):
    keep = ("firstName", "lastName", "title", "company", "email", "phone", "remarks", "sourceRowId", "rawRow")
    return sorted((tuple(str(lead.get(k)) for k in keep) for lead in store.all_leads()))


def test_set_based_collect_equals_merge_in_file_then_upsert_file(tmp_path):
    """DuckDBStore.upsert_lead_files (SQL) against rules.dedupe.merge_in_file + upsert_file (Python), twice: the
    second ingest of the same file changes nothing and recognizes its email-less rows."""
    path = tmp_path / "f.csv"
    path.write_text(CSV, encoding="utf-8")
    parsed = read_file(path)
    leads = standardize_rows(parsed.rows)
    unique, resolutions = merge_in_file(leads)
    python_store = DuckDBStore(tmp_path / "python.duckdb")
    python_store.init()
    python_store.upsert_file(unique, source_file="f.csv", duplicates_resolved=resolutions)

    sql_store = DuckDBStore(tmp_path / "sql.duckdb")
    sql_store.init()
    summary = ParseSummary(file_name="f.csv", rows_read=parsed.rows_read, quarantine=parsed.quarantine,
                           sheets=parsed.sheets)
    lead_file = write_leads(tmp_path / "settled.parquet", leads)
    first = collect_file([], summary, sql_store, run_id="r1", lead_files=[lead_file])
    assert _stored(sql_store) == _stored(python_store)
    assert first.leads_created == 5 and first.duplicates_resolved == 2 and first.leads_unchanged == 0
    ann = sql_store.get_lead_by_email("ann@example.com")
    assert ann["lastName"] == "Lee-Smith" and ann["company"] == "Acme GmbH"
    assert ann["remarks"] == "first; VIP; second; third"  # parts of every occurrence, first seen first
    assert ann["remarks"] == python_store.get_lead_by_email("ann@example.com")["remarks"]
    merged = [c for c in sql_store.changes("f.csv") if c["action"] == "batch_duplicate_resolved"]
    assert len(merged) == 1 and merged[0]["rowId"] == "0:8"

    again = collect_file([], summary, sql_store, run_id="r2", lead_files=[lead_file])
    assert again.leads_created == 0 and again.leads_updated == 0 and again.leads_unchanged == 5
    assert _stored(sql_store) == _stored(python_store)


def test_a_duckdb_memory_limit_too_small_for_the_file_does_not_fail_the_collect(tmp_path):
    """DuckDB cannot spill all of a file's transaction: under a limit too small, the collect redoes it without."""
    rows = [RawRow(f"0:{n}", None, n, (("Email", f"p{n}@example.com"), ("First Name", f"P{n}"),
                                         ("Notes", "x" * 200))) for n in range(2, 20_002)]
    lead_file = settle_by_rules(iter(rows), tmp_path / "settled.parquet", None)
    store = DuckDBStore(tmp_path / "leads.duckdb")
    store.init()
    store.file_upsert_memory, store.file_upsert_bytes_per_lead = "2MB", 0
    summary = ParseSummary(file_name="big.csv", rows_read=len(rows))
    stats = collect_file([], summary, store, run_id="r1", lead_files=[lead_file])
    assert stats.leads_created == len(rows) and store.count_leads() == len(rows)
    assert store.file_upsert_memory is None  # the limit was lifted for this store
