"""Builders shared by the store tests and their worker subprocesses."""
from __future__ import annotations

from dataclasses import dataclass, field

from easycrm_pipeline.models import LEAD_FIELDS, StandardLead
from easycrm_pipeline.rules import RULES_VERSION

#: Fields compared when two stores' contents must be equal (everything but ids and timestamps).
CONTENT_FIELDS = LEAD_FIELDS + ("sourceFile", "sourceWorksheet", "sourceRow", "sourceRowId", "standardizer")


def lead(row: int, *, sheet: str | None = None, provided=None, standardizer: str = RULES_VERSION,
         **fields) -> StandardLead:
    """A ``StandardLead`` for row ``row`` (row_id ``"0:<row>"``) with the given fields; all seven fields provided
    unless ``provided`` (an iterable of field names) says otherwise; written by the current offline rules unless
    ``standardizer`` names another version."""
    values = {name: fields.get(name) for name in LEAD_FIELDS}
    prov = frozenset(LEAD_FIELDS if provided is None else provided)
    raw = {k: v for k, v in fields.items() if v is not None}
    return StandardLead(
        row_id=f"0:{row}", sheet=sheet, row_number=row, fields=values, provided=prov, raw=raw,
        standardizer=standardizer,
    )


def numbered_leads(emails: list[int], *, tag: str, start_row: int = 2) -> list[StandardLead]:
    """One lead per number ``i`` in ``emails``: email ``p{i}@example.com``, title ``tag``, other fields from ``i``."""
    return [
        lead(start_row + n, firstName=f"First{i}", lastName=f"Last{i}", title=tag, company=f"Co {i % 7}",
             email=f"p{i}@example.com", phone=f"+4930{i:07d}")
        for n, i in enumerate(emails)
    ]


@dataclass
class Dup:
    """A within-file duplicate resolution, shaped like what ``upsert_file(duplicates_resolved=...)`` expects."""

    email: str
    kept_row_id: str
    merged_row_ids: list[str] = field(default_factory=list)


def content(rows: list[dict]) -> list[tuple]:
    """Leads reduced to comparable content (no ids/timestamps), sorted."""
    return sorted(tuple("" if r[f] is None else str(r[f]) for f in CONTENT_FIELDS) for r in rows)
