"""Standardized leads on disk, columnar: a Parquet file written in blocks, read back in blocks or by DuckDB.

Issue 13: a file's leads do not travel between Dagster steps as pickled lists of dicts. The parse step appends the
leads it settles (the offline rules, cache hits) to a Parquet file in the run's folder, block by block, and hands
on a :class:`LeadFile` (path and count); the collect step reads it in file order (the DuckDB store reads it
set-based with ``read_parquet``, other stores in blocks with :func:`iter_leads`).

One row per lead: ``rowId``, ``sheetIndex`` and ``rowNumber`` (file order = sheet index, then row number),
``sheet``, the seven lead fields (``f_<field>``), ``provided`` and ``flags`` (lists of text), ``rawRow`` (the raw
row as JSON text, keys in column order), ``standardizer`` and ``batchId`` (the batch whose result holds the lead,
``settled`` for rows settled in the parse step).

Pure logic: no Dagster import.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from easycrm_pipeline.models import LEAD_FIELDS, RawRow, StandardLead
from easycrm_pipeline.pipeline.parquet_writer import AtomicParquetWriter

#: Leads per Parquet row group (and per block read back): bounds the memory a block costs (~2 MB).
BLOCK_ROWS = 5_000

SCHEMA = pa.schema(
    [
        ("rowId", pa.string()),
        ("sheetIndex", pa.int32()),
        ("rowNumber", pa.int64()),
        ("sheet", pa.string()),
        *[(f"f_{f}", pa.string()) for f in LEAD_FIELDS],
        ("provided", pa.list_(pa.string())),
        ("flags", pa.list_(pa.string())),
        ("rawRow", pa.string()),
        ("standardizer", pa.string()),
        ("batchId", pa.string()),
    ]
)


@dataclass(frozen=True)
class LeadFile:
    """A Parquet file of standardized leads (the small value a step hands on instead of the leads).

    Attributes:
        path: absolute path of the Parquet file.
        leads: number of leads in it.
    """

    path: str
    leads: int


def _sheet_index(row_id: str) -> int:
    return int(row_id.partition(":")[0])


def _table(leads: list[StandardLead], batch_id: str | dict[str, str]) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in SCHEMA.names}
    for lead in leads:
        cols["rowId"].append(lead.row_id)
        cols["sheetIndex"].append(_sheet_index(lead.row_id))
        cols["rowNumber"].append(lead.row_number)
        cols["sheet"].append(lead.sheet)
        fields = lead.fields
        for f in LEAD_FIELDS:
            cols[f"f_{f}"].append(fields.get(f))
        cols["provided"].append(sorted(lead.provided))
        cols["flags"].append(list(lead.flags))
        cols["rawRow"].append(json.dumps(lead.raw or {}, ensure_ascii=False))
        cols["standardizer"].append(lead.standardizer)
        cols["batchId"].append(batch_id if isinstance(batch_id, str) else batch_id.get(lead.row_id))
    return pa.table(cols, schema=SCHEMA)


class LeadFileWriter(AtomicParquetWriter):
    """Appends leads to a Parquet file, one row group per :meth:`write` call (so a reader's block stays small).

    Use as a context manager or call :meth:`close`; the file is complete only after closing (written under a
    temporary name and renamed: :class:`~easycrm_pipeline.pipeline.parquet_writer.AtomicParquetWriter`).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    @property
    def leads(self) -> int:
        """Leads written so far."""
        return self.count

    def write(self, leads: list[StandardLead], batch_id: str | dict[str, str] = "settled") -> None:
        """Append ``leads`` (file order within the block); ``batch_id``: one batch key for all, or ``{row_id:
        batch key}``."""
        if leads:
            self.write_table(_table(leads, batch_id))

    def close(self) -> LeadFile:
        """Finish the file; returns its :class:`LeadFile`."""
        self.finish()
        return LeadFile(str(self.path), self.leads)


def write_leads(path: Path, leads: Iterable[StandardLead], batch_id: str | dict[str, str] = "settled") -> LeadFile:
    """Write ``leads`` to ``path`` in blocks of :data:`BLOCK_ROWS` (``batch_id`` as in :meth:`LeadFileWriter.write`);
    returns the :class:`LeadFile`."""
    with LeadFileWriter(path) as writer:
        block: list[StandardLead] = []
        for lead in leads:
            block.append(lead)
            if len(block) >= BLOCK_ROWS:
                writer.write(block, batch_id)
                block = []
        writer.write(block, batch_id)
    return LeadFile(str(path), writer.leads)


def iter_leads(lead_file: LeadFile) -> Iterator[tuple[StandardLead, str | None]]:
    """``(lead, batch id)`` for every lead of ``lead_file``, in the order written, read one row group at a time."""
    parquet = pq.ParquetFile(lead_file.path)
    for batch in parquet.iter_batches(batch_size=BLOCK_ROWS):
        for rec in batch.to_pylist():
            lead = StandardLead(
                row_id=rec["rowId"],
                sheet=rec["sheet"],
                row_number=rec["rowNumber"],
                fields={f: rec[f"f_{f}"] for f in LEAD_FIELDS},
                provided=frozenset(rec["provided"] or ()),
                raw=json.loads(rec["rawRow"]) if rec["rawRow"] else {},
                standardizer=rec["standardizer"],
                flags=tuple(rec["flags"] or ()),
            )
            yield lead, rec["batchId"]


def settle_by_rules(rows: Iterable[RawRow], path: Path, default_region: str | None) -> LeadFile:
    """Standardize ``rows`` with the offline rules block by block (:data:`BLOCK_ROWS`) into the lead file ``path``
    (batch id ``settled``): neither the rows nor the leads are ever all in memory. A failure while ``rows`` is read
    (a file refused at its end) leaves no file."""
    from easycrm_pipeline.rules.standardize import standardize_rows

    with LeadFileWriter(path) as writer:
        for block in in_blocks(rows, BLOCK_ROWS):
            writer.write(standardize_rows(block, default_region))
    return LeadFile(str(path), writer.leads)


def in_blocks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    """``rows`` as consecutive lists of ``size`` rows (the last one shorter; none for no rows): how the parse step
    holds a streamed file, one block at a time."""
    it = iter(rows)
    while block := list(itertools.islice(it, size)):
        yield block
