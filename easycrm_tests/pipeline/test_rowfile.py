"""Raw rows on disk as Parquet (issue 13): the parse step's rows to send, written once, read back by slices."""
from __future__ import annotations

import pytest

from easycrm_pipeline.models import RawRow
from easycrm_pipeline.pipeline.rowfile import RowFileWriter, read_rows, write_rows


def odd_rows() -> list[RawRow]:
    """Rows a reader can give: CSV (no sheet) and sheets, unicode everywhere, empty cells and headers, duplicate
    headers, a row without cells, many columns."""
    wide = tuple((f"Col {k}", "" if k % 3 else f"v{k}") for k in range(300))
    return [
        RawRow("0:2", None, 2, (("Имя", "Анна"), ("E-Mail", "anna@пример.рф"), ("Notes", ""), ("Notes", "x"))),
        RawRow("0:3", None, 3, (("Имя", ""), ("E-Mail", ""), ("Notes", ""), ("Notes", ""))),
        RawRow("0:4", None, 4, (("", "no header"), ("名前", "太郎 🍀"), ("Tab\tand\nline", "a\r\nb"))),
        RawRow("1:7", "Feuille 1 – Prospects", 7, wide),
        RawRow("2:1", "", 1, ()),
        RawRow("2:1048576", "Sheet ' \" \\", 1_048_576, (("Phone", " +49 30 123 "), ("Zero", "0"))),
    ]


def test_rows_round_trip_exactly(tmp_path):
    rows = odd_rows()
    rows_file = write_rows(tmp_path / "to_send.parquet", rows)
    assert rows_file.rows == len(rows) and rows_file.path == str(tmp_path / "to_send.parquet")
    back = read_rows(rows_file.path)
    assert back == rows
    assert [type(v) for r in back for _, v in r.cells] == [str] * sum(len(r.cells) for r in rows)
    assert back[4].sheet == "" and back[0].sheet is None  # an empty sheet name is not "no sheet"


@pytest.mark.parametrize(("start", "count"), [(0, 1), (0, 7), (6, 7), (7, 7), (13, 20), (20, 100), (5, 0), (99, 5)])
def test_a_slice_reads_the_rows_it_names_across_row_groups(tmp_path, start, count):
    rows = [RawRow(f"0:{n}", None, n, (("Email", f"p{n}@example.com"),)) for n in range(2, 2 + 33)]
    with RowFileWriter(tmp_path / "r.parquet", block_rows=7) as writer:  # row groups of 7 rows, the last of 5
        for k in range(0, len(rows), 4):  # written in blocks that do not match the row groups
            writer.write(rows[k : k + 4])
    assert writer.rows == 33
    assert read_rows(tmp_path / "r.parquet", start, count) == rows[start : start + count]
    assert read_rows(tmp_path / "r.parquet", start) == rows[start:]


def test_an_empty_rows_file_reads_nothing_and_a_failed_write_leaves_no_file(tmp_path):
    tmp_path = tmp_path / "run"
    assert write_rows(tmp_path / "empty.parquet", []).rows == 0
    assert read_rows(tmp_path / "empty.parquet") == []

    def rows():
        yield odd_rows()[0]
        raise ValueError("file refused at its end")

    with pytest.raises(ValueError), RowFileWriter(tmp_path / "half.parquet") as writer:
        writer.write(rows())
    assert list(tmp_path.iterdir()) == [tmp_path / "empty.parquet"]  # neither half.parquet nor its .part
    with pytest.raises(ValueError):
        read_rows(tmp_path / "empty.parquet", -1)
