"""Person names: casing and full-name splitting.

Casing (handed cases 11 and 13): ALL-CAPS or all-lower names are title-cased (``O'Neil``, ``McDonald``, ``Ruiz-Vega``,
particles ``de``/``del``/``van``… lower inside a name), mixed case is kept as given, diacritics are never added or
removed. Splitting uses ``nameparser`` (https://nameparser.readthedocs.io) with a restricted honorific list.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from nameparser import HumanName
from nameparser.config import Constants

from .text import clean_text

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
    last = name.last
    # nameparser glues "del Carmen Ruiz-Vega" into the surname: a particle group followed by two or more words belongs
    # to the given name (Spanish compound first names), "van der Berg" / "de la Cruz" stay surnames.
    words = last.split(" ") if last else []
    k = 0
    while k < len(words) and words[k].lower() in PARTICLES:
        k += 1
    if 0 < k and len(words) - k >= 2:
        first_parts.append(" ".join(words[: k + 1]))
        last = " ".join(words[k + 1:])
    if name.suffix:
        last = f"{last} {name.suffix}".strip() if last else name.suffix
    first = " ".join(first_parts) or None
    last = last or None
    if first is None and last is None:
        return NameParts(None, None, remarks + [f"unparsed name: {cleaned}"])
    if first is None or last is None:
        only = first or last
        return NameParts(only, None, remarks + ["single-token name"])
    return NameParts(first, last, remarks)
