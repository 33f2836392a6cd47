"""Shared by the CSV and Excel readers: find the header row, turn the rows under it into ``RawRow``s.

Header detection: among the first :data:`HEADER_SCAN_ROWS` non-blank rows, the row with the most lead-field headers
(distinct email / name / phone / company columns, then known headers of any kind) is the header; title rows, merged
title cells, ``Notes:`` preambles and blank rows above it are ignored. When no row maps, the columns' roles are read
from their content (:mod:`easycrm_pipeline.rules.columns`): a file without a header row starts with data (headers
``Email``, ``Phone``, ``Full Name``… given), a header of unknown words keeps its names with the role in front
(``Email (Feld2)``).
"""
from __future__ import annotations

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
    guessed = content_roles([[row[k] if k < len(row) else "" for k in unknown] for row in sample])
    out = list(headers)
    for k, role in zip(unknown, guessed):
        field_name = _FIELD_OF.get(role or "")
        if field_name == "phone" and _looks_like_ids(headers[k], [row[k] if k < len(row) else "" for row in sample]):
            continue
        if field_name and field_name != "name" and field_name not in present:
            present.add(field_name)
            out[k] = f"{ROLE_HEADERS[role]} ({headers[k]})"
            report.guessed_roles[headers[k]] = role
    return out


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
    """
    it: Iterator[tuple[int, list[str]]] = iter(records)
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
    report = result.report
    sheet = report.name
    candidates = [(i, rec) for i, rec in enumerate(buffered) if not _is_blank(rec[1])]
    if not candidates:
        report.reason = "empty"
        return
    best: tuple[tuple[int, int], int] | None = None
    for i, (_, cells) in candidates:
        score = header_score([normalize_header(c) for c in cells])
        if score[0] >= 1 and (best is None or score > best[0]):
            best = (score, i)
    guessed: list[str] | None = None
    if best is None:
        sample = [cells for _, (_, cells) in candidates]
        guess = guess_header(sample) if len(sample) > 1 or max(len(c) for c in sample) > 1 else None
        if guess is None:
            report.reason = _lookup_or_notes(sample)
            # quoted in the refusal: never a card number or IBAN (breaker finding 9)
            report.first_row = [redact_text(normalize_header(c))[0] for c in sample[0] if normalize_header(c)][:12]
            return
        # no header maps, but the cells show emails / phones / names: roles from content (issue 15)
        first_is_data, roles = guess
        width = max(len(c) for c in sample)
        first_pos = candidates[0][0]
        given = [] if first_is_data else [normalize_header(c) for c in buffered[first_pos][1]]
        given += [""] * (width - len(given))
        guessed = []
        for k, role in enumerate(roles + [None] * (width - len(roles))):
            own = given[k]
            if role and not header_role(own)[0]:
                name = ROLE_HEADERS[role] + (f" ({own})" if own else "")
                report.guessed_roles[own or f"Column {k + 1}"] = role
            else:
                name = own or f"Column {k + 1}"
            guessed.append(name)
        best = ((0, 0), first_pos - 1 if first_is_data else first_pos)

    header_pos = best[1]
    header_row_number, header_cells = buffered[header_pos] if header_pos >= 0 else (None, [])
    named = [c for c in header_cells if normalize_header(c)]
    if len(named) == 1 and header_role(normalize_header(named[0]))[0] in ("company", "title", "remarks"):
        if all(sum(1 for c in cells if c.strip()) <= 1 for _, (_, cells) in candidates):
            report.reason = "single-column lookup"
            return
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
        sample = [cells for _, cells in buffered[header_pos + 1:] if not _is_blank(cells)][:HEADER_SCAN_ROWS]
        headers = _fill_missing_roles(headers, sample, report)
    phone_cols = [k for k, h in enumerate(headers) if header_role(h)[0] in ("phone", "mobile")]
    secret_cols = {k: kind for k, h in enumerate(headers) if (kind := sensitive_header(h))}
    phone_set = set(phone_cols)
    redacted = report.redacted
    email_cols = [k for k, h in enumerate(headers) if header_role(h)[0] == "email"]
    name_cols = {k for k, h in enumerate(headers) if _FIELD_OF.get(header_role(h)[0] or "") == "name"}
    report.header_row = header_row_number

    def rest() -> Iterator[tuple[int, list[str]]]:
        yield from buffered[header_pos + 1:]
        yield from it

    blank_run = 0
    width = len(headers)
    first_key = header_keys[0] if header_keys else None
    lead_rows = 0
    gen = rest()
    for row_number, cells in gen:
        if _is_blank(cells):
            report.skipped_blank += 1
            blank_run += 1
            if max_blank_run is not None and blank_run >= max_blank_run:
                remaining = sum(1 for _, c in gen if not _is_blank(c))
                if remaining:
                    result.quarantine.append(QuarantineRow(
                        sheet, row_number + 1,
                        f"{remaining} non-blank row(s) after {max_blank_run} consecutive blank rows not read",
                        {},
                    ))
                break
            continue
        blank_run = 0
        values = [c.strip() for c in cells]
        for k, kind in secret_cols.items():
            if k < len(values) and values[k]:
                values[k] = redaction(kind)
                redacted[kind] = redacted.get(kind, 0) + 1
        joined = "\n".join(values)
        if _CONTROL.search(joined):  # NUL bytes of database dumps, SUB, ESC…: never in a lead (breaker 18, 21)
            for k, v in enumerate(values):
                if _CONTROL.search(v):
                    report.control_chars_removed += len(_CONTROL.findall(v))
                    values[k] = v.translate(_CONTROL_TABLE).strip()
            joined = "\n".join(values)
        if (len(joined) > MAX_CELL_CHARS or REDACTED_PREFIX in joined
                or (_SECRET_HINT.search(joined) and find_secrets(joined))):  # no secret spans two cells
            for k, v in enumerate(values):
                if len(v) < 13 or k in secret_cols:
                    continue
                if v.startswith(REDACTED_PREFIX) and v.endswith("]"):  # redacted by the reader (Excel's rounding)
                    kind = v[len(REDACTED_PREFIX):-1]
                    redacted[kind] = redacted.get(kind, 0) + 1
                    continue
                clean, kinds = redact_text(v, phone=k in phone_set)
                for kind in kinds:
                    redacted[kind] = redacted.get(kind, 0) + 1
                if len(clean) > MAX_CELL_CHARS:
                    clean = (f"{clean[:MAX_CELL_CHARS]} [cut: cell of {len(clean):,} characters, "
                             f"first {MAX_CELL_CHARS:,} kept]")
                values[k] = clean
        n = len(values)
        if n == width:
            names = headers
        else:
            while n > width and not values[-1]:
                values.pop()
                n -= 1
            if n < width:
                values.extend([""] * (width - n))
                names = headers
            else:
                names = headers + [f"Column {k + 1}" for k in range(width, n)]
        row = RawRow(f"{sheet_index}:{row_number}", sheet, row_number, tuple(zip(names, values)))
        filled = len(values) - values.count("")
        if all(not v or _placeholder(v) for v in values):
            result.quarantine.append(QuarantineRow(sheet, row_number, PLACEHOLDER_ROW_REASON, row.as_request_dict()))
            continue
        if (filled > 1 and values[0].casefold() == first_key
                and [v.casefold() for v in values[:width]] == header_keys):
            result.quarantine.append(QuarantineRow(sheet, row_number, REPEATED_HEADER_REASON, row.as_request_dict()))
            continue
        if filled <= 2:
            texts = [v for v in values if v]
            # a footer has no email in an email column and no phone; an address elsewhere ("Questions? ops@x.com",
            # "Prepared by | ops@x.com") is a contact line of the sheet, not a lead
            has_email = any("@" in values[k] for k in email_cols if k < len(values)) if email_cols else any(
                "@" in v for v in texts
            )
            stray_email = bool(email_cols) and not has_email and any("@" in v for v in texts)
            if stray_email and _address_in_name_column(values, name_cols):
                has_email = True  # "ann@example.com,Lee," under First/Last Name: the lead's email (README)
            # a count under the Phone column ("Total,,,2") is not a phone: a phone has at least 5 digits
            if (not has_email and not any(_PHONE_DIGITS.search(values[k]) for k in phone_cols if k < len(values))
                    and (filled == 1 or stray_email or _FOOTER_WORDS.match(texts[0]))):
                result.quarantine.append(QuarantineRow(sheet, row_number, FOOTER_REASON, row.as_request_dict()))
                continue
        lead_rows += 1
        yield row
    report.rows = lead_rows
    if lead_rows:
        report.status = "leads"
    elif result.quarantine:
        report.status = "leads"
        report.reason = "no lead rows (all rows quarantined)"
    else:
        report.reason = "header only: no data rows"
