"""Phone cells -> E.164 (ITU-T E.164, via Google's libphonenumber port ``phonenumbers``) or digits only.

Rules (docs/old-system.md#phones, handed cases 02/03/04/13): keep ``+``; the ``00`` international prefix becomes
``+``; separators are dropped (``/`` too: ``030 / 123 45 67`` is area code / number, one phone); the trunk ``(0)``
after a country code is dropped (``+49 (0)30 …`` -> ``+4930…``); E.164 when the number carries ``+``/``00`` or a
default region is configured, digits only otherwise — a country code is never invented. Placeholders (``NA``,
``n/a``, ``-``, ``none``…) are no phone and no remark; Excel garbage (negative numbers, dates, words, scientific
notation that lost digits) is no phone and a remark ``invalid phone in source: …``.

Annotated cells (``07700 900123 (mobile)``, ``+49 30 1234567 - Zentrale``, ``020 7946 0958 (switchboard) / 07700
900123 (mobile)``): the numbers are found with libphonenumber's ``PhoneNumberMatcher`` (international numbers, and
national ones when a default region is set; leniency ``POSSIBLE``) and, without a region, as runs of at least
:data:`MIN_ANNOTATED_DIGITS` digits and separators. The first number is the phone; its extension goes to remarks as
``phone ext: 12`` (E.164 has no extension), its annotation as ``phone note: mobile``; each further number as
``other phone: +44… (mobile)``. Nothing of the cell is dropped.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import phonenumbers

from .text import clean_text, is_blank_marker, is_placeholder

_EXT = re.compile(
    r"\s*(?:,|;)?\s*(?:ext\.?|extension|x|#|durchwahl|dw\.?|poste)\s*[:=]?\s*(\d{1,6})\s*$", re.IGNORECASE
)
_TRUNK = re.compile(r"^(\+\d{1,3})\s*[\s\-.]*\(0\)")
_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$|^\d{1,2}[./]\d{1,2}[./]\d{2,4}$|^\d{1,2}:\d{2}(:\d{2})?$"
)
_ALLOWED = re.compile(r"^[+]?[\d\s\-./()]+$")
_FLOAT_ZERO = re.compile(r"^(\d+)[.,]0+$")
#: A float shown with thousands separators and zero decimals (``447 700 900 123.00``, ``447.700.900.123,00``).
_GROUPED_FLOAT = re.compile(r"^([1-9]\d{0,2}(?:([ ,.])\d{3})(?:\2\d{3})*)(?!\2)[.,]0+$")
_SCIENTIFIC = re.compile(r"^(\d)[.,](\d+)[eE]\+?(\d+)$")
_FORMULA = re.compile(r'^="(.*)"$')
#: Separators between several numbers of one cell; a ``,``/``;`` before a trailing extension (``, ext. 12``) is none.
_SEVERAL = re.compile(
    r"\s*(?::::|[;,](?!\s*(?:ext|extension|x|\#|durchwahl|dw|poste)\W*\d{1,6}\s*$)"
    r"|\||\s/\s|\s+or\s+|\s+oder\s+|\s+ou\s+|\s+o\s+)\s*",
    re.IGNORECASE,
)
_LABEL = re.compile(r"^(?:tel|phone|ph|mobile|mob|cell|handy|t|m|p)\s*[.:]?\s*:?\s*(?=[+(\d])", re.IGNORECASE)

#: Digits of a number with ``+``/``00`` (libphonenumber's ``is_possible_number`` decides the rest).
MIN_DIGITS = 5
#: Digits of a number written without ``+``/``00``: the replaced system's rule, 7-15 digits (``555123`` is no phone).
MIN_NATIONAL_DIGITS = 7
#: Most digits of any phone number: E.164's maximum (ITU-T E.164 section 6), also the replaced system's 7-15 rule; a
#: 16-19 digit value is a payment card's length, never a phone.
MAX_DIGITS = 15
#: Digits a number written without ``+``/``00`` needs to be taken out of an annotated cell ("Room 12345" is no phone).
MIN_ANNOTATED_DIGITS = 7
_LETTER = re.compile(r"[^\W\d_]")
#: A run of digits and phone separators, optionally behind ``+`` / ``(`` (national numbers in annotated cells).
_RUN = re.compile(r"(?<![\w+])(?:\+|\()?\d[\d \t\-./()]*\d(?:\))?")
#: What is left around the numbers of an annotated cell and is no note: separators, brackets, dashes.
_NOTE_TRIM = " \t-–—/|,;:()[]{}."


@dataclass(frozen=True)
class PhoneResult:
    """``phone``: ``"+<digits>"`` (E.164) or digits only, or ``None``; ``remark``: text for remarks or ``None``
    (``"invalid phone in source: …"``, ``"phone ext: 123"``)."""

    phone: str | None
    remark: str | None = None


def _invalid(text: str) -> PhoneResult:
    return PhoneResult(None, f"invalid phone in source: {text}")


@dataclass
class _Found:
    """One number found in a cell: its phone, extension and annotation; or the text that is no phone."""

    phone: str | None = None
    ext: str | None = None
    notes: list[str] = field(default_factory=list)
    invalid: str | None = None


def _compose(found: list[_Found]) -> PhoneResult:
    """The first number is the phone; its extension/notes and every other number or invalid part go to remarks."""
    phones = [f for f in found if f.phone]
    remarks: list[str] = []
    first = phones[0] if phones else None
    if first is not None:
        if first.ext:
            remarks.append(f"phone ext: {first.ext}")
        if first.notes:
            remarks.append(f"phone note: {', '.join(first.notes)}")
    for f in found:
        if f.invalid:
            remarks.append(f"invalid phone in source: {f.invalid}")
    for f in phones[1:]:
        text = f"other phone: {f.phone}"
        if f.ext:
            text += f" ext. {f.ext}"
        if f.notes:
            text += f" ({', '.join(f.notes)})"
        remarks.append(text)
    return PhoneResult(first.phone if first else None, "; ".join(remarks) or None)


def normalize_phone(text: str | None, default_region: str | None = None) -> PhoneResult:
    """Normalize one phone cell.

    Args:
        text: the cell as text.
        default_region: ISO 3166-1 alpha-2 region (``EASYCRM_DEFAULT_REGION``) used for numbers written without
            ``+``/``00``; ``None``: such numbers stay digits only.

    Returns:
        :class:`PhoneResult`. A cell whose parts are joined only by ``/`` is first read as ONE number
        (``"030 / 123 45 67"`` -> ``0301234567``, ``"+49 (0) 30 / 123 45 67"`` -> ``+49301234567``) when that makes
        a plausible number (valid for libphonenumber when E.164, else 7-15 digits) and not every part is a number
        by itself. A cell with several numbers (``"030 1234567 / 0171 2345678"``, ``;``, ``,``, ``or``, Google
        Contacts' `` ::: ``, line breaks between lines holding digits) gives the first usable one, the others in
        the remark as ``other phone: …``. ``tel:``/``Tel.:`` labels, Excel's ``="0770…"`` wrapper and ``'0770…``
        text marker are removed; a number that went through a float (``7700900456.0``, ``4.47700900789E+11``,
        German-locale ``447700900123,0`` / ``4,47700900123E+11``, ``447 700 900 123.00``) is read back when every
        digit is still there. Words around the numbers (``"07700 900123 (mobile)"``) go to the
        remark as ``phone note: mobile`` (for the first number) or ``other phone: 0770… (mobile)``; an extension as
        ``phone ext: 12``. Remarks are joined with ``"; "``. Never raises.
    """
    cleaned = _ascii_digits(clean_text(_join_lines(text)))
    if is_placeholder(cleaned) or is_blank_marker(cleaned):
        return PhoneResult(None)
    cleaned = _unwrap_excel(cleaned)
    # 447700900123,0 / 4,477E+11 / 447,700,900,123.00: a float (decimal comma or thousands separators), one number
    if _FLOAT_ZERO.match(cleaned) or _SCIENTIFIC.match(cleaned) or _GROUPED_FLOAT.match(cleaned):
        return _single(cleaned, default_region)
    whole = _whole(cleaned, default_region)
    if whole is not None:
        return whole
    glued = _unglue(cleaned)
    if glued is not None:  # "555-201-0143555-201-0198": two numbers of the same shape written without a separator
        return _compose([f for p in glued for f in _part(p, default_region)])
    return _several(cleaned, default_region)


def _ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of another script (full-width ``０３０``, Arabic-Indic ``٠٣٠``, Devanagari…:
    Unicode category Nd) written as its ASCII digit, so a stored phone is E.164 or ASCII digits whatever script the
    sheet typed it in (``"０３０ １２３４５６７"`` -> ``"030 1234567"``)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


def _join_lines(text: str | None) -> str | None:
    """A multi-line cell as one line: pieces of one broken number joined by a space (``"555\\t123\\n4567"``),
    lines holding several numbers (Alt+Enter between them, or n/a) by ``" ; "``; other text unchanged."""
    if not isinstance(text, str) or not ("\n" in text or "\r" in text):
        return text
    lines = [line for line in re.split(r"[\r\n]+", text) if line.strip()]
    numbered = [line for line in lines if re.search(r"\d", line)]
    if _broken_number(lines):
        return " ".join(lines)
    if len(numbered) > 1 or (len(lines) > 1 and all(line in numbered or is_placeholder(line) for line in lines)):
        return " ; ".join(lines)
    return text


def _unwrap_excel(cleaned: str) -> str:
    """Excel's keep-the-zero wrappers removed: ``="07700900456"`` and the text marker ``'07700900456``."""
    unwrapped = _FORMULA.match(cleaned)
    if unwrapped:
        cleaned = unwrapped.group(1).strip()
    if cleaned.startswith("'") and re.match(r"'\s*[+(\d]", cleaned):
        cleaned = cleaned[1:].strip()
    return cleaned


def _several(cleaned: str, default_region: str | None) -> PhoneResult:
    """A cell split at the separators of several numbers (``/``, ``;``, ``,``, ``or``, `` ::: ``): the first usable
    number, the others in the remark; one part read as a plain or annotated number."""
    parts = [p.strip() for p in _SEVERAL.split(cleaned) if not is_placeholder(p)]
    if len(parts) == 1 and parts[0] != cleaned:
        cleaned = parts[0]
    elif len(parts) > 1:
        found = [f for p in parts for f in _part(p, default_region)]
        if any(f.phone for f in found):
            return _compose(found)
    return _compose(_part(cleaned, default_region))


def _broken_number(lines: list[str]) -> bool:
    """True when the lines of a cell are pieces of ONE number (``"555\\t123"`` + ``"4567"``): only digits and
    separators, some piece too short to be a number by itself, 7-15 digits together."""
    if len(lines) < 2 or not all(re.fullmatch(r"[+(]?[\d\s\-./()]+", line.strip()) for line in lines):
        return False
    counts = [len(re.sub(r"\D", "", line)) for line in lines]
    return min(counts) < MIN_NATIONAL_DIGITS and MIN_NATIONAL_DIGITS <= sum(counts) <= MAX_DIGITS


_SHAPE = re.compile(r"\d")
_GLUE_CHARS = re.compile(r"[+\d\s\-.()]+")
_GLUE_SEPARATOR = re.compile(r"[\s\-.()]")


def _unglue(cleaned: str) -> list[str] | None:
    """Two numbers glued together (``"555-201-0143555-201-0198"``): the cell splits into two halves of the same
    written shape (digits and separators at the same places), each 7-15 digits, with separators in them; ``None``
    otherwise."""
    if len(cleaned) < 14 or not _GLUE_CHARS.fullmatch(cleaned) or not _GLUE_SEPARATOR.search(cleaned):
        return None
    if MIN_NATIONAL_DIGITS <= sum(c.isdigit() for c in cleaned) <= MAX_DIGITS:
        return None
    shape = _SHAPE.sub("9", cleaned)
    half = len(cleaned) // 2
    if len(cleaned) % 2 == 0 and shape[:half] == shape[half:]:
        a, b = cleaned[:half], cleaned[half:]
        if all(MIN_NATIONAL_DIGITS <= len(re.sub(r"\D", "", p)) <= MAX_DIGITS for p in (a, b)):
            return [a, b]
    return None


def _whole(cleaned: str, default_region: str | None) -> PhoneResult | None:
    """A cell whose numbers are joined only by ``/`` read as ONE number (``"030 / 123 45 67"``: area code / number);
    ``None`` when it does not make one plausible number (see :func:`_plausible`), or when every part between the
    slashes is a plausible number by itself (``"555 1234 / 555 5678"``) — then the cell holds several numbers."""
    if "/" not in cleaned or re.search(r"[;,|]|:::", cleaned):
        return None
    ext = _EXT.search(cleaned)
    if _LETTER.search(cleaned[: ext.start()] if ext else cleaned):
        return None
    if _DATE.match(re.sub(r"\s*([./])\s*", r"\1", cleaned)):  # "05 / 03 / 2024"
        return _invalid(cleaned)
    one = _single(cleaned.replace("/", " "), default_region)
    if not _plausible(one.phone, default_region):
        return None
    parts = [p for p in cleaned[: ext.start()].split("/")] if ext else cleaned.split("/")
    if all(_plausible(_single(p.strip(), default_region).phone, default_region) for p in parts):
        return None
    return one


def _plausible(phone: str | None, default_region: str | None) -> bool:
    """A normalized phone that is surely one number: valid for libphonenumber when E.164 (``+``/``00`` or a default
    region), else 7-15 digits."""
    if not phone:
        return False
    if phone.startswith("+"):
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(phone, None))
        except phonenumbers.NumberParseException:
            return False
    if default_region:  # the region could not make it E.164
        return False
    return MIN_ANNOTATED_DIGITS <= len(phone) <= MAX_DIGITS


def _part(cleaned: str, default_region: str | None) -> list[_Found]:
    """One part of a cell: a plain number (:func:`_single`), else the numbers of an annotated text."""
    one = _single(cleaned, default_region)
    if one.phone:
        return [_Found(one.phone, _ext_of(one))]
    plain = [_Found(invalid=cleaned)] if one.remark else [_Found()]
    if not _LETTER.search(cleaned):
        return plain
    return _annotated(cleaned, default_region) or plain


def _annotated(text: str, default_region: str | None) -> list[_Found] | None:
    """The numbers in a cell that also holds words, each with the words that follow it (the words before the first
    number belong to it too); ``None`` when no number is found."""
    spans = _number_spans(text, default_region)
    found: list[_Found] = []
    pos = 0
    for start, end, ext in spans:
        raw = text[start:end]
        if ext:  # the matcher read "ext. 12" / "x 12" into the number: keep only the number part for _single
            raw = _EXT.sub("", raw) or raw
        one = _single(raw, default_region)
        if not one.phone:
            continue
        between = text[pos:start].strip(_NOTE_TRIM)
        if found and between:
            found[-1].notes.append(between)
        f = _Found(one.phone, ext or _ext_of(one))
        if not found and between and not _LABEL.match(between + " 0"):  # "Tel." before it: a label, as in a plain cell
            f.notes.append(between)
        found.append(f)
        pos = end
    if not found:
        return None
    tail = text[pos:].strip(_NOTE_TRIM)
    if tail:
        found[-1].notes.append(tail)
    return found


def _number_spans(text: str, default_region: str | None) -> list[tuple[int, int, str | None]]:
    """``(start, end, extension)`` of the numbers in ``text``, sorted: libphonenumber's matcher (leniency POSSIBLE,
    best effort) plus the digit runs it did not cover that are long enough to be a number."""
    spans: list[tuple[int, int, str | None]] = []
    region = default_region.upper() if default_region else None
    try:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            spans.append((m.start, m.end, m.number.extension or None))
    except Exception:  # the matcher is best effort here; the runs below still apply
        spans = []
    for m in _RUN.finditer(text):
        if any(m.start() < end and start < m.end() for start, end, _ in spans):
            continue
        digits = re.sub(r"\D", "", m.group())
        international = m.group().startswith("+") or digits.startswith("00")
        if len(digits) >= (MIN_DIGITS if international else MIN_ANNOTATED_DIGITS):
            spans.append((m.start(), m.end(), None))
    spans.sort()
    return spans


def _ext_of(result: PhoneResult) -> str | None:
    if result.remark and result.remark.startswith("phone ext: "):
        return result.remark[len("phone ext: "):]
    return None


def _single(cleaned: str, default_region: str | None) -> PhoneResult:
    """One plain number: label and extension removed, a float read back, then E.164 when international (``+``,
    ``00``) or through ``default_region``, else its digits; an invalid remark when it is not a phone number."""
    body, remark = _split_extension(_LABEL.sub("", cleaned))
    body = _unfloat(body)
    if _DATE.match(body) or body.startswith("-") or not _ALLOWED.match(body):
        return _invalid(cleaned)
    body = _TRUNK.sub(r"\1", body)
    digits = re.sub(r"\D", "", body)
    international = body.startswith("+")
    if not international and body.startswith("00") and not digits.startswith("000"):
        digits = digits[2:]
        international = True
    if not ((MIN_DIGITS if international else MIN_NATIONAL_DIGITS) <= len(digits)
            <= MAX_DIGITS):
        return _invalid(cleaned)
    if international:
        e164 = _e164(digits, None)
        return PhoneResult(e164, remark) if e164 else _invalid(cleaned)
    national = _e164(digits, default_region.upper()) if default_region else None
    return PhoneResult(national or digits, remark)


def _split_extension(body: str) -> tuple[str, str | None]:
    """``(number part, "phone ext: N" or None)``: an extension counts only after some digit."""
    m = _EXT.search(body)
    if m and re.search(r"\d", body[: m.start()]):
        return body[: m.start()].strip(), f"phone ext: {m.group(1)}"
    return body.strip(), None


def _unfloat(body: str) -> str:
    """The digits of a number that went through a float: ``"447 700 900 123.00"`` (thousands separators),
    ``"7700900456.0"`` / ``"7700900456,0"`` (German locale), ``"4.47700900789E+11"`` when every digit is there."""
    gf = _GROUPED_FLOAT.match(body)
    if gf:
        body = re.sub(r"\D", "", gf.group(1))
    fz = _FLOAT_ZERO.match(body)
    if fz:
        body = fz.group(1)
    sci = _SCIENTIFIC.match(body)
    if sci and len(sci.group(2)) == int(sci.group(3)):
        body = sci.group(1) + sci.group(2)
    return body


def _e164(digits: str, region: str | None) -> str | None:
    """``digits`` as E.164 (``+`` and digits), read as international (``region`` None: ``digits`` hold the country
    code) or national in ``region``; ``None`` when libphonenumber cannot parse it or it is not a possible number."""
    try:
        number = phonenumbers.parse("+" + digits if region is None else digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_digits(text: str | None) -> str:
    """Only the digits of ``text`` (``"+49 (0)30 12"`` -> ``"4903012"``)."""
    return re.sub(r"\D", "", clean_text(text))
