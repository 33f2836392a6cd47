"""Email cells -> one normalized address (+ alternates and invalid leftovers for remarks).

Validation uses ``email-validator`` (https://github.com/JoshData/python-email-validator) with
``check_deliverability=False`` (no DNS); the kept form is its normalized address, lower-cased (the dedupe key).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from .text import clean_text, is_blank_marker, is_placeholder

_ANGLE = re.compile(r"<([^<>]*)>")
_MAILTO = re.compile(r"mailto:", re.IGNORECASE)
_SPLIT = re.compile(r"[;,\s]+")
_EMAILISH = re.compile(r"[^\s<>;,:\"'()\[\]]+@[^\s<>;,:\"'()\[\]]+")


@dataclass(frozen=True)
class EmailResult:
    """Outcome of :func:`normalize_email_cell`.

    Attributes:
        email: first valid address, lower-cased, or ``None``.
        extra: other valid addresses of the cell (lower-cased, distinct) -> remarks ``"alt email: x"``.
        invalid: address-like tokens that failed validation, as written (cleaned) -> remarks
            ``"invalid email in source: x"``.
        notes: words written next to the address (``x@example.com (do not email, left company)`` -> ``"do not
            email, left company"``; ``Jane <j@x.com> (old: jd@old.example)`` -> ``"old: jd@old.example"``) -> remarks
            ``"email note: …"``; an address inside a note is not repeated in ``extra``.
    """

    email: str | None
    extra: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _validated(token: str) -> str | None:
    try:
        info = validate_email(token, check_deliverability=False)
    except EmailNotValidError:
        return None
    return info.normalized.lower()


def _glued(token: str) -> list[str]:
    """``"a@x.com/b@y.com"`` -> both addresses: a token with several ``@`` split on ``/`` or ``|`` when every part
    holds an ``@`` (``/`` alone is legal in a local part, ``first/last@x.com`` stays one address)."""
    if token.count("@") < 2:
        return [token]
    parts = [p for p in re.split(r"[/|]", token) if p]
    return parts if len(parts) > 1 and all("@" in p for p in parts) else [token]


def normalize_email_cell(text: str | None) -> EmailResult:
    """Normalize one email cell (case 10 of the handed cases).

    Steps: remove zero-width characters / BOM / NBSP, drop ``mailto:``, take the addr-spec out of
    ``Name <addr>``, split several addresses on ``;``, ``,`` and whitespace (and on ``/`` / ``|`` between two
    addresses: ``a@x.com/b@y.com``), validate each, lower-case.
    Placeholders (``n/a``, ``none``, ``-``, ``[not provided]``…) and empty cells give ``EmailResult(None)``.

    Returns:
        :class:`EmailResult` — never raises.
    """
    cleaned = clean_text(text)
    if is_placeholder(cleaned) or is_blank_marker(cleaned):
        return EmailResult(None)
    cleaned = _MAILTO.sub(" ", cleaned)
    tokens, note_text = _tokens(cleaned)
    valid, invalid = _sort_tokens(tokens)
    if not valid and not invalid:
        # e.g. display name only, keep the whole text for the user
        invalid.append(cleaned)
    notes: list[str] = []
    note = _note(note_text, valid[0]) if valid else None
    if note:
        notes.append(note)
        lowered = note.lower()
        valid = [valid[0]] + [v for v in valid[1:] if v not in lowered]
    return EmailResult(valid[0] if valid else None, valid[1:], invalid, notes)


def _tokens(cleaned: str) -> tuple[list[str], str]:
    """``(candidate address tokens, the text a note is taken from)``. With ``Name <addr>`` brackets: the bracketed
    addresses plus any address written after the last bracket (``"<jane@x> (old: jd@y)"``), the note from that
    tail; the display names are not addresses. Without: every token of the cell, the note from the whole cell."""
    bracketed = _ANGLE.findall(cleaned)
    if bracketed:
        outside = cleaned[cleaned.rfind(">") + 1:]
        tokens = [t for b in bracketed for t in _SPLIT.split(b) if t]
        tokens += [t for t in _SPLIT.split(outside) if "@" in t]
    else:
        outside = cleaned
        tokens = [t for t in _SPLIT.split(cleaned) if t]
    return [part for t in tokens for part in _glued(t)], outside


def _sort_tokens(tokens: list[str]) -> tuple[list[str], list[str]]:
    """``(valid addresses normalized, without repeats; invalid ones)``: a token without ``@`` counts as invalid only
    when it is the cell's only token; quotes, brackets, a trailing dot and a ``?query`` are taken off first."""
    valid: list[str] = []
    invalid: list[str] = []
    for token in tokens:
        token = _bare_token(token)
        if not token:
            continue
        norm = _validated(token)
        if norm and norm not in valid:
            valid.append(norm)
        elif not norm and ("@" in token or len(tokens) == 1):
            invalid.append(token)
    return valid, invalid


def _bare_token(token: str) -> str:
    """A token without surrounding quotes/brackets, a trailing dot or a mailto query (``x@y.com?subject=Hi``)."""
    token = token.strip("\"'()[]<>").rstrip(".")
    if "?" in token and "@" in token.split("?", 1)[0]:
        token = token.split("?", 1)[0]
    return token


_NOTE_TRIM = " \t,;:.()[]{}<>\"'-–—/|"


def _note(text: str, primary: str) -> str | None:
    """The words of ``text`` around its addresses (``"(do not email, left company)"``), or ``None`` when only
    addresses and separators are there. The primary address is taken out; other addresses stay in the note."""
    without_all = _EMAILISH.sub(" ", text)
    if not _WORD.search(without_all):
        return None
    note = re.sub(re.escape(primary), " ", text, flags=re.IGNORECASE)
    note = re.sub(r"\(\s*\)|\[\s*\]", " ", note)
    note = clean_text(note).strip(_NOTE_TRIM)
    return note or None


_WORD = re.compile(r"[^\W\d_]{2,}")


def normalize_email_key(text: str | None) -> str | None:
    """The old system's email key (docs/old-system.md): trim, lower-case; empty / ``n/a`` / ``null`` / ``none`` ->
    ``None``.

    Zero-width characters and NBSP are removed as part of trimming. This is the key used to find an existing lead;
    it does not validate (see :func:`normalize_email_cell` for that).
    """
    if text is None:
        return None
    key = clean_text(text).lower()
    if key in ("", "n/a", "null", "none", "na", "-", "nan"):
        return None
    return key


def emails_in_text(text: str | None) -> set[str]:
    """Every valid address appearing anywhere in ``text`` (lower-cased); used to check DeepSeek answers."""
    cleaned = _MAILTO.sub(" ", clean_text(text))
    found: set[str] = set()
    for token in _EMAILISH.findall(cleaned):
        norm = _validated(token.strip(".!?"))
        if norm:
            found.add(norm)
    res = normalize_email_cell(text)
    if res.email:
        found.add(res.email)
    found.update(res.extra)
    return found
