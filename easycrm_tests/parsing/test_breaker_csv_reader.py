"""Breaker cases on the CSV reader: one stray NUL byte refuses a whole UTF-8 file as binary; a control character
inside a cell reaches the lead's name."""
from __future__ import annotations

from pathlib import Path


from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.rules import standardize_rows

ROWS = "Email,First Name\n" + "".join(f"p{i}@example.com,Name{i}\n" for i in range(50))


def test_breaker_one_stray_nul_byte_does_not_refuse_the_file(tmp_path: Path):
    path = tmp_path / "nul.csv"
    path.write_bytes(ROWS.encode().replace(b"Name7", b"Na\x00me7"))
    parsed = read_file(path)
    assert len(parsed.rows) + len(parsed.quarantine) == 50


def test_breaker_control_characters_do_not_reach_lead_fields(tmp_path: Path):
    path = tmp_path / "ctrl.csv"
    path.write_bytes(ROWS.encode().replace(b"Name7", b"Na\x1ame7"))
    names = [lead.fields["firstName"] or "" for lead in standardize_rows(read_file(path).rows)]
    assert not any("\x1a" in n for n in names)
