"""pipeline/parquet_writer.py: a Parquet file is there whole (after close) or not at all (abort, an exception)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from easycrm_pipeline.pipeline.parquet_writer import AtomicParquetWriter

SCHEMA = pa.schema([("n", pa.int64())])


def test_the_file_appears_only_when_closed_with_every_row_group(tmp_path):
    path = tmp_path / "sub" / "x.parquet"
    with AtomicParquetWriter(path, SCHEMA) as writer:
        writer.write_table(pa.table({"n": [1, 2]}, schema=SCHEMA))
        writer.write_table(pa.table({"n": []}, schema=SCHEMA))  # nothing written for an empty table
        writer.write_table(pa.table({"n": [3]}, schema=SCHEMA))
        assert not path.exists() and writer.count == 3
    assert pq.read_table(path)["n"].to_pylist() == [1, 2, 3]
    assert pq.ParquetFile(path).num_row_groups == 2


def test_an_exception_drops_the_file(tmp_path):
    path = tmp_path / "out" / "x.parquet"
    with pytest.raises(RuntimeError), AtomicParquetWriter(path, SCHEMA) as writer:
        writer.write_table(pa.table({"n": [1]}, schema=SCHEMA))
        raise RuntimeError("reading the file failed")
    assert list(path.parent.iterdir()) == []
