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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from easycrm_pipeline.pipeline.batches import Batch, BatchResult

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
    """Consecutive batches of one file, standardized by one Dagster step.

    Attributes:
        number: 1-based chunk number in file order.
        total: chunks in the file.
        batches: the batches, in file order.
    """

    number: int
    total: int
    batches: tuple[Batch, ...]

    @property
    def mapping_key(self) -> str:
        """Dagster mapping key, e.g. ``chunk_0001`` (only ``[A-Za-z0-9_]`` allowed)."""
        return f"chunk_{self.number:04d}"

    @property
    def rows(self) -> int:
        """Raw rows in the chunk."""
        return sum(len(b.rows) for b in self.batches)


def batches_per_chunk(total_batches: int) -> int:
    """How many batches go into one chunk for a file of ``total_batches``: at least :data:`MIN_BATCHES_PER_CHUNK`,
    more when that would give over :data:`MAX_CHUNKS` chunks."""
    return max(MIN_BATCHES_PER_CHUNK, -(-total_batches // MAX_CHUNKS))


def make_chunks(batches: list[Batch]) -> list[Chunk]:
    """Cut ``batches`` (file order) into consecutive chunks of :func:`batches_per_chunk` batches (the last shorter)."""
    size = batches_per_chunk(len(batches))
    parts = [tuple(batches[i : i + size]) for i in range(0, len(batches), size)]
    return [Chunk(number=i + 1, total=len(parts), batches=part) for i, part in enumerate(parts)]


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

    Raises:
        Any non-retryable exception of ``standardize`` (e.g. ``DeepSeekFatal``): no new batch is started, the
        requests in flight are let finish (their results are stored), then the first such exception is raised.
        ``KeyboardInterrupt`` (a cancelled run) stops at once: batches not started are dropped.
    """
    progress = ChunkProgress()
    done: dict[str, BatchResult] = {}
    todo: list[Batch] = []
    for batch in chunk.batches:
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
    return [done[b.mapping_key] for b in chunk.batches], progress


def _count(progress: ChunkProgress, batch: Batch, result: BatchResult) -> None:
    progress.batches_done += 1
    progress.rows_done += len(batch.rows)
    progress.tokens += result.tokens
    progress.cost_usd += result.cost_usd
    if result.failed:
        progress.failed[batch.mapping_key] = result.error or "dead letter"
