"""Which dropped objects are lead files, and the Dagster partition key of each one.

Pure logic: no Dagster, no I/O.
"""
from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path, PurePath, PurePosixPath

#: Lead file extensions (compared case-insensitively): delimited text (``.csv``; ``.txt``/``.tsv`` — Excel's
#: "Unicode text" export is a tab-separated UTF-16 ``.txt``) and workbooks (OpenDocument ``.ods`` too). The one list
#: the CLI, the sensors and ``ask`` use; the reader decides the format by content, not by this suffix.
LEAD_EXTENSIONS: frozenset[str] = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods"})

#: Substrings Dagster refuses in partition keys, with the stand-in we write instead.
#: Source: ``dagster/_core/definitions/partitions/utils/base.py`` (dagster 1.13.27),
#: ``INVALID_PARTITION_SUBSTRINGS = ["...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0"]`` — ``...`` is the UI's
#: range separator, the control characters don't display. (``| , [ ]`` are refused only in *static* partitions used
#: inside multi-partitions, not in dynamic partitions.) The control characters become their Unicode "control
#: pictures" (U+2400 block), ``...`` becomes the single character ``…`` (U+2026).
PARTITION_KEY_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    ("...", "\u2026"),
    ("\a", "\u2407"),
    ("\b", "\u2408"),
    ("\f", "\u240c"),
    ("\n", "\u240a"),
    ("\r", "\u240d"),
    ("\t", "\u2409"),
    ("\v", "\u240b"),
    ("\0", "\u2400"),
)


def is_lead_file(name: str, size: int | None = None) -> tuple[bool, str | None]:
    """Decide whether a dropped object is a lead file.

    Args:
        name: the object's path *relative to the watched root* with ``/`` separators — a local file's path under the
            inbox (``sub dir/leads.csv``) or an S3 key with the watched prefix removed. Leading folders are checked
            too: anything inside a hidden folder is hidden.
        size: the size in bytes when known (S3 listings, ``stat``); ``0`` marks "directory" objects and empty files.

    Returns:
        ``(True, None)`` for a lead file, else ``(False, reason)`` where ``reason`` is a short phrase for the log line,
        e.g. ``"folder marker"``, ``"Excel lock file (~$...)"``, ``"hidden file"``, ``"path has a '.' or '..' folder
        segment"`` (``sub/../up.csv``),
        ``"not a lead file extension '.pdf' (expected .csv, .ods, .tsv, .txt, .xls, .xlsm, .xlsx)"``, ``"empty file (0 bytes)"``.
    """
    if name == "" or name.endswith("/"):
        return False, "folder marker (name ends with '/')"
    parts = [p for p in name.split("/") if p]
    base = parts[-1]
    suffix = PurePosixPath(base).suffix.lower()
    reason = _marker_or_hidden(base, parts[:-1], suffix, size) or _type_refusal(suffix, size)
    return (False, reason) if reason else (True, None)


def _marker_or_hidden(base: str, folders: list[str], suffix: str, size: int | None) -> str | None:
    """Why an object is a folder marker, an Excel lock file or hidden (itself or a folder above it), or ``None``."""
    if size == 0 and suffix not in LEAD_EXTENSIONS:
        return "zero-byte object without a lead file extension (folder marker)"
    if base.startswith("~$"):
        return "Excel lock file (~$...)"
    if base.startswith("."):
        return "hidden file (name starts with '.')"
    if any(p in (".", "..") for p in folders):  # a legal S3 key, but '..' could name a file outside the root
        return "path has a '.' or '..' folder segment"
    if any(p.startswith(".") for p in folders):
        return "inside a hidden folder"
    return None


def _type_refusal(suffix: str, size: int | None) -> str | None:
    """Why a visible file is not a lead file (its extension, or it is empty), or ``None``."""
    if suffix not in LEAD_EXTENSIONS:
        shown = f"'{suffix}'" if suffix else "none"
        return f"not a lead file extension {shown} (expected {', '.join(sorted(LEAD_EXTENSIONS))})"
    if size == 0:
        return "empty file (0 bytes)"
    return None
    return True, None


#: Unicode general categories escaped in a display name: control characters (Cc: NUL, tab, newline, ESC...),
#: format characters (Cf: the bidi overrides and isolates U+202A-U+202E / U+2066-U+2069, zero-width characters),
#: line/paragraph separators (Zl, Zp), surrogates (Cs), private use (Co) and unassigned code points (Cn).
#: Source: Unicode Standard Annex #44 "General_Category Values"; Unicode Technical Report #36 section 2.3 (bidi
#: spoofing: ``evil\u202egpj.csv`` displays as "evilvsc.jpg").
DISPLAY_ESCAPED_CATEGORIES: frozenset[str] = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def display_name(name: str) -> str:
    """``name`` as it may be shown and stored (the leads' ``sourceFile``, logs, ``easycrm status``): every
    character of :data:`DISPLAY_ESCAPED_CATEGORIES` written as a visible escape (``\\u202e``, ``\\x07``; above
    U+FFFF ``\\U000e0001``), everything else unchanged (``Léads 2024.csv`` stays as it is).

    The object itself is still looked up by its real name/key: only what is displayed changes.
    """
    if all(unicodedata.category(ch) not in DISPLAY_ESCAPED_CATEGORIES for ch in name):
        return name
    out = []
    for ch in name:
        if unicodedata.category(ch) not in DISPLAY_ESCAPED_CATEGORIES:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def size_refusal(size: int | None, max_bytes: int | None) -> str | None:
    """Why a file of ``size`` bytes is refused under the ``EASYCRM_MAX_FILE_MB`` limit ``max_bytes``, or ``None``.

    The same limit and wording as the reader's own check (``parsing.read_file``), applied before a download:
    ``"file is 149.0 MB, over the 100 MB limit (EASYCRM_MAX_FILE_MB)"``.
    """
    if size is None or max_bytes is None or size <= max_bytes:
        return None
    mb = 1024 * 1024
    return f"file is {size / mb:.1f} MB, over the {max_bytes / mb:g} MB limit (EASYCRM_MAX_FILE_MB)"


def sanitize_partition_key(raw: str) -> str:
    """Make ``raw`` acceptable as a Dagster partition key, deterministically, changing nothing else.

    Only the substrings in :data:`PARTITION_KEY_REPLACEMENTS` are replaced. When anything was replaced, `` #`` plus the
    first 8 hex digits of the SHA-256 of ``raw`` is appended so two different raw names can never end up on the same
    key (``a...b.csv`` vs a real ``a…b.csv``). Keys that need no replacement are returned unchanged.
    """
    clean = raw
    for bad, good in PARTITION_KEY_REPLACEMENTS:
        clean = clean.replace(bad, good)
    if clean == raw:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean} #{digest}"


def cli_partition_key(name: str) -> str:
    """Partition key of a file given to ``easycrm ingest`` by path: its base name ``name`` as displayed
    (:func:`display_name`: bidi/control characters escaped) and sanitized like the sensors' keys
    (:func:`sanitize_partition_key`: ``x...y.csv`` -> ``x…y.csv #8309b0fd``, the key the inbox gives the same file).
    Idempotent: the key of an already displayed name is the same key."""
    return sanitize_partition_key(display_name(name))


def s3_location(bucket: str, key: str) -> str:
    """``s3://bucket/key`` with the key verbatim (no URL encoding): the ``location`` given to the ingest job."""
    return f"s3://{bucket}/{key}"


def partition_key_for(location: str | PurePath, *, inbox: str | PurePath | None = None) -> str:
    """Partition key of a dropped file.

    Args:
        location: ``s3://bucket/key`` for an S3 object, or a local file path (absolute, or relative to the CWD).
        inbox: the watched folder; required for local paths.

    Returns:
        S3: ``s3://bucket/key`` (whole key, prefix included). Local: the path relative to ``inbox`` with ``/``
        separators, e.g. ``sub dir/Léads 2024.csv``. Both passed through :func:`sanitize_partition_key`.

    Raises:
        ValueError: a local path without ``inbox``, or a path not under ``inbox``.
    """
    if isinstance(location, str) and location.startswith("s3://"):
        return sanitize_partition_key(location)
    if inbox is None:
        raise ValueError(f"partition_key_for({location!r}) needs the inbox folder for a local path")
    path, root = Path(location).absolute(), Path(inbox).absolute()
    try:
        rel = path.relative_to(root)
    except ValueError as exc:
        raise ValueError(f"{path} is not inside the inbox {root}") from exc
    if not rel.parts:
        raise ValueError(f"{path} is the inbox itself, not a file in it")
    return sanitize_partition_key(rel.as_posix())
