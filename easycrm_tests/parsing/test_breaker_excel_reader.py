"""Breaker case on Excel redaction: Excel keeps 15 significant digits, so a 16-digit card number typed as a number
is saved as ...0 (4111111111111111 -> 4111111111111110), fails the Luhn check and is stored whole in remarks."""
from __future__ import annotations

import openpyxl

from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.rules import standardize_rows


def test_breaker_card_number_rounded_by_excel_is_redacted(tmp_path):
    path = tmp_path / "cards.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "First Name", "Notes"])
    ws.append(["a@example.com", "Ann", 4111111111111110])  # what Excel saves for a typed 4111 1111 1111 1111
    ws.append(["b@example.com", "Bob", 5555555555554440])  # ... and for 5555 5555 5555 4444
    wb.save(path)
    parsed = read_file(path)
    remarks = [lead.fields["remarks"] or "" for lead in standardize_rows(parsed.rows)]
    assert not any("41111111" in r or "55555555" in r for r in remarks)
