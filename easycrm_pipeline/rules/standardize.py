"""The offline rules standardizer: ``RawRow`` -> ``StandardLead`` without any network call.

Used when no ``DEEPSEEK_API_KEY`` is set, and as the fallback for rows DeepSeek misses or gets wrong
(:mod:`easycrm_pipeline.rules.validate`). Expected values come from the handed cases 01-13 (``/work/shared/cases``).
"""
from __future__ import annotations

from functools import lru_cache

from ..models import LEAD_FIELDS, RawRow, StandardLead
from .emails import normalize_email_cell
from .headers import HeaderMap, map_headers
from .names import clean_name_cell, needs_casing, split_full_name, title_case_name
from .phones import normalize_phone
from .text import clean_text, fold, is_blank_marker, is_placeholder_cell
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


def standardize_row(row: RawRow, default_region: str | None = None) -> StandardLead:
    """Standardize one row with the offline rules.

    Field rules: email = first valid address of the email columns (others -> ``alt email: x``, invalid ->
    ``invalid email in source: x``); phone = first usable number of the phone columns (phone before mobile; others ->
    ``<header>: <number>``); names from first/last columns or split from a full-name column, ALL-CAPS/all-lower
    title-cased, honorifics/credentials/emoji moved to remarks, placeholders and addresses no names
    (:func:`~.names.clean_name_cell`; an address in a name column is the email when the row has none); a full-name
    column naming someone else than the first/last columns goes to remarks; company = the first company column with
    a value, as given (:func:`company_case`); title trimmed; placeholders are no value anywhere; remarks = notes
    columns, then secondary values, then name remarks, then ``Header: value`` of unmapped columns, distinct, joined
    with ``"; "`` (issue 15: every cell lands in a field or in remarks).

    Returns:
        :class:`~easycrm_pipeline.models.StandardLead` with ``standardizer = RULES_VERSION``. Never raises.
    """
    headers = tuple(h for h, _ in row.cells)
    values = [v for _, v in row.cells]
    hm = _header_map(headers)
    roles = hm.roles

    def first_value(role: str) -> str:
        for i, r in enumerate(roles):
            if r == role:
                return clean_text(values[i])
        return ""

    notes = [clean_text(values[i]) for i in hm.columns("remarks") if not is_placeholder_cell(values[i])]
    extra: list[str] = []

    # email
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

    # phone
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

    # names: placeholders, emails, honorifics, credentials and emoji leave the name fields (kept in remarks)
    used: set[int] = set()
    name_remarks: list[str] = []
    name_emails: list[str] = []

    def name_value(role: str) -> str:
        for i, r in enumerate(roles):
            if r == role:
                cell = clean_name_cell(values[i])
                name_remarks.extend(cell.remarks)
                if cell.email:
                    name_emails.append(cell.email)
                return cell.name
        return ""

    first = name_value("firstName")
    middle = name_value("middleName")
    last = name_value("lastName")
    if middle:
        first = f"{first} {middle}".strip()
    full_columns = hm.columns("fullName")
    if full_columns:
        k = full_columns[0]
        if not first and not last:
            full = name_value("fullName")
            if full:
                parts = split_full_name(full)
                first, last = parts.first or "", parts.last or ""
                name_remarks.extend(parts.remarks)
        else:
            given = clean_name_cell(values[k]).name
            # the same person written in full ("Anna Maria Beispiel" next to Anna / Beispiel) adds nothing; another
            # name (the client's, the account's) is kept in remarks
            if given and not set(fold(f"{first} {last}").split()) <= set(fold(given).replace(",", " ").split()):
                name_remarks.append(f"{clean_text(headers[k])}: {clean_text(values[k])}")
    first, last = _case_name(first, last), _case_name(last, first)
    for addr in name_emails:
        res = normalize_email_cell(addr)
        if res.email and email is None:
            email = res.email
        elif res.email and res.email != email:
            extra.append(f"alt email: {res.email}")
        else:
            extra.extend(f"invalid email in source: {bad}" for bad in res.invalid)

    title = first_value("title")
    if is_placeholder_cell(title):
        title = ""
    # company: the first company column with a value (HubSpot "Company Name" empty, "Associated Company" filled)
    company = ""
    for i in hm.company_columns:
        value = clean_text(values[i])
        if value and not is_blank_marker(value):
            if not company:
                company = company_case(value)
                used.add(i)
        elif value:
            used.add(i)  # a placeholder ("N/A") is no company and no remark

    unmapped = []
    for i in hm.unmapped:
        value = clean_text(values[i])
        if value and i not in used and not is_placeholder_cell(value):  # "Department: N/A" says nothing
            header = clean_text(headers[i]) or f"Column {i + 1}"
            unmapped.append(f"{header}: {value}")

    remarks = _join(notes + extra + name_remarks + unmapped)
    fields: dict[str, str | None] = {
        "firstName": first or None,
        "lastName": last or None,
        "title": title or None,
        "company": company or None,
        "email": email,
        "phone": phone,
        "remarks": remarks,
    }
    assert tuple(fields) == LEAD_FIELDS
    provided = hm.provided | ({"remarks"} if remarks else set()) | ({"email"} if email else set())
    return StandardLead.for_row(row, fields, provided, RULES_VERSION)


def standardize_rows(rows: list[RawRow], default_region: str | None = None) -> list[StandardLead]:
    """Standardize every row with the offline rules: one :class:`StandardLead` per :class:`RawRow`, same order.

    Args:
        rows: rows from :func:`easycrm_pipeline.parsing.read_file` (``ParsedFile.rows``).
        default_region: ``EASYCRM_DEFAULT_REGION`` (ISO alpha-2) or ``None`` (never invent a country code).
    """
    return [standardize_row(r, default_region) for r in rows]
