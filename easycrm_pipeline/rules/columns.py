"""Column roles from what the cells hold, for files without a header row or with headers no alias knows (issue 15).

A column is an email, phone, website, company, job title or person-name column when most of its sampled non-empty
cells look like one: an address with ``@`` and a dotted domain; 7-15 digits written with phone separators only; a
URL; a legal form (``GmbH``, ``AG``, ``Inc``, ``Ltd``…); a job word (``Head``, ``Manager``, ``Director``, ``CEO``…);
one to four capitalised words of letters (two or more: a full name; one: a first name, a second such column the last
name). Used by :mod:`easycrm_pipeline.parsing.table` only when no header row maps.
"""
from __future__ import annotations

import re

from .text import clean_text

#: The header given to a column recognised by content (they map through :mod:`.headers` like any header).
ROLE_HEADERS = {
    "email": "Email", "phone": "Phone", "website": "Website", "company": "Company", "title": "Job Title",
    "fullName": "Full Name", "firstName": "First Name", "lastName": "Last Name",
}
#: A headerless table is a lead table when its content shows an email or phone column, or a person-name column
#: next to a company or job-title column (names alone may be a lookup list of countries or statuses).
def _is_lead_table(roles: list[str | None]) -> bool:
    found = set(roles)
    return bool(found & {"email", "phone"}) or bool(
        found & {"fullName", "firstName"} and found & {"company", "title"})


_EMAIL = re.compile(r"^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]{2,}$")
_URL = re.compile(r"^(?:https?://|www\.)\S+$|^\S*(?:linkedin\.com|xing\.com)/\S*$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d\s\-./()]{7,22}(?:\s*(?:x|ext\.?)\s*\d{1,6})?$", re.IGNORECASE)
_LEGAL = re.compile(
    r"(?:^|[\s,.(])(?:gmbh|ag|kg|ohg|ug|se|e\.?v|inc|llc|llp|ltd|limited|corp|corporation|co|company|plc|sa|sas|"
    r"sarl|srl|spa|sl|bv|nv|ab|as|oy|pty|pte|kft|group|gruppe|holding|holdings|ооо|зао|оао|пао|a\.?ş|ltd\.?\s*şti)"
    r"\.?(?:$|[\s,.)])",
    re.IGNORECASE,
)
_JOB = re.compile(
    r"\b(?:head|manager|director|ceo|cto|cfo|coo|cmo|cio|founder|co-founder|owner|partner|president|vp|"
    r"vice|chief|officer|engineer|developer|consultant|assistant|specialist|analyst|lead|sales|marketing|"
    r"executive|administrator|coordinator|recruiter|buyer|purchaser|accountant|hr|it|leiter|leiterin|"
    r"geschäftsführer|geschäftsführerin|vertrieb|einkauf|referent|referentin|directeur|directrice|responsable|"
    r"gérant|gerente|jefe|director|directora|responsabile|direttore|diretor|directeur|manager|директор|"
    r"менеджер|руководитель|инженер|kierownik|dyrektor|müdür|uzman)\b",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^[^\W\d_][^\W\d_'’.\-]*(?:['’\-][^\W\d_]+)*\.?$")


def _is_name(value: str) -> bool:
    words = value.split()
    return 1 <= len(words) <= 4 and all(_NAME_WORD.match(w) and w[0].isupper() for w in words)


def _is_phone(value: str) -> bool:
    if not _PHONE.match(value):
        return False
    digits = sum(c.isdigit() for c in re.split(r"(?i)x|ext", value)[0])
    return 7 <= digits <= 15


#: role -> test of one cell, in the order roles are tried.
_TESTS = (
    ("email", lambda v: bool(_EMAIL.match(v))),
    ("website", lambda v: bool(_URL.match(v))),
    ("phone", _is_phone),
    ("company", lambda v: bool(_LEGAL.search(v)) and "@" not in v),
    ("title", lambda v: bool(_JOB.search(v)) and "@" not in v and len(v) <= 80),
    ("name", _is_name),
)
_SHARE = {"email": 0.6, "website": 0.6, "phone": 0.6, "company": 0.4, "title": 0.4, "name": 0.7}


def fits(role: str, value: str) -> bool:
    """True when ``value`` looks like a cell of a ``role`` column (``fullName``/``firstName``/``lastName`` use the
    person-name test)."""
    key = "name" if role in ("fullName", "firstName", "lastName") else role
    value = clean_text(value)
    return any(r == key and test(value) for r, test in _TESTS)


def _is_text(value: str, longest: int) -> bool:
    """Free text that can be a company or a job title: has a letter, at most ``longest`` characters, and is no
    email, URL or phone number."""
    return (len(value) <= longest and any(c.isalpha() for c in value) and not _EMAIL.match(value)
            and not _URL.match(value) and not _is_phone(value))


def _is_person_name(value: str) -> bool:
    """A person name as exports write it, also all lower-case (``anna``, ``van der berg``)."""
    return _is_name(value) or _is_name(value.title())


#: role -> (test of one cell, share of the non-empty cells that must pass) for :func:`agrees`.
_AGREES = {
    "email": (lambda v: bool(_EMAIL.match(v)), 0.6),
    "phone": (_is_phone, 0.6),
    "firstName": (_is_person_name, 0.7),
    "lastName": (_is_person_name, 0.7),
    "fullName": (lambda v: _is_person_name(v) and len(v.split()) >= 2, 0.5),
    "company": (lambda v: _is_text(v, 120), 0.8),
    "title": (lambda v: _is_text(v, 80), 0.8),
}


def agrees(role: str, values: list[str]) -> bool:
    """True when a column's cells ``values`` (a sample, as read) do not contradict the lead field ``role`` someone
    else proposed for it (DeepSeek's header mapping, issue 15).

    ``role`` is one of ``email phone firstName lastName fullName company title``; anything else -> False. Empty cells
    are left out; a column with no filled cell never agrees. Thresholds (share of the filled cells): emails (an
    address with ``@`` and a dotted domain) and phones (7-15 digits with phone separators) 60 %; first / last names
    (one to four capitalised words of letters, or the same in lower case) 70 %; full names (the same, two words or
    more) 50 %; companies (<= 120 characters) and job titles (<= 80) 80 % of text with a letter that is no email,
    URL or phone number.
    """
    test, share = _AGREES.get(role, (None, 0.0))
    filled = [v for v in (clean_text(x) for x in values) if v]
    if test is None or not filled:
        return False
    return sum(1 for v in filled if test(v)) >= share * len(filled)


def content_roles(rows: list[list[str]]) -> list[str | None]:
    """Per column of ``rows`` (sample rows, cells as text), the role its cells show (a key of
    :data:`ROLE_HEADERS`) or ``None``. Each role goes to its first column only; a second single-word name column is
    the last name."""
    width = max((len(r) for r in rows), default=0)
    roles: list[str | None] = []
    taken: set[str] = set()
    for k in range(width):
        values = [clean_text(r[k]) for r in rows if k < len(r) and clean_text(r[k])]
        role = _column_role(values)
        if role == "name":
            role = _name_role(values, taken)
        if role in taken:
            role = None
        if role:
            taken.add(role)
        roles.append(role)
    return roles


def _column_role(values: list[str]) -> str | None:
    """The first role of :data:`_TESTS` enough of ``values`` (a column's filled cells) pass (:data:`_SHARE`)."""
    for name, test in _TESTS if values else ():
        if sum(1 for v in values if test(v)) >= _SHARE[name] * len(values):
            return name
    return None


def _name_role(values: list[str], taken: set[str]) -> str:
    """A person-name column: the full name when most cells have two words or more, else the first name, or the last
    name when a first or full name column came before."""
    if sum(1 for v in values if len(v.split()) >= 2) > len(values) / 2:
        return "fullName"
    return "lastName" if "firstName" in taken or "fullName" in taken else "firstName"


def guess_header(rows: list[list[str]]) -> tuple[bool, list[str | None]] | None:
    """For the first non-blank rows of a table whose header maps nothing: ``(first_row_is_data, roles)``, or
    ``None`` when the content shows no email or phone column, nor names next to companies or job titles.

    The roles are taken from the rows under the first one; the first row is data when its cells fit those roles
    too (at least half of the role columns), a header of unknown words otherwise.
    """
    if not rows:
        return None
    body = rows[1:] if len(rows) > 1 else rows
    roles = content_roles(body)
    if not _is_lead_table(roles):
        if len(rows) > 1:
            roles = content_roles(rows)  # e.g. one data row under the first one
        if not _is_lead_table(roles):
            return None
    first = rows[0]
    checked = [(k, r) for k, r in enumerate(roles) if r]
    fitting = sum(1 for k, r in checked if k < len(first) and fits(r, first[k]))
    return fitting * 2 >= len(checked), roles


__all__ = ["ROLE_HEADERS", "agrees", "content_roles", "fits", "guess_header"]
