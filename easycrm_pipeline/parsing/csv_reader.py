"""CSV / delimited-text reader: encoding detection, delimiter sniffing, quoted records, header detection.

Encodings tried (handed cases 01, 02): a BOM decides (UTF-8 BOM -> ``utf-8-sig``; UTF-16/32 BOM -> ``utf-16`` /
``utf-32``, the Excel "Unicode text" export), BOM-less UTF-16 is recognised by its NUL bytes, then strict ``utf-8``,
``utf-8+cp1252`` (a file glued from a UTF-8 and a Windows export: each line decoded strictly), strict ``cp1252``
(Windows Excel "CSV"; ``cp1251`` instead when the text reads as Cyrillic mojibake, :func:`~.plausibility.prefer_cp1251`),
and ``latin-1`` as the last resort. Nothing is decoded with ``errors="replace"``.

Bytes that are valid both ways are decided by plausibility (:mod:`.plausibility`): cp1252 ``JOSÉ’S`` is also valid
UTF-8 (``JOSɒS``). A valid UTF-8 file whose characters are all plausible is ``utf-8``; otherwise each line holding
rare characters is weighed, and the lines whose cp1252 reading is the plausible one are decoded as cp1252 (all of
them: ``cp1252``; some: ``utf-8+cp1252``). In a file that is not UTF-8 as a whole, a line valid both ways is decoded
the plausible way too, with the other (cp1252-only) lines counting as evidence for cp1252. Delimiters sniffed among ``,`` ``;`` tab ``|`` on the first 64 KB and validated (more than one
column, the same field count on most records). Parsing is the stdlib ``csv`` module; every cell stays text.
"""
from __future__ import annotations

import csv
import functools
import io
import re
from typing import Iterator

from ..models import ParsedFile
from .errors import BINARY, EMPTY, HEADER_ONLY, FileRejected, no_header
from .plausibility import UTF8_MULTIBYTE, prefer_cp1251, prefer_cp1252, utf8_text_is_plausible
from ..models import RawRow, SheetReport
from .table import SheetResult, build_sheet, iter_sheet

csv.field_size_limit(2**31 - 1)

DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BINARY_MAGIC = (
    b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"\x7fELF", b"BZh",
    b"MZ", b"\x00\x00\x01\x00", b"OggS", b"ID3", b"RIFF", b"SQLite format 3",
)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a text file: ``(text, encoding used)``; see the module doc for the order.

    Raises:
        FileRejected: binary content (NUL runs or more than one NUL byte per 1,000 characters in 8-bit text, control
            characters, known binary signatures); isolated NUL bytes are left for the reader to remove.
    """
    if data.startswith(_BINARY_MAGIC):
        raise FileRejected(BINARY)
    text, encoding = next(r for r in (_DECODERS.get(enc, _strict)(data, enc) for enc in _candidates(data)) if r)
    if encoding in ("cp1252", "latin-1") and prefer_cp1251(text[:SNIFF_CHARS]):
        try:
            text, encoding = data.decode("cp1251"), "cp1251"  # Russian Excel's "CSV" (breaker finding 7)
        except UnicodeDecodeError:
            pass
    if text.startswith("\ufeff"):
        text = text[1:]
    _refuse_binary_text(text[:SNIFF_CHARS])
    return text, encoding


def _candidates(data: bytes) -> list[str]:
    """The encodings to try, in order: the BOM's (or BOM-less UTF-16 told by its NUL bytes), then ``utf-8``,
    ``utf-8+cp1252``, ``cp1252`` and ``latin-1`` (which decodes anything)."""
    if data.startswith(b"\xef\xbb\xbf"):
        first = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        first = ["utf-32"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        first = ["utf-16"]
    else:
        first = _bomless_utf16(data[:4096])
    return first + ["utf-8", "utf-8+cp1252", "cp1252", "latin-1"]


def _bomless_utf16(sample: bytes) -> list[str]:
    """``["utf-16-le"]`` / ``["utf-16-be"]`` when NUL bytes fill the odd / even positions of ``sample``, else ``[]``."""
    if len(sample) < 4:
        return []
    even_nul = sample[0::2].count(0) / max(1, len(sample[0::2]))
    odd_nul = sample[1::2].count(0) / max(1, len(sample[1::2]))
    if odd_nul > 0.3 and even_nul < 0.05:
        return ["utf-16-le"]
    if even_nul > 0.3 and odd_nul < 0.05:
        return ["utf-16-be"]
    return []


def _strict(data: bytes, enc: str) -> tuple[str, str] | None:
    """``data`` decoded strictly as ``enc``; ``None`` when it is not valid in it."""
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError:
        return None


def _utf8(data: bytes, enc: str) -> tuple[str, str] | None:
    """Strict UTF-8, then weighed line by line when some characters are implausible (:func:`_weigh_valid_utf8`)."""
    decoded = _strict(data, "utf-8")
    if decoded is None or utf8_text_is_plausible(decoded[0]):
        return decoded
    return _weigh_valid_utf8(data, decoded[0])


def _mixed(data: bytes, enc: str) -> tuple[str, str] | None:
    text = _decode_mixed(data)
    return None if text is None else (text, enc)


#: Encoding name -> how it is tried (``_strict`` for the others): ``(text, encoding)`` or ``None`` to try the next.
_DECODERS = {"utf-8": _utf8, "utf-8+cp1252": _mixed}


def _refuse_binary_text(sample_text: str) -> None:
    """Raise :class:`FileRejected` (binary) for NUL runs, many NULs or control characters. A stray NUL byte
    (database dumps leave them) is no binary: build_sheet removes it and counts it."""
    nuls = sample_text.count("\x00")
    if (nuls > max(3, len(sample_text) // 1000) or (nuls and "\x00\x00" in sample_text)
            or len(_CONTROL.findall(sample_text)) > max(2, len(sample_text) // 100)):
        raise FileRejected(BINARY)


def _weigh_valid_utf8(data: bytes, text: str) -> tuple[str, str]:
    """A file valid as UTF-8 with some rare characters: keep ``utf-8`` unless lines read better as cp1252.

    Returns ``(text, encoding)``: ``utf-8`` (no line flips), ``cp1252`` (every line with non-ASCII bytes flips and the
    whole file is valid cp1252) or ``utf-8+cp1252`` (some lines flip).
    """
    lines = data.splitlines(keepends=True)
    flips = [False] * len(lines)
    non_ascii = 0
    for i, line in enumerate(lines):
        if not UTF8_MULTIBYTE.search(line):
            continue
        non_ascii += 1
        if utf8_text_is_plausible(line.decode("utf-8")):
            continue
        try:
            line.decode("cp1252")
        except UnicodeDecodeError:
            continue
        flips[i] = prefer_cp1252(line, cp1252_elsewhere=False)
    flipped = sum(flips)
    if not flipped:
        return text, "utf-8"
    if flipped == non_ascii:
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return "".join(line.decode("cp1252" if f else "utf-8") for line, f in zip(lines, flips)), "utf-8+cp1252"


def _decode_mixed(data: bytes) -> str | None:
    """Files glued from a UTF-8 export and a Windows one: decode line by line — a line that is not UTF-8 is cp1252,
    a line valid both ways is decoded the plausible way (:func:`~.plausibility.prefer_cp1252`, the file's
    cp1252-only lines counting as evidence); a line that is neither is Latin-1. ``None`` when no line reads as UTF-8
    with non-ASCII characters (then plain cp1252 is the answer)."""
    if not UTF8_MULTIBYTE.search(data):
        return None
    out: list[str] = []
    utf8_lines = 0
    for line in data.splitlines(keepends=True):
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        if decoded is not None and UTF8_MULTIBYTE.search(line):
            if utf8_text_is_plausible(decoded) or not prefer_cp1252(line, cp1252_elsewhere=True):
                out.append(decoded)
                utf8_lines += 1
                continue
            decoded = None
        if decoded is None:
            try:
                decoded = line.decode("cp1252")
            except UnicodeDecodeError:
                # one of the five bytes cp1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D): this line alone is read
                # as Latin-1 (byte for byte, nothing replaced), the file's UTF-8 lines stay UTF-8
                decoded = line.decode("latin-1")
        out.append(decoded)
    if not utf8_lines:
        return None
    return "".join(out)


#: One line with its ending, as ``io.StringIO(text, newline="")`` splits them (``\r\n``, ``\r`` or ``\n``).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` (endings kept) one by one, as ``io.StringIO(text, newline="")`` iterates them, without
    its copy of the whole text (4 bytes a character: ~500 MB for a 1,000,000-row CSV, issue 13)."""
    return (m.group() for m in _LINE.finditer(text))


def _records(text: str, delimiter: str, resplit_min: int, width: int = 0) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, fields)`` for each record.

    A record wrapped whole in one quoted field (``"a,b,c"``) is split again when that gives at least ``resplit_min``
    fields. A runaway quote (an unclosed ``"`` swallowing the following lines into one cell) is detected when a cell
    holds line breaks followed by lines that look like records of ``width`` columns; those lines are then read one
    by one instead of being lost inside one cell. Cells written as ``="…"`` are unwrapped.
    """
    reader = csv.reader(_lines(text), delimiter=delimiter, skipinitialspace=True)
    line = 0
    physical = functools.cache(lambda: io.StringIO(text, newline="").readlines())  # read only when needed
    for fields in reader:
        start = line + 1
        line = reader.line_num
        fields = _resplit(fields, delimiter, resplit_min)
        if width > 1 and line > start and _runaway_quote(fields, delimiter, width):
            yield from _line_by_line(physical()[start - 1:line], start, delimiter, width)
            continue
        if 1 < len(fields) < width and line == start and any(delimiter in f for f in fields):
            # one unbalanced quote on this line ("Carl,"Xu,carl@x.com"): read it with the quote as a character
            lines = physical()
            if start <= len(lines) and lines[start - 1].count('"') % 2:
                fields = _unquoted(lines[start - 1], delimiter, fields, width)
        if '="' in "".join(fields):
            fields = [_unformula(f) for f in fields]
        yield start, fields


def _resplit(fields: list[str], delimiter: str, resplit_min: int) -> list[str]:
    """A record wrapped whole in one quoted field (``"a,b,c"``, on one line) split again when that gives at least
    ``resplit_min`` fields; else ``fields``."""
    if (fields and delimiter in fields[0] and all(not f.strip() for f in fields[1:])
            and "\n" not in fields[0] and "\r" not in fields[0]):
        again = next(csv.reader([fields[0]], delimiter=delimiter, skipinitialspace=True), [])
        if len(again) >= resplit_min:
            return again
    return fields


def _runaway_quote(fields: list[str], delimiter: str, width: int) -> bool:
    """A cell holding line breaks followed by lines that look like records of ``width`` columns (an unclosed ``"``
    swallowed them)."""
    need = max(2, width - 2)
    return any(
        ("\n" in f or "\r" in f) and sum(1 for p in f.splitlines()[1:] if p.count(delimiter) >= need) >= 1
        for f in fields
    )


def _line_by_line(raw_lines: list[str], start: int, delimiter: str, width: int) -> Iterator[tuple[int, list[str]]]:
    """The physical lines of a record swallowed by a runaway quote, each read as its own record."""
    for k, raw_line in enumerate(raw_lines):
        one = next(csv.reader([raw_line.rstrip("\r\n")], delimiter=delimiter, skipinitialspace=True), [])
        if len(one) < width and '"' in raw_line:
            one = _unquoted(raw_line, delimiter, one, width)
        yield start + k, one


def _unquoted(raw_line: str, delimiter: str, fields: list[str], width: int) -> list[str]:
    """The line holding the unbalanced quote (``Bob,"Muster,bob@x.com``) read with the quote taken as a character:
    its fields when that gives the header's width (stray quotes at the edges of a field dropped), else ``fields``."""
    loose = next(csv.reader([raw_line.rstrip("\r\n")], delimiter=delimiter, quoting=csv.QUOTE_NONE,
                            skipinitialspace=True), [])
    if len(fields) < len(loose) <= width:
        return [f.strip('"') for f in loose]
    return fields


def _unformula(value: str) -> str:
    """``="00123"`` (Excel's trick to keep leading zeros in a CSV) -> ``00123``."""
    v = value.strip()
    if v.startswith('="') and v.endswith('"') and len(v) >= 3:
        return v[2:-1].replace('""', '"')
    return value


def sniff_delimiter(text: str) -> str | None:
    """Pick the delimiter among ``, ; \\t |`` whose records have the most consistent field count (> 1) on the first
    64 KB; ``None`` when no candidate gives more than one column (a one-column file)."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS:
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[:cut]
    scored = [(score, d) for rank, d in enumerate(DELIMITERS) if (score := _delimiter_score(sample, d, rank))]
    if not scored:
        return None
    best, best_d = max(scored, key=lambda sd: sd[0])
    return best_d if best[0] >= 0.3 else None


def _delimiter_score(sample: str, d: str, rank: int) -> tuple[float, int, int] | None:
    """``(share of records with the most common field count, that count, -rank)`` for delimiter ``d``; ``None`` when
    ``d`` gives no record of more than one field (or the sample does not parse)."""
    if d not in sample:
        return None
    try:
        counts = [len(f) for _, f in _records(sample, d, 3) if any(x.strip() for x in f)]
    except csv.Error:
        return None
    multi = [c for c in counts if c > 1]
    if not multi:
        return None
    mode = max(set(multi), key=lambda c: (multi.count(c), c))
    return round(multi.count(mode) / len(counts), 2), mode, -rank


def _prepare(data: bytes) -> tuple[str, str, str | None, str, int, int]:
    """Decode a delimited text file and sniff its layout: ``(text, encoding, delimiter or None, delimiter used,
    resplit_min, width)`` — ``width`` is the field count of the first records, ``resplit_min`` the field count under
    which a record is re-split (see ``_records``).

    Raises:
        FileRejected: empty or binary content.
    """
    if not data.strip(b" \t\r\n\x00") or data in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        raise FileRejected(EMPTY)
    text, encoding = decode_bytes(data)
    if not text.strip():
        raise FileRejected(EMPTY)
    delimiter = sniff_delimiter(text)
    used = delimiter or ","
    width = 0
    if delimiter:
        for _, f in _records(text[:SNIFF_CHARS], delimiter, 3):
            width = max(width, len(f))
    return text, encoding, delimiter, used, max(2, width // 2 + 1), width


def _refuse_unless_leads(report: SheetReport) -> None:
    """Raise the file's one-line refusal unless its (only) sheet holds leads.

    Raises:
        FileRejected: empty, header without data rows, or no header row mapping to a lead field.
    """
    if report.status == "leads":
        return
    if report.reason == "empty":
        raise FileRejected(EMPTY)
    if report.reason == HEADER_ONLY:
        raise FileRejected(HEADER_ONLY)
    raise FileRejected(no_header([report.first_row]))


def read_csv_bytes(data: bytes, file_name: str) -> ParsedFile:
    """Read a delimited text file into a :class:`ParsedFile` (one sheet report named ``None``).

    Raises:
        FileRejected: empty / binary content, no header mapping to a lead field, header without data rows.
    """
    text, encoding, delimiter, used, resplit_min, width = _prepare(data)
    try:
        result = build_sheet(_records(text, used, resplit_min, width), sheet=None, sheet_index=0)
    except csv.Error:
        # mixed line endings ("\n\r", a lone "\r" inside a line) confuse the csv module: unify them and retry
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        try:
            result = build_sheet(_records(text, used, resplit_min, width), sheet=None, sheet_index=0)
        except csv.Error as exc:
            raise FileRejected(f"malformed CSV: {exc}") from exc
    _refuse_unless_leads(result.report)
    return ParsedFile(
        file_name=file_name,
        rows=result.rows,
        quarantine=result.quarantine,
        sheets=[result.report],
        encoding=encoding,
        delimiter=delimiter,
    )


def stream_csv_bytes(data: bytes, file_name: str) -> tuple[ParsedFile, Iterator[RawRow]]:
    """:func:`read_csv_bytes` without holding the rows: ``(parsed, rows)`` where ``parsed.rows`` stays empty and
    ``rows`` yields the lead rows one by one; ``parsed.quarantine``, ``parsed.sheets[0]`` and ``parsed.streamed``
    are complete once ``rows`` is exhausted (issue 13: a file's rows are never all in memory).

    The text is decoded and the delimiter sniffed as :func:`read_csv_bytes` does; mixed line endings that the csv
    module refuses are unified before the rows are read (the whole text is checked first, with the C parser).

    Raises:
        FileRejected: empty / binary content (at once); no header mapping to a lead field, header without data rows,
            malformed CSV (when ``rows`` is exhausted or fails).
    """
    text, encoding, delimiter, used, resplit_min, width = _prepare(data)
    try:
        for _ in csv.reader(_lines(text), delimiter=used, skipinitialspace=True):
            pass
    except csv.Error:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    result = SheetResult(SheetReport(name=None, status="skipped"))
    parsed = ParsedFile(file_name=file_name, quarantine=result.quarantine, sheets=[result.report],
                        encoding=encoding, delimiter=delimiter)

    def rows() -> Iterator[RawRow]:
        try:
            for row in iter_sheet(_records(text, used, resplit_min, width), result, sheet_index=0):
                parsed.streamed += 1
                yield row
        except csv.Error as exc:
            raise FileRejected(f"malformed CSV: {exc}") from exc
        _refuse_unless_leads(result.report)

    return parsed, rows()
