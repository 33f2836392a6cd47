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
    for kind, render in _RENDERERS:
        if isinstance(value, kind):
            return render(value)
    return str(value)


def _float_text(value: float) -> str:
    """NaN/infinity -> ``""``; integral -> its digits; else ``repr`` in plain positional notation."""
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _datetime_text(value: dt.datetime) -> str:
    """A date at midnight -> ``YYYY-MM-DD``; else ISO 8601 to the second (or microsecond when it has some)."""
    if value.time() == dt.time(0, 0):
        return value.date().isoformat()
    return value.isoformat(timespec="seconds" if not value.microsecond else "auto")


#: Type -> its text, checked in order (``bool`` before ``int``, ``datetime`` before ``date``: subclasses first).
_RENDERERS: tuple[tuple[type, Any], ...] = (
    (str, lambda v: v),
    (bool, lambda v: "TRUE" if v else "FALSE"),
    (int, str),
    (float, _float_text),
    (dt.datetime, _datetime_text),
    (dt.date, lambda v: v.isoformat()),
    (dt.time, lambda v: v.isoformat()),
)
