"""The offline rules standardizer: ``RawRow`` -> ``StandardLead`` without any network call.

Used when no ``DEEPSEEK_API_KEY`` is set, and as the fallback for rows DeepSeek misses or gets wrong
(:mod:`easycrm_pipeline.rules.validate`). Expected values come from the handed cases 01-13 (``/work/shared/cases``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..fields import NORMALIZED_FIELDS, LeadField
from ..models import LEAD_FIELDS, RawRow, StandardLead
from .emails import normalize_email_cell
from .headers import HeaderMap, map_headers
from .names import clean_name_cell, needs_casing, split_full_name, title_case_name
from .phones import normalize_phone
from .text import clean_text, fold, is_blank_marker, is_placeholder_cell, unguard_cell
from .version import RULES_VERSION

#: Legal forms and small words with a fixed spelling when an ALL-CAPS company name is title-cased.
_COMPANY_WORDS = {
    "gmbh": "GmbH", "ag": "AG", "kg": "KG", "ohg": "OHG", "ug": "UG", "llc": "LLC", "llp": "LLP", "ltd": "Ltd",
    "ltd.": "Ltd.", "inc": "Inc", "inc.": "Inc.", "co": "Co", "co.": "Co.", "corp": "Corp", "corp.": "Corp.",
    "plc": "PLC", "sa": "SA", "sarl": "SARL", "sas": "SAS", "sl": "SL", "srl": "SRL", "spa": "SpA", "bv": "BV",
    "nv": "NV", "ab": "AB", "as": "AS", "oy": "Oy", "pte": "Pte", "pty": "Pty", "kft": "Kft", "the": "The",
    "and": "and", "of": "of", "for": "for", "und": "und", "et": "et", "y": "y", "&": "&",
}


def company_case(text: str) -> str:
    """A company name as given (whitespace collapsed): ``IKEA``, ``ACME-X``, ``BMW AG``, ``ACME GMBH`` keep their
    capitals (brands and acronyms). Only a shouted name of two or more ordinary words of four or more letters is
    title-cased (handed case 11: ``"SMITH EXAMPLE HOLDINGS"`` -> ``"Smith Example Holdings"``), legal forms in their
    usual spelling (``"EXAMPLE TRADING GMBH"`` -> ``"Example Trading GmbH"``), words of up to three letters kept
    (acronyms: ``"IBM"``).
    """
    text = clean_text(text)
    if not _shouted_company(text):
        return text
    return " ".join(_company_word(i, word) for i, word in enumerate(text.split(" ")))


def _shouted_company(text: str) -> bool:
    """All capitals (four letters or more) and two or more ordinary words: not a legal form or small word, four
    letters or more, no hyphen (``ACME-X`` is a brand)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 4 or not all(c.isupper() for c in letters):
        return False
    ordinary = [w for w in text.split(" ") if w.lower() not in _COMPANY_WORDS and sum(c.isalpha() for c in w) >= 4
                and "-" not in w]
    return len(ordinary) >= 2


def _company_word(i: int, word: str) -> str:
    """One word of a shouted company name (``i``: its position): a legal form or small word in its usual spelling
    (capitalized first), a word of up to three letters kept (acronyms), any other title-cased."""
    low = word.lower()
    if low in _COMPANY_WORDS:
        fixed = _COMPANY_WORDS[low]
        return fixed[0].upper() + fixed[1:] if i == 0 else fixed
    if sum(c.isalpha() for c in word) <= 3:
        return word
    return title_case_name(low) if "'" in word or "-" in word else word[0] + word[1:].lower()


#: Names that are also "missing value" words; written so next to a normally cased other name they are kept as given
#: (handed case 13: the surnames ``NA``, ``None``, ``null`` must stay names; their casing is the writer's).
PLACEHOLDER_NAMES = frozenset({"na", "n/a", "nan", "none", "null", "nil"})


def _case_name(value: str, other: str) -> str:
    """ALL-CAPS / all-lower -> title case (``ANN`` -> ``Ann``), except a placeholder-like surname (``NA``, ``null``)
    next to a normally cased other name, which is kept as given (handed case 13)."""
    if not needs_casing(value):
        return value
    if value.casefold() in PLACEHOLDER_NAMES and other and not needs_casing(other):
        return value
    return title_case_name(value)


@lru_cache(maxsize=256)
def _header_map(headers: tuple[str, ...]) -> HeaderMap:
    return map_headers(list(headers))


def _join(parts: list[str]) -> str | None:
    seen: list[str] = []
    for p in parts:
        p = p.strip()
        if p and p not in seen:
            seen.append(p)
    return "; ".join(seen) or None


def _email(hm: HeaderMap, values: list[str], extra: list[str]) -> str | None:
    """The first valid address of the email columns; other addresses -> ``alt email: x``, invalid ones ->
    ``invalid email in source: x``, notes -> ``email note: x`` (appended to ``extra``)."""
    email: str | None = None
    for i in hm.email_columns:
        res = normalize_email_cell(values[i])
        found = ([res.email] if res.email else []) + res.extra
        for addr in found:
            if email is None:
                email = addr
            elif addr != email:
                extra.append(f"alt email: {addr}")
        extra.extend(f"invalid email in source: {bad}" for bad in res.invalid)
        extra.extend(f"email note: {note}" for note in res.notes)
    return email


def _phone(hm: HeaderMap, values: list[str], default_region: str | None, extra: list[str]) -> str | None:
    """The first usable number of the phone columns (phone before mobile); other numbers -> ``<label>: <number>``."""
    phone: str | None = None
    for i in hm.phone_columns:
        res = normalize_phone(values[i], default_region)
        if res.phone:
            if phone is None:
                phone = res.phone
            elif res.phone != phone:
                extra.append(f"{hm.labels.get(i, 'phone')}: {res.phone}")
        if res.remark:
            extra.append(res.remark)
    return phone


@dataclass
class _Names:
    """First and last name of a row, the remarks the name cells gave and the addresses found in them."""

    first: str = ""
    last: str = ""
    remarks: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    def cell(self, hm: HeaderMap, values: list[str], role: str) -> str:
        """The cleaned name of the first column with ``role`` (``""`` when none); remarks and addresses kept."""
        for i, r in enumerate(hm.roles):
            if r == role:
                cell = clean_name_cell(values[i])
                self.remarks.extend(cell.remarks)
                if cell.email:
                    self.emails.append(cell.email)
                return cell.name
        return ""


def _names(hm: HeaderMap, headers: tuple[str, ...], values: list[str]) -> _Names:
    """Names from first/middle/last columns, or split from a full-name column; a full-name column naming someone
    else than the first/last columns goes to remarks; casing per :func:`_case_name`."""
    names = _Names()
    first = names.cell(hm, values, "firstName")
    middle = names.cell(hm, values, "middleName")
    last = names.cell(hm, values, "lastName")
    if middle:
        first = f"{first} {middle}".strip()
    full_columns = hm.columns("fullName")
    if full_columns and not first and not last:
        full = names.cell(hm, values, "fullName")
        if full:
            parts = split_full_name(full)
            first, last = parts.first or "", parts.last or ""
            names.remarks.extend(parts.remarks)
    elif full_columns:
        k = full_columns[0]
        given = clean_name_cell(values[k]).name
        # the same person written in full ("Anna Maria Beispiel" next to Anna / Beispiel) adds nothing; another
        # name (the client's, the account's) is kept in remarks
        if given and not set(fold(f"{first} {last}").split()) <= set(fold(given).replace(",", " ").split()):
            names.remarks.append(f"{clean_text(headers[k])}: {clean_text(values[k])}")
    names.first, names.last = _case_name(first, last), _case_name(last, first)
    return names


def _email_from_names(email: str | None, name_emails: list[str], extra: list[str]) -> str | None:
    """An address written in a name column is the email when the row has none, else an ``alt email``."""
    for addr in name_emails:
        res = normalize_email_cell(addr)
        if res.email and email is None:
            email = res.email
        elif res.email and res.email != email:
            extra.append(f"alt email: {res.email}")
        else:
            extra.extend(f"invalid email in source: {bad}" for bad in res.invalid)
    return email


def _title(hm: HeaderMap, values: list[str]) -> str:
    """The first title column's text, ``""`` for a placeholder."""
    columns = hm.columns("title")
    title = clean_text(values[columns[0]]) if columns else ""
    return "" if is_placeholder_cell(title) else title


def _company(hm: HeaderMap, values: list[str], used: set[int]) -> str:
    """The first company column with a value (HubSpot "Company Name" empty, "Associated Company" filled), cased by
    :func:`company_case`; that column and placeholder ("N/A") company cells are ``used`` (no remark)."""
    company = ""
    for i in hm.company_columns:
        value = clean_text(values[i])
        if value and not is_blank_marker(value):
            if not company:
                company = company_case(value)
                used.add(i)
        elif value:
            used.add(i)  # a placeholder ("N/A") is no company and no remark
    return company


def _normalized_fields(hm: HeaderMap, headers: tuple[str, ...], values: list[str], remarks: list[str],
                       specs: tuple[LeadField, ...] = NORMALIZED_FIELDS) -> dict[str, str | None]:
    """The registry's one-column fields (``fields.NORMALIZED_FIELDS``): the first column of the field's role whose
    cell normalizes to a value is the field; the normalizer's remarks and the other columns' different values
    (``Header: value``) go to ``remarks``. Placeholder cells are no value."""
    out: dict[str, str | None] = {}
    for spec in specs:
        value: str | None = None
        for i in hm.columns(spec.name):
            cell = clean_text(values[i])
            if not cell or is_placeholder_cell(cell):
                continue
            got, notes = spec.normalizer(cell)
            remarks.extend(notes)
            if value is None:
                value = got
            elif got and got != value:
                remarks.append(f"{clean_text(headers[i]) or spec.name}: {cell}")
        out[spec.name] = value
    return out


def _unmapped(hm: HeaderMap, headers: tuple[str, ...], values: list[str], used: set[int]) -> list[str]:
    """``Header: value`` of the unmapped columns with a value (``Column N`` for a blank header)."""
    unmapped = []
    for i in hm.unmapped:
        value = clean_text(values[i])
        if value and i not in used and not is_placeholder_cell(value):  # "Department: N/A" says nothing
            header = clean_text(headers[i]) or f"Column {i + 1}"
            unmapped.append(f"{header}: {value}")
    return unmapped


def standardize_row(row: RawRow, default_region: str | None = None) -> StandardLead:
    """Standardize one row with the offline rules.

    Field rules: email = first valid address of the email columns (others -> ``alt email: x``, invalid ->
    ``invalid email in source: x``); phone = first usable number of the phone columns (phone before mobile; others ->
    ``<header>: <number>``); names from first/last columns or split from a full-name column, ALL-CAPS/all-lower
    title-cased, honorifics/credentials/emoji moved to remarks, placeholders and addresses no names
    (:func:`~.names.clean_name_cell`; an address in a name column is the email when the row has none); a full-name
    column naming someone else than the first/last columns goes to remarks; company = the first company column with
    a value, as given (:func:`company_case`); title trimmed; a field declared with a ``normalize`` function in
    ``fields.FIELDS`` = its first column that normalizes to a value; placeholders are no value anywhere; remarks =
    notes columns, then secondary values, then name remarks, then the normalized fields' remarks, then
    ``Header: value`` of unmapped columns, distinct, joined with ``"; "`` (issue 15: every cell lands in a field or in
    remarks).

    Returns:
        :class:`~easycrm_pipeline.models.StandardLead` with ``standardizer = RULES_VERSION``. Never raises.
    """
    headers = tuple(h for h, _ in row.cells)
    hm = _header_map(headers)
    # an easycrm export coming back: the apostrophes its formula guard added are not part of the values
    values = [unguard_cell(v) if hm.own_export else v for _, v in row.cells]
    notes = [clean_text(values[i]) for i in hm.columns("remarks") if not is_placeholder_cell(values[i])]
    extra: list[str] = []
    email = _email(hm, values, extra)
    phone = _phone(hm, values, default_region, extra)
    names = _names(hm, headers, values)
    email = _email_from_names(email, names.emails, extra)
    used: set[int] = set()
    company = _company(hm, values, used)
    field_remarks: list[str] = []
    fields = _normalized_fields(hm, headers, values, field_remarks)
    remarks = _join(notes + extra + names.remarks + field_remarks + _unmapped(hm, headers, values, used))
    fields.update({
        "firstName": names.first or None,
        "lastName": names.last or None,
        "title": _title(hm, values) or None,
        "company": company or None,
        "email": email,
        "phone": phone,
        "remarks": remarks,
    })
    provided = hm.provided | ({"remarks"} if remarks else set()) | ({"email"} if email else set())
    return StandardLead.for_row(row, {f: fields.get(f) for f in LEAD_FIELDS}, provided, RULES_VERSION)


def standardize_rows(rows: list[RawRow], default_region: str | None = None) -> list[StandardLead]:
    """Standardize every row with the offline rules: one :class:`StandardLead` per :class:`RawRow`, same order.

    Args:
        rows: rows from :func:`easycrm_pipeline.parsing.read_file` (``ParsedFile.rows``).
        default_region: ``EASYCRM_DEFAULT_REGION`` (ISO alpha-2) or ``None`` (never invent a country code).
    """
    return [standardize_row(r, default_region) for r in rows]
