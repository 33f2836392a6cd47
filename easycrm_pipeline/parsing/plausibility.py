"""Which reading of ambiguous bytes is the plausible one: UTF-8 or cp1252 (Windows-1252).

Many cp1252 byte pairs are also valid UTF-8: ``JOS\\xc9\\x92S`` is cp1252 ``JOSÉ’S`` and UTF-8 ``JOSɒS``. Both decode
strictly, so validity alone cannot decide. What decides is whether the characters are ones that occur in names,
companies and notes:

* a UTF-8 character is *plausible* when it is a Latin-1 / Latin Extended-A letter or symbol, a letter of Latin
  Extended Additional (Vietnamese), of the Latin Extended-B / IPA letters that living orthographies use (Romanian
  ``ș ț``, Pinyin ``ǎ``, Vietnamese ``ơ ư``, Pan-Nigerian and Ghanaian ``ɓ ɗ ƙ ƴ ɛ ɔ ə``…), a Greek, Cyrillic,
  Armenian, Hebrew or Arabic letter, common punctuation (``’ “ ” – — … • €``), a combining accent, or any letter,
  digit or punctuation from U+0900 up (Indic, Thai, CJK, Hangul, kana, emoji). Rare: C1 controls, the rest of IPA,
  spacing modifier letters, Latin Extended-B, Hebrew/Arabic points, Syriac, Thaana, NKo, box drawing, private use,
  unassigned code points.
* a cp1252 reading of one UTF-8 sequence (a letter ``À``–``ô`` followed by 1–3 of the bytes 0x80–0xBF) is
  *plausible* when those trailing characters are the punctuation, symbols or letters Windows text holds
  (``’ ” “ – — … € • « » °``, ``Š Œ Ž š œ ž Ÿ``…), not ``ˆ ˜ ¤ ¦ ¨ ¬ ¯ ´ ¸ ¶ ¹`` or a soft hyphen.

The classic sign of reading real UTF-8 as cp1252 — ``Ã©`` for ``é``, ``â€™`` for ``’`` — needs no rule of its own: the
UTF-8 reading of those bytes is a plausible character, and it wins.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Multi-byte UTF-8 sequences (well-formed lead + continuation bytes).
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
NON_ASCII = re.compile(r"[^\x00-\x7f]")

#: Latin Extended-B / IPA letters of living orthographies (see the module doc).
_EXT_B_LETTERS = frozenset(
    "ƁɓƊɗƘƙƳƴƐɛƆɔƎǝƏəƲʋƔɣƑƒƝɲƩʃƷʒ"  # African alphabets (Hausa, Ewe, Akan, Fula…), Azerbaijani
    "ƠơƯư"  # Vietnamese
    "ȘșȚț"  # Romanian
    "ǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜ"  # Pinyin
    "ǄǅǆǇǈǉǊǋǌ"  # Croatian digraphs
    "ǺǻǼǽǾǿ"  # Danish/Norwegian
    "ʻʼ"  # Hawaiian ʻokina, modifier apostrophe
)
#: Arabic-script letters beyond the basic block used by Persian and Urdu.
_ARABIC_EXTRA = frozenset("پچژکگیہھےٹڈڑں")
#: Punctuation/symbols of General Punctuation and around that text holds.
_COMMON_PUNCT = frozenset("‐‑‒–—―‘’‚‛“”„‟†‡•‣․‥…‧‰′″‹›€₤₹₽₺₩₪₫№™℃℅←→")
#: cp1252 characters of the bytes 0x80–0xBF that are unusual in names, companies and notes.
_RARE_CP1252_TAIL = frozenset("ˆ˜¤¦¨¬\xad¯´¸¶¹ƒ")
#: cp1252 characters of the bytes 0x80–0xBF (what a UTF-8 continuation byte reads as in cp1252).
_CP1252_TAIL = frozenset(bytes(range(0x80, 0xC0)).decode("cp1252", errors="ignore"))


def _never(ch: str, cp: int) -> bool:
    return False


def _always(ch: str, cp: int) -> bool:
    return True


def _ext_b_letter(ch: str, cp: int) -> bool:
    return ch in _EXT_B_LETTERS


def _letter(ch: str, cp: int) -> bool:
    return unicodedata.category(ch)[0] == "L"


def _letter_or_punct(ch: str, cp: int) -> bool:
    return unicodedata.category(ch)[0] in "LP"


def _hebrew(ch: str, cp: int) -> bool:
    return 0x5D0 <= cp <= 0x5F4 or cp == 0x5BE  # letters and maqaf/geresh, not cantillation marks


def _arabic(ch: str, cp: int) -> bool:
    return 0x621 <= cp <= 0x64A or 0x660 <= cp <= 0x669 or ch in _ARABIC_EXTRA or ch in "،؛؟"


def _general_punctuation(ch: str, cp: int) -> bool:
    """The common marks, the spaces U+2000–U+200A, U+202F and the line/paragraph separators, zero-width characters."""
    return ch in _COMMON_PUNCT or 0x2000 <= cp <= 0x200A or cp in (0x200B, 0x200C, 0x200D, 0x2060, 0x202F, 0x2028,
                                                                  0x2029)


#: ``(first, last code point, test)`` of the blocks :func:`plausible_char` judges by a rule of their own; any other
#: character is plausible when it is a letter, digit, punctuation, symbol, combining mark or space.
_BLOCKS = (
    (0x00, 0x7F, _always),  # ASCII
    (0x80, 0x9F, _never),  # C1 controls
    (0xA0, 0x17F, _always),  # Latin-1 Supplement, Latin Extended-A
    (0x180, 0x2FF, _ext_b_letter),  # Latin Extended-B, IPA, spacing modifiers
    (0x300, 0x36F, _always),  # combining accents (decomposed text from macOS)
    (0x370, 0x52F, _letter),  # Greek, Cyrillic (+ supplement)
    (0x530, 0x58F, _letter_or_punct),  # Armenian
    (0x590, 0x5FF, _hebrew),
    (0x600, 0x6FF, _arabic),
    (0x700, 0x8FF, _never),  # Syriac, Thaana, NKo, Samaritan, Mandaic…
    (0x1E00, 0x1EFF, _always),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x206F, _general_punctuation),
    (0x2500, 0x259F, _never),  # box drawing, block elements
    (0xE000, 0xF8FF, _never),  # private use
    (0xFEFF, 0xFEFF, _always),  # BOM / zero-width no-break space
    (0xF0000, 0x10FFFF, _never),  # private use planes
)


@lru_cache(maxsize=4096)
def plausible_char(ch: str) -> bool:
    """True when the non-ASCII character ``ch`` is one that names, companies and notes hold (module doc): the rule
    of its block in :data:`_BLOCKS`, else its Unicode category (letter, digit, punctuation, symbol, mark, space)."""
    cp = ord(ch)
    for first, last, test in _BLOCKS:
        if first <= cp <= last:
            return test(ch, cp)
    cat = unicodedata.category(ch)
    return cat[0] in "LNPS" or cat in ("Mn", "Mc", "Zs")


def plausible_cp1252_sequence(chars: str) -> bool:
    """True when ``chars`` — the cp1252 reading of one multi-byte UTF-8 sequence — looks like Windows text: a
    letter followed by punctuation, symbols or letters that are not rare (module doc)."""
    return (len(chars) >= 2 and chars[0].isalpha()
            and all(c in _CP1252_TAIL and c not in _RARE_CP1252_TAIL for c in chars[1:]))


#: Ranges :func:`plausible_char` accepts whole: Latin-1 Supplement and Extended-A, combining accents, Greek and
#: Cyrillic letters, Hebrew and basic Arabic letters, Latin Extended Additional, kana, CJK ideographs, Hangul, and the
#: cp1252 punctuation (’ “ ” – — … € ™…).
CLEAR_RANGES = (
    "\x00-\x7f\xa0-\u017f\u0300-\u036f\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03ce\u0400-\u0481"
    "\u048a-\u052f\u05d0-\u05ea\u0621-\u063a\u0641-\u064a\u1e00-\u1eff\u3041-\u3096\u30a1-\u30fa"
    "\u4e00-\u9fff\uac00-\ud7a3\u2013\u2014\u2018\u2019\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030"
    "\u2039\u203a\u20ac\u2122"
)
_SUSPECT = re.compile(f"[^{CLEAR_RANGES}]")


def utf8_text_is_plausible(text: str) -> bool:
    """True when every non-ASCII character of ``text`` is :func:`plausible_char` whatever its context. The Latin
    Extended-B / IPA letters of living orthographies (``ɔ ɛ ɗ ə``…) are not: their plausibility depends on the letters
    around them (:func:`prefer_cp1252`), since the cp1252 pairs ``É”``, ``É›``, ``É—``, ``É™`` read as those letters.

    Fast on large files: characters of :data:`CLEAR_RANGES` are skipped by one regular expression, the others are
    checked once each.
    """
    if text.isascii():
        return True
    seen: set[str] = set()
    for m in _SUSPECT.finditer(text):
        ch = m.group()
        if ch not in seen:
            if not plausible_char(ch) or ch in _EXT_B_LETTERS:
                return False
            seen.add(ch)
    return True


def _case_fits(line: bytes, start: int, end: int, ch: str) -> bool:
    """A lower-case letter right after an upper-case ASCII letter and not followed by a lower-case one (``RENɔ,``)
    is how an ALL-CAPS cp1252 ``RENÉ”`` reads as UTF-8; ``Kɔfi`` and ``ƆBENG`` fit."""
    if not ch.islower() or start == 0:
        return True
    before = line[start - 1:start]
    after = line[end:end + 1]
    return not (before.isupper() and before.isalpha() and not (after.islower() and after.isalpha()))


def prefer_cp1252(line: bytes, cp1252_elsewhere: bool) -> bool:
    """For a line that decodes both as UTF-8 and as cp1252: True when the cp1252 reading is the plausible one.

    Each multi-byte UTF-8 sequence of the line votes: for UTF-8 when its character is plausible (for the Latin
    Extended-B / IPA letters: also in its letter case context); for cp1252 when not and the cp1252 reading of the
    same bytes is plausible; undecided when both readings are odd.
    cp1252 wins with more votes than UTF-8; undecided sequences count for cp1252 only when ``cp1252_elsewhere``
    (other lines of the file are cp1252-only, i.e. not UTF-8 at all).
    """
    utf = cp = odd = 0
    for m in UTF8_MULTIBYTE.finditer(line):
        seq = m.group()
        try:
            as_utf8 = seq.decode("utf-8")
            as_cp1252 = seq.decode("cp1252")
        except UnicodeDecodeError:
            return False
        if plausible_char(as_utf8) and (as_utf8 not in _EXT_B_LETTERS
                                        or _case_fits(line, m.start(), m.end(), as_utf8)):
            utf += 1
        elif plausible_cp1252_sequence(as_cp1252):
            cp += 1
        else:
            odd += 1
    if cp1252_elsewhere:
        cp += odd
    return cp > utf


#: What cp1251's Cyrillic letters (bytes 0xC0-0xFF, Ё 0xA8, ё 0xB8) read as in cp1252 / Latin-1.
_CP1251_LETTERS_AS_CP1252 = re.compile("[\u00c0-\u00ff\u00a8\u00b8]+")


def prefer_cp1251(text: str) -> bool:
    """For bytes decoded as cp1252 (or Latin-1): True when they are Russian / Ukrainian / Bulgarian text in cp1251,
    Russian Excel's "CSV" default (``Èìÿ;Ôàìèëèÿ`` is ``Имя;Фамилия``).

    cp1251 puts the Cyrillic letters on the bytes where cp1252 has its accented Latin letters (``À``-``ÿ``), so every
    Cyrillic word reads as a run of accented letters. Western text has its accented letters one or two at a time
    between ASCII letters (``José``, ``Müller``, ``Þórður``); a run of three or more is rare. True when at least
    twelve such characters are read and at least half of them stand in runs of three or more."""
    total = in_runs = 0
    for m in _CP1251_LETTERS_AS_CP1252.finditer(text):
        n = m.end() - m.start()
        total += n
        if n >= 3:
            in_runs += n
    return total >= 12 and in_runs * 2 >= total


__all__ = [
    "CLEAR_RANGES", "NON_ASCII", "UTF8_MULTIBYTE", "plausible_char", "plausible_cp1252_sequence", "prefer_cp1251",
    "prefer_cp1252", "utf8_text_is_plausible",
]
