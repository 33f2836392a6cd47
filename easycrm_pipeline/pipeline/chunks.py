"""Chunks of consecutive batches: the unit of a Dagster step, while the 10-lead batch stays the unit of work.

A batch (``EASYCRM_BATCH_SIZE`` rows, 10 by default) is one DeepSeek request and the unit of retry, dead letter,
cache and progress. A Dagster step costs ~13 events and ~0.5 s of overhead (docs/dagster-facts.md#executors-and-the-price-of-a-step), so steps carry
*chunks* of consecutive batches:

* at least :data:`MIN_BATCHES_PER_CHUNK` batches per chunk (500 batches = 5,000 leads; at 5 requests in flight and
  0.5 s per request a chunk works ~50 s). Between two chunk steps of a run the pool drains (the step's last requests
  end one by one, its slots are freed, the next step starts, claims again and writes the chunk's answers to the
  cache first): ~1 s on this loaded 2-core machine, so a chunk is long enough that this costs ~2 % of its time (with
  50-batch chunks, 50,000 leads took 1.33 x the ideal time). A chunk step retried or re-executed redoes only its
  unfinished batches, so a big chunk costs nothing in retries. And
* at most :data:`MAX_CHUNKS` chunks per file (a 1,000-lead file = 1 chunk; a 50,000-lead file = 5,000 batches -> 10
  chunks of 500; a 1,048,576-row file -> 200 chunks of 525 batches), so a run's Dagster cost is bounded whatever the
  file's size.

A :class:`Chunk` does not carry its rows (issue 13): the parse step writes the rows to send once, in file order,
to the run's rows file (``pipeline.rowfile``, ``to_send.parquet``), and a chunk is that file's path, its number and
the range of its batches (:attr:`Chunk.batch_refs`: batch key, first row, row count). Its pickle stays ~0.3 KB
whatever it covers; the chunk step reads only its slice (:meth:`Chunk.read_batches`).

:func:`run_chunk` runs a chunk's batches on threads. Each request holds a slot given by ``slot()`` (the Dagster glue
claims one slot of the instance's ``deepseek`` pool per request) only while it is on the wire: the standardizer takes
it around the HTTP exchange, so the rules' proposal before and the validation and journal write after don't keep a
slot idle (measured under load: ~0.4 s lost per round of 5 requests at 2 s when the slot was held around the whole
batch, ~0.03 s now). Each batch gets :data:`TRIES` tries with exponential backoff and jitter, then goes to the dead letter. Each finished batch's result
is written to a :class:`BatchResults` directory first, so a chunk run again (a step retry, a re-execution from
failure) redoes only its unfinished batches.

Pure logic: no Dagster import.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from easycrm_pipeline.pipeline.batches import Batch, BatchResult, batch_key
from easycrm_pipeline.pipeline.rowfile import RowFile, read_rows

#: Fewest batches in a chunk (a file with fewer batches is one chunk).
MIN_BATCHES_PER_CHUNK = 500
#: Most chunks (Dagster steps) per file.
MAX_CHUNKS = 200
#: DeepSeek requests a chunk keeps in flight (the seeds' "Concurrency: 5"; the pool holds it across runs).
REQUESTS_IN_FLIGHT = 5
#: Tries per batch before the dead letter (seeds: "Dead Letter Queue: After 3 failed attempts").
TRIES = 3
#: Seconds before the first retry of a batch; doubled for each further try, +-50 % jitter.
RETRY_DELAY = 1.0
#: Seconds between two progress reports of a running chunk.
PROGRESS_EVERY = 0.5


@dataclass(frozen=True)
class Chunk:
    """Consecutive batches of one file, standardized by one Dagster step: a reference to a slice of the file's rows
    file (``pipeline.rowfile``), not the rows themselves, so its pickle (a Dagster ``DynamicOutput``) is ~0.3 KB
    whatever the number of rows it covers.

    The batches are the rows file's rows cut into consecutive batches of ``batch_size`` rows (the last shorter),
    numbered from 1 in file order (``batch_00001``...): the same numbers and rows as ``make_batches`` on the rows
    held in memory, so the batch journal (:class:`BatchResults`), the cache, progress and dead letter see the same
    batch keys.

    Attributes:
        number: 1-based chunk number in file order.
        total: chunks in the file.
        rows_file: path of the file's rows file (Parquet, :class:`~easycrm_pipeline.pipeline.rowfile.RowFile`).
        first_batch: 1-based number of the chunk's first batch.
        batch_count: batches in the chunk.
        batch_size: rows per batch (``EASYCRM_BATCH_SIZE``).
        file_rows: rows in the whole rows file (the file's last batch may be shorter).
    """

    number: int
    total: int
    rows_file: str
    first_batch: int
    batch_count: int
    batch_size: int
    file_rows: int

    @property
    def mapping_key(self) -> str:
        """Dagster mapping key, e.g. ``chunk_0001`` (only ``[A-Za-z0-9_]`` allowed)."""
        return f"chunk_{self.number:04d}"

    @property
    def total_batches(self) -> int:
        """Batches in the whole file."""
        return -(-self.file_rows // self.batch_size)

    @property
    def first_row(self) -> int:
        """0-based index in the rows file of the chunk's first row."""
        return (self.first_batch - 1) * self.batch_size

    @property
    def rows(self) -> int:
        """Raw rows in the chunk."""
        return max(0, min(self.file_rows, self.first_row + self.batch_count * self.batch_size) - self.first_row)

    @property
    def batch_refs(self) -> tuple[tuple[str, int, int], ...]:
        """``(batch key, first row index in the rows file, row count)`` of each batch, in file order."""
        refs = []
        for number in range(self.first_batch, self.first_batch + self.batch_count):
            first = (number - 1) * self.batch_size
            refs.append((batch_key(number), first, min(self.batch_size, self.file_rows - first)))
        return tuple(refs)

    def read_batches(self) -> tuple[Batch, ...]:
        """The chunk's batches, rebuilt from its slice of the rows file (only the row groups holding it are read).

        Raises:
            FileNotFoundError: the rows file is gone (its run's folder was deleted once the file was stored).
        """
        rows = read_rows(self.rows_file, self.first_row, self.rows)
        total = self.total_batches
        return tuple(
            Batch(number=self.first_batch + i, total=total, rows=tuple(rows[k : k + self.batch_size]))
            for i, k in enumerate(range(0, len(rows), self.batch_size))
        )


def batches_per_chunk(total_batches: int) -> int:
    """How many batches go into one chunk for a file of ``total_batches``: at least :data:`MIN_BATCHES_PER_CHUNK`,
    more when that would give over :data:`MAX_CHUNKS` chunks."""
    return max(MIN_BATCHES_PER_CHUNK, -(-total_batches // MAX_CHUNKS))


def make_chunks(rows_file: RowFile, batch_size: int) -> list[Chunk]:
    """Cut the rows of ``rows_file`` (file order) into batches of ``batch_size`` rows and those into consecutive
    chunks of :func:`batches_per_chunk` batches (the last shorter); nothing is read, only counted.

    Raises:
        ValueError: ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    total_batches = -(-rows_file.rows // batch_size)
    size = batches_per_chunk(total_batches)
    starts = range(1, total_batches + 1, size)
    return [
        Chunk(number=i + 1, total=len(starts), rows_file=rows_file.path, first_batch=first,
              batch_count=min(size, total_batches - first + 1), batch_size=batch_size, file_rows=rows_file.rows)
        for i, first in enumerate(starts)
    ]


class BatchResults:
    """Finished batches' results as one small pickle file per batch (``<mapping key>.pkl``) in ``directory``.

    ``earlier`` are the directories of runs this one re-executes (read only): a batch finished there is finished.
    Writes are atomic (temporary file + ``os.replace``), so a process killed mid-write leaves no half file.
    """

    def __init__(self, directory: Path, earlier: Iterable[Path] = ()):
        self.directory = Path(directory)
        self.earlier = [Path(d) for d in earlier]

    def get(self, key: str) -> BatchResult | None:
        """The stored result of batch ``key`` (e.g. ``batch_00001``), or None when it is not finished."""
        for directory in (self.directory, *self.earlier):
            path = directory / f"{key}.pkl"
            try:
                with open(path, "rb") as fh:
                    return pickle.load(fh)
            except FileNotFoundError:
                continue
        return None

    def put(self, result: BatchResult) -> None:
        """Store ``result`` under its batch key (replacing an earlier one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{result.batch}.pkl"
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)


@dataclass
class ChunkProgress:
    """How far a chunk is: batches finished (stored earlier included), their rows, dead-lettered batches, and the
    DeepSeek tokens and cost (USD) of the finished batches."""

    batches_done: int = 0
    rows_done: int = 0
    reused: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0


class _Stopped(Exception):
    """Raised in a batch's thread that got its slot after the chunk was told to stop (the request is not sent)."""


@contextlib.contextmanager
def no_slot(_key: str) -> Iterator[None]:
    """A ``slot`` for :func:`run_chunk` that limits nothing (the offline rules, tests of the logic)."""
    yield


def run_chunk(
    chunk: Chunk,
    standardize: Callable[[Batch, Callable[[], contextlib.AbstractContextManager]], BatchResult],
    results: BatchResults,
    *,
    slot: Callable[[str], contextlib.AbstractContextManager] = no_slot,
    dead_letter: Callable[[Batch, Exception, int], BatchResult],
    retryable: tuple[type[BaseException], ...] = (),
    on_result: Callable[[Batch, BatchResult], None] | None = None,
    on_progress: Callable[[ChunkProgress], None] | None = None,
    batches: Sequence[Batch] | None = None,
    workers: int = REQUESTS_IN_FLIGHT,
    tries: int = TRIES,
    retry_delay: float = RETRY_DELAY,
) -> tuple[list[BatchResult], ChunkProgress]:
    """Standardize every unfinished batch of ``chunk`` on up to ``workers`` threads; returns all its results (in
    batch order, stored ones included) and the final progress.

    Args:
        standardize: ``(batch, hold)`` -> the batch's result (one DeepSeek request, or the rules); it enters
            ``hold()`` around its request only (``Standardizer.standardize``).
        results: where finished batches are stored / found.
        slot: ``slot(batch_key)`` is the context manager ``hold()`` enters (one pool slot per request in flight).
        dead_letter: ``(batch, last error, tries)`` -> the dead-letter result, after ``tries`` retryable failures.
        retryable: exceptions after which a batch is tried again (after ``retry_delay`` x 2^n seconds, +-50 %).
        on_result: called (in the batch's thread) with every new result before it is stored (e.g. the cache).
        on_progress: called from the calling thread at most every :data:`PROGRESS_EVERY` seconds while batches run.
        batches: the chunk's batches when the caller read them already (:meth:`Chunk.read_batches`); None: read
            here, only the chunk's slice of the rows file.

    Raises:
        Any non-retryable exception of ``standardize`` (e.g. ``DeepSeekFatal``): no new batch is started, the
        requests in flight are let finish (their results are stored), then the first such exception is raised.
        ``KeyboardInterrupt`` (a cancelled run) stops at once: batches not started are dropped.
    """
    batches = chunk.read_batches() if batches is None else tuple(batches)
    progress = ChunkProgress()
    done: dict[str, BatchResult] = {}
    todo: list[Batch] = []
    for batch in batches:
        stored = results.get(batch.mapping_key)
        if stored is None:
            todo.append(batch)
            continue
        done[batch.mapping_key] = stored
        progress.reused += 1
        _count(progress, batch, stored)
    stop = threading.Event()
    lock = threading.Lock()

    def work(batch: Batch) -> BatchResult | None:
        try:
            return attempt_batch(batch)
        except BaseException:
            stop.set()  # no further batch starts on any thread
            raise

    def attempt_batch(batch: Batch) -> BatchResult | None:
        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            with slot(batch.mapping_key):
                if stop.is_set():  # stopped while this thread waited for a slot
                    raise _Stopped
                yield

        for attempt in range(1, tries + 1):
            if stop.is_set():
                return None
            try:
                result = standardize(batch, hold)
            except _Stopped:
                return None
            except retryable as exc:
                if attempt == tries:
                    result = dead_letter(batch, exc, attempt)
                    break
                time.sleep(retry_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
                continue
            break
        if on_result is not None:
            on_result(batch, result)
        results.put(result)
        with lock:
            _count(progress, batch, result)
        return result

    first_error: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=f"easycrm-{chunk.mapping_key}")
    try:
        futures = {pool.submit(work, batch): batch for batch in todo}
        pending = set(futures)
        last_report = time.monotonic()
        while pending:
            finished, pending = wait(pending, timeout=PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            for future in finished:
                exc = future.exception()
                if exc is not None:
                    stop.set()
                    first_error = first_error or exc
                elif future.result() is not None:
                    done[futures[future].mapping_key] = future.result()
            if on_progress is not None and pending and time.monotonic() - last_report >= PROGRESS_EVERY:
                with lock:
                    on_progress(progress)
                last_report = time.monotonic()
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if first_error is not None:
        raise first_error
    return [done[b.mapping_key] for b in batches], progress


def _count(progress: ChunkProgress, batch: Batch, result: BatchResult) -> None:
    progress.batches_done += 1
    progress.rows_done += len(batch.rows)
    progress.tokens += result.tokens
    progress.cost_usd += result.cost_usd
    if result.failed:
        progress.failed[batch.mapping_key] = result.error or "dead letter"
