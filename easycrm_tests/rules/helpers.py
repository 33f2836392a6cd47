"""Build RawRows for rules tests."""
from __future__ import annotations

from easycrm_pipeline.models import RawRow


def raw(pairs: list[tuple[str, str]], row_number: int = 2, sheet: str | None = None, sheet_index: int = 0) -> RawRow:
    """A RawRow from ``(header, value)`` pairs, row id ``"<sheet_index>:<row_number>"``."""
    return RawRow(f"{sheet_index}:{row_number}", sheet, row_number, tuple(pairs))
