"""Phone cells -> E.164 (ITU-T E.164, via Google's libphonenumber port ``phonenumbers``) or digits only.

Rules (DESIGN.md section 6 "Rules", handed cases 02/03/04/13): keep ``+``; the ``00`` international prefix becomes
``+``; separators are dropped; the trunk ``(0)`` after a country code is dropped (``+49 (0)30 …`` -> ``+4930…``);
E.164 when the number carries ``+``/``00`` or a default region is configured, digits only otherwise — a country code
is never invented. Placeholders (``NA``, ``n/a``, ``-``, ``none``…) are no phone and no remark; Excel garbage
(negative numbers, dates, words, scientific notation) is no phone and a remark ``invalid phone in source: …``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from .text import clean_text, is_placeholder

_EXT = re.compile(r"\s*(?:,|;)?\s*(?:ext\.?|extension|x|#|durchwahl|dw\.?|poste)\s*:?\s*(\d{1,6})\s*$", re.IGNORECASE)
_TRUNK = re.compile(r"^(\+\d{1,3})\s*[\s\-.]*\(0\)")
_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$|^\d{1,2}[./]\d{1,2}[./]\d{2,4}$|^\d{1,2}:\d{2}(:\d{2})?$"
)
_ALLOWED = re.compile(r"^[+]?[\d\s\-./()]+$")
_FLOAT_ZERO = re.compile(r"^(\d+)\.0+$")
_SCIENTIFIC = re.compile(r"^(\d)\.(\d+)[eE]\+?(\d+)$")
_FORMULA = re.compile(r'^="(.*)"$')
_SEVERAL = re.compile(r"\s*(?:;|,|\||\s/\s|\s+or\s+|\s+oder\s+|\s+ou\s+|\s+o\s+)\s*", re.IGNORECASE)
_LABEL = re.compile(r"^(?:tel|phone|ph|mobile|mob|cell|handy|t|m|p)\s*[.:]?\s*:?\s*(?=[+(\d])", re.IGNORECASE)

MIN_DIGITS = 5
MAX_DIGITS = 15


@dataclass(frozen=True)
class PhoneResult:
    """``phone``: ``"+<digits>"`` (E.164) or digits only, or ``None``; ``remark``: text for remarks or ``None``
    (``"invalid phone in source: …"``, ``"phone ext: 123"``)."""

    phone: str | None
    remark: str | None = None


def _invalid(text: str) -> PhoneResult:
    return PhoneResult(None, f"invalid phone in source: {text}")


def normalize_phone(text: str | None, default_region: str | None = None) -> PhoneResult:
    """Normalize one phone cell.

    Args:
        text: the cell as text.
        default_region: ISO 3166-1 alpha-2 region (``EASYCRM_DEFAULT_REGION``) used for numbers written without
            ``+``/``00``; ``None``: such numbers stay digits only.

    Returns:
        :class:`PhoneResult`. A cell with several numbers (``"030 1234567 / 0171 2345678"``, ``;``, ``,``, ``or``)
        gives the first usable one, the others in the remark as ``other phone: …``. ``tel:``/``Tel.:`` labels and
        Excel's ``="0770…"`` wrapper are removed. Never raises.
    """
    cleaned = clean_text(text)
    if is_placeholder(cleaned):
        return PhoneResult(None)
    unwrapped = _FORMULA.match(cleaned)
    if unwrapped:  # ="07700900456", Excel's keep-the-zero trick
        cleaned = unwrapped.group(1).strip()
    parts = [p.strip() for p in _SEVERAL.split(cleaned) if not is_placeholder(p)]
    if len(parts) == 1 and parts[0] != cleaned:
        cleaned = parts[0]
    elif len(parts) > 1:
        results = [_single(p, default_region) for p in parts]
        if any(r.phone for r in results):
            first = next(r for r in results if r.phone)
            remarks = [r.remark for r in results if r.remark]
            remarks += [f"other phone: {r.phone}" for r in results if r.phone and r is not first]
            return PhoneResult(first.phone, "; ".join(remarks) or None)
    return _single(cleaned, default_region)


def _single(cleaned: str, default_region: str | None) -> PhoneResult:
    remark = None
    body = _LABEL.sub("", cleaned)
    m = _EXT.search(body)
    if m and re.search(r"\d", body[: m.start()]):
        remark = f"phone ext: {m.group(1)}"
        body = body[: m.start()]
    body = body.strip()
    fz = _FLOAT_ZERO.match(body)
    if fz:  # "7700900456.0": a number that went through a float
        body = fz.group(1)
    sci = _SCIENTIFIC.match(body)
    if sci and len(sci.group(2)) == int(sci.group(3)):  # "4.47700900789E+11": every digit is still there
        body = sci.group(1) + sci.group(2)
    if _DATE.match(body) or body.startswith("-") or not _ALLOWED.match(body):
        return _invalid(cleaned)
    body = _TRUNK.sub(r"\1", body)
    digits = re.sub(r"\D", "", body)
    international = body.startswith("+")
    if not international and digits.startswith("00") and not digits.startswith("000"):
        digits = digits[2:]
        international = True
    if not (MIN_DIGITS <= len(digits) <= MAX_DIGITS + (0 if international else 2)):
        return _invalid(cleaned)
    if international:
        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return _invalid(cleaned)
        if not phonenumbers.is_possible_number(number):
            return _invalid(cleaned)
        return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), remark)
    if default_region:
        try:
            number = phonenumbers.parse(digits, default_region.upper())
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), remark)
    return PhoneResult(digits, remark)


def phone_digits(text: str | None) -> str:
    """Only the digits of ``text`` (``"+49 (0)30 12"`` -> ``"4903012"``)."""
    return re.sub(r"\D", "", clean_text(text))
