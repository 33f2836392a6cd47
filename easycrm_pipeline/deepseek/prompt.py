"""The DeepSeek request for one batch of raw rows (docs/deepseek.md#the-exchange). Pure functions, no I/O.

Request body shape (OpenAI-compatible chat completions, ``POST {base}/chat/completions``)::

    {
      "model": "deepseek-v4-flash",
      "messages": [
        {"role": "system", "content": SYSTEM_PROMPT},                       # fixed -> prompt cache hits
        {"role": "user", "content": '{"leads": [{"id": "0:2", "First Name": "ALEX", ...,
                                                  "_proposal": {"firstName": "Alex", ...}}, ...]}'}
      ],
      "response_format": {"type": "json_object"},
      "thinking": {"type": "disabled"},
      "max_tokens": 1800,
      "temperature": 0.0,
      "stream": false
    }

The system prompt is byte-for-byte constant and comes first: DeepSeek's context cache matches on the request prefix,
so every call after the first bills the system prompt as ``prompt_cache_hit_tokens`` (docs/deepseek.md).

Fewer output tokens (issue 13): output tokens dominate DeepSeek's time and price (an output token costs 4x a
cache-miss input token), so each lead carries the offline rules' proposal under ``"_proposal"`` (context keys begin
with ``_``, raw cells are the lead's top-level string values; docs/deepseek.md#the-exchange) and the model answers only the
fields it corrects: ``{"id": "0:2"}`` accepts the whole proposal, a field left out means the rules' value stands,
and an item with all seven fields stays valid. Every answered value still passes ``rules.validate``.
The JSON Output guide (https://api-docs.deepseek.com/guides/json_mode) asks for the word "json" and an example of the
wanted output in the prompt, and a ``max_tokens`` large enough that the JSON is not cut.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

from easycrm_pipeline.config import DEEPSEEK
from easycrm_pipeline.fields import prompt_field_rules
from easycrm_pipeline.models import LEAD_FIELDS, RawRow

#: Bump when the prompt's meaning changes (the hash below changes on any edit anyway).
PROMPT_VERSION = "2"

#: Output token budget: ``MAX_TOKENS_BASE + MAX_TOKENS_PER_ROW * rows``, capped at ``MAX_TOKENS_CAP`` (tokens).
#: A full standardized lead is ~60-100 output tokens; 160 leaves room for long remarks (a corrections-only answer is
#: far shorter, but a model may still answer every field, which stays valid).
MAX_TOKENS_BASE = 200
MAX_TOKENS_PER_ROW = DEEPSEEK.max_tokens_per_lead
MAX_TOKENS_CAP = 8192

_INTRO = """You clean up sales leads imported from messy spreadsheets. Answer with JSON only.

INPUT: a JSON object {"leads": [...]}. Each lead has an "id", the row's raw cells as "<column header>": "<cell text>"
(column headers are whatever the file used, any language, any spelling; empty cells are left out), and "_proposal":
the fields our rules already derived from those cells (a field missing from "_proposal" was found empty).

OUTPUT: one JSON object {"leads": [...]} with exactly one item per input lead. Each item has the lead's "id" and ONLY
the fields whose proposed value is wrong or missing, with the right value as a string:
{"id": "<the input id, copied exactly>", "<field>": "<corrected value>", ...}
"""

#: The field list sentence; the fields and their rule lines come from ``fields.FIELDS`` (prompt_field_rules).
_FIELDS_SENTENCE = (f"The fields are {', '.join(LEAD_FIELDS)}. Leave a field out when the proposal is\n"
                    'right: an item with only "id" accepts the whole proposal. Never invent data.')

_RULES_HEAD = """

RULES
- id: copy each input "id" exactly; never merge two leads into one item, never split one lead, never add leads.
"""

_TAIL = """- Treat "NA", "None", "null" in name columns as real names, not as missing values.

EXAMPLE INPUT:
{"leads": [{"id": "0:2", "Full Name": "SMITH, JOHN", "Org": "acme example ltd", "E-Mail": " mailto:John.Smith@Example.COM ", "Tel": "0044 20 7946 0018", "Region": "EMEA", "_proposal": {"firstName": "Smith,", "lastName": "John", "company": "Acme Example Ltd", "email": "john.smith@example.com", "phone": "+442079460018", "remarks": "Region: EMEA"}}, {"id": "0:3", "Name": "Ana Ruiz", "Email": "ana@ruiz.example", "_proposal": {"firstName": "Ana", "lastName": "Ruiz", "email": "ana@ruiz.example"}}]}

EXAMPLE JSON OUTPUT:
{"leads": [{"id": "0:2", "firstName": "John", "lastName": "Smith"}, {"id": "0:3"}]}
"""

#: The system prompt: fixed text around the lead fields' list and rule lines (``fields.FIELDS``), so adding a field
#: changes it (and :func:`prompt_hash`) once.
SYSTEM_PROMPT = _INTRO + _FIELDS_SENTENCE + _RULES_HEAD + prompt_field_rules() + _TAIL


def prompt_hash() -> str:
    """Short (12 hex chars) sha256 of :data:`SYSTEM_PROMPT`, for the standardizer version string."""
    return hashlib.sha256(SYSTEM_PROMPT.encode("utf-8")).hexdigest()[:12]


def standardizer_version(model: str) -> str:
    """Version string stored with each lead, e.g. ``"deepseek-v4-flash/prompt-1-3f2a9c0d1b2e"``."""
    return f"{model}/prompt-{PROMPT_VERSION}-{prompt_hash()}"


def default_max_tokens(n_rows: int, per_row: int = MAX_TOKENS_PER_ROW) -> int:
    """Output token budget for a batch of ``n_rows`` rows (tokens): 200 + ``per_row`` (160) per row, capped at 8192."""
    return min(MAX_TOKENS_CAP, MAX_TOKENS_BASE + per_row * max(1, n_rows))


#: Key of the rules' proposal in a request lead (context keys begin with ``_``, docs/deepseek.md#the-exchange).
PROPOSAL_KEY = "_proposal"

#: ``row_id -> {field: value}``: the offline rules' values of each row, sent as the lead's proposal.
Proposals = Mapping[str, Mapping[str, "str | None"]]


def _free_key(raw: dict[str, str], key: str) -> None:
    """Move a raw column literally named ``key`` to ``"key (2)"`` (or the next free `` (n)`` suffix, the same
    convention as :meth:`RawRow.as_request_dict` uses for duplicate headers)."""
    if key in raw:
        value = raw.pop(key)
        n = 2
        while f"{key} ({n})" in raw:
            n += 1
        raw[f"{key} ({n})"] = value


def request_lead(row: RawRow, proposal: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """One lead of the user message: ``{"id": row.row_id, <header>: <value>, ..., "_proposal": {...}}``.

    Raw cells are the top-level string values. ``proposal`` (the rules' fields) goes under ``"_proposal"`` with its
    non-empty ``LEAD_FIELDS`` only (a field left out was found empty); no ``"_proposal"`` key when ``proposal`` is
    None. A raw column literally named ``id`` or ``_proposal`` would collide, so it is sent as ``"id (2)"`` /
    ``"_proposal (2)"``.
    """
    raw = row.as_request_dict()
    _free_key(raw, "id")
    if proposal is None:
        return {"id": row.row_id, **raw}
    _free_key(raw, PROPOSAL_KEY)
    return {"id": row.row_id, **raw,
            PROPOSAL_KEY: {f: proposal[f] for f in LEAD_FIELDS if proposal.get(f)}}


def user_content(rows: Sequence[RawRow], proposals: Proposals | None = None) -> str:
    """The user message content: exactly ``json.dumps({"leads": [...]}, ensure_ascii=False, allow_nan=False)``;
    each row carries ``proposals[row_id]`` when ``proposals`` is given (a row missing from it gets none)."""
    leads = [request_lead(r, proposals.get(r.row_id) if proposals is not None else None) for r in rows]
    return json.dumps({"leads": leads}, ensure_ascii=False, allow_nan=False)


def chat_body(model: str, system: str, user: str, max_tokens: int, temperature: float = 0.0) -> dict[str, Any]:
    """A DeepSeek chat-completions body in JSON mode (docs/deepseek.md): the fixed ``system`` prompt first
    (prompt cache), one ``user`` message, ``response_format`` json_object, thinking disabled, no streaming."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
        "response_format": {"type": "json_object"},
        # Thinking mode is on by default for V4 models and multiplies output tokens (docs/deepseek.md).
        "thinking": {"type": "disabled"},
        "max_tokens": int(max_tokens),
        "temperature": temperature,
        "stream": False,
    }


def build_request(rows: Sequence[RawRow], model: str, max_tokens: int | None = None,
                  temperature: float = 0.0, proposals: Proposals | None = None) -> dict[str, Any]:
    """The JSON body of ``POST {base}/chat/completions`` for one batch (docs/deepseek.md#the-exchange).

    Args:
        rows: the batch (usually 10 rows); must not be empty.
        model: DeepSeek model name (``deepseek-v4-flash``, ``deepseek-flash`` or ``deepseek-v4-pro``;
            ``deepseek-chat`` was retired on 2026-07-24 and gets HTTP 400).
        max_tokens: output token budget; ``None`` -> :func:`default_max_tokens` for ``len(rows)``.
        temperature: sampling temperature (0.0 = most deterministic).
        proposals: the rules' fields per row id, sent as each lead's ``"_proposal"`` (None: no proposals).

    Returns:
        ``{"model", "messages": [system, user], "response_format": {"type": "json_object"},
        "thinking": {"type": "disabled"}, "max_tokens", "temperature", "stream": False}``.

    Raises:
        ValueError: ``rows`` is empty.
    """
    if not rows:
        raise ValueError("build_request needs at least one row")
    budget = max_tokens if max_tokens is not None else default_max_tokens(len(rows))
    return chat_body(model, SYSTEM_PROMPT, user_content(rows, proposals), budget, temperature)


__all__ = [
    "LEAD_FIELDS", "MAX_TOKENS_BASE", "MAX_TOKENS_CAP", "MAX_TOKENS_PER_ROW", "PROMPT_VERSION", "PROPOSAL_KEY",
    "Proposals", "SYSTEM_PROMPT", "build_request", "chat_body", "default_max_tokens", "prompt_hash", "request_lead", "standardizer_version", "user_content",
]
