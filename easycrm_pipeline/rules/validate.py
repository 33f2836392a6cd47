"""Validation of one DeepSeek answer item against its raw row.

DeepSeek (OpenAI-compatible chat completions in JSON mode, https://api-docs.deepseek.com/guides/json_mode) may
answer items that are reformatted correctly, but also invented, merged, shifted, swapped, or steered by text in the
row itself (prompt injection in a Notes cell). Every field passes the same validators as the offline rules, and the
offline rules' value of the same row is the reference (breaker cases l18-l30, /tmp/breaker_cases/deepseek):

* email / phone: when the row's mapped Email / Phone column gives the rules a value, the model's value must be that
  same address (normalized) / number (E.164 or digits); else the rules' value is kept. Only without one may the model
  take an address / number written in another cell, and it must literally appear in the raw row (l18, l19, l20,
  l23, l30).
* a field the item leaves out is the rules' value, no flag: DeepSeek is sent the rules' proposal and answers only
  its corrections (docs/deepseek.md#the-exchange, issue 13);
* a field the model answers null/empty/placeholder while the rules have a value gets the rules' value,
  flag ``"llm-value-restored:<field>"`` (l21, l27): raw data is never lost.
* names / title / company: every word must be in the raw row; a company differing from the rules' only in letter case
  is the rules' (companies keep the case they were given, issue 15: ``IKEA`` never ``Ikea``); with explicit First/Last/Company/Title columns a value
  equal to the rules' value of another of these fields and not its own is a swap, and the rules' values are used
  (l29).
* remarks: every word must come from the raw row (cells and headers) or from the rules' remarks, else the rules'
  remarks are used (l22); raw text of the rules' remarks (notes, unmapped columns, secondary values) missing from the
  model's remarks is appended.

Rejections set the offline value and add ``"llm-value-rejected:<field>"``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..fields import FIELDS, LeadField
from ..models import RawRow, StandardLead
from .emails import emails_in_text, normalize_email_cell
from .names import needs_casing
from .phones import normalize_phone, phone_digits
from .standardize import _header_map, standardize_row
from .text import clean_text, fold, is_placeholder

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
#: Fields with their own explicit column whose values a model may swap (breaker case l29).
_SWAPPABLE = ("firstName", "lastName", "title", "company")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(clean_text(text).casefold())


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = clean_text(str(value))
    return text or None


def _phone_in_row(candidate: str, raw_values: list[str], region: str | None) -> str | None:
    res = normalize_phone(candidate, region)
    if not res.phone:
        return None
    cand = res.phone
    cand_digits = cand.lstrip("+")
    for value in raw_values:
        got = normalize_phone(value, region).phone
        if got == cand:
            return cand
        digits = phone_digits(value)
        if cand_digits and cand_digits in digits:
            # the digits are in the raw text; a "+" must be there too (or a default region), never invented
            if not cand.startswith("+") or "+" in value or ("00" + cand_digits) in digits or region:
                return cand
    return None


def _same_phone(candidate: str, reference: str, region: str | None) -> bool:
    """True when ``candidate`` is the number ``reference`` (the rules' E.164 or digits-only phone): equal after the
    rules' normalization, or the same digits when neither carries a country code (breaker cases l19, l20)."""
    got = normalize_phone(candidate, region).phone
    if not got:
        return False
    if got == reference:
        return True
    return not got.startswith("+") and not reference.startswith("+") and phone_digits(got) == phone_digits(reference)


def _covered(part: str, tokens: set[str]) -> bool:
    """True when every word of ``part`` (one ``"; "``-separated piece of the rules' remarks) is in ``tokens``."""
    words = _tokens(part)
    return all(w in tokens for w in words)


@dataclass(frozen=True)
class _RowFacts:
    """What the checks need of the raw row: the row, its non-empty values, the mapped phone cells, every word and
    address in it, the explicit swappable columns (:data:`_SWAPPABLE`) and the default region."""

    row: RawRow
    raw_values: list[str]
    phone_cells: list[str]
    raw_tokens: set[str]
    raw_emails: set[str]
    explicit: set[str]
    region: str | None

    @classmethod
    def of(cls, row: RawRow, region: str | None) -> "_RowFacts":
        hm = _header_map(tuple(h for h, _ in row.cells))
        raw_values = [v for _, v in row.cells if v]
        tokens: set[str] = set()
        emails: set[str] = set()
        for v in raw_values:
            tokens.update(_tokens(v))
            emails |= emails_in_text(v)
        return cls(row, raw_values, [row.cells[i][1] for i in hm.phone_columns if row.cells[i][1]], tokens, emails,
                   {r for r in hm.roles if r in _SWAPPABLE}, region)


def _checked(spec: LeadField, candidate: dict[str, Any], fallback: str | None, ctx: _RowFacts,
             flags: list[str]) -> str | None:
    """One field of the answer: left out -> the rules' value (docs/deepseek.md#the-exchange); null/empty/placeholder
    -> the rules' value, flagged ``llm-value-restored`` when they had one (rule 2, l21, l27); else the field's check
    (``fields.LeadField.validation``)."""
    f = spec.name
    if f not in candidate:
        return fallback
    value = _as_text(candidate[f])
    if value is None or is_placeholder(value):
        if fallback:
            flags.append(f"llm-value-restored:{f}")
        return fallback
    return _CHECKS[spec.validation](spec, value, fallback, ctx, flags)


def _rejected(f: str, fallback: str | None, flags: list[str]) -> str | None:
    flags.append(f"llm-value-rejected:{f}")
    return fallback


def _check_email(spec: LeadField, value: str, fallback: str | None, ctx: _RowFacts, flags: list[str]) -> str | None:
    """Rule 1 (l18, l23, l30): the mapped Email column wins; another cell only when it gives none."""
    res = normalize_email_cell(value)
    ok = res.email == fallback if fallback else bool(res.email and res.email in ctx.raw_emails)
    return res.email if ok else _rejected(spec.name, fallback, flags)


def _check_phone(spec: LeadField, value: str, fallback: str | None, ctx: _RowFacts, flags: list[str]) -> str | None:
    """Rule 1 for phones (l19, l20): the mapped Phone column's number wins."""
    if fallback:
        ok = fallback if _same_phone(value, fallback, ctx.region) else None
    else:
        ok = _phone_in_row(value, ctx.phone_cells or ctx.raw_values, ctx.region)
    return ok or _rejected(spec.name, fallback, flags)


def _check_remarks(spec: LeadField, value: str, fallback: str | None, ctx: _RowFacts, flags: list[str]
                   ) -> str | None:
    return _remarks(value, fallback, ctx.row, ctx.raw_tokens, flags)


def _check_words(spec: LeadField, value: str, fallback: str | None, ctx: _RowFacts, flags: list[str]) -> str | None:
    """Every word of the answer must be in the raw row (case-insensitive; accents must match exactly, so an added
    diacritic is caught, a title-cased or re-ordered value passes); shouting kept by the model gets the rules'
    casing."""
    out = value if all(w in ctx.raw_tokens for w in _tokens(value)) else _rejected(spec.name, fallback, flags)
    if out and needs_casing(out) and fallback and fold(fallback) == fold(out):
        out = fallback
    return out


def _check_company(spec: LeadField, value: str, fallback: str | None, ctx: _RowFacts, flags: list[str]
                   ) -> str | None:
    """:func:`_check_words`, and a company differing from the rules' only in letter case is the rules' (companies
    keep the case they were given, issue 15: IKEA, ACME-X, BMW AG)."""
    out = _check_words(spec, value, fallback, ctx, flags)
    if fallback and (out or "").casefold() == fallback.casefold():
        out = fallback
    return out


def _check_normalized(spec: LeadField, value: str, fallback: str | None, ctx: _RowFacts, flags: list[str]
                      ) -> str | None:
    """A registry field with a normalizer: the answer, normalized, must be the rules' value when they found one;
    without one it must be written (case-insensitively) in a raw cell."""
    got = spec.normalizer(value)[0] if spec.normalize else value
    if fallback:
        ok = got == fallback
    else:
        ok = bool(got) and any(value.casefold() in v.casefold() for v in ctx.raw_values)
    return got if ok else _rejected(spec.name, fallback, flags)


_CHECKS: dict[str, Callable[[LeadField, str, str | None, _RowFacts, list[str]], str | None]] = {
    "email": _check_email, "phone": _check_phone, "remarks": _check_remarks, "words": _check_words,
    "company": _check_company, "normalized": _check_normalized,
}


def validate_candidate(
    row: RawRow,
    candidate: dict[str, Any],
    default_region: str | None = None,
    standardizer: str = "llm",
) -> StandardLead:
    """Turn one DeepSeek answer item into a :class:`StandardLead`, trusting nothing (rules: module docstring).

    Args:
        row: the raw row the item answers (joined on ``id``, never on position).
        candidate: the item, any of ``{"firstName", "lastName", "title", "company", "email", "phone", "remarks"}``
            (a key left out keeps the rules' value; non-string values are treated as empty).
        default_region: ``EASYCRM_DEFAULT_REGION`` or ``None``.
        standardizer: version string stored on the lead (e.g. ``"deepseek-v4-flash/prompt-1"``).

    Returns:
        A lead whose ``provided``/``raw`` are the offline rules' and whose fields are the candidate's where valid.
        Rejections set the offline value and add ``"llm-value-rejected:<field>"`` to ``flags``; a field left out
        is the rules' value (no flag); a value the rules found but the answer wiped (null, empty, placeholder, not
        text) is restored (flag
        ``"llm-value-restored:<field>"``, breaker cases l21, l27); an item that is not a JSON object gives the rules'
        lead with flag ``"llm-invalid-item"``. Never raises.
    """
    rules = standardize_row(row, default_region)
    if not isinstance(candidate, dict):
        return StandardLead(rules.row_id, rules.sheet, rules.row_number, dict(rules.fields), rules.provided, rules.raw,
                            standardizer, ("llm-invalid-item",))
    ctx = _RowFacts.of(row, default_region)
    flags: list[str] = []
    fields = {f.name: _checked(f, candidate, rules.fields.get(f.name), ctx, flags) for f in FIELDS}
    _undo_swaps(fields, rules.fields, ctx.explicit, flags)
    provided = rules.provided | ({"remarks"} if fields.get("remarks") else set())
    return StandardLead.for_row(row, fields, provided, standardizer, tuple(flags))


def _remarks(value: str, fallback: str | None, row: RawRow, raw_tokens: set[str], flags: list[str]) -> str | None:
    """Rule 3 (breaker case l22): the model's remarks may only use words of the raw row (values and headers) or of
    the rules' remarks, else the rules' remarks; pieces of the rules' remarks (notes, secondary values, unmapped
    ``Header: value``) whose words are missing from the model's remarks are appended, so no raw text is lost."""
    allowed = set(raw_tokens)
    for header, _ in row.cells:
        allowed.update(_tokens(header))
    if fallback:
        allowed.update(_tokens(fallback))
    words = _tokens(value)
    if not all(w in allowed for w in words):
        flags.append("llm-value-rejected:remarks")
        return fallback
    if not fallback:
        return value
    have = set(words)
    missing = [p for p in fallback.split("; ") if p.strip() and not _covered(p, have)]
    if not missing:
        return value
    if all(w in set(_tokens("; ".join(missing))) for w in words):
        # the model only kept a part of the rules' pieces: the rules' remarks say it all
        return fallback
    return "; ".join([value] + missing)


def _undo_swaps(fields: dict[str, str | None], rules_fields: dict[str, str | None], explicit: set[str],
                flags: list[str]) -> None:
    """Rule 4 (breaker case l29): with explicit First/Last/Company/Title columns, a value equal (case-insensitively)
    to the rules' value of another of these fields and not to its own is a swap: both fields get the rules' values."""
    swapped: set[str] = set()
    for f in _SWAPPABLE:
        value = fields.get(f)
        if f not in explicit or not value:
            continue
        key = value.casefold()
        own = rules_fields.get(f)
        if own and own.casefold() == key:
            continue
        for g in _SWAPPABLE:
            other = rules_fields.get(g)
            if g != f and g in explicit and other and other.casefold() == key:
                swapped |= {f, g}
    for f in _SWAPPABLE:
        if f in swapped and fields.get(f) != rules_fields.get(f):
            fields[f] = rules_fields.get(f)
            if f"llm-value-rejected:{f}" not in flags:
                flags.append(f"llm-value-rejected:{f}")
