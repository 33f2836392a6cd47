"""A Parquet file written whole or not at all: the shared part of the run folder's lead file (``pipeline.leadfile``)
and rows file (``pipeline.rowfile``).

Pure logic: no Dagster import.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class AtomicParquetWriter:
    """Appends tables (row groups) to a Parquet file written under ``<name>.part`` (zstd) and renamed to ``path`` by
    :meth:`finish`, so a process killed mid-write leaves no half file under ``path``.

    As a context manager it calls the subclass's ``close()`` on success and :meth:`abort` on an exception (the file
    is dropped).

    Attributes:
        path: the finished file's path; count: rows written so far.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".part")
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")
        self.count = 0

    def write_table(self, table: pa.Table) -> None:
        """Append ``table`` as one row group (nothing for an empty table)."""
        if table.num_rows:
            self._writer.write_table(table, row_group_size=table.num_rows)
            self.count += table.num_rows

    def finish(self) -> None:
        """Close the file and rename it into place."""
        self._writer.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        """Drop the unfinished file."""
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def close(self):
        """Finish the file (subclasses return the small value that stands for it)."""
        self.finish()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
