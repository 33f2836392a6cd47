"""Breaker case on the rejected-rows CSV (issue 14): its name is built from the file's name, so an S3 key whose
file name is long (S3 allows 1,024 bytes; issue 16 item 9 made such keys ingest) gives a name over the 255-byte
file-name limit: the ``all_rows_stored`` check logs "could not run: [Errno 36] File name too long" and no rejected
CSV is written (seen with a 313-byte key through the S3 sensor and ingest_job on moto)."""
from __future__ import annotations

from pathlib import Path

import pytest

from easycrm_pipeline.readers.rejected import rejected_csv_path, write_rejected_csv


@pytest.mark.parametrize("name", ["Q4 leads " + "x" * 300 + ".csv", "Ünïcödé " * 40 + ".csv"])
def test_breaker_rejected_csv_of_a_long_file_name_is_written(tmp_path: Path, name: str):
    path = rejected_csv_path(tmp_path / "leads.csv", name, "6bd39a65-9d1c-4a3c-be11-d1d85f14da96")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"sourceFile": name, "sheet": None, "row": 3, "reason": "footer/summary row", "rawRow": {"A": "Total"}}]
    assert write_rejected_csv(rows, path) == 1
    assert path.exists()


def test_long_names_sharing_their_beginning_get_two_short_files(tmp_path: Path):
    run = "6bd39a65-9d1c-4a3c-be11-d1d85f14da96"
    a = rejected_csv_path(tmp_path / "leads.csv", "Q4 leads " + "x" * 300 + "a.csv", run)
    b = rejected_csv_path(tmp_path / "leads.csv", "Q4 leads " + "x" * 300 + "b.csv", run)
    assert a != b and a.name.startswith("Q4_leads_xxx") and a.name.endswith("-6bd39a65-rejected.csv")
    assert max(len(a.name.encode()), len(b.name.encode())) + len(".tmp") <= 255
    assert rejected_csv_path(tmp_path / "leads.csv", "short name.csv", run).name == "short_name-6bd39a65-rejected.csv"
