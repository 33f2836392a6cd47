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


def lock_message(waited: float, detail: str) -> str:
    """The one-line reason of a :class:`StoreLockTimeout`: ``the lead store is locked by another process (waited
    12.0 s; <detail>); try again later`` — what the CLI and a failed run show."""
    return f"the lead store is locked by another process (waited {waited:.1f} s; {detail}); try again later"


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
                    raise StoreLockTimeout(lock_message(waited, f"the {'write' if exclusive else 'read'} lock "
                                                            f"on {path}")) from None
                time.sleep(min(delay, max(timeout - waited, 0.0)))
                delay = min(delay * 1.5, 0.05)
        try:
            yield time.monotonic() - start
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
