"""Excel cell values -> text, the way a user sees them (docs/files.md)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def cell_to_text(value: Any) -> str:
    """One cell value from calamine/openpyxl/xlrd as text.

    ``None`` -> ``""``; ``True`` -> ``"TRUE"``; integral floats without ``.0`` and never in scientific notation
    (``7700900456.0`` -> ``"7700900456"``, ``4.477e11`` -> ``"447700000000"``); other floats in plain positional
    notation; dates -> ``YYYY-MM-DD``; datetimes -> ``YYYY-MM-DD`` when the time is midnight, else
    ``YYYY-MM-DDTHH:MM:SS``; times -> ``HH:MM:SS``; text as is.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)
