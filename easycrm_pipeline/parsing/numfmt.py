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
        if self.decimals or self.percent or self.scale or self.general or not self.int_placeholders or any(
                k in ("dot", "general") for k, _ in self.tokens):
            return None
        segments: list[list] = []  # [literal before, count]
        lit: list[str] = []
        for kind, text in self.tokens:
            if kind == "lit":
                lit.append(text)
            elif segments and not lit:
                segments[-1][1] += 1
            else:
                segments.append(["".join(lit), 1])
                lit = []
        placeholders = self.int_placeholders
        first_zero = next((k for k, p in enumerate(placeholders) if p in "0?"), len(placeholders))
        pad = "".join("\x00" if k < first_zero else (" " if p == "?" else "0") for k, p in enumerate(placeholders))
        groups = tuple((a, b) for a, b in segments[1:])
        return pad, groups, segments[0][0], "".join(lit)


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


def _parse_section(text: str) -> _Section:
    sec = _Section()
    toks = sec.tokens
    i, n = 0, len(text)
    seen_dot = False
    pending_commas = 0  # commas right after an integer placeholder: grouping if another placeholder follows

    def flush_commas(followed_by_int: bool) -> None:
        nonlocal pending_commas
        if pending_commas:
            if followed_by_int:
                sec.grouping = True
            else:
                sec.scale += pending_commas
            pending_commas = 0

    while i < n:
        ch = text[i]
        if ch == '"':
            j = text.find('"', i + 1)
            if j < 0:
                j = n
            flush_commas(False)
            toks.append(("lit", text[i + 1:j]))
            i = j + 1
            continue
        if ch == "\\" and i + 1 < n:
            flush_commas(False)
            toks.append(("lit", text[i + 1]))
            i += 2
            continue
        if ch == "_" and i + 1 < n:
            flush_commas(False)
            toks.append(("lit", " "))
            i += 2
            continue
        if ch == "*" and i + 1 < n:
            i += 2  # fill character: repeats to the column width; nothing in a text value
            continue
        if ch == "[":
            j = text.find("]", i + 1)
            inner = text[i + 1:(j if j >= 0 else n)].strip()
            i = (j if j >= 0 else n) + 1
            if inner.startswith("$"):
                flush_commas(False)
                currency = inner[1:].split("-", 1)[0]
                if currency:
                    toks.append(("lit", currency))
                continue
            m = _CONDITION.match(inner)
            if m:
                sec.condition = (m.group(1), float(m.group(2)))
                continue
            if _COLOR.match(inner) or inner.lower().startswith(("dbnum", "natnum")):
                continue
            raise Unsupported(f"bracket [{inner}]")  # [h], [mm], [ss]: elapsed time
        if ch in "0#?":
            if seen_dot:
                toks.append(("dec", ch))
            else:
                flush_commas(True)
                toks.append(("int", ch))
            i += 1
            continue
        if ch == ",":
            if not seen_dot and any(k == "int" for k, _ in toks) and (not toks or toks[-1][0] == "int"
                                                                          or pending_commas):
                pending_commas += 1
            else:
                toks.append(("lit", ","))
            i += 1
            continue
        if ch == ".":
            flush_commas(False)
            if seen_dot:
                toks.append(("lit", "."))
            else:
                seen_dot = True
                toks.append(("dot", "."))
            i += 1
            continue
        if ch == "%":
            flush_commas(False)
            sec.percent += 1
            toks.append(("lit", "%"))
            i += 1
            continue
        if ch == "@":
            sec.text = True
            i += 1
            continue
        if text[i:i + 7].lower() == "general":
            flush_commas(False)
            sec.general = True
            toks.append(("general", ""))
            i += 7
            continue
        if ch in "eE" and i + 1 < n and text[i + 1] in "+-":
            raise Unsupported("scientific notation")
        if ch == "/" and any(k == "int" for k, _ in toks) and i + 1 < n and (text[i + 1] in "0#?" or
                                                                               text[i + 1].isdigit()):
            raise Unsupported("fraction")
        if ch in _DATE_CHARS or text[i:i + 5].upper() == "AM/PM" or text[i:i + 3].upper() == "A/P":
            raise Unsupported("date or time code")
        flush_commas(False)
        toks.append(("lit", ch))  # other characters (digits 1-9, letters Excel accepts unquoted) show as they are
        i += 1
    flush_commas(False)
    return sec


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
        if picked is None:
            return None
        sec, minus = picked
        if sec.general:
            return None
        layout = self._layouts.get(id(sec))
        if layout is not None and not (grouping and sec.grouping) and (
                isinstance(value, int) or value.is_integer()):
            text = _render_whole(abs(int(value)), layout)
            return ("-" + text) if minus and value != 0 else text
        number = abs(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
        number = number * (Decimal(100) ** sec.percent) / (Decimal(1000) ** sec.scale)
        decimals = sec.decimals
        number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        int_text, _, dec_text = f"{number:f}".partition(".")
        int_text = int_text.lstrip("0")
        dec_text = dec_text.ljust(decimals, "0")
        placeholders = sec.int_placeholders
        # integer digits, right to left onto the placeholders; the leftmost placeholder takes any surplus
        filled: list[str] = [""] * len(placeholders)
        digits = list(int_text)
        first_zero = next((k for k, p in enumerate(placeholders) if p in "0?"), len(placeholders))
        for k in range(len(placeholders) - 1, -1, -1):
            if digits:
                filled[k] = digits.pop()
            elif k >= first_zero:
                filled[k] = " " if placeholders[k] == "?" else "0"
        if digits and placeholders:
            filled[0] = "".join(digits) + filled[0]
        if grouping and sec.grouping:
            filled = _group(filled)
        out: list[str] = []
        k_int = k_dec = 0
        for kind, text in sec.tokens:
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
        if not placeholders and not decimals:  # a literal-only section ("-" for zero, "n/a")
            return "".join(out)
        text = "".join(out)
        return ("-" + text) if minus and number != 0 else text

    @property
    def shows_more_than_digits(self) -> bool:
        """True when an integer can show differently from its plain digits: literal text (``+``, spaces, dashes,
        parentheses) or zero padding (a ``0``/``?`` integer placeholder that is not the last one: ``00000``,
        ``0#########``) in a numeric section."""
        for s in self.sections:
            ph = s.int_placeholders
            if not ph:
                continue
            first_zero = next((k for k, p in enumerate(ph) if p in "0?"), len(ph))
            if s.has_literal or first_zero < len(ph) - 1:
                return True
        return False

    @property
    def integral(self) -> bool:
        """No decimals, percent or scaling in any section: an integer renders as whole digits."""
        return all(s.decimals == 0 and not s.percent and not s.scale for s in self.sections)


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
