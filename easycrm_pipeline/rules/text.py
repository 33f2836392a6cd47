"""Small text helpers shared by the rules and the readers, and the spreadsheet formula guard of exports
(:func:`neutralize_cell`) with its inverse for an export that comes back (:func:`unguard_cell`)."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

#: Invisible characters that sneak into cells copied from web pages / Excel (zero-width space/joiners, BOM, word
#: joiner, soft hyphen). Removed everywhere.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}]")
_WS_RE = re.compile(r"\s+")
#: Control characters that are not whitespace (NUL, SUB, ESC, DEL…): removed by :func:`clean_text`.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")

#: Cell values meaning "no value" for phone / notes / email columns (never for names or companies: case 13).
PLACEHOLDERS = frozenset({"", "na", "n/a", "n.a.", "n.a", "-", "--", "---", "none", "null", "nil", "nan", "#n/a", "?"})


def strip_invisible(text: str) -> str:
    """``text`` without zero-width characters and BOMs, NBSP/narrow NBSP turned into plain spaces."""
    return _INVISIBLE_RE.sub("", text).replace("\u00a0", " ").replace("\u202f", " ")


def clean_text(text: str | None) -> str:
    """Invisible and control characters removed, whitespace (incl. newlines) collapsed to one space, stripped;
    ``None`` -> ``""``."""
    if text is None:
        return ""
    text = str(text)
    if text.isascii() and text.isprintable() and "  " not in text:
        return text.strip()  # fast path: plain ASCII without control characters or double spaces
    return _WS_RE.sub(" ", _CONTROL_RE.sub("", strip_invisible(text))).strip()


def is_placeholder(text: str | None) -> bool:
    """True for empty text and the placeholders ``NA``, ``N/A``, ``n/a``, ``-``, ``none``, ``null``… (any case)."""
    return clean_text(text).casefold() in PLACEHOLDERS


def fold(text: str) -> str:
    """Case-folded, accent-free form used for insensitive comparisons (``"Téléphone"`` -> ``"telephone"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


#: Cell values that mean "no value" even in name and company columns: dashes, ``N/A``, Excel's ``#N/A``, pandas'
#: ``NaN``/``nan`` (exact case: ``Nan`` is a first name, case 13). ``NA``, ``None``, ``Null`` are not here: they are
#: surnames too (case 13) and are handled by the name rules.
BLANK_MARKERS = frozenset({
    "-", "--", "---", "–", "—", "?", "??", "???", ".", "n/a", "n.a.", "n.a", "#n/a", "#na", "#name?", "#value!",
    "#ref!", "#null!", "#div/0!", "unknown", "not provided", "not available", "not applicable", "tbd", "xxx",
})
#: A whole cell in brackets holding a placeholder word: ``[not provided]``, ``(unknown)``, ``<none>``, ``{blank}``.
_BRACKETED_BLANK = re.compile(
    r"^[\[(<{]\s*(?:not\s+provided|not\s+available|not\s+given|unknown|none|null|nil|n/?a|blank|empty|missing|"
    r"no\s+\w+|keine?\s*angabe|non\s+renseign[ée]|inconnu|desconocido|sin\s+datos)\s*[\])>}]$",
    re.IGNORECASE,
)


def is_blank_marker(text: str | None) -> bool:
    """True for an empty cell and for values that stand for "no value" in any column, names and companies included:
    ``-``, ``N/A``, ``#N/A``, ``NaN``, ``[not provided]``, ``(unknown)``… — but not ``NA``, ``None``, ``Null``
    (real surnames: handed case 13)."""
    cleaned = clean_text(text)
    if not cleaned or cleaned in ("NaN", "nan", "NAN"):
        return True
    return cleaned.casefold() in BLANK_MARKERS or bool(_BRACKETED_BLANK.match(cleaned))


def is_placeholder_cell(text: str | None) -> bool:
    """True when ``text`` is empty or any kind of placeholder (:func:`is_placeholder` or :func:`is_blank_marker`):
    what a row made only of such cells holds is no lead."""
    return is_placeholder(text) or is_blank_marker(text)


#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


#: A signed number such as an E.164 phone (``+4930111``, ``+1 532 344 1362``), ``-12`` or ``-1.5``: starts with a
#: trigger but cannot call a function (OWASP's concern is ``=HYPERLINK(...)``, ``+cmd|...``): exported as it is, so
#: CRM imports get the real phone.
_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d .]*")


def _blank(char: str) -> bool:
    """A character a spreadsheet may skip before reading a formula: whitespace (space, LF, CR, tab, NBSP...) or an
    invisible format character (zero-width space/joiners, word joiner, BOM: Unicode category Cf)."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def neutralize_cell(value: Any) -> str:
    """One cell as CSV text, inert in spreadsheets.

    ``None`` -> ``""``; other values -> ``str(value)``; text starting with one of :data:`FORMULA_TRIGGERS`
    (``=``, ``+``, ``-``, ``@``, tab, CR), or whose first non-blank character (after spaces, LF, CR, tab, NBSP,
    zero-width spaces: whitespace and Unicode Cf) is one of ``= + - @``, gets a leading ``'`` (OWASP CSV injection
    advice), e.g. ``'=HYPERLINK("http://x","y")'`` -> ``"'=HYPERLINK(\\"http://x\\",\\"y\\")"``, ``-2+3`` ->
    ``'-2+3``, ``"\\u200b=1+1"`` -> ``"'\\u200b=1+1"``; a plain signed number such as the E.164 phone ``+4930111``
    stays as it is (it cannot call anything, and a ``'`` would reach every CRM the CSV is imported into).
    """
    if value is None:
        return ""
    text = str(value)
    if text.startswith(("\t", "\r")) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    start = 0
    while start < len(text) and _blank(text[start]):
        start += 1
    if text[start:start + 1] in ("=", "+", "-", "@") and not _PLAIN_NUMBER.fullmatch(text[start:]):
        return "'" + text
    return text


def unguard_cell(text: str) -> str:
    """The value :func:`neutralize_cell` guarded, back: ``"'- called twice"`` -> ``"- called twice"``; any other
    text unchanged (``"'Tis"`` stays). Used on this table's own export coming back (``rules.headers.OWN_EXPORT_COLUMNS``),
    whose apostrophes the export added."""
    if text.startswith("'") and neutralize_cell(text[1:]) == text:
        return text[1:]
    return text

