"""Listing the drop zones: the local inbox folder and an S3 bucket prefix.

Pure logic plus file-system / boto3 calls; no Dagster. Both scanners return *every* lead file currently present —
never "files since X" — so the caller decides what is new by comparing with its own record (see :mod:`.record`).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easycrm_pipeline.dropzone.rules import display_name, is_lead_file, partition_key_for, s3_location, size_refusal

#: Called with (name relative to the watched root, reason) for every object that is not turned into a DropFile.
OnIgnored = Callable[[str, str], None]


@dataclass(frozen=True)
class DropFile:
    """One lead file found in a drop zone.

    Attributes:
        partition_key: the ``lead_files`` dynamic partition key (see :func:`~.rules.partition_key_for`).
        location: absolute local path, or ``s3://bucket/key`` (key verbatim).
        file_name: base name as shown and stored (the leads' ``sourceFile``), e.g. ``Léads 2024.csv``; control and
            bidi characters escaped (:func:`~.rules.display_name`: ``evil\\u202egpj.csv``); ``location`` keeps
            the real name.
        fingerprint: ``"<content id>:<size>"`` — content id is the S3 ETag without quotes (``md5hex`` or
            ``md5hex-N`` for multipart uploads) or, for local files, the SHA-256 hex digest of the bytes.
        size: size in bytes.
        drop_id: what changes when the file is dropped again even with the same content — local files
            ``"<mtime_ns>:<ctime_ns>:<inode>"``, S3 objects their ``LastModified`` (to the second, as listings give it).
            Not part of equality; ``""`` when unknown.
    """

    partition_key: str
    location: str
    file_name: str
    fingerprint: str
    size: int
    drop_id: str = field(default="", compare=False)


def _noop(_name: str, _reason: str) -> None:
    return None


# --- local folder ---------------------------------------------------------------------------------------------------

_HASH_CACHE: dict[tuple[str, int, int, int], str] = {}
_HASH_CACHE_LOCK = threading.Lock()
_HASH_CACHE_MAX = 20_000


def _sha256_file(path: Path, st: os.stat_result) -> str:
    """SHA-256 of the file, cached per (path, size, mtime_ns, inode) so an unchanged inbox is not re-read each tick."""
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _HASH_CACHE_LOCK:
        cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _HASH_CACHE_LOCK:
        if len(_HASH_CACHE) >= _HASH_CACHE_MAX:
            _HASH_CACHE.clear()
        _HASH_CACHE[key] = value
    return value


def scan_folder(
    inbox: Path,
    *,
    settle_seconds: float = 1.0,
    hash_budget_seconds: float | None = None,
    on_ignored: OnIgnored | None = None,
) -> list[DropFile]:
    """List the lead files under ``inbox`` (recursively), sorted by partition key.

    Files still being written are left for a later scan, using two cheap checks:

    1. *Settling*: a file whose last change — ``max(st_mtime, st_ctime)``; ``ctime`` also moves on ``mv``/``cp -p``,
       which keep an old ``mtime``; an ``mtime`` in the future is ignored — is less than ``settle_seconds`` old is
       skipped ("still being written").
    2. *Stable while read*: the file is stat-ed again after hashing; a different size or ``mtime_ns`` means it changed
       under us, so it is skipped too.

    A writer that pauses for longer than ``settle_seconds`` mid-file can still be caught half-written; writers should
    copy to a hidden/temporary name (``.leads.csv``, ``leads.csv.part``) and rename, which these rules ignore until the
    rename.

    Args:
        inbox: the watched folder. A missing folder yields ``[]``.
        settle_seconds: see above; 0 disables the settling check.
        hash_budget_seconds: stop hashing *new* (uncached) files after this many seconds; the remaining files are
            reported as deferred and picked up by the next scan (the hash cache keeps earlier work). None: no limit.
        on_ignored: called as ``on_ignored(relative_name, reason)`` for hidden folders, non-lead files, files still
            being written, deferred or unreadable files. Symlinked folders are not followed.

    Returns:
        ``DropFile`` per lead file, ``location`` = absolute path, ``partition_key`` = path relative to the inbox.
    """
    report = on_ignored or _noop
    root = Path(inbox).absolute()
    if not root.is_dir():
        return []
    started = time.monotonic()
    found: list[DropFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root)
        dirnames[:] = _visible_dirs(dirnames, rel_dir, report)
        for fname in sorted(filenames):
            over_budget = hash_budget_seconds is not None and time.monotonic() - started > hash_budget_seconds
            drop = _drop_file(here / fname, (rel_dir / fname).as_posix(), root, report, settle_seconds,
                              f"{hash_budget_seconds:g}" if over_budget else None)
            if drop is not None:
                found.append(drop)
    found.sort(key=lambda f: f.partition_key)
    return found


def _visible_dirs(dirnames: list[str], rel_dir: Path, report: OnIgnored) -> list[str]:
    """The folders to walk into, sorted; hidden ones (``.name``) are reported and left out."""
    kept = []
    for d in sorted(dirnames):
        if d.startswith("."):
            report((rel_dir / d).as_posix() + "/", "hidden folder (not scanned)")
        else:
            kept.append(d)
    return kept


def _drop_file(path: Path, rel: str, root: Path, report: OnIgnored, settle_seconds: float,
               over_budget: str | None) -> DropFile | None:
    """The :class:`DropFile` of one listed file, or ``None`` (reported, except a file that vanished) when it is not a
    lead file, not settled, deferred (``over_budget``: the budget in seconds as text, when spent and the file's hash
    is not cached), unreadable or changed while read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None  # vanished between listing and stat
    except OSError as exc:
        report(rel, f"cannot stat: {exc.strerror or exc}")
        return None
    reason = _not_ready(rel, st, settle_seconds)
    if reason is None and over_budget and (str(path), st.st_size, st.st_mtime_ns, st.st_ino) not in _HASH_CACHE:
        reason = f"deferred to the next tick (hashing took over {over_budget} s)"
    if reason:
        report(rel, reason)
        return None
    try:
        sha = _sha256_file(path, st)
        after = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        report(rel, f"cannot read: {exc.strerror or exc}")
        return None
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        report(rel, "changed while being read; retried next tick")
        return None
    return DropFile(
        partition_key=partition_key_for(path, inbox=root),
        location=str(path),
        file_name=display_name(path.name),
        fingerprint=f"{sha}:{st.st_size}",
        size=st.st_size,
        drop_id=f"{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}",
    )


def _not_ready(rel: str, st: os.stat_result, settle_seconds: float) -> str | None:
    """Why a file is not taken now (not a lead file, name not UTF-8, still being written), or ``None``."""
    ok, reason = is_lead_file(rel, st.st_size)
    if not ok:
        return reason or "not a lead file"
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename it"
    now = time.time()
    # ctime: set by this machine's clock on every write/rename (POSIX; creation time on Windows);
    # mtime: can be preserved from elsewhere, so a future mtime (clock skew, unpacked archive) is not counted
    age = now - max(st.st_ctime, st.st_mtime if st.st_mtime <= now else st.st_ctime)
    if age < settle_seconds:
        return f"still being written (changed {max(age, 0):.1f} s ago); retried next tick"
    return None


def _iso(value: Any) -> str:
    """An S3 ``LastModified`` (a datetime from boto3) as text; ``""`` when missing."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- S3 -------------------------------------------------------------------------------------------------------------


def scan_s3(
    client: Any, bucket: str, prefix: str = "", *, on_ignored: OnIgnored | None = None, max_bytes: int | None = None
) -> list[DropFile]:
    """List the lead files under ``s3://bucket/prefix``, all pages, sorted by partition key.

    Uses the ``list_objects_v2`` paginator, so buckets with more than 1,000 keys are listed completely. Nothing is
    filtered by ``LastModified`` or by a start key: docs/dagster-facts.md#s3-drop-zone records that ``dagster_aws``'s
    ``get_s3_keys(since_key=...)`` misses re-uploaded keys, same-second and late (older timestamp) uploads, and raises
    forever once the cursor key is deleted. Deciding what is new is :func:`~.record.diff`'s job.

    Args:
        client: a boto3 S3 client (``S3Resource.get_client()``; honours ``AWS_ENDPOINT_URL``).
        bucket: bucket name.
        prefix: key prefix (``uploads/``); the ignore rules see the key with this prefix removed.
        on_ignored: called as ``on_ignored(key, reason)`` for folder markers, lock/hidden/non-lead files, and
            objects over ``max_bytes``.
        max_bytes: the ``EASYCRM_MAX_FILE_MB`` limit: a larger object is refused from the listing's ``Size``,
            before anything is downloaded (reason ``"refused before download: file is 149.0 MB, over the 100 MB
            limit (EASYCRM_MAX_FILE_MB)"``). ``None``: no limit here.

    Returns:
        ``DropFile`` per lead object: ``location`` and ``partition_key`` = ``s3://bucket/key``,
        ``fingerprint`` = ``"<ETag without quotes>:<Size>"``, ``drop_id`` = ``LastModified``.

    Raises:
        botocore.exceptions.ClientError: e.g. ``NoSuchBucket``, ``AccessDenied``.
    """
    report = on_ignored or _noop
    found: list[DropFile] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key: str = obj["Key"]
            size = int(obj.get("Size", 0))
            rel = key[len(prefix):] if prefix and key.startswith(prefix) else key
            ok, reason = is_lead_file(rel, size)
            if not ok:
                report(key, reason or "not a lead file")
                continue
            too_big = size_refusal(size, max_bytes)
            if too_big:
                report(key, f"refused before download: {too_big}")
                continue
            etag = str(obj.get("ETag", "")).strip('"')
            location = s3_location(bucket, key)
            found.append(
                DropFile(
                    partition_key=partition_key_for(location),
                    location=location,
                    file_name=display_name(key.rsplit("/", 1)[-1]),
                    fingerprint=f"{etag}:{size}",
                    size=size,
                    drop_id=_iso(obj.get("LastModified")),
                )
            )
    found.sort(key=lambda f: f.partition_key)
    return found
