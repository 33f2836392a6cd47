"""Build RawRows for rules tests."""
from __future__ import annotations

from easycrm_pipeline.models import LEAD_FIELDS, RawRow


def all_fields(given: dict) -> dict:
    """A whole lead's fields: ``given``, every other field of ``LEAD_FIELDS`` None, in field order (a field added
    after the seven, docs/adding-a-field.md, is None for rows without its column)."""
    assert set(given) <= set(LEAD_FIELDS), set(given) - set(LEAD_FIELDS)
    return {f: given.get(f) for f in LEAD_FIELDS}


def raw(pairs: list[tuple[str, str]], row_number: int = 2, sheet: str | None = None, sheet_index: int = 0) -> RawRow:
    """A RawRow from ``(header, value)`` pairs, row id ``"<sheet_index>:<row_number>"``."""
    return RawRow(f"{sheet_index}:{row_number}", sheet, row_number, tuple(pairs))
