"""The rejected-rows CSV: reason once, names and email from the raw row, sorted by sheet and row, formula-safe."""
from easycrm_pipeline.readers.rejected import reason_once, rejected_csv_path, rejected_rows, write_rejected_csv


def test_reason_said_once():
    assert reason_once("DeepSeek failed after 3 tries: DeepSeek failed after 3 tries: HTTP 503") == (
        "DeepSeek failed after 3 tries: HTTP 503"
    )
    assert reason_once("footer row (Total)") == "footer row (Total)"


def test_rows_sorted_by_sheet_then_row_with_names_from_aliases():
    rows = rejected_rows(
        [
            {"sheet": "B", "row": 3, "reason": "r", "rawRow": {"Full Name": "Ana Maria Lee", "E-Mail": "a@x.de"}},
            {"sheet": "A", "row": 10, "reason": "r", "rawRow": {"Vorname": "Jo", "Nachname": "Ko"}},
            {"sheet": "A", "row": 9, "reason": "r", "rawRow": {"_line": "garbage;;;"}},
        ]
    )
    assert [(r["sheet"], r["row"]) for r in rows] == [("A", "9"), ("A", "10"), ("B", "3")]
    assert rows[0]["rawRow"] == "garbage;;;"
    assert (rows[1]["firstName"], rows[1]["lastName"]) == ("Jo", "Ko")
    assert (rows[2]["firstName"], rows[2]["lastName"], rows[2]["email"]) == ("Ana Maria", "Lee", "a@x.de")


def test_csv_neutralizes_formulas(tmp_path):
    path = rejected_csv_path(tmp_path / "exports" / "leads.csv", "Q3 leads (final).xlsx", "abcdef1234567890")
    assert path == tmp_path / "exports" / "rejected" / "Q3_leads_final_-abcdef12-rejected.csv"
    n = write_rejected_csv([{"sheet": None, "row": 2, "reason": "x", "rawRow": {"First Name": "=HYPERLINK(1)"}}], path)
    assert n == 1
    assert "'=HYPERLINK(1)" in path.read_text(encoding="utf-8-sig")
