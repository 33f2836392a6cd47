"""Our own record of processed drop-zone files, and the new/changed/same decision.

Deliberately no ``since_key`` and no timestamps (docs/dagster-facts.md:
``get_s3_keys(since_key=...)`` misses re-uploaded
keys, same-second and late uploads). The record remembers, per partition key, the fingerprint (content id + size) of
the last version a run was requested for, so *every* listing is compared in full:

- key not in the record                    -> run
- key in the record, same fingerprint      -> skipped ("same content dropped again")
- key in the record, different fingerprint -> run again (the file was replaced)

It also remembers each file's *drop id* (:attr:`DropFile.drop_id`: mtime/ctime/inode, or S3 ``LastModified``), so a
same-content file that was dropped again can be told from one that just stayed there (:func:`redropped`). Only the
former is worth a look at what its last run became (the sensors ask the Dagster instance, once per such file).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from easycrm_pipeline.dropzone.scan import DropFile

#: Version tag inside the serialized record; bump when the shape changes.
RECORD_VERSION = 1


class ProcessedRecord(Mapping[str, str]):
    """Immutable mapping ``{partition_key: fingerprint}`` of files a run was requested for, plus each file's last seen
    drop id (:meth:`drop_id`).

    Serialized (e.g. as a Dagster sensor cursor) by :meth:`to_json` as compact JSON::

        {"drops":{"s3://b/uploads/a.csv":"2024-05-01T10:00:00+00:00"},
         "files":{"sub dir/Léads 2024.csv":"<sha256>:2048","s3://b/uploads/a.csv":"<etag>:10"},"v":1}

    ``drops`` is optional (absent when empty; records written before it existed have none), so the version stays 1
    and an older reader simply ignores it.

    Entries are never dropped when a file disappears, so re-dropping a deleted file with the same content is still
    recognised as "same content". The record grows by one entry (~100–150 bytes) per distinct file ever seen.
    """

    __slots__ = ("_drops", "_files")

    def __init__(self, files: Mapping[str, str] | None = None, drops: Mapping[str, str] | None = None) -> None:
        self._files: dict[str, str] = dict(files or {})
        self._drops: dict[str, str] = {k: v for k, v in (drops or {}).items() if v}

    def __getitem__(self, key: str) -> str:
        return self._files[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"ProcessedRecord({len(self._files)} files)"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProcessedRecord):
            return self._files == other._files and self._drops == other._drops
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable, like a dict

    def drop_id(self, key: str) -> str | None:
        """The drop id recorded for ``key`` (see :attr:`DropFile.drop_id`), or ``None`` when none was recorded."""
        return self._drops.get(key)

    def with_processed(self, files: Iterable[DropFile]) -> ProcessedRecord:
        """A new record with each file's ``partition_key -> fingerprint`` and its drop id set (later files win)."""
        merged, drops = dict(self._files), dict(self._drops)
        for f in files:
            merged[f.partition_key] = f.fingerprint
            if f.drop_id:
                drops[f.partition_key] = f.drop_id
            else:
                drops.pop(f.partition_key, None)
        return ProcessedRecord(merged, drops)

    def to_json(self) -> str:
        """Compact, deterministic JSON (sorted keys, no spaces, UTF-8 characters kept as-is)."""
        doc: dict = {"v": RECORD_VERSION, "files": self._files}
        if self._drops:
            doc["drops"] = self._drops
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> ProcessedRecord:
        """Parse :meth:`to_json` output; ``None`` or ``""`` (a sensor's first tick) gives an empty record.

        Raises:
            ValueError: not JSON, or not this shape/version (e.g. a cursor left by an older ``since_key`` sensor).
                Reset the sensor cursor to start over — which re-requests every file present.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"processed-files record is not JSON ({exc.msg}): {text[:80]!r}") from exc
        if not isinstance(data, dict) or data.get("v") != RECORD_VERSION or not isinstance(data.get("files"), dict):
            raise ValueError(f"processed-files record has an unknown shape/version (expected v={RECORD_VERSION}): "
                             f"{text[:80]!r}")
        files, drops = data["files"], data.get("drops", {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError("processed-files record: keys and fingerprints must be strings")
        if not isinstance(drops, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in drops.items()):
            raise ValueError("processed-files record: 'drops' must map keys to strings")
        return cls(files, drops)


def diff(files: Iterable[DropFile], record: Mapping[str, str]) -> tuple[list[DropFile], list[DropFile]]:
    """Split a full listing into files to run and files skipped because their content was already processed.

    Args:
        files: every lead file currently present (order irrelevant; a later duplicate partition key replaces an
            earlier one).
        record: ``{partition_key: fingerprint}`` of files already requested (a :class:`ProcessedRecord`).

    Returns:
        ``(to_run, skipped_same)``, each sorted by partition key. ``to_run``: keys not in ``record`` plus keys whose
        fingerprint differs; ``skipped_same``: key and fingerprint both equal to the record.
    """
    by_key: dict[str, DropFile] = {}
    for f in files:
        by_key[f.partition_key] = f
    to_run: list[DropFile] = []
    skipped: list[DropFile] = []
    for key in sorted(by_key):
        f = by_key[key]
        (skipped if record.get(key) == f.fingerprint else to_run).append(f)
    return to_run, skipped


def redropped(skipped: Iterable[DropFile], record: ProcessedRecord) -> tuple[list[DropFile], list[DropFile]]:
    """Split same-content files (``diff``'s ``skipped_same``) into those dropped again and those left in place.

    A file counts as dropped again when the record holds a drop id for it and the file's :attr:`DropFile.drop_id`
    differs (rewritten, copied or moved in again, touched; re-uploaded to S3 in a later second). Without a recorded
    drop id (a record written before drop ids existed) or without a current one, it counts as left in place.

    Returns:
        ``(dropped_again, unchanged)``, each in the input order.
    """
    again: list[DropFile] = []
    unchanged: list[DropFile] = []
    for f in skipped:
        before = record.drop_id(f.partition_key)
        (again if before and f.drop_id and f.drop_id != before else unchanged).append(f)
    return again, unchanged
