"""Collecting a file: the redaction count of the read reaches the file's stats (issue 15)."""
from __future__ import annotations

from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.pipeline.batches import BatchResult
from easycrm_pipeline.pipeline.collect import ParseSummary, collect_file
from easycrm_pipeline.rules import standardize_rows
from easycrm_pipeline.store.duckdb_store import DuckDBStore


def test_redacted_cells_are_counted_in_the_file_stats_and_never_stored(tmp_path):
    path = tmp_path / "demo.csv"
    path.write_text("First Name,Email,Card Number,CVV,Password\n"
                    "Anna,anna@example.com,4111 1111 1111 1111,123,hunter2\n"
                    "Bob,bob@example.com,5555555555554444,456,s3cret\n", encoding="utf-8")
    parsed = read_file(path)
    summary = ParseSummary(file_name="demo.csv", rows_read=parsed.rows_read, quarantine=parsed.quarantine,
                           sheets=parsed.sheets)
    assert summary.redacted == {"card number": 2, "card security code": 2, "password": 2}
    store = DuckDBStore(tmp_path / "leads.duckdb")
    store.init()
    stats = collect_file([BatchResult(batch="settled", leads=standardize_rows(parsed.rows))], summary, store,
                         run_id="r1")
    assert stats.leads_created == 2
    assert stats.redacted_cells == {"card number": 2, "card security code": 2, "password": 2}
    assert stats.as_dict()["redacted_cells"] == stats.redacted_cells
    stored = store.get_lead_by_email("anna@example.com")
    assert stored["rawRow"] == {"First Name": "Anna", "Email": "anna@example.com",
                                "Card Number": "[redacted: card number]", "CVV": "[redacted: card security code]",
                                "Password": "[redacted: password]"}
    assert stored["remarks"] == ("Card Number: [redacted: card number]; CVV: [redacted: card security code]; "
                                 "Password: [redacted: password]")
