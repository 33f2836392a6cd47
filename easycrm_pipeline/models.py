"""Plain data shapes shared by every layer (parsing, rules, DeepSeek, store, Dagster glue).

Nothing here imports Dagster, DuckDB or httpx: these classes are the contract between the pure-logic modules.
All text is ``str``; missing values are ``None`` (never NaN, never the string "nan").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The standardized lead fields, in column order: the names of ``fields.FIELDS``, re-exported (the first seven are the
#: old system's, docs/contracts.md#the-leads-table).
from easycrm_pipeline.fields import LEAD_FIELDS


@dataclass(frozen=True)
class RawRow:
    """One data row of a lead file, exactly as read (every cell as text).

    Attributes:
        row_id: id unique within the file, ``"<sheet index>:<row number>"`` e.g. ``"0:5"``; it is the ``id`` sent to
            DeepSeek (docs/deepseek.md#the-exchange) and the join key of its answer.
        sheet: worksheet name (the old system's ``_worksheet``), ``None`` for CSV.
        row_number: 1-based line/row number as the user sees it in Excel or a text editor (header row counts).
        cells: ``(header, value)`` pairs in column order. Headers are normalized (trimmed, inner whitespace
            collapsed) but otherwise as in the file; duplicate headers are kept as separate pairs. Values are
            stripped text, ``""`` for an empty cell.
    """

    row_id: str
    sheet: str | None
    row_number: int
    cells: tuple[tuple[str, str], ...]

    def as_request_dict(self) -> dict[str, str]:
        """The row as ``{header: value}`` with duplicate headers suffixed `` (2)``, `` (3)``…; empty cells dropped."""
        out: dict[str, str] = {}
        for header, value in self.cells:
            if value == "":
                continue
            key, n = header, 2
            while key in out:
                key, n = f"{header} ({n})", n + 1
            out[key] = value
        return out


@dataclass
class QuarantineRow:
    """A row that cannot become a lead, kept with its reason (never silently dropped).

    ``raw`` is the row's cells as a ``{header: value}`` dict (``RawRow.as_request_dict``) or ``{"_line": text}``
    when the row could not even be split into cells.
    """

    sheet: str | None
    row_number: int | None
    reason: str
    raw: dict[str, Any]


@dataclass
class SheetReport:
    """What the reader did with one worksheet (CSV files have one, named ``None``).

    ``status`` is ``"leads"`` or ``"skipped"``; ``reason`` says why a sheet was skipped (``"empty"``, ``"no header"``,
    ``"single-column lookup"``…); ``hidden`` is True for hidden Excel sheets; ``header_row`` is 1-based (``None``
    for a sheet without a header row, read by content). ``redacted``: cells replaced by ``[redacted: <kind>]`` (card
    numbers, passwords… never stored nor sent), per kind. ``guessed_roles``: column -> lead field for columns whose
    role was recognised from their content (no header, or a header the aliases do not know). ``first_row``: for a
    sheet skipped with ``"no header"``, its first non-blank row's cells (up to 12), named in the file's refusal.
    ``control_chars_removed``: control characters (a stray NUL byte of a database dump, SUB, ESC…) taken out of cells.
    """

    name: str | None
    status: str
    reason: str | None = None
    hidden: bool = False
    header_row: int | None = None
    rows: int = 0
    skipped_blank: int = 0
    redacted: dict[str, int] = field(default_factory=dict)
    guessed_roles: dict[str, str] = field(default_factory=dict)
    first_row: list[str] = field(default_factory=list)
    control_chars_removed: int = 0


@dataclass
class ParsedFile:
    """Everything read from one lead file.

    Attributes:
        file_name: base name of the file (what the leads' ``sourceFile`` holds).
        rows: lead candidate rows in file order (sheet order, then row order).
        quarantine: rows that are not leads and are not blank (footers are reported here with their reason).
        sheets: one report per worksheet.
        encoding / delimiter: what the CSV reader used (``None`` for workbooks).
        streamed: lead rows handed on one by one by a streaming reader (``parsing.stream_file``) and not kept in
            ``rows``.
    """

    file_name: str
    rows: list[RawRow] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    sheets: list[SheetReport] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    streamed: int = 0

    @property
    def lead_rows(self) -> int:
        """Number of lead candidate rows (kept in ``rows`` or streamed)."""
        return len(self.rows) + self.streamed

    @property
    def rows_read(self) -> int:
        """Number of non-blank data rows (leads + quarantined)."""
        return self.lead_rows + len(self.quarantine)

    @property
    def redacted(self) -> int:
        """Cells redacted as secrets or payment data over all sheets (see :class:`SheetReport`)."""
        return sum(sum(s.redacted.values()) for s in self.sheets)


@dataclass
class StandardLead:
    """A standardized lead ready for the upsert, tied to the raw row it came from.

    Attributes:
        row_id / sheet / row_number: copied from the ``RawRow``.
        fields: the seven ``LEAD_FIELDS`` -> text or ``None``. ``email`` is normalized (lower-case addr-spec) or
            ``None`` when the row has no usable email; ``phone`` is E.164 (``+`` and digits) or digits only.
        provided: the lead fields the file has a column for (a field not provided is left untouched on update).
        raw: the raw row as ``{header: value}``, stored with the lead.
        standardizer: version string of what produced ``fields`` (e.g. ``"rules-1"``, ``"deepseek-v4-flash/…"``).
        flags: free-form notes (e.g. ``"llm-missing-fallback"``) shown in stats.
    """

    row_id: str
    sheet: str | None
    row_number: int
    fields: dict[str, str | None]
    provided: frozenset[str]
    raw: dict[str, str]
    standardizer: str
    flags: tuple[str, ...] = ()

    @property
    def email(self) -> str | None:
        """The normalized email (dedupe key) or None."""
        return self.fields.get("email")

    @classmethod
    def for_row(
        cls,
        row: RawRow,
        fields: dict[str, str | None],
        provided: frozenset[str] | set[str],
        standardizer: str,
        flags: tuple[str, ...] = (),
    ) -> "StandardLead":
        """A lead for ``row``: its row id, sheet, row number and raw cells, with the given standardized values."""
        return cls(
            row_id=row.row_id,
            sheet=row.sheet,
            row_number=row.row_number,
            fields=fields,
            provided=frozenset(provided),
            raw=row.as_request_dict(),
            standardizer=standardizer,
            flags=tuple(flags),
        )
