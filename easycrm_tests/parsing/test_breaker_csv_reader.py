"""Breaker cases on the CSV reader: one stray NUL byte refuses a whole UTF-8 file as binary; a control character
inside a cell reaches the lead's name."""
from __future__ import annotations

from pathlib import Path

import pytest

from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.rules import standardize_rows

ROWS = "Email,First Name\n" + "".join(f"p{i}@example.com,Name{i}\n" for i in range(50))


@pytest.mark.xfail(strict=True, reason="breaker: a single NUL byte in one cell refuses a 50-row UTF-8 CSV as binary")
def test_breaker_one_stray_nul_byte_does_not_refuse_the_file(tmp_path: Path):
    path = tmp_path / "nul.csv"
    path.write_bytes(ROWS.encode().replace(b"Name7", b"Na\x00me7"))
    parsed = read_file(path)
    assert len(parsed.rows) + len(parsed.quarantine) == 50


@pytest.mark.xfail(strict=True, reason="breaker: a control character (\\x1a) inside a name cell is stored in firstName")
def test_breaker_control_characters_do_not_reach_lead_fields(tmp_path: Path):
    path = tmp_path / "ctrl.csv"
    path.write_bytes(ROWS.encode().replace(b"Name7", b"Na\x1ame7"))
    names = [lead.fields["firstName"] or "" for lead in standardize_rows(read_file(path).rows)]
    assert not any("\x1a" in n for n in names)
