"""In-file de-duplication on the normalized email (docs/old-system.md#duplicates-within-a-file-last-occurrence-wins:
within a file the last occurrence of an email wins, in sheet then row order)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..models import LEAD_FIELDS, StandardLead


@dataclass(frozen=True)
class DuplicateResolution:
    """One merge: ``email`` (normalized key), ``kept_row_id`` (row id the merged lead carries: the last occurrence),
    ``merged_row_ids`` (the other rows folded into it, file order)."""

    email: str
    kept_row_id: str
    merged_row_ids: tuple[str, ...]


def _split_remarks(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split("; ") if p.strip()]


def merge_in_file(leads: list[StandardLead]) -> tuple[list[StandardLead], list[DuplicateResolution]]:
    """Merge leads of one file sharing a normalized email.

    Per field the LAST non-empty value wins (file order = sheet then row); remarks of all merged rows are combined
    (distinct parts, file order, joined ``"; "``); ``provided`` and ``flags`` are unions; the merged lead keeps the
    ``row_id``/``sheet``/``row_number``/``raw``/``standardizer`` of the last occurrence. Leads without email are never
    merged. Output order: by first occurrence.

    Returns:
        ``(leads, resolutions)`` — one :class:`DuplicateResolution` per email seen more than once.
    """
    groups: dict[str, list[StandardLead]] = {}
    order: list[tuple[str, object]] = []  # ("email", key) or ("single", lead)
    for lead in leads:
        key = lead.email
        if not key:
            order.append(("single", lead))
            continue
        if key not in groups:
            groups[key] = []
            order.append(("email", key))
        groups[key].append(lead)

    out: list[StandardLead] = []
    resolutions: list[DuplicateResolution] = []
    for kind, item in order:
        if kind == "single":
            out.append(item)  # type: ignore[arg-type]
            continue
        group = groups[item]  # type: ignore[index]
        if len(group) == 1:
            out.append(group[0])
            continue
        last = group[-1]
        fields: dict[str, str | None] = {}
        for f in LEAD_FIELDS:
            if f == "remarks":
                parts: list[str] = []
                for lead in group:
                    for p in _split_remarks(lead.fields.get("remarks")):
                        if p not in parts:
                            parts.append(p)
                fields[f] = "; ".join(parts) or None
                continue
            value = None
            for lead in group:
                v = lead.fields.get(f)
                if v not in (None, ""):
                    value = v
            fields[f] = value
        flags: list[str] = []
        for lead in group:
            for fl in lead.flags:
                if fl not in flags:
                    flags.append(fl)
        provided = frozenset().union(*(lead.provided for lead in group))
        out.append(replace(last, fields=fields, provided=provided, flags=tuple(flags)))
        resolutions.append(
            DuplicateResolution(email=str(item), kept_row_id=last.row_id,
                                merged_row_ids=tuple(lead.row_id for lead in group[:-1]))
        )
    return out, resolutions
