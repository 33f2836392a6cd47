"""Shared by the CSV and Excel readers: find the header row, turn the rows under it into ``RawRow``s.

Header detection: among the first :data:`HEADER_SCAN_ROWS` non-blank rows, the row with the most lead-field headers
(distinct email / name / phone / company columns, then known headers of any kind) is the header; title rows, merged
title cells, ``Notes:`` preambles and blank rows above it are ignored. When no row maps, the columns' roles are read
from their content (:mod:`easycrm_pipeline.rules.columns`): a file without a header row starts with data (headers
``Email``, ``Phone``, ``Full Name``… given), a header of unknown words keeps its names with the role in front
(``Email (Feld2)``).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..models import QuarantineRow, RawRow, SheetReport
from ..rules.columns import ROLE_HEADERS, content_roles, guess_header
from ..rules.headers import header_role, header_score
from ..rules.sensitive import REDACTED_PREFIX, find_secrets, redact_text, redaction, sensitive_header
from ..rules.text import BLANK_MARKERS, INVISIBLE, PLACEHOLDERS, clean_text, is_placeholder_cell

#: How many non-blank rows are searched for the header.
HEADER_SCAN_ROWS = 30
FOOTER_REASON = "footer/summary row"
REPEATED_HEADER_REASON = "repeated header row"
PLACEHOLDER_ROW_REASON = "no lead data: every cell is a placeholder"
#: Longest cell kept whole (Excel's own limit per cell); a longer one is cut with a note saying how long it was.
MAX_CELL_CHARS = 32_767
#: Text that may hold a card number or an IBAN anywhere in a cell (:func:`~easycrm_pipeline.rules.sensitive.redact_text`
#: decides), or a cell a reader already redacted: what a row's joined cells are searched for before its cells are
#: checked one by one.
#: A superset, written for speed (one ASCII character class): 12 digits and separators in a row, which every card
#: number and IBAN holds (Norway's short IBAN has 13 digits, Malta's the fewest in a row: 12).
_SECRET_HINT = re.compile(r"[0-9][0-9 .\-]{11}")

#: C0 control characters and DEL other than tab / line breaks: removed from cells when read; a vertical tab or form
#: feed (FileMaker's line break inside a field) becomes a line break, the separators 0x1C-0x1F a space.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_TABLE = {**{c: None for c in (*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F)}, 0x0B: "\n", 0x0C: "\n",
                  **{c: " " for c in range(0x1C, 0x20)}}

_WORDS = re.compile(r"\S+")
#: First cell of a two-cell summary row ("Total", "3").
_FOOTER_WORDS = re.compile(
    r"^(grand total|sub-?total|total|totals|sum|summe|zwischensumme|gesamt|anzahl|count|totale?s?|nombre total|"
    r"sous-total|average|avg|mean|durchschnitt|moyenne|promedio|end of (report|list|file))\b",
    re.IGNORECASE,
)


#: At least five digits (separators allowed between them): what a phone cell must hold to keep a short row a lead.
_PHONE_DIGITS = re.compile(r"(?:\d[\s().\-/]*){5}")


def normalize_header(text: str) -> str:
    """Header text as stored on ``RawRow.cells``: BOM / zero-width characters removed, whitespace incl. newlines
    collapsed, stripped (``"Job\\nTitle"`` -> ``"Job Title"``, ``"\\ufeffEmail"`` -> ``"Email"``)."""
    text = clean_text(text)
    if text.startswith("ï»¿"):  # a UTF-8 BOM that went through cp1252 once ("ï»¿Email")
        text = text[3:].strip()
    return text


_INVISIBLE_TABLE = str.maketrans("", "", INVISIBLE)


_PLACEHOLDER_WORDS = PLACEHOLDERS | BLANK_MARKERS


def _placeholder(value: str) -> bool:
    """A stripped non-empty cell that stands for "no value" (:func:`~easycrm_pipeline.rules.text.is_placeholder_cell`,
    with a set lookup first: this runs on every row)."""
    return value.casefold() in _PLACEHOLDER_WORDS or (value[0] in "[(<{" and is_placeholder_cell(value))


def _is_blank(cells: list[str]) -> bool:
    joined = "".join(cells).strip()
    return not joined or (len(joined) < 64 and not joined.translate(_INVISIBLE_TABLE).strip())


#: Lead fields a header provides, by role (a content role is only used for a field no header provides).
_FIELD_OF = {"firstName": "name", "lastName": "name", "fullName": "name", "ambiguousName": "name", "email": "email",
             "phone": "phone", "mobile": "phone", "company": "company", "title": "title"}


def _fill_missing_roles(headers: list[str], sample: list[list[str]], report: SheetReport) -> list[str]:
    """Columns whose header maps nothing (``"Kontakt-Info"``) but whose cells show a lead field no other column
    provides (emails, phones, companies, job titles; not names: a column of capitalised words next to mapped ones
    is as often a status or a flag) get that role: ``"Email (Kontakt-Info)"``; recorded in ``report.guessed_roles``.
    Secret columns are left alone."""
    roles = [header_role(h)[0] for h in headers]
    unknown = [k for k, r in enumerate(roles) if r is None and not sensitive_header(headers[k])]
    if not unknown or not sample:
        return headers
    present = {_FIELD_OF.get(r) for r in roles if r}
    guessed = content_roles([_cells(row, unknown) for row in sample])
    out = list(headers)
    for k, role in zip(unknown, guessed):
        field_name = _FIELD_OF.get(role or "")
        if _content_field_wanted(field_name, present, headers[k], [_cells(row, [k])[0] for row in sample]):
            present.add(field_name)
            out[k] = f"{ROLE_HEADERS[role]} ({headers[k]})"
            report.guessed_roles[headers[k]] = role
    return out


def _content_field_wanted(field_name: str | None, present: set, header: str, values: list[str]) -> bool:
    """Whether a column gets the field its content shows: not a name, not a field a header provides, and no phone
    when the column is record ids."""
    if not field_name or field_name == "name" or field_name in present:
        return False
    return not (field_name == "phone" and _looks_like_ids(header, values))


def _cells(row: list[str], columns: list[int]) -> list[str]:
    """The cells of ``row`` in ``columns`` (``""`` past its end)."""
    return [row[k] if k < len(row) else "" for k in columns]


_ID_WORDS = re.compile(r"(?:^|[^a-z])(?:id|ids|nr|no|number|nummer|num|code|zip|plz|postal|count|key|ref)(?:$|[^a-z])",
                       re.IGNORECASE)


def _looks_like_ids(header: str, values: list[str]) -> bool:
    """A column of record ids rather than phones: an id-like header (``Record ID``, ``Kunden-Nr``) or bare digits
    only, none written with ``+``, a leading ``0`` or separators."""
    if _ID_WORDS.search(header):
        return True
    filled = [v.strip() for v in values if v.strip()]
    return all(v.isdigit() and not v.startswith("0") for v in filled)


_ADDRESS = re.compile(r"[^@\s<>(),;:]+@[^@\s<>(),;:]+\.[^@\s<>(),;:]+")
_NAME_WORD = re.compile(r"^[^\W\d_][\w'’.\-]*$")


def _address_in_name_column(values: list[str], name_cols: set[int]) -> bool:
    """A short row whose Email column is empty but whose name column holds nothing but an address, every other
    filled cell a capitalised name of 1-3 words (``ann@example.com,Lee,``): a lead whose address sits in the wrong
    column, not a contact line of the sheet (``Prepared by,ops@example.com``, ``Questions? ops@example.com``)."""
    found = False
    for k, v in enumerate(values):
        if not v:
            continue
        if "@" in v:
            if k not in name_cols or not _ADDRESS.fullmatch(v):
                return False
            found = True
        elif not (1 <= len(words := v.split()) <= 3 and all(_NAME_WORD.match(w) and w[0].isupper() for w in words)):
            return False
    return found


@dataclass
class SheetResult:
    """What :func:`build_sheet` read from one sheet."""

    report: SheetReport
    rows: list[RawRow] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)


def _lookup_or_notes(rows: list[list[str]]) -> str:
    """Reason for a sheet without a lead header: ``"single-column lookup"`` for a short list of short values in one
    column (data-validation lists), ``"no header"`` otherwise (instructions, notes, other tables)."""
    widths = [sum(1 for c in r if c.strip()) for r in rows]
    if max(widths) <= 1 and len(rows) >= 2:
        values = [c.strip() for r in rows for c in r if c.strip()]
        if all(len(v) <= 40 and len(_WORDS.findall(v)) <= 4 and ":" not in v for v in values):
            return "single-column lookup"
    return "no header"


def build_sheet(
    records: Iterable[tuple[int, list[str]]],
    *,
    sheet: str | None,
    sheet_index: int,
    hidden: bool = False,
    max_blank_run: int | None = None,
) -> SheetResult:
    """Read one sheet / CSV body into a :class:`SheetResult` holding its rows (see :func:`iter_sheet`)."""
    result = SheetResult(SheetReport(name=sheet, status="skipped", hidden=hidden))
    result.rows.extend(iter_sheet(records, result, sheet_index=sheet_index, max_blank_run=max_blank_run))
    return result


def iter_sheet(
    records: Iterable[tuple[int, list[str]]],
    result: SheetResult,
    *,
    sheet_index: int,
    max_blank_run: int | None = None,
) -> Iterator[RawRow]:
    """Read one sheet / CSV body, yielding its lead rows one by one (the whole sheet is never held: issue 13).

    ``result`` (``SheetResult(SheetReport(name=sheet, status="skipped", hidden=...))``) receives the quarantined
    rows and the report as the rows are read; its ``rows`` list is left alone. The report's status and row count
    are final once the iterator is exhausted.

    Args:
        records: ``(row_number, cells)`` in order; row numbers are 1-based as the user sees them; cells are text.
        result: where the report (its ``name`` is the sheet name for ``RawRow.sheet``, ``None`` for CSV) and the
            quarantine go.
        sheet_index: 0-based index used in ``row_id = f"{sheet_index}:{row_number}"``.
        max_blank_run: stop after this many consecutive blank rows (Excel sheets with a stray cell far below the
            data); the rest of the sheet range is reported in the quarantine, never dropped silently.

    Yields:
        The lead rows. A sheet without a lead header yields none and ends ``status="skipped"`` with reason
        ``"empty"``, ``"no header"`` or ``"single-column lookup"``; a header without data rows is skipped with
        ``"header only: no data rows"``.

    Steps: :func:`_read_head` (the rows the header is searched in), :func:`_locate_header` (header search, or roles
    from content), :func:`_sheet_headers` (the names the rows' cells get), then the row loop (:func:`_body_rows`:
    blank runs; :func:`_clean_values`: secrets, control characters, long cells; :func:`_fit_width`;
    :func:`_not_a_lead`: placeholder, repeated header and footer rows) and :func:`_finish`.
    """
    it: Iterator[tuple[int, list[str]]] = iter(records)
    buffered = _read_head(it, max_blank_run)
    report = result.report
    located = _locate_header(buffered, report)
    if located is None:
        return
    header_pos, guessed = located
    header_row_number, header_cells = buffered[header_pos] if header_pos >= 0 else (None, [])
    if _is_lookup_header(header_cells, buffered):
        report.reason = "single-column lookup"
        return
    headers, header_keys = _sheet_headers(header_cells, guessed, buffered[header_pos + 1:], report)
    cols = _Columns.of(headers, header_keys)
    report.header_row = header_row_number
    lead_rows = 0
    for row_number, cells in _body_rows(buffered[header_pos + 1:], it, result, max_blank_run):
        values = _clean_values(cells, cols, report)
        names = _fit_width(values, headers)
        row = RawRow(f"{sheet_index}:{row_number}", report.name, row_number, tuple(zip(names, values)))
        reason = _not_a_lead(values, cols)
        if reason:
            result.quarantine.append(QuarantineRow(report.name, row_number, reason, row.as_request_dict()))
            continue
        lead_rows += 1
        yield row
    _finish(result, lead_rows)


def _read_head(it: Iterator[tuple[int, list[str]]], max_blank_run: int | None) -> list[tuple[int, list[str]]]:
    """The first records of the sheet: up to :data:`HEADER_SCAN_ROWS` non-blank ones (and the blank ones between,
    at most ``HEADER_SCAN_ROWS + max_blank_run`` in all, 1,000 blank ones without a limit)."""
    buffered: list[tuple[int, list[str]]] = []
    non_blank = 0
    for rec in it:
        buffered.append(rec)
        if not _is_blank(rec[1]):
            non_blank += 1
            if non_blank >= HEADER_SCAN_ROWS:
                break
        elif len(buffered) >= HEADER_SCAN_ROWS + (max_blank_run or 1000):
            break
    return buffered


def _locate_header(buffered: list[tuple[int, list[str]]], report: SheetReport) -> tuple[int, list[str] | None] | None:
    """``(position of the header row in buffered, headers guessed from content or None)``; ``None`` when the sheet
    has no lead header (``report.reason`` and, for ``"no header"``, ``report.first_row`` set). A header position of
    ``-1``: the sheet starts with data (no header row)."""
    candidates = [(i, rec) for i, rec in enumerate(buffered) if not _is_blank(rec[1])]
    if not candidates:
        report.reason = "empty"
        return None
    best: tuple[tuple[int, int], int] | None = None
    for i, (_, cells) in candidates:
        score = header_score([normalize_header(c) for c in cells])
        if score[0] >= 1 and (best is None or score > best[0]):
            best = (score, i)
    if best is not None:
        return best[1], None
    return _headers_from_content(buffered, candidates, report)


def _headers_from_content(buffered: list[tuple[int, list[str]]], candidates: list[tuple[int, tuple[int, list[str]]]],
                          report: SheetReport) -> tuple[int, list[str]] | None:
    """No header row maps, but the cells may show emails / phones / names: roles from content (issue 15). Returns
    ``(header position, header names)`` or ``None`` (refused: reason and first row recorded in ``report``)."""
    sample = [cells for _, (_, cells) in candidates]
    guess = guess_header(sample) if len(sample) > 1 or max(len(c) for c in sample) > 1 else None
    if guess is None:
        report.reason = _lookup_or_notes(sample)
        # quoted in the refusal: never a card number or IBAN (breaker finding 9)
        report.first_row = [redact_text(normalize_header(c))[0] for c in sample[0] if normalize_header(c)][:12]
        return None
    first_is_data, roles = guess
    width = max(len(c) for c in sample)
    first_pos = candidates[0][0]
    given = [] if first_is_data else [normalize_header(c) for c in buffered[first_pos][1]]
    guessed = _guessed_names(given + [""] * (width - len(given)), roles + [None] * (width - len(roles)), report)
    return (first_pos - 1 if first_is_data else first_pos), guessed


def _guessed_names(given: list[str], roles: list[str | None], report: SheetReport) -> list[str]:
    """Header names for columns whose roles were read from content: ``Email``, or ``Email (Feld2)`` when the file
    gave a header no alias knows; the others keep their own name (``Column N`` when empty). Guesses are recorded in
    ``report.guessed_roles``."""
    names = []
    for k, (own, role) in enumerate(zip(given, roles)):
        if role and not header_role(own)[0]:
            names.append(ROLE_HEADERS[role] + (f" ({own})" if own else ""))
            report.guessed_roles[own or f"Column {k + 1}"] = role
        else:
            names.append(own or f"Column {k + 1}")
    return names


def _is_lookup_header(header_cells: list[str], buffered: list[tuple[int, list[str]]]) -> bool:
    """A one-column list under a single Company / Title / Notes header (a data-validation list, not leads)."""
    named = [c for c in header_cells if normalize_header(c)]
    if len(named) != 1 or header_role(normalize_header(named[0]))[0] not in ("company", "title", "remarks"):
        return False
    return all(sum(1 for c in cells if c.strip()) <= 1 for _, cells in buffered if not _is_blank(cells))


def _sheet_headers(header_cells: list[str], guessed: list[str] | None, below: list[tuple[int, list[str]]],
                   report: SheetReport) -> tuple[list[str], list[str]]:
    """``(headers, header keys)``: the names the rows' cells get (trailing empty headers dropped, an empty one named
    ``Column N``, a card number in a header cell redacted, unknown headers given a role their content shows) and the
    case-folded header cells as read, used to recognise a repeated header row."""
    headers = guessed if guessed is not None else [normalize_header(c) for c in header_cells]
    while headers and not headers[-1]:
        headers.pop()
    headers = [h or f"Column {k + 1}" for k, h in enumerate(headers)]
    for k, h in enumerate(headers):  # a data row taken for the header may hold a card number (breaker finding 10)
        if len(h) >= 13 and _SECRET_HINT.search(h):
            headers[k], kinds = redact_text(h)
            for kind in kinds:
                report.redacted[kind] = report.redacted.get(kind, 0) + 1
    header_keys = [h.casefold() for h in headers]
    if guessed is None:
        sample = [cells for _, cells in below if not _is_blank(cells)][:HEADER_SCAN_ROWS]
        headers = _fill_missing_roles(headers, sample, report)
    return headers, header_keys


@dataclass(frozen=True)
class _Columns:
    """What the row loop needs to know of the header: column indexes by role and the header keys."""

    width: int
    header_keys: list[str]
    phones: list[int]
    emails: list[int]
    names: set[int]
    secrets: dict[int, str]

    @classmethod
    def of(cls, headers: list[str], header_keys: list[str]) -> "_Columns":
        roles = [header_role(h)[0] for h in headers]
        return cls(
            width=len(headers),
            header_keys=header_keys,
            phones=[k for k, r in enumerate(roles) if r in ("phone", "mobile")],
            emails=[k for k, r in enumerate(roles) if r == "email"],
            names={k for k, r in enumerate(roles) if _FIELD_OF.get(r or "") == "name"},
            secrets={k: kind for k, h in enumerate(headers) if (kind := sensitive_header(h))},
        )


def _body_rows(head: list[tuple[int, list[str]]], it: Iterator[tuple[int, list[str]]], result: SheetResult,
               max_blank_run: int | None) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records under the header (blank ones counted in the report); after ``max_blank_run`` blank
    records in a row the rest is not read, and its non-blank rows are reported in one quarantine row."""
    report = result.report
    blank_run = 0
    gen = itertools.chain(head, it)
    for row_number, cells in gen:
        if not _is_blank(cells):
            blank_run = 0
            yield row_number, cells
            continue
        report.skipped_blank += 1
        blank_run += 1
        if max_blank_run is not None and blank_run >= max_blank_run:
            remaining = sum(1 for _, c in gen if not _is_blank(c))
            if remaining:
                result.quarantine.append(QuarantineRow(
                    report.name, row_number + 1,
                    f"{remaining} non-blank row(s) after {max_blank_run} consecutive blank rows not read",
                    {},
                ))
            return


def _count(redacted: dict[str, int], kind: str) -> None:
    redacted[kind] = redacted.get(kind, 0) + 1


def _clean_values(cells: list[str], cols: _Columns, report: SheetReport) -> list[str]:
    """The row's cells stripped, secret columns redacted, control characters removed (counted), and, when the row
    may hold one, card numbers / IBANs redacted inside cells and cells over :data:`MAX_CELL_CHARS` cut."""
    values = [c.strip() for c in cells]
    redacted = report.redacted
    for k, kind in cols.secrets.items():
        if k < len(values) and values[k]:
            values[k] = redaction(kind)
            _count(redacted, kind)
    joined = "\n".join(values)
    if _CONTROL.search(joined):  # NUL bytes of database dumps, SUB, ESC…: never in a lead (breaker 18, 21)
        for k, v in enumerate(values):
            if _CONTROL.search(v):
                report.control_chars_removed += len(_CONTROL.findall(v))
                values[k] = v.translate(_CONTROL_TABLE).strip()
        joined = "\n".join(values)
    if (len(joined) > MAX_CELL_CHARS or REDACTED_PREFIX in joined
            or (_SECRET_HINT.search(joined) and find_secrets(joined))):  # no secret spans two cells
        _redact_cells(values, cols, redacted)
    return values


def _redact_cells(values: list[str], cols: _Columns, redacted: dict[str, int]) -> None:
    """Card numbers / IBANs inside cells redacted in place (a cell a reader already redacted is counted), cells
    over :data:`MAX_CELL_CHARS` cut with a note saying their length."""
    phone_set = set(cols.phones)
    for k, v in enumerate(values):
        if len(v) < 13 or k in cols.secrets:
            continue
        if v.startswith(REDACTED_PREFIX) and v.endswith("]"):  # redacted by the reader (Excel's rounding)
            _count(redacted, v[len(REDACTED_PREFIX):-1])
            continue
        clean, kinds = redact_text(v, phone=k in phone_set)
        for kind in kinds:
            _count(redacted, kind)
        if len(clean) > MAX_CELL_CHARS:
            clean = (f"{clean[:MAX_CELL_CHARS]} [cut: cell of {len(clean):,} characters, "
                     f"first {MAX_CELL_CHARS:,} kept]")
        values[k] = clean


def _fit_width(values: list[str], headers: list[str]) -> list[str]:
    """The names of ``values``' cells; ``values`` is made as wide as the header in place (trailing empty cells
    beyond it dropped, missing ones added empty); cells beyond the header are named ``Column N``."""
    width = len(headers)
    n = len(values)
    while n > width and not values[-1]:
        values.pop()
        n -= 1
    if n < width:
        values.extend([""] * (width - n))
    return headers if n <= width else headers + [f"Column {k + 1}" for k in range(width, n)]


def _not_a_lead(values: list[str], cols: _Columns) -> str | None:
    """The quarantine reason of a row that is no lead (every cell a placeholder, a repeated header row, a footer or
    summary row), ``None`` for a lead row."""
    if all(not v or _placeholder(v) for v in values):
        return PLACEHOLDER_ROW_REASON
    filled = len(values) - values.count("")
    keys = cols.header_keys
    if (filled > 1 and keys and values[0].casefold() == keys[0]
            and [v.casefold() for v in values[:cols.width]] == keys):
        return REPEATED_HEADER_REASON
    if filled <= 2 and _is_footer(values, cols):
        return FOOTER_REASON
    return None


def _is_footer(values: list[str], cols: _Columns) -> bool:
    """A short row (at most two filled cells) that is a footer or summary: no email in an email column and no phone,
    and one cell only, a stray address, or a first cell like ``Total``."""
    texts = [v for v in values if v]
    has_email, stray_email = _email_in_row(values, texts, cols)
    # a count under the Phone column ("Total,,,2") is not a phone: a phone has at least 5 digits
    if has_email or any(_PHONE_DIGITS.search(values[k]) for k in cols.phones if k < len(values)):
        return False
    return len(texts) == 1 or stray_email or bool(_FOOTER_WORDS.match(texts[0]))


def _email_in_row(values: list[str], texts: list[str], cols: _Columns) -> tuple[bool, bool]:
    """``(the row has the lead's email, an address stands outside the email columns)`` for a short row.

    A footer has no email in an email column; an address elsewhere (``Questions? ops@x.com``, ``Prepared by |
    ops@x.com``) is a contact line of the sheet, not a lead — unless it sits alone in a name column next to names
    (``ann@example.com,Lee,`` under First/Last Name: the lead's email, README)."""
    if not cols.emails:
        return any("@" in v for v in texts), False
    has_email = any("@" in values[k] for k in cols.emails if k < len(values))
    stray_email = not has_email and any("@" in v for v in texts)
    if stray_email and _address_in_name_column(values, cols.names):
        has_email = True
    return has_email, stray_email


def _finish(result: SheetResult, lead_rows: int) -> None:
    """The report's final status and row count."""
    report = result.report
    report.rows = lead_rows
    if lead_rows:
        report.status = "leads"
    elif result.quarantine:
        report.status = "leads"
        report.reason = "no lead rows (all rows quarantined)"
    else:
        report.reason = "header only: no data rows"
