"""Normalized values and blocking keys of a lead (issue 18: find the same person under another email, or with none).

A lead is only ever compared with the leads that share one of its *blocking keys* — never with the whole table:

``phone``
    the last 8 digits of the phone (at least 7 digits), so ``+49 30 123456`` and ``030 123456`` meet (country codes and
    trunk 0s fall outside them);
``name``
    the normalized full name ``"<first> <last>"`` (accents stripped, lower case, letters only);
``email_domain_surname``
    the email's domain and the normalized last name (a second address at the same company, or the same surname at
    the same free-mail provider);
``company``
    the normalized company (legal suffixes such as GmbH/Inc/Ltd dropped, letters and digits only) and the first
    letter of the first name (a company key alone would put whole companies into one block).

The same keys exist twice, once as Python (:func:`blocking_keys`, used by stores without SQL and by the tests) and
once as DuckDB SQL expressions over a table's columns (:data:`SQL_KEYS`, used by the set-based blocking of the DuckDB
store); ``easycrm_tests/matching/test_keys.py`` checks that both give the same keys. Nothing here imports DuckDB or
Dagster.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping

#: The blocking rules, in the order they are reported.
RULES: tuple[str, ...] = ("phone", "name", "email_domain_surname", "company")

#: Legal-form words dropped from company names before comparing them (English, German, French, Spanish, Dutch).
LEGAL_SUFFIXES: tuple[str, ...] = (
    "gmbh", "ag", "kg", "ug", "mbh", "inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "corp",
    "corporation", "co", "company", "sa", "sas", "sarl", "srl", "sl", "bv", "nv", "spa", "oy", "ab", "as",
)
_LEGAL_RE = re.compile(r"\b(" + "|".join(LEGAL_SUFFIXES) + r")\b")
_NOT_LETTER = re.compile(r"[^a-z]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")

#: Digits of a phone kept as its key (the national significant part; country codes and trunk 0s differ).
PHONE_KEY_DIGITS = 8
#: A phone with fewer digits has no key (extensions, fragments).
PHONE_MIN_DIGITS = 7


def fold(text: Any) -> str:
    """``text`` without accents, lower case, stripped (``"Müller "`` -> ``"muller"``); ``""`` for ``None``.

    Accents are removed as DuckDB's ``strip_accents`` does (Unicode NFD, combining marks dropped).
    """
    if text is None:
        return ""
    decomposed = unicodedata.normalize("NFD", str(text).lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def name_part(text: Any) -> str:
    """A first or last name for comparison: folded, letters a-z only (``"O'Brien-Smith"`` -> ``"obriensmith"``)."""
    return _NOT_LETTER.sub("", fold(text))


def full_name(lead: Mapping[str, Any]) -> str:
    """``"<first> <last>"`` of :func:`name_part`; ``""`` when the lead has no last name or no first name."""
    first, last = name_part(lead.get("firstName")), name_part(lead.get("lastName"))
    return f"{first} {last}" if first and last else ""


def company_key(text: Any) -> str:
    """A company for comparison: folded, legal forms dropped, letters and digits only (``"ACME GmbH"`` -> ``"acme"``,
    ``"Acme Corp."`` -> ``"acme"``, ``"Paper S.L."`` -> ``"paper"``: dots are dropped first)."""
    return _NOT_ALNUM.sub("", _LEGAL_RE.sub("", fold(text).replace(".", "")))


def phone_key(text: Any) -> str:
    """The last :data:`PHONE_KEY_DIGITS` digits of a phone; ``""`` below :data:`PHONE_MIN_DIGITS` digits."""
    digits = "".join(ch for ch in str(text or "") if ch.isdigit())
    return digits[-PHONE_KEY_DIGITS:] if len(digits) >= PHONE_MIN_DIGITS else ""


def email_parts(email: Any) -> tuple[str, str]:
    """``(local part, domain)`` of a stored (normalized) email; ``("", "")`` for none."""
    text = str(email or "").strip().lower()
    if "@" not in text:
        return "", ""
    local, _, domain = text.rpartition("@")
    return local, domain


def blocking_keys(lead: Mapping[str, Any]) -> dict[str, str]:
    """``{rule: key}`` of a lead (a dict with the ``leads`` columns); rules whose key would be empty are left out.

    Example: ``{"firstName": "Anna", "lastName": "Müller", "email": "a.mueller@acme.de", "phone": "+4930123456",
    "company": "ACME GmbH"}`` -> ``{"phone": "30123456", "name": "anna muller",
    "email_domain_surname": "acme.de|muller", "company": "acme|a"}``.
    """
    keys: dict[str, str] = {}
    phone = phone_key(lead.get("phone"))
    if phone:
        keys["phone"] = phone
    name = full_name(lead)
    if name:
        keys["name"] = name
    last = name_part(lead.get("lastName"))
    _local, domain = email_parts(lead.get("email"))
    if domain and last:
        keys["email_domain_surname"] = f"{domain}|{last}"
    company = company_key(lead.get("company"))
    first = name_part(lead.get("firstName"))
    if company and first:
        keys["company"] = f"{company}|{first[0]}"
    return keys


def _sql_name(col: str) -> str:
    """DuckDB expression of :func:`name_part` on column ``col``."""
    folded = f"trim(strip_accents(lower(coalesce(\"{col}\", ''))))"
    return f"regexp_replace({folded}, '[^a-z]', '', 'g')"


def _sql_nonempty(expr: str) -> str:
    return f"nullif({expr}, '')"


_FIRST, _LAST = _sql_name("firstName"), _sql_name("lastName")
_DIGITS = "regexp_replace(coalesce(\"phone\", ''), '[^0-9]', '', 'g')"
_LEGAL_SQL = r"\b(" + "|".join(LEGAL_SUFFIXES) + r")\b"
_COMPANY = ("regexp_replace(regexp_replace(replace(trim(strip_accents(lower(coalesce(\"company\", '')))), '.', ''), "
            f"'{_LEGAL_SQL}', '', 'g'), '[^a-z0-9]', '', 'g')")
_DOMAIN = "split_part(coalesce(\"email\", ''), '@', 2)"

#: ``{rule: DuckDB SQL expression}`` giving the same key as :func:`blocking_keys` over a table with the ``leads``
#: columns (NULL where the Python key is left out).
SQL_KEYS: dict[str, str] = {
    "phone": (f"CASE WHEN length({_DIGITS}) >= {PHONE_MIN_DIGITS} "
              f"THEN right({_DIGITS}, {PHONE_KEY_DIGITS}) END"),
    "name": (f"CASE WHEN {_sql_nonempty(_FIRST)} IS NOT NULL AND {_sql_nonempty(_LAST)} IS NOT NULL "
             f"THEN {_FIRST} || ' ' || {_LAST} END"),
    "email_domain_surname": (f"CASE WHEN {_sql_nonempty(_DOMAIN)} IS NOT NULL AND {_sql_nonempty(_LAST)} IS NOT NULL "
                             f"THEN lower({_DOMAIN}) || '|' || {_LAST} END"),
    "company": (f"CASE WHEN {_sql_nonempty(_COMPANY)} IS NOT NULL AND {_sql_nonempty(_FIRST)} IS NOT NULL "
                f"THEN {_COMPANY} || '|' || left({_FIRST}, 1) END"),
}
