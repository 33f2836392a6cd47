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
from functools import lru_cache
from typing import Any, Mapping

#: The blocking rules, in the order they are reported.
RULES: tuple[str, ...] = ("phone", "name", "email_domain_surname", "company")

#: Legal-form words dropped from company names before comparing them (English, German, French, Spanish, Dutch).
LEGAL_SUFFIXES: tuple[str, ...] = (
    "gmbh", "ag", "kg", "ug", "mbh", "inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "corp",
    "corporation", "co", "company", "sa", "sas", "sarl", "srl", "sl", "bv", "nv", "spa", "oy", "ab", "as",
)
_LEGAL = frozenset(LEGAL_SUFFIXES)
_NOT_LETTER = re.compile(r"[^a-z]")
_NOT_ALNUM_RUN = re.compile(r"[^a-z0-9]+")

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
    return _fold(str(text))


#: Distinct texts remembered by :func:`fold` / :func:`name_part`: names, companies and titles repeat across a file's
#: leads, and matching 1,000,000 leads folds several million values (issue 13: the matching's wall time).
FOLD_CACHE = 1 << 16


@lru_cache(maxsize=FOLD_CACHE)
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def name_part(text: Any) -> str:
    """A first or last name for comparison: folded, letters a-z only (``"O'Brien-Smith"`` -> ``"obriensmith"``)."""
    if text is None:
        return ""
    return _name_part(str(text))


@lru_cache(maxsize=FOLD_CACHE)
def _name_part(text: str) -> str:
    return _NOT_LETTER.sub("", _fold(text))


def full_name(lead: Mapping[str, Any]) -> str:
    """``"<first> <last>"`` of :func:`name_part`; ``""`` when the lead has no last name or no first name."""
    first, last = name_part(lead.get("firstName")), name_part(lead.get("lastName"))
    return f"{first} {last}" if first and last else ""


def company_key(text: Any) -> str:
    """A company for comparison: folded, dots dropped, split into words of letters and digits, legal forms left out,
    joined (``"ACME GmbH"`` -> ``"acme"``, ``"Acme Corp."`` -> ``"acme"``, ``"Paper S.L."`` -> ``"paper"``)."""
    words = _NOT_ALNUM_RUN.split(fold(text).replace(".", ""))
    return "".join(w for w in words if w and w not in _LEGAL)


def phone_key(text: Any) -> str:
    """The last :data:`PHONE_KEY_DIGITS` digits of a phone; ``""`` below :data:`PHONE_MIN_DIGITS` digits."""
    digits = "".join(ch for ch in str(text or "") if "0" <= ch <= "9")  # ASCII only, like SQL_KEYS' [0-9]
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


#: The normalized columns the SQL keys are made of, computed once per row (``{name: DuckDB expression}``).
_SQL_PREPARE: dict[str, str] = {
    "_first": "regexp_replace(strip_accents(lower(coalesce(\"firstName\", ''))), '[^a-z]', '', 'g')",
    "_last": "regexp_replace(strip_accents(lower(coalesce(\"lastName\", ''))), '[^a-z]', '', 'g')",
    "_digits": "regexp_replace(coalesce(\"phone\", ''), '[^0-9]', '', 'g')",
    "_domain": "lower(split_part(coalesce(\"email\", ''), '@', 2))",
    # words of the folded company (dots dropped), legal forms left out, joined
    "_company": ("array_to_string(list_filter(regexp_split_to_array(replace(strip_accents(lower(coalesce("
                 "\"company\", ''))), '.', ''), '[^a-z0-9]+'), lambda w: NOT list_contains(" + "["
                 + ", ".join(f"'{w}'" for w in LEGAL_SUFFIXES) + "], w)), '')"),
}

#: ``{rule: DuckDB SQL expression}`` over the columns of :data:`_SQL_PREPARE`, giving the same key as
#: :func:`blocking_keys` (NULL where the Python key is left out). Use :func:`sql_keys_select`.
SQL_KEYS: dict[str, str] = {
    "phone": f"CASE WHEN length(_digits) >= {PHONE_MIN_DIGITS} THEN right(_digits, {PHONE_KEY_DIGITS}) END",
    "name": "CASE WHEN _first <> '' AND _last <> '' THEN _first || ' ' || _last END",
    "email_domain_surname": "CASE WHEN _domain <> '' AND _last <> '' THEN _domain || '|' || _last END",
    "company": "CASE WHEN _company <> '' AND _first <> '' THEN _company || '|' || left(_first, 1) END",
}


def sql_keys_select(source: str) -> str:
    """A DuckDB ``SELECT "leadId", <one column per rule of SQL_KEYS>`` over ``source`` (a table name, or a
    parenthesized query, with the ``leads`` columns). The normalized values are computed once per row, the company's
    once per distinct company (joined back: the words-and-legal-forms expression is the costly one; measured on
    1,000,000 leads with one DuckDB thread: 0.8 s CPU instead of 1.4 s)."""
    prepare = ", ".join(f"{expr} AS {name}" for name, expr in _SQL_PREPARE.items() if name != "_company")
    keys = ", ".join(f"{expr} AS {rule}" for rule, expr in SQL_KEYS.items())
    return (f'SELECT "leadId", {keys} FROM ('
            f"SELECT s.*, coalesce(c._company, '') AS _company "
            f'FROM (SELECT "leadId", "company", {prepare} FROM {source}) s '
            f'LEFT JOIN (SELECT "company", {_SQL_PREPARE["_company"]} AS _company '
            f'           FROM (SELECT DISTINCT "company" FROM {source})) c ON c."company" = s."company")')
