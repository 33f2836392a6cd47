"""Cross-process lock on a file next to the database (``fcntl.flock``), with a timeout.

Why: DuckDB lets one process at a time open a database file read-write, and refuses a read-only open while another
process holds it read-write (measured with duckdb 2.0.1: ``IOException: Could not set lock on file ...``). Several
Dagster run processes write while ``easycrm leads`` reads, so every store call takes this lock first:
exclusive for writes, shared for reads (read-only DuckDB opens do coexist with each other).

``flock`` locks belong to the open file description, so two threads of one process that each open the lock file
also exclude each other; the lock is released by the kernel when the process dies (a ``kill -9`` never leaves a
stale lock behind).
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from easycrm_pipeline.store.base import StoreLockTimeout

#: Default seconds to wait for the lock before giving up.
DEFAULT_LOCK_TIMEOUT = 120.0


@contextmanager
def file_lock(path: Path, *, exclusive: bool, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[float]:
    """Hold an ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Args:
        path: the lock file, e.g. ``data/leads.duckdb.lock``; its folder must exist.
        exclusive: True for a write lock (one holder), False for a shared read lock (many holders, no writer).
        timeout: seconds to wait before raising.

    Yields:
        The seconds spent waiting for the lock.

    Raises:
        StoreLockTimeout: the lock was not obtained within ``timeout`` seconds.
    """
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        start = time.monotonic()
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    kind = "write" if exclusive else "read"
                    raise StoreLockTimeout(
                        f"could not get the {kind} lock on {path} within {timeout:.0f} s: another process kept the "
                        f"lead store busy (a long import?); try again later"
                    ) from None
                time.sleep(min(delay, max(timeout - waited, 0.0)))
                delay = min(delay * 1.5, 0.05)
        try:
            yield time.monotonic() - start
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
