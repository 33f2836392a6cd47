"""Breaker 5: ``parse_file`` on the DeepSeek path now streams (header mapping, plan, rows file) while the file is
still being read; a workbook refused by a later sheet must leave no trace."""
from __future__ import annotations

import re
import zipfile

import dagster as dg
import duckdb
import pytest
from openpyxl import Workbook

from easycrm_pipeline.cli.run_file import ensure_partition
from easycrm_pipeline.definitions import get_ingest_job


def _workbook_with_corrupt_second_sheet(path):
    """Sheet ``Leads``: 40 rows with an email and an unknown column ``Zustaendig`` (the sales rep in charge) (the header mapping
    asks DeepSeek about it once the sheet's 30 sample rows are read); sheet ``Broken``: its XML cut short (calamine:
    ``corrupt .xlsx: sheet 'Broken': ...``)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["Email", "Zustaendig"])
    for i in range(40):
        ws.append([f"p{i}@example.org", f"Herr Maier {i % 3}"])
    wb.create_sheet("Broken").append(["Email", "x@example.org"])
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet2.xml":
                data = re.sub(rb"</sheetData>.*", b"", data, flags=re.S)
            dst.writestr(info, data)
    return path


def test_workbook_refused_by_a_later_sheet_stores_nothing(isolated_env, monkeypatch):
    """Before the rows file change the DeepSeek path read the whole file (``list(rows)``) before any request, so a
    refused file cost nothing and wrote nothing. Now ``stream_file_headers`` asks about ``Zustaendig`` as soon as the
    first sheet's sample is read, and ``cache.put`` writes the answer into the lead store's file; then sheet
    ``Broken`` refuses the file (``parse_file`` fails in one line, as it should). Now the answers reach the cache
    only once the whole file was read: the run fails in one line and the store holds nothing from the file. The
    file is read as it goes (issue 13: no whole-file list of rows), so its one header-mapping request may have been
    made before the broken sheet was reached: at most one."""
    from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

    monkeypatch.setenv("EASYCRM_LLM", "auto")
    instance = dg.DagsterInstance.get()
    path = _workbook_with_corrupt_second_sheet(isolated_env / "two_sheets.xlsx")
    ensure_partition(instance, path.name)
    with FakeDeepSeek(latency=0.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        result = get_ingest_job().execute_in_process(
            partition_key=path.name, tags={"easycrm/location": str(path), "easycrm/file_name": path.name},
            instance=instance, raise_on_error=False)
        requests = len(fake.requests)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "corrupt .xlsx: sheet 'Broken'" in failure.event_specific_data.error.message
    db = isolated_env / "leads.duckdb"
    stored = {}
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        stored = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        con.close()
    assert requests <= 1
    assert not any(stored.values()), stored
