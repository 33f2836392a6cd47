"""Validation of one DeepSeek answer item against its raw row.

DeepSeek (OpenAI-compatible chat completions in JSON mode, https://api-docs.deepseek.com/guides/json_mode) may
answer items that are reformatted correctly, but also invented, merged or shifted. Every field passes the same
validators as the offline rules; an email or phone that does not appear in the raw row, or a name / title / company
whose words are not in the raw row, is rejected and replaced by the offline rules' value (flag
``"llm-value-rejected:<field>"``).
"""
from __future__ import annotations

import re
from typing import Any

from ..models import LEAD_FIELDS, RawRow, StandardLead
from .emails import emails_in_text, normalize_email_cell
from .names import needs_casing
from .phones import normalize_phone, phone_digits
from .standardize import standardize_row
from .text import clean_text, fold, is_placeholder

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


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


def validate_candidate(
    row: RawRow,
    candidate: dict[str, Any],
    default_region: str | None = None,
    standardizer: str = "llm",
) -> StandardLead:
    """Turn one DeepSeek answer item into a :class:`StandardLead`, trusting nothing.

    Args:
        row: the raw row the item answers (joined on ``id``, never on position).
        candidate: the item, ``{"firstName", "lastName", "title", "company", "email", "phone", "remarks"}``
            (missing keys / non-string values are treated as empty).
        default_region: ``EASYCRM_DEFAULT_REGION`` or ``None``.
        standardizer: version string stored on the lead (e.g. ``"deepseek-v4-flash/prompt-1"``).

    Returns:
        A lead whose ``provided``/``raw`` are the offline rules' and whose fields are the candidate's where valid.
        Rejections set the offline value and add ``"llm-value-rejected:<field>"`` to ``flags``; an email the rules
        found but the answer dropped is restored (flag ``"llm-value-restored:email"``); an item that is not a JSON
        object gives the rules' lead with flag ``"llm-invalid-item"``. Never raises.
    """
    rules = standardize_row(row, default_region)
    if not isinstance(candidate, dict):
        return StandardLead(rules.row_id, rules.sheet, rules.row_number, dict(rules.fields), rules.provided, rules.raw,
                            standardizer, ("llm-invalid-item",))
    raw_values = [v for _, v in row.cells if v]
    raw_tokens: set[str] = set()
    raw_folded: set[str] = set()
    for v in raw_values:
        for t in _tokens(v):
            raw_tokens.add(t)
            raw_folded.add(fold(t))
    raw_emails: set[str] = set()
    for v in raw_values:
        raw_emails |= emails_in_text(v)

    flags: list[str] = []
    fields: dict[str, str | None] = {}
    for f in LEAD_FIELDS:
        value = _as_text(candidate.get(f))
        fallback = rules.fields.get(f)
        if f == "email":
            if value is None or is_placeholder(value):
                if fallback:
                    flags.append("llm-value-restored:email")
                fields[f] = fallback
                continue
            res = normalize_email_cell(value)
            if res.email and res.email in raw_emails:
                fields[f] = res.email
            else:
                flags.append("llm-value-rejected:email")
                fields[f] = fallback
        elif f == "phone":
            if value is None or is_placeholder(value):
                fields[f] = None
                continue
            ok = _phone_in_row(value, raw_values, default_region)
            if ok:
                fields[f] = ok
            else:
                flags.append("llm-value-rejected:phone")
                fields[f] = fallback
        elif f == "remarks":
            fields[f] = None if value is None or is_placeholder(value) else value
        else:
            if value is None:
                fields[f] = None
                continue
            words = _tokens(value)
            # every word of the answer must be in the raw row (case-insensitive; accents must match exactly,
            # so an added diacritic is caught, a title-cased or re-ordered value passes)
            if all(w in raw_tokens for w in words):
                fields[f] = value
            else:
                flags.append(f"llm-value-rejected:{f}")
                fields[f] = fallback
            if fields[f] and needs_casing(fields[f] or "") and fallback and fold(fallback) == fold(fields[f] or ""):
                fields[f] = fallback  # shouting kept by the model: use the rules' casing
    provided = rules.provided | ({"remarks"} if fields.get("remarks") else set())
    return StandardLead.for_row(row, fields, provided, standardizer, tuple(flags))
