"""Excel number formats: render a numeric cell the way Excel displays it, for the digit formats users put on phone
columns (``00000000000`` to show a leading 0, ``"+"0``, ``"+"00 0000 000000``, ``0#########``, Excel's "Special >
Phone Number" ``[<=9999999]###-####;(###) ###-####``).

The format-code syntax is the one of ECMA-376 Part 1 (Office Open XML), section 18.8.31 ``numFmts`` / 18.8.30
``numFmt`` (the same codes are stored in BIFF ``FORMAT`` records of ``.xls`` files, [MS-XLS] 2.4.126):

* up to four sections separated by ``;`` — positive; negative (shown without its minus sign); zero; text — or
  sections chosen by a condition in brackets (``[<=9999999]``);
* digit placeholders ``0`` (shows a zero when there is no digit), ``#`` (shows nothing), ``?`` (shows a space);
  digits beyond the placeholders go to the leftmost one;
* literals: ``"quoted text"``, ``\\x`` (one escaped character), ``_x`` (a space the width of ``x``), ``*x`` (fill:
  nothing here), the characters ``$ - + / ( ) : ! ^ & ' ~ { } < > =`` and space as they are, ``[$€-407]`` (currency
  text ``€``); ``[Red]``, ``[Color 10]`` and locale tags show nothing;
* ``.`` decimal point, ``,`` thousands separator between integer placeholders (or, after them, scaling by 1,000),
  ``%`` (× 100).

Not rendered (:meth:`NumberFormat.render` returns ``None``, the caller keeps its plain text): date and time codes,
scientific ``E+``, fractions, the text placeholder ``@`` in a numeric section, elapsed-time brackets.

Builtin formats (ids 0–163, ECMA-376 Part 1 18.8.30) hold no leading zeros nor literals a phone could need: only the
workbook's own ``numFmt`` entries are looked at (:func:`display_relevant`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

_LITERAL_CHARS = frozenset("$-+/():!^&'~{}<>= ")
_DATE_CHARS = frozenset("yYmMdDhHsSeEgGbBnN")  # also "E" of scientific and "General"; sorted out below
_CONDITION = re.compile(r"^(<=|>=|<>|<|>|=)\s*(-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)$")
_COLOR = re.compile(r"^(black|blue|cyan|green|magenta|red|white|yellow|colou?r\s*\d+)$", re.IGNORECASE)


class Unsupported(ValueError):
    """A format code the renderer does not handle (dates, scientific, fractions…)."""


@dataclass
class _Section:
    """One ``;``-separated section, tokenized.

    ``tokens``: ``("lit", text)``, ``("int", placeholder)``, ``("dec", placeholder)`` in display order;
    ``condition``: ``(operator, number)`` or ``None``; ``grouping``: a ``,`` between integer placeholders;
    ``scale``: trailing ``,`` count; ``percent``: number of ``%``; ``general``: the keyword ``General``.
    """

    tokens: list[tuple[str, str]] = field(default_factory=list)
    condition: tuple[str, float] | None = None
    grouping: bool = False
    scale: int = 0
    percent: int = 0
    general: bool = False
    text: bool = False  # holds "@": a text section

    @property
    def int_placeholders(self) -> list[str]:
        return [t for k, t in self.tokens if k == "int"]

    @property
    def decimals(self) -> int:
        return sum(1 for k, _ in self.tokens if k == "dec")

    @property
    def has_literal(self) -> bool:
        return any(k == "lit" and t.strip() for k, t in self.tokens)

    def whole_layout(self) -> tuple[str, tuple[tuple[str, int], ...], str, str] | None:
        """Precomputed layout for whole numbers: ``(pad, groups, first literal, trailing literal)`` where ``groups``
        are ``(literal before, placeholder count)`` after the first group, and ``pad`` holds, per placeholder, what
        shows when it gets no digit (``0``, space, or ``\x00`` for nothing). ``None`` when the section has decimals,
        percent, scaling, a decimal point or ``General`` (the general path renders those)."""
        if not self._whole_only():
            return None
        segments, trailing = _segments(self.tokens)
        placeholders = self.int_placeholders
        first_zero = _first_zero(placeholders)
        pad = "".join("\x00" if k < first_zero else (" " if p == "?" else "0") for k, p in enumerate(placeholders))
        groups = tuple((a, b) for a, b in segments[1:])
        return pad, groups, segments[0][0], trailing

    def _whole_only(self) -> bool:
        """Integer placeholders and literals only (no decimals, percent, scaling, decimal point, ``General``)."""
        plain = not (self.decimals or self.percent or self.scale or self.general)
        return plain and bool(self.int_placeholders) and all(k not in ("dot", "general") for k, _ in self.tokens)


def _first_zero(placeholders: list[str]) -> int:
    """Index of the first ``0``/``?`` placeholder (those left of it show nothing without a digit), or the count."""
    return next((k for k, p in enumerate(placeholders) if p in "0?"), len(placeholders))


def _segments(tokens: list[tuple[str, str]]) -> tuple[list[list], str]:
    """Integer tokens as ``[literal before, placeholder count]`` runs, and the literal text after the last run."""
    segments: list[list] = []
    lit: list[str] = []
    for kind, text in tokens:
        if kind == "lit":
            lit.append(text)
        elif segments and not lit:
            segments[-1][1] += 1
        else:
            segments.append(["".join(lit), 1])
            lit = []
    return segments, "".join(lit)


def _split_sections(code: str) -> list[str]:
    out, cur, i = [], [], 0
    while i < len(code):
        ch = code[i]
        if ch in '"[':  # a quoted literal or a [bracket] part: copied whole (a ";" inside does not split)
            j = code.find('"' if ch == '"' else "]", i + 1)
            j = len(code) - 1 if j < 0 else j
            cur.append(code[i:j + 1])
            i = j + 1
            continue
        if ch in "\\_*" and i + 1 < len(code):
            cur.append(code[i:i + 2])
            i += 2
            continue
        if ch == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


class _SectionParser:
    """Tokenizes one section's text into a :class:`_Section`: one method per kind of token, chosen by its first
    character through ``_HANDLERS``; a handler returns the index after its token, or ``None`` to let the character be
    read as the general case (:meth:`other`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.sec = _Section()
        self.seen_dot = False
        self.pending_commas = 0  # commas right after an integer placeholder: grouping if another placeholder follows

    def parse(self) -> _Section:
        i = 0
        while i < self.n:
            handler = _HANDLERS.get(self.text[i])
            j = handler(self, i) if handler is not None else None
            i = self.other(i) if j is None else j
        self.flush_commas(False)
        return self.sec

    def flush_commas(self, followed_by_int: bool) -> None:
        if self.pending_commas:
            if followed_by_int:
                self.sec.grouping = True
            else:
                self.sec.scale += self.pending_commas
            self.pending_commas = 0

    def literal(self, text: str) -> None:
        self.flush_commas(False)
        self.sec.tokens.append(("lit", text))

    def quoted(self, i: int) -> int:
        j = self.text.find('"', i + 1)
        j = self.n if j < 0 else j
        self.literal(self.text[i + 1:j])
        return j + 1

    def escaped(self, i: int) -> int | None:
        if i + 1 >= self.n:
            return None
        self.literal(self.text[i + 1])
        return i + 2

    def space(self, i: int) -> int | None:
        if i + 1 >= self.n:
            return None
        self.literal(" ")
        return i + 2

    def fill(self, i: int) -> int | None:
        return i + 2 if i + 1 < self.n else None  # fill character: repeats to the column width; nothing in a text

    def bracket(self, i: int) -> int:
        j = self.text.find("]", i + 1)
        end = j if j >= 0 else self.n
        inner = self.text[i + 1:end].strip()
        if inner.startswith("$"):
            currency = inner[1:].split("-", 1)[0]
            self.flush_commas(False)
            if currency:
                self.sec.tokens.append(("lit", currency))
            return end + 1
        m = _CONDITION.match(inner)
        if m:
            self.sec.condition = (m.group(1), float(m.group(2)))
        elif not (_COLOR.match(inner) or inner.lower().startswith(("dbnum", "natnum"))):
            raise Unsupported(f"bracket [{inner}]")  # [h], [mm], [ss]: elapsed time
        return end + 1

    def placeholder(self, i: int) -> int:
        ch = self.text[i]
        if self.seen_dot:
            self.sec.tokens.append(("dec", ch))
        else:
            self.flush_commas(True)
            self.sec.tokens.append(("int", ch))
        return i + 1

    def comma(self, i: int) -> int:
        toks = self.sec.tokens
        after_int = any(k == "int" for k, _ in toks) and (toks[-1][0] == "int" or self.pending_commas)
        if not self.seen_dot and after_int:
            self.pending_commas += 1
        else:
            toks.append(("lit", ","))
        return i + 1

    def dot(self, i: int) -> int:
        self.flush_commas(False)
        self.sec.tokens.append(("lit", ".") if self.seen_dot else ("dot", "."))
        self.seen_dot = True
        return i + 1

    def percent(self, i: int) -> int:
        self.sec.percent += 1
        self.literal("%")
        return i + 1

    def at(self, i: int) -> int:
        self.sec.text = True
        return i + 1

    def other(self, i: int) -> int:
        """``General``, the codes not rendered (raise :class:`Unsupported`), else one literal character (digits 1-9,
        letters Excel accepts unquoted show as they are)."""
        text, ch = self.text, self.text[i]
        if text[i:i + 7].lower() == "general":
            self.flush_commas(False)
            self.sec.general = True
            self.sec.tokens.append(("general", ""))
            return i + 7
        _refuse_unsupported(text, i, self.sec.int_placeholders)
        self.literal(ch)
        return i + 1


def _refuse_unsupported(text: str, i: int, int_placeholders: list[str]) -> None:
    """Raise :class:`Unsupported` when ``text[i:]`` starts scientific notation, a fraction or a date/time code."""
    ch, nxt = text[i], text[i + 1:i + 2]
    if ch in "eE" and nxt and nxt in "+-":
        raise Unsupported("scientific notation")
    if ch == "/" and int_placeholders and nxt and (nxt in "0#?" or nxt.isdigit()):
        raise Unsupported("fraction")
    if ch in _DATE_CHARS or text[i:i + 5].upper() == "AM/PM" or text[i:i + 3].upper() == "A/P":
        raise Unsupported("date or time code")


_HANDLERS = {
    '"': _SectionParser.quoted, "\\": _SectionParser.escaped, "_": _SectionParser.space, "*": _SectionParser.fill,
    "[": _SectionParser.bracket, "0": _SectionParser.placeholder, "#": _SectionParser.placeholder,
    "?": _SectionParser.placeholder, ",": _SectionParser.comma, ".": _SectionParser.dot,
    "%": _SectionParser.percent, "@": _SectionParser.at,
}


def _parse_section(text: str) -> _Section:
    """One section's text (ECMA-376 Part 1 18.8.31) as tokens; raises :class:`Unsupported` for codes not rendered."""
    return _SectionParser(text).parse()


@dataclass(frozen=True)
class NumberFormat:
    """A parsed number format code (see the module doc for the syntax, ECMA-376 Part 1 18.8.31)."""

    code: str
    sections: tuple[_Section, ...]
    _numeric: tuple[_Section, ...] = field(init=False, repr=False, compare=False)
    _conditional: bool = field(init=False, repr=False, compare=False)
    _layouts: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        numeric = tuple(s for s in self.sections if not (s.text and not s.int_placeholders and not s.general))
        object.__setattr__(self, "_numeric", numeric)
        object.__setattr__(self, "_conditional", any(s.condition for s in numeric))
        object.__setattr__(self, "_layouts", {id(s): s.whole_layout() for s in numeric})

    def _pick(self, value: float) -> tuple[_Section, bool] | None:
        """The section for ``value`` and whether a minus sign must be shown."""
        numeric = self._numeric
        if not numeric:
            return None
        if self._conditional:
            for s in numeric:
                if s.condition and _holds(value, s.condition):
                    return s, False
            rest = [s for s in numeric if s.condition is None]
            if not rest:
                return None
            return rest[0], value < 0 and len(numeric) == 1
        if value > 0 or len(numeric) == 1:
            return numeric[0], value < 0
        if value < 0:
            return numeric[1], False
        return (numeric[2] if len(numeric) >= 3 else numeric[0]), False

    def render(self, value: float | int, grouping: bool = True) -> str | None:
        """The text Excel shows for ``value`` under this format, or ``None`` when the section that applies holds
        something not rendered here (``General``, nothing numeric).

        Args:
            value: the cell's number.
            grouping: render thousands separators as ``,`` (Excel in an English locale); False leaves them out
                (phones: a grouped ``447,700,900,123`` would read as a list of numbers).
        """
        if isinstance(value, float) and not math.isfinite(value):
            return None
        picked = self._pick(value)
        if picked is None or picked[0].general:
            return None
        sec, minus = picked
        layout = self._layouts.get(id(sec))
        if layout is not None and not (grouping and sec.grouping) and (
                isinstance(value, int) or value.is_integer()):
            text = _render_whole(abs(int(value)), layout)
            return ("-" + text) if minus and value != 0 else text
        return _render_section(sec, value, minus, grouping)

    @property
    def shows_more_than_digits(self) -> bool:
        """True when an integer can show differently from its plain digits: literal text (``+``, spaces, dashes,
        parentheses) or zero padding (a ``0``/``?`` integer placeholder that is not the last one: ``00000``,
        ``0#########``) in a numeric section."""
        for s in self.sections:
            ph = s.int_placeholders
            if not ph:
                continue
            first_zero = _first_zero(ph)
            if s.has_literal or first_zero < len(ph) - 1:
                return True
        return False

    @property
    def integral(self) -> bool:
        """No decimals, percent or scaling in any section: an integer renders as whole digits."""
        return all(s.decimals == 0 and not s.percent and not s.scale for s in self.sections)


def _render_section(sec: _Section, value: float | int, minus: bool, grouping: bool) -> str:
    """``value`` through any numeric section: scaled (``%``, trailing ``,``), rounded half up to the section's
    decimals, digits onto the placeholders, then the tokens in order."""
    number = abs(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    number = number * (Decimal(100) ** sec.percent) / (Decimal(1000) ** sec.scale)
    decimals = sec.decimals
    number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    int_text, _, dec_text = f"{number:f}".partition(".")
    placeholders = sec.int_placeholders
    filled = _fill_placeholders(placeholders, int_text.lstrip("0"))
    if grouping and sec.grouping:
        filled = _group(filled)
    text = _assemble(sec.tokens, filled, dec_text.ljust(decimals, "0"))
    if not placeholders and not decimals:  # a literal-only section ("-" for zero, "n/a")
        return text
    return ("-" + text) if minus and number != 0 else text


def _fill_placeholders(placeholders: list[str], int_text: str) -> list[str]:
    """Integer digits right to left onto the placeholders (``0`` pads with 0, ``?`` with a space, ``#`` with
    nothing); the leftmost placeholder takes any surplus digits."""
    filled: list[str] = [""] * len(placeholders)
    digits = list(int_text)
    first_zero = _first_zero(placeholders)
    for k in range(len(placeholders) - 1, -1, -1):
        if digits:
            filled[k] = digits.pop()
        elif k >= first_zero:
            filled[k] = " " if placeholders[k] == "?" else "0"
    if digits and placeholders:
        filled[0] = "".join(digits) + filled[0]
    return filled


def _assemble(tokens: list[tuple[str, str]], filled: list[str], dec_text: str) -> str:
    """The section's tokens with the filled integer cells and the decimal digits (``#``/``?`` decimals drop
    trailing zeros)."""
    out: list[str] = []
    k_int = k_dec = 0
    for kind, text in tokens:
        if kind == "lit":
            out.append(text)
        elif kind == "int":
            out.append(filled[k_int])
            k_int += 1
        elif kind == "dot":
            out.append(".")
        elif kind == "dec":
            ch = dec_text[k_dec]
            if text != "0" and not dec_text[k_dec:].strip("0"):  # "#"/"?": no trailing zeros
                ch = " " if text == "?" else ""
            out.append(ch)
            k_dec += 1
    return "".join(out)


def _render_whole(n: int, layout: tuple[str, tuple[tuple[str, int], ...], str, str]) -> str:
    """A whole number ``n >= 0`` through a :meth:`_Section.whole_layout`: digits right to left onto the
    placeholders, surplus digits in the first group, missing ones from ``pad``."""
    pad, groups, first_lit, trailing = layout
    digits = str(n) if n else ""
    missing = len(pad) - len(digits)
    if missing > 0:
        digits = pad[:missing] + digits
    parts: list[str] = []
    end = len(digits)
    for lit, size in reversed(groups):
        parts.append(digits[end - size:end])
        parts.append(lit)
        end -= size
    parts.append(digits[:end])
    parts.append(first_lit)
    text = "".join(reversed(parts)) + trailing
    return text.replace("\x00", "") if "\x00" in text else text


def _holds(value: float, cond: tuple[str, float]) -> bool:
    op, ref = cond
    return {"<": value < ref, ">": value > ref, "=": value == ref, "<=": value <= ref, ">=": value >= ref,
            "<>": value != ref}[op]


def _group(filled: list[str]) -> list[str]:
    """Insert ``,`` every three digits counted from the right across the placeholder cells."""
    flat = "".join(filled)
    digits_total = sum(1 for ch in flat if ch.isdigit())
    out: list[str] = []
    seen = 0
    for cell in filled:
        piece = []
        for ch in cell:
            if ch.isdigit():
                remaining = digits_total - seen
                if seen and remaining % 3 == 0:
                    piece.append(",")
                seen += 1
            piece.append(ch)
        out.append("".join(piece))
    return out


@lru_cache(maxsize=512)
def parse_format(code: str) -> NumberFormat | None:
    """Parse an Excel number format code (ECMA-376 Part 1 18.8.31); ``None`` for codes not rendered here (dates,
    times, scientific, fractions, elapsed time) and for codes without any digit placeholder (``General``, ``@``)."""
    if not isinstance(code, str) or not code or len(code) > 255:  # Excel's limit for a format code
        return None
    try:
        sections = tuple(_parse_section(s) for s in _split_sections(code))
    except Unsupported:
        return None
    if not any(s.int_placeholders or s.decimals for s in sections):
        return None
    return NumberFormat(code, sections)


def render_number(value: float | int, code: str, grouping: bool = True) -> str | None:
    """``value`` as Excel displays it under format ``code``; ``None`` when the code is not rendered here.

    Examples: ``render_number(7700900456, "00000000000") == "07700900456"``,
    ``render_number(447700900123, '"+"00 0000 000000') == "+44 7700 900123"``,
    ``render_number(2025550171, "[<=9999999]###-####;(###) ###-####") == "(202) 555-0171"``.
    """
    fmt = parse_format(code)
    return fmt.render(value, grouping) if fmt else None


def display_relevant(code: str) -> NumberFormat | None:
    """The parsed format when it can change how a whole number reads beyond its plain digits — zero padding or
    literal text (a phone's leading ``0`` or ``+``, a zip code's zeros), no decimals/percent/scaling — else ``None``
    (``General``, ``0``, ``#,##0``, ``0.00``, dates…)."""
    fmt = parse_format(code)
    if fmt is None or not fmt.integral or not fmt.shows_more_than_digits:
        return None
    return fmt


__all__ = ["NumberFormat", "parse_format", "render_number", "display_relevant"]
