"""Kept files: every ingested file is kept content-addressed, and its partition key resolves to the latest one.

A run launched from the Dagster UI (Materialize, Re-execute, a backfill) carries no op config and no
``easycrm/location`` tag: ``parse_file`` then asks :func:`resolve` for the file of the partition key. Pure logic, no
Dagster import.

Layout (local, default ``<data dir>/files``, ``EASYCRM_FILES_DIR``)::

    files/<sha256><suffix>          the content, written once (same content, same file)
    files/keys/<sha256 of key>.json {"partition_key", "file_name", "sha256", "size", "location", "source", "kept_at"}

For a file that came from the S3 drop zone (partition key ``s3://bucket/key``) the same layout lives in that bucket
under ``EASYCRM_FILES_S3_PREFIX`` (default ``.easycrm/files/``, a hidden folder the S3 sensor never takes for a drop), so every machine running steps can read it (boto3 honours
``AWS_ENDPOINT_URL``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from easycrm_pipeline.config import get_settings

#: Environment variable: local folder of the kept files.
FILES_DIR_ENV = "EASYCRM_FILES_DIR"
#: Environment variable: prefix of the kept files in the drop bucket (S3 drops only).
FILES_S3_PREFIX_ENV = "EASYCRM_FILES_S3_PREFIX"
#: Default prefix of the kept files in the drop bucket: a hidden folder, so even a sensor watching the whole bucket
#: (``EASYCRM_S3_PREFIX=""``) never takes a kept copy for a new drop.
DEFAULT_S3_PREFIX = ".easycrm/files/"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class KeptFile:
    """The record of a partition key's latest kept file.

    Attributes:
        partition_key: the ``lead_files`` partition key (``a.csv``, ``sub/a.csv``, ``s3://bucket/uploads/a.csv``).
        file_name: the base name (the leads' ``sourceFile``).
        sha256: hex SHA-256 of the content.
        size: bytes.
        location: where the kept copy is (absolute path or ``s3://bucket/files/<sha256><suffix>``).
        source: where the file was read from when it was kept.
        kept_at: UTC seconds since the epoch.
    """

    partition_key: str
    file_name: str
    sha256: str
    size: int
    location: str
    source: str
    kept_at: float


def files_dir() -> Path:
    """``$EASYCRM_FILES_DIR`` or ``<data dir>/files`` (``data/files`` in a checkout)."""
    return get_settings().files_dir


def _s3_prefix() -> str:
    prefix = (get_settings().files_s3_prefix or "").strip() or DEFAULT_S3_PREFIX
    return prefix if prefix.endswith("/") else prefix + "/"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's content (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _key_id(partition_key: str) -> str:
    return hashlib.sha256(partition_key.encode("utf-8")).hexdigest()


def _suffix(file_name: str) -> str:
    suffix = Path(file_name).suffix.lower()
    return suffix if suffix.replace(".", "").isalnum() else ""


def _bucket_of(partition_key: str) -> str | None:
    return partition_key[5:].split("/", 1)[0] if partition_key.startswith("s3://") else None


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


def keep(path: Path, partition_key: str, file_name: str, source: str) -> KeptFile:
    """Keep ``path``'s content for ``partition_key`` and make it the key's latest file.

    Local partition keys: copied to ``files_dir()/<sha256><suffix>`` (once per content) and recorded in
    ``files_dir()/keys/``. ``s3://bucket/...`` keys: uploaded to ``s3://bucket/<prefix><sha256><suffix>`` (once per
    content) with the record next to it under ``<prefix>keys/``.

    Args:
        path: the local copy of the file being ingested.
        partition_key: its ``lead_files`` partition key.
        file_name: its base name.
        source: where it was read from (kept in the record, shown to people).

    Returns:
        The new record.

    Raises:
        OSError / botocore errors: the copy or the record could not be written.
    """
    digest = sha256_of(path)
    size = path.stat().st_size
    name = digest + _suffix(file_name)
    bucket = _bucket_of(partition_key)
    if bucket:
        client = _s3()
        key = _s3_prefix() + name
        if not _s3_exists(client, bucket, key):
            client.upload_file(str(path), bucket, key)
        location = f"s3://{bucket}/{key}"
    else:
        target = files_dir() / name
        if not target.exists() or target.stat().st_size != size:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            os.close(fd)
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        location = str(target.resolve())
    record = KeptFile(partition_key, file_name, digest, size, location, source, time.time())
    body = json.dumps(asdict(record), ensure_ascii=False).encode("utf-8")
    if bucket:
        _s3().put_object(Bucket=bucket, Key=f"{_s3_prefix()}keys/{_key_id(partition_key)}.json", Body=body)
    else:
        _write_atomic(files_dir() / "keys" / f"{_key_id(partition_key)}.json", body)
    return record


def lookup(partition_key: str) -> KeptFile | None:
    """The latest kept file of ``partition_key``, or None when none was kept (or its copy is gone)."""
    bucket = _bucket_of(partition_key)
    if bucket:
        try:
            body = _s3().get_object(Bucket=bucket, Key=f"{_s3_prefix()}keys/{_key_id(partition_key)}.json")["Body"]
            record = KeptFile(**json.loads(body.read()))
        except Exception:  # noqa: BLE001 - no record, no bucket access: the caller falls back
            return None
        return record
    path = files_dir() / "keys" / f"{_key_id(partition_key)}.json"
    try:
        record = KeptFile(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return record if Path(record.location).exists() else None


def kept_copy(fingerprint: str, file_name: str) -> str | None:
    """Path of the local kept copy of the content a drop-zone fingerprint names (``"<sha256>:<size>"``, what the
    folder sensor tags runs with), or None. Lets a re-executed run read exactly the content its parent run read."""
    digest = fingerprint.split(":", 1)[0]
    if len(digest) != 64:
        return None
    path = files_dir() / (digest + _suffix(file_name))
    return str(path.resolve()) if path.is_file() else None


def resolve(partition_key: str, inbox: Path | None = None) -> tuple[str, str] | None:
    """``(location, file_name)`` of the file to ingest for ``partition_key`` when a run names no location.

    Order: the key's latest kept file (:func:`lookup`); else the drop zone itself — ``s3://...`` keys as they are,
    other keys as a path under ``inbox`` when that file exists. None when nothing is found.
    """
    if not partition_key:
        return None
    kept = lookup(partition_key)
    if kept is not None:
        return kept.location, kept.file_name
    base = partition_key.rstrip("/").rsplit("/", 1)[-1]
    if partition_key.startswith("s3://"):
        return partition_key, base
    if inbox is not None and (inbox / partition_key).is_file():
        return str((inbox / partition_key).resolve()), base
    return None


def _s3():
    import boto3

    return boto3.client("s3")


def _s3_exists(client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001 - 404 or no access: upload
        return False
    return True
