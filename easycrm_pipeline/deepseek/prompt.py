"""The DeepSeek request for one batch of raw rows (DESIGN.md section 5). Pure functions, no I/O.

Request body shape (OpenAI-compatible chat completions, ``POST {base}/chat/completions``)::

    {
      "model": "deepseek-v4-flash",
      "messages": [
        {"role": "system", "content": SYSTEM_PROMPT},                       # fixed -> prompt cache hits
        {"role": "user", "content": '{"leads": [{"id": "0:2", "First Name": "ALEX", ...}, ...]}'}
      ],
      "response_format": {"type": "json_object"},
      "thinking": {"type": "disabled"},
      "max_tokens": 1800,
      "temperature": 0.0,
      "stream": false
    }

The system prompt is byte-for-byte constant and comes first: DeepSeek's context cache matches on the request prefix,
so every call after the first bills the system prompt as ``prompt_cache_hit_tokens`` (DESIGN.md section 6).
The JSON Output guide (https://api-docs.deepseek.com/guides/json_mode) asks for the word "json" and an example of the
wanted output in the prompt, and a ``max_tokens`` large enough that the JSON is not cut.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from easycrm_pipeline.models import LEAD_FIELDS, RawRow

#: Bump when the prompt's meaning changes (the hash below changes on any edit anyway).
PROMPT_VERSION = "1"

#: Output token budget: ``MAX_TOKENS_BASE + MAX_TOKENS_PER_ROW * rows``, capped at ``MAX_TOKENS_CAP`` (tokens).
#: A standardized lead is ~60-100 output tokens; 160 leaves room for long remarks.
MAX_TOKENS_BASE = 200
MAX_TOKENS_PER_ROW = 160
MAX_TOKENS_CAP = 8192

SYSTEM_PROMPT = """You clean up sales leads imported from messy spreadsheets. Answer with JSON only.

INPUT: a JSON object {"leads": [...]}. Each lead has an "id" and the row's raw cells as "<column header>": "<cell text>".
Column headers are whatever the file used (any language, any spelling); empty cells are left out.

OUTPUT: one JSON object {"leads": [...]} with exactly one item per input lead, each item:
{"id": "<the input id, copied exactly>", "firstName": ..., "lastName": ..., "title": ..., "company": ..., "email": ..., "phone": ..., "remarks": ...}
Every value is a string or null. Use null when the row has no value for a field. Never invent data.

RULES
- id: copy each input "id" exactly; never merge two leads into one item, never split one lead, never add leads.
- Names: split a full-name column into firstName and lastName ("Last, First" means lastName first). Keep suffixes
  (Jr., Sr., III) with lastName. Move honorifics (Dr., Mr., Mrs., Ms., Prof.) to remarks as "honorific: Dr.".
  A single-token name goes to firstName and remarks gets "single-token name". Title-case names written ALL CAPS or all
  lower case; keep mixed case exactly as given (McDonald, O'Neil, van der Berg). Never add or remove accents.
- title: the job title or position, tidied (collapse spaces; title-case ALL CAPS; keep acronyms like VP, CEO, CTO).
- company: the organisation name, tidied the same way; keep legal forms (Ltd, LLC, GmbH, SA) as written.
- email: one address, trimmed, lower-cased, without "mailto:" or a display name ("Kim <kim@x.com>" -> "kim@x.com").
  If the cell holds several addresses keep the first in email and put the others in remarks as "other emails: ...".
  If it is not a valid address (no domain dot, placeholder like n/a), email is null and the text goes to remarks.
- phone: keep a leading "+" and the digits only; a leading "00" becomes "+". Never invent a country code.
- remarks: notes/comments columns, plus every value that does not fit another field, as "<column>: <value>" joined
  with "; ". Never drop information.
- Treat "NA", "None", "null" in name columns as real names, not as missing values.

EXAMPLE INPUT:
{"leads": [{"id": "0:2", "Full Name": "SMITH, JOHN", "Org": "acme example ltd", "E-Mail": " mailto:John.Smith@Example.COM ", "Tel": "0044 20 7946 0018", "Region": "EMEA"}]}

EXAMPLE JSON OUTPUT:
{"leads": [{"id": "0:2", "firstName": "John", "lastName": "Smith", "title": null, "company": "Acme Example Ltd", "email": "john.smith@example.com", "phone": "+442079460018", "remarks": "Region: EMEA"}]}
"""


def prompt_hash() -> str:
    """Short (12 hex chars) sha256 of :data:`SYSTEM_PROMPT`, for the standardizer version string."""
    return hashlib.sha256(SYSTEM_PROMPT.encode("utf-8")).hexdigest()[:12]


def standardizer_version(model: str) -> str:
    """Version string stored with each lead, e.g. ``"deepseek-v4-flash/prompt-1-3f2a9c0d1b2e"``."""
    return f"{model}/prompt-{PROMPT_VERSION}-{prompt_hash()}"


def default_max_tokens(n_rows: int, per_row: int = MAX_TOKENS_PER_ROW) -> int:
    """Output token budget for a batch of ``n_rows`` rows (tokens): 200 + ``per_row`` (160) per row, capped at 8192."""
    return min(MAX_TOKENS_CAP, MAX_TOKENS_BASE + per_row * max(1, n_rows))


def request_lead(row: RawRow) -> dict[str, str]:
    """One lead of the user message: ``{"id": row.row_id, <header>: <value>, ...}``.

    A raw column literally named ``id`` would overwrite the join key, so it is sent as ``"id (2)"`` (or the next free
    `` (n)`` suffix, the same convention as :meth:`RawRow.as_request_dict` uses for duplicate headers).
    """
    raw = row.as_request_dict()
    if "id" in raw:
        value = raw.pop("id")
        n = 2
        while f"id ({n})" in raw:
            n += 1
        raw[f"id ({n})"] = value
    return {"id": row.row_id, **raw}


def user_content(rows: Sequence[RawRow]) -> str:
    """The user message content: exactly ``json.dumps({"leads": [...]}, ensure_ascii=False, allow_nan=False)``."""
    return json.dumps({"leads": [request_lead(r) for r in rows]}, ensure_ascii=False, allow_nan=False)


def build_request(rows: Sequence[RawRow], model: str, max_tokens: int | None = None,
                  temperature: float = 0.0) -> dict[str, Any]:
    """The JSON body of ``POST {base}/chat/completions`` for one batch (DESIGN.md section 5).

    Args:
        rows: the batch (usually 10 rows); must not be empty.
        model: DeepSeek model name (``deepseek-v4-flash``, ``deepseek-flash`` or ``deepseek-v4-pro``;
            ``deepseek-chat`` was retired on 2026-07-24 and gets HTTP 400).
        max_tokens: output token budget; ``None`` -> :func:`default_max_tokens` for ``len(rows)``.
        temperature: sampling temperature (0.0 = most deterministic).

    Returns:
        ``{"model", "messages": [system, user], "response_format": {"type": "json_object"},
        "thinking": {"type": "disabled"}, "max_tokens", "temperature", "stream": False}``.

    Raises:
        ValueError: ``rows`` is empty.
    """
    if not rows:
        raise ValueError("build_request needs at least one row")
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_content(rows)},
        ],
        "response_format": {"type": "json_object"},
        # Thinking mode is on by default for V4 models and multiplies output tokens (DESIGN.md section 6).
        "thinking": {"type": "disabled"},
        "max_tokens": int(max_tokens) if max_tokens is not None else default_max_tokens(len(rows)),
        "temperature": temperature,
        "stream": False,
    }


__all__ = [
    "LEAD_FIELDS", "MAX_TOKENS_BASE", "MAX_TOKENS_CAP", "MAX_TOKENS_PER_ROW", "PROMPT_VERSION", "SYSTEM_PROMPT",
    "build_request", "default_max_tokens", "prompt_hash", "request_lead", "standardizer_version", "user_content",
]
