"""Our own record of processed drop-zone files, and the new/changed/same decision.

Deliberately no ``since_key`` and no timestamps (DESIGN.md section 6: ``get_s3_keys(since_key=...)`` misses re-uploaded
keys, same-second and late uploads). The record remembers, per partition key, the fingerprint (content id + size) of
the last version a run was requested for, so *every* listing is compared in full:

- key not in the record                    -> run
- key in the record, same fingerprint      -> skipped ("same content dropped again")
- key in the record, different fingerprint -> run again (the file was replaced)
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from easycrm_pipeline.dropzone.scan import DropFile

#: Version tag inside the serialized record; bump when the shape changes.
RECORD_VERSION = 1


class ProcessedRecord(Mapping[str, str]):
    """Immutable mapping ``{partition_key: fingerprint}`` of files a run was requested for.

    Serialized (e.g. as a Dagster sensor cursor) by :meth:`to_json` as compact JSON::

        {"v":1,"files":{"sub dir/Léads 2024.csv":"<sha256>:2048","s3://b/uploads/a.csv":"<etag>:10"}}

    Entries are never dropped when a file disappears, so re-dropping a deleted file with the same content is still
    recognised as "same content". The record grows by one entry (~100–150 bytes) per distinct file ever seen.
    """

    __slots__ = ("_files",)

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        self._files: dict[str, str] = dict(files or {})

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
            return self._files == other._files
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable, like a dict

    def with_processed(self, files: Iterable[DropFile]) -> ProcessedRecord:
        """A new record with each file's ``partition_key -> fingerprint`` set (later files win)."""
        merged = dict(self._files)
        for f in files:
            merged[f.partition_key] = f.fingerprint
        return ProcessedRecord(merged)

    def to_json(self) -> str:
        """Compact, deterministic JSON (sorted keys, no spaces, UTF-8 characters kept as-is)."""
        return json.dumps(
            {"v": RECORD_VERSION, "files": self._files}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        )

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
        files = data["files"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError("processed-files record: keys and fingerprints must be strings")
        return cls(files)


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
