"""Person names: casing and full-name splitting.

Casing (handed cases 11 and 13): ALL-CAPS or all-lower names are title-cased (``O'Neil``, ``McDonald``, ``Ruiz-Vega``,
particles ``de``/``del``/``van``… lower inside a name), mixed case is kept as given, diacritics are never added or
removed. Splitting uses ``nameparser`` (https://nameparser.readthedocs.io) with a restricted honorific list.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from nameparser import HumanName
from nameparser.config import Constants

from .text import clean_text, is_blank_marker

#: Particles written lower-case inside a name ("Maria del Carmen", "Jan van der Berg").
PARTICLES = frozenset({
    "de", "del", "della", "der", "den", "van", "von", "da", "das", "do", "dos", "di", "du", "la", "le", "y", "zu",
    "ten", "ter", "bin", "binti", "ibn",
})
_ROMAN = re.compile(r"^(?:ii|iii|iv|vi|vii|viii|ix)$", re.IGNORECASE)

#: Honorifics moved to remarks (``honorific: Dr.``); other words nameparser calls titles stay part of the name.
HONORIFICS = frozenset({
    "dr", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "sir", "dame", "herr", "frau", "m", "mme", "mlle",
    "sr", "sra", "srta", "don", "doña", "dona", "ing", "dipl", "mag", "rev", "fr",
})
_CONSTANTS = Constants(titles=HONORIFICS)


def _cap_piece(piece: str) -> str:
    if not piece:
        return piece
    low = piece.lower()
    if low.startswith("mc") and len(low) > 2:
        return "Mc" + low[2].upper() + low[3:]
    return low[0].upper() + low[1:]


def _cap_word(word: str, first: bool) -> str:
    low = word.lower()
    if not first and low in PARTICLES:
        return low
    if _ROMAN.match(word):
        return word.upper()
    # split on hyphens and apostrophes (straight and curly), capitalise each piece
    parts = re.split(r"([-'’])", low)
    out = []
    for i, p in enumerate(parts):
        if p in ("-", "'", "’"):
            out.append(p)
        elif i >= 2 and parts[i - 1] in ("'", "’") and len(parts[i - 2]) > 1:
            out.append(p)  # "don't"-like inner apostrophe after a long piece: leave lower
        else:
            out.append(_cap_piece(p))
    return "".join(out)


def title_case_name(text: str) -> str:
    """Title-case a name written ALL-CAPS or all-lower: ``"O'NEIL"`` -> ``"O'Neil"``, ``"maria del carmen"`` ->
    ``"Maria del Carmen"``, ``"RUIZ-VEGA"`` -> ``"Ruiz-Vega"``, ``"MCDONALD"`` -> ``"McDonald"``. Text with any
    mixed-case letters is returned unchanged (only whitespace is collapsed)."""
    text = clean_text(text)
    if not needs_casing(text):
        return text
    words = text.split(" ")
    return " ".join(_cap_word(w, i == 0) for i, w in enumerate(words))


def needs_casing(text: str) -> bool:
    """True when ``text`` has letters and they are all upper-case or all lower-case."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    return all(c.isupper() for c in letters) or all(c.islower() for c in letters)


@dataclass(frozen=True)
class NameParts:
    """Result of :func:`split_full_name`: ``first`` (given + middle names), ``last`` (surname + suffix such as
    ``Jr.``), ``remarks`` (``honorific: Dr.``, ``single-token name``)."""

    first: str | None
    last: str | None
    remarks: list[str] = field(default_factory=list)


def split_full_name(text: str | None) -> NameParts:
    """Split a full-name cell into first and last name (handed case 11).

    ``"Dr. Maria del Carmen Ruiz-Vega"`` -> ``("Maria del Carmen", "Ruiz-Vega", ["honorific: Dr."])``;
    ``"Ng, Wei Jie"`` -> ``("Wei Jie", "Ng")``; ``"JOHN SMITH JR."`` -> ``("JOHN", "SMITH JR.")`` (casing is applied
    by the caller); ``"Prince"`` -> ``("Prince", None, ["single-token name"])``. Never raises.
    """
    cleaned = clean_text(text)
    if not cleaned:
        return NameParts(None, None)
    remarks: list[str] = []
    if " " not in cleaned.strip(", ") and "," not in cleaned.strip(", "):
        return NameParts(cleaned.strip(", "), None, ["single-token name"])
    name = HumanName(cleaned, constants=_CONSTANTS)
    if name.title:
        remarks.append(f"honorific: {name.title}")
    first_parts = [p for p in (name.first, name.middle) if p]
    given, last = _given_particles(name.last)
    if given:
        first_parts.append(given)
    if name.suffix:
        last = f"{last} {name.suffix}".strip() if last else name.suffix
    return _name_parts(" ".join(first_parts) or None, last or None, remarks, cleaned)


def _given_particles(last: str) -> tuple[str | None, str]:
    """``(words moved to the given name, surname left)``. nameparser glues ``"del Carmen Ruiz-Vega"`` into the
    surname: a particle group followed by two or more words belongs to the given name (Spanish compound first
    names); ``"van der Berg"`` / ``"de la Cruz"`` stay surnames (``(None, last)``)."""
    words = last.split(" ") if last else []
    k = 0
    while k < len(words) and words[k].lower() in PARTICLES:
        k += 1
    if 0 < k and len(words) - k >= 2:
        return " ".join(words[: k + 1]), " ".join(words[k + 1:])
    return None, last


def _name_parts(first: str | None, last: str | None, remarks: list[str], cleaned: str) -> NameParts:
    """The split, with ``unparsed name`` when nothing is left and ``single-token name`` when only one part is."""
    if first is None and last is None:
        return NameParts(None, None, remarks + [f"unparsed name: {cleaned}"])
    if first is None or last is None:
        only = first or last
        return NameParts(only, None, remarks + ["single-token name"])
    return NameParts(first, last, remarks)


#: Degrees, certifications and post-nominals that leave a name field (compared without dots, case-sensitive so the
#: surname ``Ma`` is not the degree ``MA``). Sources: common English/German post-nominal letters and certifications.
CREDENTIALS = frozenset({
    "MBA", "PMP", "DVM", "PhD", "PHD", "MD", "DDS", "DMD", "JD", "LLM", "LLB", "CPA", "CFA", "CMA", "CIA", "CISA",
    "CISSP", "CISM", "CCNA", "CCNP", "MCSE", "ITIL", "CSM", "CSPO", "CAPM", "PE", "CEng", "MEng", "BEng", "MSc",
    "BSc", "MS", "BS", "MA", "BA", "MPH", "MPA", "MFA", "EdD", "PsyD", "PharmD", "RN", "NP", "PA-C", "Esq",
    "FACS", "FRCS", "MRCP", "SHRM-CP", "SHRM-SCP", "SPHR", "PHR", "CFP", "CHRP", "CPP", "PMI-ACP", "SAFe",
    "MBE", "OBE", "CBE", "KBE", "FCA", "ACA", "ACCA", "CIMA", "Dipl-Ing", "Dipl-Kfm", "Dr-Ing", "MdB",
})
#: Honorifics taken off the front of a first/last/full name field (without dots, case-insensitive); the ones that
#: are also given names (``Don``, ``Sir``…) only when written with a dot.
HONORIFIC_PREFIXES = frozenset({
    "dr", "prof", "professor", "mr", "mrs", "ms", "mx", "herr", "frau", "mme", "mlle", "sra", "srta", "rev",
    "dipl-ing", "dr-ing", "drmed", "profdr",
})
_DOTTED_ONLY = frozenset({"sr", "don", "m", "fr", "ing", "dipl", "mag", "miss", "sir", "dame"})
_EMAIL_ONLY = re.compile(r"^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$")


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x2B00 <= cp <= 0x2BFF or cp in (0xFE0F, 0x20E3)
            or 0x1F1E6 <= cp <= 0x1F1FF or unicodedata.category(ch) == "So")


def _bare(token: str) -> str:
    return token.replace(".", "").strip(",;")


@dataclass(frozen=True)
class NameCell:
    """Result of :func:`clean_name_cell`: ``name`` (what is left for the name field, may be ``""``), ``remarks``
    (``honorific: Dr.``, ``credentials: MBA, PMP``, ``emoji in name: 🍀``) and ``email`` (an address written in a
    name column, which is not a name)."""

    name: str
    remarks: tuple[str, ...] = ()
    email: str | None = None


def clean_name_cell(text: str | None) -> NameCell:
    """Clean one first/last/full-name cell: placeholders (``-``, ``N/A``, ``#N/A``, ``NaN``, ``[not provided]``)
    -> ``""``; an email address -> ``email`` (not a name); emoji removed; a leading honorific (``Dr. Anna`` ->
    ``Anna``) and degrees/certifications after the name (``Beispiel, MBA, PMP`` -> ``Beispiel``, ``Max Muster DVM`` ->
    ``Max Muster``) moved to ``remarks``. ``NA``/``None``/``Null`` stay (surnames, handed case 13). Never raises."""
    cleaned = clean_text(text)
    if is_blank_marker(cleaned):
        return NameCell("")
    if "@" in cleaned and _EMAIL_ONLY.match(cleaned.strip("<>()[] ")):
        return NameCell("", email=cleaned.strip("<>()[] "))
    if cleaned.isalpha():
        return NameCell(cleaned)  # one plain word: nothing to take off
    remarks: list[str] = []
    cleaned, emoji = _without_emoji(cleaned)
    if emoji:
        remarks.append(f"emoji in name: {emoji}")
    cleaned, creds = _comma_credentials(cleaned)
    words = cleaned.split(" ")
    creds = _trailing_credentials(words) + creds
    honorific = _leading_honorifics(words)
    if honorific:
        remarks.insert(0, f"honorific: {' '.join(honorific)}")
    if creds:
        remarks.append(f"credentials: {', '.join(c.rstrip(',') for c in creds)}")
    name = " ".join(words).strip(" ,")
    if not name and cleaned:
        return NameCell(cleaned, tuple(remarks))
    return NameCell(name, tuple(remarks))


def _without_emoji(cleaned: str) -> tuple[str, str]:
    """``(text without emoji, the emoji removed)`` (variation selectors dropped from the second)."""
    emoji = "" if cleaned.isascii() else "".join(ch for ch in cleaned if _is_emoji(ch))
    if not emoji:
        return cleaned, ""
    return clean_text("".join(ch for ch in cleaned if not _is_emoji(ch))), emoji.replace(chr(0xFE0F), "")


def _comma_credentials(cleaned: str) -> tuple[str, list[str]]:
    """``", MBA, PMP"``: comma parts after the first made only of credentials, taken off; ``(rest, credentials)``."""
    parts = [p.strip() for p in cleaned.split(",")]
    if len(parts) <= 1:
        return cleaned, []
    creds: list[str] = []
    kept = [parts[0]]
    for p in parts[1:]:
        words = p.split()
        if words and all(_bare(w) in CREDENTIALS for w in words):
            creds.extend(words)
        else:
            kept.append(p)
    return ", ".join(k for k in kept if k), creds


def _trailing_credentials(words: list[str]) -> list[str]:
    """Credentials popped off the end of ``words`` (in place), in their order. In a shouted name a two-letter word
    is a surname, not a degree (``"WEI MA"``: Ma)."""
    creds: list[str] = []
    while len(words) > 1 and _bare(words[-1]) in CREDENTIALS and not (
            len(_bare(words[-1])) <= 2 and needs_casing(" ".join(words[:-1]))):
        creds.insert(0, words.pop().rstrip(","))
    return creds


def _leading_honorifics(words: list[str]) -> list[str]:
    """Honorifics popped off the front of ``words`` (in place); the ones that are also given names only with a dot."""
    honorific: list[str] = []
    while len(words) > 1:
        key = _bare(words[0]).casefold()
        if not (key in HONORIFIC_PREFIXES or (key in _DOTTED_ONLY and words[0].endswith("."))):
            break
        honorific.append(words.pop(0))
    return honorific
