"""Which rows go to DeepSeek: the standardization cache and ``EASYCRM_LLM=auto``.

- Cache: a raw row already standardized by DeepSeek with the same standardizer version (model + prompt + rules
  version) is never sent again; its stored answer is reused. The key is a SHA-256 of the version and the row's
  cells (header -> value), so the same row in another file or position hits too.
- ``auto``: only rows the rules cannot settle on their own go to DeepSeek: a Full Name column to split, a missing
  name next to an email, or non-empty columns no header alias maps (their meaning needs reading).

:func:`plan_file` plans a stream of rows block by block (the parse step on the DeepSeek path, issue 13): the settled
leads go to the run's lead file, the rows to send to its rows file.

Pure logic; the cache's storage is passed in as two callables (see ``pipeline.cache``).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from easycrm_pipeline.models import LEAD_FIELDS, RawRow, StandardLead
from easycrm_pipeline.pipeline.leadfile import LeadFile, LeadFileWriter, in_blocks
from easycrm_pipeline.pipeline.rowfile import RowFile, RowFileWriter
from easycrm_pipeline.rules.headers import map_headers
from easycrm_pipeline.rules.standardize import standardize_rows

#: Flag on a lead whose values came from the standardization cache.
CACHE_HIT_FLAG = "cache-hit"
#: Flags that mean a lead's values are not DeepSeek's answer (never cached).
NOT_CACHEABLE_FLAGS = ("llm-missing-fallback", "llm-invalid-item")


def cache_key(row: RawRow, version: str) -> str:
    """SHA-256 (hex) of the standardizer ``version`` and the row's cells (header -> value, empty cells dropped)."""
    doc = json.dumps([version, sorted(row.as_request_dict().items())], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


def cache_entry(lead: StandardLead) -> dict | None:
    """What the cache stores for a DeepSeek-standardized lead (None when the lead must not be cached)."""
    if any(flag.startswith(NOT_CACHEABLE_FLAGS) for flag in lead.flags):
        return None
    return {
        "fields": {k: lead.fields.get(k) for k in LEAD_FIELDS},
        "provided": sorted(lead.provided),
        "flags": [f for f in lead.flags if f != CACHE_HIT_FLAG],
    }


def lead_from_cache(row: RawRow, entry: dict, version: str) -> StandardLead:
    """The cached answer applied to ``row`` (its own row id, sheet, row number and raw cells)."""
    fields = {k: entry["fields"].get(k) for k in LEAD_FIELDS}
    flags = tuple(entry.get("flags", ())) + (CACHE_HIT_FLAG,)
    return StandardLead.for_row(row, fields, frozenset(entry["provided"]), version, flags)


def needs_llm(row: RawRow) -> bool:
    """``EASYCRM_LLM=auto``: True when the rules cannot settle ``row`` on their own.

    That is: a non-empty Full Name cell without first/last name columns (splitting is a judgement call), no name at
    all next to an email (the name may hide in the address or another column), or a non-empty column that no header
    alias maps.
    """
    headers = [h for h, _ in row.cells]
    values = [v for _, v in row.cells]
    hmap = map_headers(headers)
    by_role: dict[str, list[str]] = {}
    for role, value in zip(hmap.roles, values):
        if role is not None and value.strip():
            by_role.setdefault(role, []).append(value)
    if any(values[i].strip() for i in hmap.unmapped):
        return True
    has_split_name = "firstName" in by_role or "lastName" in by_role
    if "fullName" in by_role and not has_split_name:
        return True
    if not has_split_name and "fullName" not in by_role and "email" in by_role:
        return True
    return False


@dataclass
class Plan:
    """How a file's rows are standardized.

    Attributes:
        settled: leads standardized without a DeepSeek call (rules in ``never``/``auto`` mode, or cache hits).
        to_send: rows that go to DeepSeek, in file order.
        cache_hits: rows answered from the cache.
        settled_by_rules: rows the offline rules settled.
        copies: rows whose cells repeat an earlier row that is sent: ``(row, row_id of the row sent)``; they take
            that row's answer (a file that repeats rows costs no tokens for the repeats).
    """

    settled: list[StandardLead] = field(default_factory=list)
    to_send: list[RawRow] = field(default_factory=list)
    cache_hits: int = 0
    settled_by_rules: int = 0
    copies: list[tuple[RawRow, str]] = field(default_factory=list)


def plan_rows(
    rows: list[RawRow],
    *,
    llm_mode: str,
    version: str,
    default_region: str | None,
    cache_get: Callable[[list[str]], dict[str, dict]] | None = None,
    first_of: dict[bytes, str] | None = None,
) -> Plan:
    """Split ``rows`` into leads settled now and rows to send to DeepSeek.

    A file can be planned block by block (the parse step streams it): planning consecutive blocks with one shared
    ``first_of`` gives the plan of the whole file (settled leads block by block, ``to_send`` and ``copies``
    concatenated in file order, counts summed).

    Args:
        llm_mode: ``never`` (rules settle everything), ``auto`` (rules settle what they can), ``always``.
        version: the DeepSeek standardizer version (cache keys depend on it).
        cache_get: ``keys -> {key: entry}`` for the keys found; None disables the cache.
        first_of: ``{cache key as bytes: row id}`` of the rows sent so far, updated in place (a row repeating one
            of them is a copy); None: a new one (``rows`` is the whole file). One entry (~0.15 KB) per row sent.
    """
    if llm_mode == "never":
        return Plan(settled=standardize_rows(rows, default_region), settled_by_rules=len(rows))
    plan = Plan()
    remaining = [(row, cache_key(row, version)) for row in rows]
    if cache_get is not None and remaining:
        found = cache_get([key for _, key in remaining])
        rest = []
        for row, key in remaining:
            if key in found:
                plan.settled.append(lead_from_cache(row, found[key], version))
                plan.cache_hits += 1
            else:
                rest.append((row, key))
        remaining = rest
    if llm_mode == "auto":
        llm = [needs_llm(row) for row, _ in remaining]
        by_rules = [row for (row, _), ask in zip(remaining, llm) if not ask]
        remaining = [pair for pair, ask in zip(remaining, llm) if ask]
        plan.settled.extend(standardize_rows(by_rules, default_region))
        plan.settled_by_rules = len(by_rules)
    if first_of is None:
        first_of = {}
    for row, key in remaining:
        digest = bytes.fromhex(key)  # 32 bytes: ~half the memory of the hex text, kept for every row sent
        if digest in first_of:
            plan.copies.append((row, first_of[digest]))
        else:
            first_of[digest] = row.row_id
            plan.to_send.append(row)
    return plan


def copy_answer(lead: StandardLead, row: RawRow) -> StandardLead:
    """``lead``'s standardized values applied to ``row``, a row with the same cells elsewhere in the file."""
    return StandardLead.for_row(row, dict(lead.fields), lead.provided, lead.standardizer, lead.flags + ("repeated-row",))


#: Rows planned at once by :func:`plan_file` (cache look-up, ``auto`` decisions, rules): bounds the parse step's
#: memory on the DeepSeek path whatever the file's size.
PLAN_BLOCK_ROWS = 5_000


def plan_file(
    rows: Iterable[RawRow],
    settled_path: Path,
    to_send_path: Path,
    *,
    llm_mode: str,
    version: str,
    default_region: str | None,
    cache_get: Callable[[list[str]], dict[str, dict]] | None = None,
) -> tuple[LeadFile, RowFile, Plan]:
    """:func:`plan_rows` over a stream of rows, :data:`PLAN_BLOCK_ROWS` at a time: the settled leads are appended to
    the lead file ``settled_path`` (``pipeline.leadfile``, batch id ``settled``), the rows to send to the rows file
    ``to_send_path`` (``pipeline.rowfile``, file order); no list of all the file's rows is held.

    Returns:
        ``(lead file, rows file, plan)``: the plan holds the counts (``cache_hits``, ``settled_by_rules``) and the
        ``copies`` of the whole file, the same as :func:`plan_rows` on the whole list gives; its ``settled`` and
        ``to_send`` are empty (they are in the two files).

    Raises:
        Whatever reading ``rows`` raises (``FileRejected`` for a file refused at its end): neither file is left.
    """
    total = Plan()
    first_of: dict[bytes, str] = {}
    with LeadFileWriter(settled_path) as settled, RowFileWriter(to_send_path) as to_send:
        for block in in_blocks(rows, PLAN_BLOCK_ROWS):
            plan = plan_rows(block, llm_mode=llm_mode, version=version, default_region=default_region,
                             cache_get=cache_get, first_of=first_of)
            settled.write(plan.settled)
            to_send.write(plan.to_send)
            total.cache_hits += plan.cache_hits
            total.settled_by_rules += plan.settled_by_rules
            total.copies.extend(plan.copies)
    return LeadFile(str(settled_path), settled.leads), RowFile(str(to_send_path), to_send.rows), total

