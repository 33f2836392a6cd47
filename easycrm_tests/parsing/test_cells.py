"""cell_to_text: Excel values as the user sees them."""
from __future__ import annotations

import datetime as dt

import pytest

from easycrm_pipeline.parsing.cells import cell_to_text
from easycrm_pipeline.parsing.table import normalize_header


@pytest.mark.parametrize("value,text", [
    (None, ""),
    ("  keep  ", "  keep  "),
    (True, "TRUE"),
    (False, "FALSE"),
    (7700900456.0, "7700900456"),
    (447700900789, "447700900789"),
    (4.477e11, "447700000000"),
    (1.5e20, "150000000000000000000"),
    (-5.0, "-5"),
    (2.5, "2.5"),
    (1e-05, "0.00001"),
    (float("nan"), ""),
    (dt.date(2024, 3, 5), "2024-03-05"),
    (dt.datetime(2024, 3, 5), "2024-03-05"),
    (dt.datetime(2024, 3, 5, 9, 7, 3), "2024-03-05T09:07:03"),
    (dt.time(14, 30), "14:30:00"),
])
def test_cell_to_text(value, text):
    assert cell_to_text(value) == text


@pytest.mark.parametrize("raw,header", [
    ("\ufeffEmail", "Email"),
    ("Job\nTitle", "Job Title"),
    ("  Last Name ", "Last Name"),
    ("E-Mail\u200b", "E-Mail"),
    ("First\u00a0\r\n Name", "First Name"),
])
def test_normalize_header(raw, header):
    assert normalize_header(raw) == header
