"""Handed file cases 01-13 (``/work/shared/cases``): read_file -> standardize_rows -> merge_in_file must give the
expected leads exactly (seven fields, order), and the expected counts / sheets where the case gives them.

The inputs and expected results are bundled in ``easycrm_tests/cases/data`` (CI clones only this repository); when
the shared folder (``../shared/cases`` next to the checkout, or ``EASYCRM_CASES_DIR``) exists, the same checks also
run on it and the bundled copies are compared with it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from easycrm_pipeline.models import LEAD_FIELDS
from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.rules import RULES_VERSION, merge_in_file, standardize_rows

BUNDLED = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
CASES = [
    "01_utf8_bom.csv",
    "02_cp1252_excel.csv",
    "03_semicolon_european.csv",
    "04_phone_numeric_coercion.csv",
    "06_header_offset_merged_title.xlsx",
    "07_blank_rows.csv",
    "08_multi_sheet.xlsx",
    "10_email_variants.csv",
    "11_full_name_column.csv",
    "13_na_strings.csv",
]


def _external_dir() -> Path | None:
    env = os.environ.get("EASYCRM_CASES_DIR")
    for candidate in (Path(env) if env else None, SHARED):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def _dirs() -> list[Path]:
    dirs = [BUNDLED]
    ext = _external_dir()
    if ext is not None and ext.resolve() != BUNDLED.resolve():
        dirs.append(ext)
    return dirs


PARAMS = [pytest.param(d, c, id=f"{'bundled' if d == BUNDLED else 'shared'}-{c}") for d in _dirs() for c in CASES]


def _run(path: Path):
    parsed = read_file(path)
    leads = standardize_rows(parsed.rows)
    merged, resolutions = merge_in_file(leads)
    return parsed, leads, merged, resolutions


def _expected(path: Path) -> dict:
    stem = path.name.rsplit(".", 1)[0]
    return json.loads((path.parent / f"{stem}.expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("folder,case", PARAMS)
def test_expected_leads_exactly(folder: Path, case: str):
    path = folder / case
    parsed, _, merged, _ = _run(path)
    # the old system's seven fields exactly; a field added after them (docs/adding-a-field.md) has no column here
    got = [{f: lead.fields[f] for f in LEAD_FIELDS[:7]} for lead in merged]
    assert got == _expected(path)["expected_leads"]
    assert all(lead.fields[f] is None for lead in merged for f in LEAD_FIELDS[7:])
    assert all(lead.standardizer == RULES_VERSION for lead in merged)  # the offline rules wrote them


@pytest.mark.parametrize("folder", _dirs(), ids=lambda d: "bundled" if d == BUNDLED else "shared")
def test_07_counts(folder: Path):
    path = folder / "07_blank_rows.csv"
    parsed, leads, merged, _ = _run(path)
    counts = _expected(path)["expected_counts"]
    assert counts == {"rows_in_file": 6, "leads": 2, "skipped_blank": 4}
    report = parsed.sheets[0]
    assert report.skipped_blank == counts["skipped_blank"]
    assert len(merged) == counts["leads"]
    assert report.rows + report.skipped_blank + len(parsed.quarantine) == counts["rows_in_file"]
    assert parsed.quarantine == []


@pytest.mark.parametrize("folder", _dirs(), ids=lambda d: "bundled" if d == BUNDLED else "shared")
def test_10_counts_and_duplicate(folder: Path):
    path = folder / "10_email_variants.csv"
    parsed, leads, merged, resolutions = _run(path)
    counts = _expected(path)["expected_counts"]
    assert parsed.rows_read == counts["rows_in_file"] == 7
    assert len(merged) == counts["leads_after_dedup"] == 6
    assert [(r.email, r.kept_row_id, r.merged_row_ids) for r in resolutions] == [
        ("jane.doe@example.com", "0:3", ("0:2",))
    ]


@pytest.mark.parametrize("folder", _dirs(), ids=lambda d: "bundled" if d == BUNDLED else "shared")
def test_08_sheets(folder: Path):
    path = folder / "08_multi_sheet.xlsx"
    parsed, leads, merged, resolutions = _run(path)
    exp = _expected(path)
    used = [s.name for s in parsed.sheets if s.status == "leads"]
    skipped = {s.name: s.reason for s in parsed.sheets if s.status == "skipped"}
    assert used == exp["expected_sheets_used"]
    assert skipped == exp["expected_sheets_skipped"]
    hidden = [s for s in parsed.sheets if s.hidden]
    assert [s.name for s in hidden] == ["Old (hidden)"]
    # cross-sheet duplicate: the US row (last occurrence) is kept, the EMEA row merged into it
    assert [(r.email, r.kept_row_id, r.merged_row_ids) for r in resolutions] == [
        ("pia.roth@example.ch", "3:3", ("1:4",))
    ]
    pia = next(lead for lead in merged if lead.email == "pia.roth@example.ch")
    assert (pia.sheet, pia.row_number) == ("Leads US", 3)
    assert len(leads) == 5 and len(merged) == 4


@pytest.mark.parametrize("folder", _dirs(), ids=lambda d: "bundled" if d == BUNDLED else "shared")
def test_08_hidden_sheet_included_on_request(folder: Path):
    parsed = read_file(folder / "08_multi_sheet.xlsx", include_hidden=True)
    hidden = next(s for s in parsed.sheets if s.name == "Old (hidden)")
    assert (hidden.status, hidden.hidden, hidden.rows) == ("leads", True, 1)
    assert parsed.rows[-1].cells == (("First Name", "Rex"), ("Last Name", "Stale"), ("Email", "rex.stale@example.com"))
    assert parsed.rows[-1].row_id == "5:2"


@pytest.mark.parametrize("folder", _dirs(), ids=lambda d: "bundled" if d == BUNDLED else "shared")
def test_06_header_footer_and_row_numbers(folder: Path):
    parsed, leads, merged, _ = _run(folder / "06_header_offset_merged_title.xlsx")
    report = parsed.sheets[0]
    assert (report.name, report.status, report.header_row, report.rows) == ("Leads", "leads", 4, 3)
    assert [r.row_number for r in parsed.rows] == [5, 6, 8]
    assert [h for h, _ in parsed.rows[0].cells] == [
        "First Name", "Last Name", "Company", "Job Title", "Email", "Phone", "Comments"
    ]
    assert [(q.row_number, q.reason, q.raw) for q in parsed.quarantine] == [
        (10, "footer/summary row", {"First Name": "Total leads: 3"})
    ]


@pytest.mark.parametrize("folder", _dirs(), ids=lambda d: "bundled" if d == BUNDLED else "shared")
def test_encodings_and_delimiters_recorded(folder: Path):
    assert (read_file(folder / "01_utf8_bom.csv").encoding) == "utf-8-sig"
    assert (read_file(folder / "02_cp1252_excel.csv").encoding) == "cp1252"
    p3 = read_file(folder / "03_semicolon_european.csv")
    assert (p3.encoding, p3.delimiter) == ("utf-8", ";")
    assert p3.rows[0].cells[0] == ("Vorname", "Jonas")


def test_bundled_copies_match_shared():
    ext = _external_dir()
    if ext is None:
        pytest.skip("shared cases folder not present (CI): the bundled copies are the source")
    for case in CASES:
        stem = case.rsplit(".", 1)[0]
        for name in (case, f"{stem}.expected.json"):
            assert (BUNDLED / name).read_bytes() == (ext / name).read_bytes(), name
