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
    order: list[list[StandardLead]] = []  # by first occurrence; a lead without email is a group of its own
    for lead in leads:
        if not lead.email:
            order.append([lead])
            continue
        if lead.email not in groups:
            groups[lead.email] = []
            order.append(groups[lead.email])
        groups[lead.email].append(lead)

    out: list[StandardLead] = []
    resolutions: list[DuplicateResolution] = []
    for group in order:
        if len(group) == 1:
            out.append(group[0])
            continue
        last = group[-1]
        out.append(_merged(group))
        resolutions.append(
            DuplicateResolution(email=str(last.email), kept_row_id=last.row_id,
                                merged_row_ids=tuple(lead.row_id for lead in group[:-1]))
        )
    return out, resolutions


def _distinct(items) -> list:
    """The items without repeats, in first-occurrence order."""
    return list(dict.fromkeys(items))


def _merged_field(group: list[StandardLead], f: str) -> str | None:
    """One field of a merged lead: the remarks' distinct parts joined ``"; "``; any other field its last non-empty
    value."""
    if f == "remarks":
        return "; ".join(_distinct(p for lead in group for p in _split_remarks(lead.fields.get("remarks")))) or None
    values = [v for lead in group if (v := lead.fields.get(f)) not in (None, "")]
    return values[-1] if values else None


def _merged(group: list[StandardLead]) -> StandardLead:
    """The leads of one email folded into the last one (see :func:`merge_in_file`)."""
    fields = {f: _merged_field(group, f) for f in LEAD_FIELDS}
    flags = _distinct(fl for lead in group for fl in lead.flags)
    provided = frozenset().union(*(lead.provided for lead in group))
    return replace(group[-1], fields=fields, provided=provided, flags=tuple(flags))
