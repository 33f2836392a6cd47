"""Raw rows on disk, columnar: the rows a file sends to DeepSeek, written once by the parse step, read by slices.

Issue 13: the rows to standardize do not travel between Dagster steps as pickled lists of rows. The parse step
appends them, in file order and block by block, to a Parquet file in the run's folder (``$DAGSTER_HOME/
easycrm_batches/<run id>/to_send.parquet``, next to ``settled.parquet`` of ``pipeline.leadfile``) and hands on a
:class:`RowFile` (path and row count); each chunk step (``pipeline.chunks``) reads only its slice of it
(:func:`read_rows`), the row groups that hold it.

One Parquet row per :class:`~easycrm_pipeline.models.RawRow`, in the order written: ``rowId``, ``sheet`` (null for
CSV), ``rowNumber``, and the cells as two lists of the same length, ``headers`` and ``values`` (column order,
duplicate headers and empty strings kept): a row read back equals the row written.

Pure logic: no Dagster import.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from easycrm_pipeline.models import RawRow
from easycrm_pipeline.pipeline.parquet_writer import AtomicParquetWriter

#: Rows per Parquet row group: the writer buffers this many rows before writing them (~1-3 MB of cells), so a
#: reader of a slice decodes at most the slice plus one group on each side.
BLOCK_ROWS = 5_000

SCHEMA = pa.schema(
    [
        ("rowId", pa.string()),
        ("sheet", pa.string()),
        ("rowNumber", pa.int64()),
        ("headers", pa.list_(pa.string())),
        ("values", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True)
class RowFile:
    """A Parquet file of raw rows (the small value that stands for them between steps).

    Attributes:
        path: absolute path of the Parquet file.
        rows: number of rows in it.
    """

    path: str
    rows: int


def _table(rows: list[RawRow]) -> pa.Table:
    return pa.table(
        {
            "rowId": [r.row_id for r in rows],
            "sheet": [r.sheet for r in rows],
            "rowNumber": [r.row_number for r in rows],
            "headers": [[h for h, _ in r.cells] for r in rows],
            "values": [[v for _, v in r.cells] for r in rows],
        },
        schema=SCHEMA,
    )


class RowFileWriter(AtomicParquetWriter):
    """Appends raw rows to a Parquet file in row groups of :data:`BLOCK_ROWS` rows (buffered; the last one shorter).

    Use as a context manager or call :meth:`close`; the file is complete only after closing (written under a
    temporary name and renamed: :class:`~easycrm_pipeline.pipeline.parquet_writer.AtomicParquetWriter`). An exception
    in the ``with`` block drops the file.
    """

    def __init__(self, path: Path, block_rows: int = BLOCK_ROWS) -> None:
        super().__init__(path, SCHEMA)
        self._block_rows = max(1, block_rows)
        self._buffer: list[RawRow] = []

    @property
    def rows(self) -> int:
        """Rows written so far (the buffered ones not counted)."""
        return self.count

    def write(self, rows: Iterable[RawRow]) -> None:
        """Append ``rows`` (file order); a row group is written each time :data:`BLOCK_ROWS` rows are buffered."""
        for row in rows:
            self._buffer.append(row)
            if len(self._buffer) >= self._block_rows:
                self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self.write_table(_table(self._buffer))
            self._buffer = []

    def close(self) -> RowFile:
        """Write the buffered rows and finish the file; returns its :class:`RowFile`."""
        self._flush()
        self.finish()
        return RowFile(str(self.path), self.rows)

    def abort(self) -> None:
        """Drop the unfinished file."""
        self._buffer = []
        super().abort()


def write_rows(path: Path, rows: Iterable[RawRow]) -> RowFile:
    """Write ``rows`` to ``path`` (:class:`RowFileWriter`); returns the :class:`RowFile`."""
    with RowFileWriter(path) as writer:
        writer.write(rows)
    return RowFile(str(path), writer.rows)


def read_rows(path: str | Path, start: int = 0, count: int | None = None) -> list[RawRow]:
    """The rows ``start`` .. ``start + count - 1`` (0-based, in the order written; ``count`` None: to the end) of
    the rows file ``path``. Only the row groups holding the slice are read (memory-mapped).

    Raises:
        FileNotFoundError: no file at ``path`` (e.g. the run's folder was deleted after the file was stored).
        ValueError: ``start`` or ``count`` negative.
    """
    if start < 0 or (count is not None and count < 0):
        raise ValueError(f"bad slice: start={start}, count={count}")
    parquet = pq.ParquetFile(pa.memory_map(str(path), "r"))
    meta = parquet.metadata
    ends, total = [], 0  # ends[i]: index one past row group i's last row
    for i in range(meta.num_row_groups):
        total += meta.row_group(i).num_rows
        ends.append(total)
    stop = total if count is None else min(total, start + count)
    if start >= stop:
        return []
    first = bisect.bisect_right(ends, start)
    last = bisect.bisect_left(ends, stop)
    offset = ends[first - 1] if first else 0
    table = parquet.read_row_groups(list(range(first, last + 1))).slice(start - offset, stop - start)
    cols = table.to_pydict()
    return [
        RawRow(row_id, sheet, row_number, tuple(zip(headers, values)))
        for row_id, sheet, row_number, headers, values in zip(
            cols["rowId"], cols["sheet"], cols["rowNumber"], cols["headers"], cols["values"]
        )
    ]


__all__ = ["BLOCK_ROWS", "RowFile", "RowFileWriter", "read_rows", "write_rows"]
