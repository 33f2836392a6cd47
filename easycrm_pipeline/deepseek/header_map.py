"""The DeepSeek header-mapping request (issue 15): which lead field a column the offline aliases cannot map holds.

One request per distinct header row (its :func:`header_signature`), sent through the project's one DeepSeek client
(:meth:`~easycrm_pipeline.deepseek.client.DeepSeekClient.complete_json`: same transport, retries, JSON mode and key
scrubbing as the batch requests; docs/deepseek.md). Pure request/answer logic here; which columns are asked about,
the cache and the check against the content are :mod:`easycrm_pipeline.pipeline.header_mapping`'s.

Request (OpenAI-compatible chat completions, JSON mode)::

    system: HEADER_SYSTEM_PROMPT (constant: prompt-cache hits after the first call)
    user:   {"headers": ["Email", "fld_a1", "fld_a2"],
             "columns": [{"header": "fld_a1", "examples": ["Anna", "Max"]}, ...]}

Answer (``choices[0].message.content``): ``{"columns": {"fld_a1": "firstName", "fld_a2": "lastName"}}``; a role is
one of :data:`HEADER_ROLES`. Headers the answer leaves out, or gives an unknown role, are left as they are.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from easycrm_pipeline.rules.headers import header_key

#: Bump when the request or the meaning of the answer changes (part of every cache key).
HEADER_MAP_VERSION = "headers-1"
#: What a column may be mapped to: a lead field, ``remarks`` (kept as ``Header: value`` in remarks) or ``ignore``
#: (the same: nothing of a file is dropped, docs/contracts.md).
FIELD_ROLES = ("firstName", "lastName", "fullName", "title", "company", "email", "phone")
HEADER_ROLES = FIELD_ROLES + ("remarks", "ignore")
#: Example cells sent per column (the first non-empty ones, each cut at EXAMPLE_CHARS characters).
EXAMPLES = 3
EXAMPLE_CHARS = 80
#: Completion budget of one mapping answer: ~10 tokens per column, capped.
MAX_TOKENS_BASE = 100
MAX_TOKENS_PER_COLUMN = 20
MAX_TOKENS_CAP = 2000

HEADER_SYSTEM_PROMPT = """You map the columns of a contact or sales-lead spreadsheet to lead fields. Answer with JSON only.

INPUT: a JSON object {"headers": [...], "columns": [...]}: "headers" is the file's whole header row, in order;
"columns" lists the columns to map, each as {"header": "<header text>", "examples": ["<cell>", ...]} (a few cells of
that column, as written). Headers may be in any language, abbreviated, or in-house database codes.

OUTPUT: one JSON object {"columns": {"<header>": "<role>", ...}} with one entry per input column, the header copied
exactly. A role is one of: firstName, lastName, fullName (first and last name in one cell), title (job title or
position), company (the employer or organisation), email, phone (any phone, fax excluded), remarks (anything else
worth keeping: notes, addresses, websites, ids, dates), ignore. Judge by the header AND the examples; when unsure,
answer remarks. Never map two columns to the same role unless both really hold it.

EXAMPLE INPUT:
{"headers": ["E-Mail", "kd_vn", "kd_nn", "kd_fa"], "columns": [{"header": "kd_vn", "examples": ["Anna", "Max"]}, {"header": "kd_nn", "examples": ["Beispiel", "Muster"]}, {"header": "kd_fa", "examples": ["Beispiel AG", "Muster Logistik"]}]}

EXAMPLE JSON OUTPUT:
{"columns": {"kd_vn": "firstName", "kd_nn": "lastName", "kd_fa": "company"}}"""


def prompt_hash() -> str:
    """First 12 hex digits of the SHA-256 of :data:`HEADER_SYSTEM_PROMPT` (any edit makes cached answers stale)."""
    return hashlib.sha256(HEADER_SYSTEM_PROMPT.encode("utf-8")).hexdigest()[:12]


def header_signature(headers: Sequence[str], model: str) -> str:
    """Cache key of one header row: SHA-256 (hex) of :data:`HEADER_MAP_VERSION`, the prompt hash, ``model`` and
    the normalized header cells (:func:`~easycrm_pipeline.rules.headers.header_key`: case, accents, spaces and
    punctuation ignored, so ``"FLD_A1"`` and ``"fld a1"`` are one header), prefixed ``header-map:``."""
    doc = json.dumps([HEADER_MAP_VERSION, prompt_hash(), model, [header_key(h) for h in headers]],
                     ensure_ascii=False, separators=(",", ":"))
    return "header-map:" + hashlib.sha256(doc.encode("utf-8")).hexdigest()


def user_content(headers: Sequence[str], columns: dict[str, list[str]]) -> str:
    """The user message: ``{"headers": [...], "columns": [{"header", "examples"}]}`` (module docstring); at most
    :data:`EXAMPLES` non-empty example cells per column, each cut at :data:`EXAMPLE_CHARS` characters."""
    items = []
    for header, values in columns.items():
        examples = [v[:EXAMPLE_CHARS] for v in values if v.strip()][:EXAMPLES]
        items.append({"header": header, "examples": examples})
    return json.dumps({"headers": list(headers), "columns": items}, ensure_ascii=False)


def max_tokens(columns: int) -> int:
    """Completion budget for an answer about ``columns`` columns (tokens)."""
    return min(MAX_TOKENS_CAP, MAX_TOKENS_BASE + MAX_TOKENS_PER_COLUMN * columns)


def parse_mapping(doc: Any, asked: Sequence[str]) -> dict[str, str]:
    """``{header: role}`` from a decoded answer ``{"columns": {header: role}}``: only headers that were ``asked``
    and roles of :data:`HEADER_ROLES` (a role's letter case is ignored); anything else in the answer is dropped.
    A document of another shape gives ``{}``."""
    columns = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(columns, dict):
        return {}
    by_fold = {r.casefold(): r for r in HEADER_ROLES}
    wanted = set(asked)
    out: dict[str, str] = {}
    for header, role in columns.items():
        if header in wanted and isinstance(role, str) and role.strip().casefold() in by_fold:
            out[header] = by_fold[role.strip().casefold()]
    return out


def ask_mapping(client, headers: Sequence[str], columns: dict[str, list[str]]) -> tuple[dict[str, str], Any]:
    """Ask DeepSeek once which role each of ``columns`` (header -> its cells) holds.

    Args:
        client: a :class:`~easycrm_pipeline.deepseek.client.DeepSeekClient`.
        headers: the whole header row (context for the model).
        columns: the columns to map, header -> sample cells (as read).

    Returns:
        ``(mapping, usage)``: ``{header: role}`` (:func:`parse_mapping`) and the request's
        :class:`~easycrm_pipeline.deepseek.client.Usage`.

    Raises:
        DeepSeekError: what :meth:`DeepSeekClient.complete_json` raises (fatal key/balance errors, a rejected
            request, retries exhausted).
    """
    doc, usage = client.complete_json(HEADER_SYSTEM_PROMPT, user_content(headers, columns),
                                      max_tokens=max_tokens(len(columns)))
    return parse_mapping(doc, list(columns)), usage


__all__ = [
    "FIELD_ROLES", "HEADER_MAP_VERSION", "HEADER_ROLES", "HEADER_SYSTEM_PROMPT", "ask_mapping", "header_signature",
    "max_tokens", "parse_mapping", "prompt_hash", "user_content",
]
