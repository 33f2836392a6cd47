"""Small text helpers shared by the rules and the readers."""
from __future__ import annotations

import re
import unicodedata

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
