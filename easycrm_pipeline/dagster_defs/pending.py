"""Pending-run markers: ``easycrm ingest`` says "a run of this file is being created" before its run exists.

A run process needs a second or more (importing Dagster, opening the instance) before its run is in the instance.
``easycrm cancel FILE`` in that window would find no run (or an older, finished one) and the new run would then
store everything. So ``easycrm ingest`` writes one marker per file under ``$DAGSTER_HOME/.easycrm-pending/`` before
it starts the run processes, and removes it when it has finished; ``easycrm cancel`` that finds a live marker waits
for the run created after it (``dagster_defs.cancel.run_to_cancel``) and cancels that one.

Pure (no Dagster): the waiting ``easycrm ingest`` process writes the markers.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: The folder under ``DAGSTER_HOME`` that holds the markers.
PENDING_DIR = ".easycrm-pending"


@dataclass(frozen=True)
class PendingRun:
    """One marker: the file's partition key, the ``easycrm ingest`` process that owns it, and when it was written
    (epoch seconds; the run it announces is created after that)."""

    partition: str
    owner_pid: int
    since: float

    def alive(self) -> bool:
        """True while the owning ``easycrm ingest`` process runs (a marker of a killed process is stale)."""
        try:
            os.kill(self.owner_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def marker_path(home: Path, partition: str) -> Path:
    """The marker file of ``partition`` (its name a hash: partition keys may hold any character)."""
    return Path(home) / PENDING_DIR / (hashlib.sha256(partition.encode("utf-8")).hexdigest()[:32] + ".json")


@contextlib.contextmanager
def announce(home: Path, partitions: Iterable[str]) -> Iterator[float]:
    """Write a marker per partition key (owner: this process), yield their time; remove this process's markers on
    exit (a marker another ``easycrm ingest`` of the same file wrote meanwhile is left to it)."""
    since = time.time()
    paths = []
    for partition in partitions:
        path = marker_path(home, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"partition": partition, "ownerPid": os.getpid(), "since": since}))
        os.replace(tmp, path)  # atomic: a reader sees the whole marker or none
        paths.append(path)
    try:
        yield since
    finally:
        for path in paths:
            marker = _read(path)
            if marker is not None and marker.owner_pid == os.getpid():
                path.unlink(missing_ok=True)


def _read(path: Path) -> PendingRun | None:
    try:
        doc = json.loads(path.read_text())
        return PendingRun(str(doc["partition"]), int(doc["ownerPid"]), float(doc["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pending_run(home: Path, partitions: Iterable[str]) -> PendingRun | None:
    """The live marker of the first of ``partitions`` that has one, else None."""
    for partition in partitions:
        marker = _read(marker_path(home, partition))
        if marker is not None and marker.partition == partition and marker.alive():
            return marker
    return None
