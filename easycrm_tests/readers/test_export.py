"""CSV export: BOM, the seeds' column order, ISO timestamps, OWASP formula neutralizing, filters, bad paths, and a
100,000-lead export in bounded memory."""
from __future__ import annotations

import csv
import re
import tracemalloc

import pytest

from easycrm_pipeline.fields import UNEXPORTED_FIELDS
from easycrm_pipeline.readers.export import (
    ALL_EXPORT_COLUMNS, EXPORT_COLUMNS, ExportError, check_output_path, export_leads, neutralize_cell, write_leads_csv,
)
from easycrm_pipeline.store.base import LeadQuery
from easycrm_tests.readers.seed import FILE_A, HYPERLINK, env_store, seed
from easycrm_tests.store.helpers import numbered_leads

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def read_export(path):
    raw = path.read_bytes()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return raw, list(csv.reader(fh))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+4930111", "+4930111"),  # an E.164 phone is a plain number: exported as it is
        ("+1 532 344 1362", "+1 532 344 1362"),
        ("-12", "-12"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),  # DDE payload
        ("+4930111+HYPERLINK(1)", "'+4930111+HYPERLINK(1)"),
        ("-1+1", "'-1+1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Acme = good", "Acme = good"),
        # breaker finding 25: blanks before the trigger (LF, NBSP, zero-width space, BOM, spaces) do not hide it
        ('\n=HYPERLINK("x")', '\'\n=HYPERLINK("x")'),
        ("\u200b=1+1", "'\u200b=1+1"),
        ("\u00a0@SUM(1)", "'\u00a0@SUM(1)"),
        ("\ufeff\u200d -1+1", "'\ufeff\u200d -1+1"),
        ("  +cmd|' /C calc'!A0", "'  +cmd|' /C calc'!A0"),
        ("\u00a0+4930111", "\u00a0+4930111"),  # still a plain number
        ("-1.5", "-1.5"),
        (" plain", " plain"),
        ("plain", "plain"),
        (None, ""),
        (7, "7"),
    ],
)
def test_neutralize_cell(value, expected):
    assert neutralize_cell(value) == expected


def test_export_has_bom_seed_columns_iso_times_and_inert_formulas(tmp_path):
    store = env_store()
    seed(store)
    out = tmp_path / "leads.csv"
    assert export_leads(store, out, LeadQuery(sort="sourceRow", descending=False)) == 7
    raw, rows = read_export(out)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\xef\xbb\xbf") == 1
    assert b"\r\n" in raw
    header, body = rows[0], rows[1:]
    assert tuple(header) == EXPORT_COLUMNS
    # issue 16 item 4: the old system's 11 columns, exactly (DESIGN.md section 2)
    assert header == ["leadId", "firstName", "lastName", "title", "company", "email", "phone", "remarks",
                      "sourceFile", "createdAt", "updatedAt"]
    assert len(body) == 7
    by_email = {r[5]: dict(zip(header, r)) for r in body}
    zed = by_email["zed@evil.example"]
    assert zed["company"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert zed["remarks"] == "'@SUM(1)"
    assert by_email["kim@acme.example"]["phone"] == "+4930111"
    assert by_email["ana@globex.example"]["phone"] == "0301234567"
    assert "sourceWorksheet" not in by_email["eve@acme.example"] and "sourceRow" not in by_email["eve@acme.example"]
    assert by_email[""]["title"] == "Buyer"  # the lead without email exports with an empty email cell
    for r in body:
        row = dict(zip(header, r))
        assert ISO.match(row["createdAt"]) and ISO.match(row["updatedAt"])
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not re.fullmatch(r"[+-]?\d[\d ]*", cell)
                       for cell in r)  # only plain signed numbers (E.164 phones) may start with + or -
    stored = {r["email"]: r for r in store.all_leads()}
    assert zed["leadId"] == stored["zed@evil.example"]["leadId"]
    assert zed["createdAt"] == stored["zed@evil.example"]["createdAt"]


def test_export_all_columns_puts_sheet_and_row_after_the_seeds_eleven(tmp_path):
    """Issue 16 item 4: the extra columns only behind ``all_columns``, after the 11 in their order."""
    store = env_store()
    seed(store)
    out = tmp_path / "all.csv"
    assert export_leads(store, out, LeadQuery(sort="sourceRow", descending=False), all_columns=True) == 7
    _, rows = read_export(out)
    # a lead field declared export=False (none today; docs/adding-a-field.md) comes after them
    assert rows[0] == list(EXPORT_COLUMNS) + ["sourceWorksheet", "sourceRow", *UNEXPORTED_FIELDS] == list(
        ALL_EXPORT_COLUMNS)
    eve = {r[5]: dict(zip(rows[0], r)) for r in rows[1:]}["eve@acme.example"]
    assert (eve["sourceWorksheet"], eve["sourceRow"]) == ("Leads", "2")


def test_export_applies_filters_and_sort(tmp_path):
    store = env_store()
    seed(store)
    out = tmp_path / "acme.csv"
    n = export_leads(store, out, LeadQuery(company="acme", sort="lastName", descending=False, source_file=FILE_A))
    _, rows = read_export(out)
    assert n == 2
    assert [r[2] for r in rows[1:]] == ["Chan", "Lee"]


def test_empty_store_exports_just_the_header(tmp_path):
    out = tmp_path / "empty.csv"
    assert export_leads(env_store(), out) == 0
    raw, rows = read_export(out)
    assert rows == [list(EXPORT_COLUMNS)]


def test_bad_output_paths_are_refused(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "x.csv")
    with pytest.raises(ExportError, match="is a folder"):
        check_output_path(tmp_path)
    with pytest.raises(ExportError):
        write_leads_csv(iter([]), tmp_path / "nope" / "x.csv")


def test_failed_export_keeps_the_previous_file(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "leads.csv"
    out.write_text("previous")

    def broken():
        yield {"leadId": "1"}
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        write_leads_csv(broken(), out)
    assert out.read_text() == "previous"
    assert [p.name for p in folder.iterdir()] == ["leads.csv"]  # no temp file left behind


def test_export_of_100k_leads_streams_in_bounded_memory(tmp_path):
    store = env_store()
    store.upsert_file(numbered_leads(list(range(100_000)), tag="CEO"), source_file="big.csv")
    out = tmp_path / "big.csv"
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        rows = export_leads(store, out, chunk_size=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 100_000
    # The whole table as dicts takes ~250 MB of Python objects; streaming keeps one chunk.
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + ",".join(EXPORT_COLUMNS).encode() + b"\r\n")
    assert raw.count(b"\r\n") == 100_001  # header + one line per lead (no multi-line cells in this data)
    assert b"p99999@example.com" in raw


def test_export_leads_never_writes_over_its_own_store_files():
    """Breaker finding 2 at the library level (the Dagster report calls ``export_leads`` too)."""
    store = env_store()
    seed(store)
    before = store.path.read_bytes()
    for out in (store.path, store.path.with_name(store.path.name + ".wal"), store.lock_path):
        with pytest.raises(ExportError, match=r"is the lead store's own file"):
            export_leads(store, out)
    assert store.path.read_bytes() == before and len(list(store.iter_leads(None))) == 7


def test_export_file_neutralizes_formulas_behind_blanks(tmp_path):
    """The export's fast path and :func:`neutralize_cell` agree (breaker finding 25)."""
    leads = [{"firstName": "\u200b=1+1", "lastName": "Lee", "phone": "+4930111", "remarks": "\n=HYPERLINK(\"x\")"}]
    out = tmp_path / "f.csv"
    assert write_leads_csv(iter(leads), out) == 1
    _raw, rows = read_export(out)
    row = dict(zip(rows[0], rows[1]))
    assert row["firstName"] == "'\u200b=1+1" and row["remarks"] == "'\n=HYPERLINK(\"x\")"
    assert row["lastName"] == "Lee" and row["phone"] == "+4930111"
