"""One slot of a Dagster pool per DeepSeek request, claimed from inside a step.

Dagster's own pool handling (``@op(pool=...)``) claims one slot per *step*. A chunk step sends up to 5 requests at
once, so it claims one slot per *request* instead, through the instance's concurrency-slot storage (the same
tables, limits and FIFO queue Dagster's executors use; PostgreSQL in the scale profile, so the limit holds across
runs and Celery workers):

* ``claim_concurrency_slot(pool, run_id, slot_key, priority)`` queues ``slot_key`` and returns whether it holds a
  slot; asking again checks the queue (a freed slot is assigned to the oldest waiting key);
* ``free_concurrency_slot_for_step(run_id, slot_key)`` gives it back; when a run ends, Dagster's
  ``free_concurrency_slots_for_run(run_id)`` (run monitoring, ``easycrm cancel``, the dead-run reaper) frees every
  key of the run, ours included.

``slot_key`` is ``<step key>#<n>`` (distinct per slot a step holds; the UI's pool page lists it like a step).

Dagster's SQLite storage (the local default) takes a free slot row with ``SELECT ... FOR UPDATE SKIP LOCKED`` and
then updates it by id; SQLite ignores ``FOR UPDATE``, so two processes claiming at the same moment can both take the
same row and a 6th request runs (seen under load: 6 in flight at the fake DeepSeek). Claims on this host are
therefore serialized through a file lock in the instance's root directory (:func:`_claims_serialized`); PostgreSQL
(the scale profile) locks the row itself.

These methods live on ``instance.event_log_storage`` (no ``dagster._`` import, but not a documented API): this
module is the only user, and ``easycrm_tests/dagster_defs/test_pool_slots.py`` fails loudly when an upgrade
changes them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import time
from collections.abc import Iterator

#: Seconds between two checks of a queued claim (a freed slot idles at most this long).
POLL_SECONDS = 0.05
#: Seconds a claimed slot passes from one request of a step to the next before it checks whether another step or
#: run waits for the pool (then the slot goes back to the queue, else it is kept for as long again).
LEASE_SECONDS = 10.0


def pool_limit(instance, pool: str) -> int | None:
    """The instance's limit for ``pool``, or None when the pool is not limited (no limit set, no default limit).

    Mirrors Dagster's executors: a pool without a limit but with ``concurrency.pools.default_limit`` configured is
    initialized to that default first — under the claims' file lock, because run processes starting together would
    each initialize it and add their own slot rows (a pool of 5 with 10 rows lets a 6th request run).
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return None
    default = storage.get_pool_config().default_pool_limit
    limits = {p.name: p for p in storage.get_pool_limits()}
    if pool not in limits and default is not None:
        with _claims_serialized(_lock_dir(instance)):
            limits = {p.name: p for p in storage.get_pool_limits()}
            if pool not in limits:
                storage.initialize_concurrency_limit_to_default(pool)
                limits = {p.name: p for p in storage.get_pool_limits()}
    found = limits.get(pool)
    return None if found is None else found.limit


def _lock_dir(instance) -> str | None:
    """The instance's root directory (where the claims' lock file lives), or None when it has none on this host."""
    root = getattr(instance, "root_directory", None)
    return root if root and os.path.isdir(root) else None


@contextlib.contextmanager
def _claims_serialized(lock_dir: str | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<lock_dir>/.pool-claims.lock`` (nothing when ``lock_dir`` is None).

    ``flock`` locks belong to an open file description, so threads of one process exclude each other too."""
    if not lock_dir:
        yield
        return
    with open(os.path.join(lock_dir, ".pool-claims.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class PoolSlots:
    """Claims and frees slots of ``pool`` for the requests of one step of the run ``run_id``.

    ``hold()`` is a context manager held around one request: it waits (polling every :data:`POLL_SECONDS`) until
    it holds a slot. With no limit on the pool it holds nothing. Threads of one process first take a local
    semaphore of the pool's size, so at most ``limit`` of them hold or wait for slots, and only one of them at a time
    polls the instance's queue (each poll is a storage write under the claims' lock: three runs with five polling
    threads each kept that lock busy and slowed every other claim and free).

    A slot (a *lease*, key ``<step key>#<n>``) whose request ended passes straight to a thread of the same step that
    waits for one. Every :data:`LEASE_SECONDS` the lease looks at the pool's queue (one read): when a request of
    another step or run waits there, the lease goes back to the instance's FIFO queue, where that request comes
    first; when nobody else waits, the lease is kept for another :data:`LEASE_SECONDS`. That saves a free + claim
    (two storage writes under the claims' lock, ~0.1 s on a loaded machine) between consecutive requests while
    keeping the pool fair across runs. ``close()`` frees the leases left idle.
    """

    def __init__(self, instance, pool: str, run_id: str, step_key: str):
        self.storage = instance.event_log_storage
        self._lock_dir = _lock_dir(instance)
        self.pool = pool
        self.run_id = run_id
        self.step_key = step_key
        self.limit = pool_limit(instance, pool)
        self._local = threading.BoundedSemaphore(self.limit) if self.limit else None
        self._lock = threading.Lock()
        self._idle: list[tuple[str, float]] = []  # (lease key, claimed at, monotonic)
        self._waiting = 0
        self._leases = 0
        self._closed = threading.Event()
        self._claiming = threading.Lock()

    def _claim(self) -> tuple[str, float]:
        """Queue a new key and poll until it holds a slot, or until another request of this step hands one over."""
        with self._lock:
            self._leases += 1
            key = f"{self.step_key}#{self._leases}"
        try:
            while not self._try_claim(key):
                if self._closed.is_set():  # the step ended (cancelled, failed): don't wait for a slot any more
                    raise RuntimeError(f"{self.step_key}: stopped while waiting for a {self.pool} slot")
                time.sleep(POLL_SECONDS * random.uniform(0.8, 1.2))
                handed = self._take_idle()
                if handed is not None:  # drop the queue entry (or the slot just assigned to it)
                    self.storage.free_concurrency_slot_for_step(self.run_id, key)
                    return handed
        except BaseException:
            # also when interrupted while queued: drop the queue entry, or it would take the next freed slot
            self.storage.free_concurrency_slot_for_step(self.run_id, key)
            raise
        return key, time.monotonic()

    def _try_claim(self, key: str) -> bool:
        with _claims_serialized(self._lock_dir):
            return self.storage.claim_concurrency_slot(self.pool, self.run_id, key, 0).is_claimed

    def _take_idle(self) -> tuple[str, float] | None:
        """A lease another request of this step left for the waiting ones (renewed or given back, ``_renewed``)."""
        with self._lock:
            lease = self._idle.pop() if self._idle else None
        return None if lease is None else self._renewed(lease)

    @contextlib.contextmanager
    def hold(self, _key: str = "") -> Iterator[None]:
        """Hold one slot of the pool while the block runs (``_key``, the batch, is only for the caller's logs)."""
        if self.limit is None:
            yield
            return
        with self._lock:
            self._waiting += 1  # until this thread has a lease: a request ending meanwhile hands its lease over
        try:
            self._local.acquire()
        except BaseException:
            with self._lock:
                self._waiting -= 1
            raise
        lease = None
        try:
            try:
                lease = self._take_idle()
                if lease is None:
                    with self._claiming:  # one thread of the step polls the queue; the others wait here
                        lease = self._take_idle() or self._claim()
            finally:
                with self._lock:
                    self._waiting -= 1
            yield
        finally:
            if lease is not None:
                with self._lock:
                    keep = self._waiting > 0 and not self._closed.is_set()
                    if keep:
                        self._idle.append(lease)
                if not keep:
                    self.storage.free_concurrency_slot_for_step(self.run_id, lease[0])
            self._local.release()

    def _renewed(self, lease: tuple[str, float]) -> tuple[str, float] | None:
        """``lease`` while it is younger than :data:`LEASE_SECONDS`; an older one renewed when no other step or run
        waits for the pool, else freed (None: the caller queues a new claim behind the others)."""
        key, claimed = lease
        if time.monotonic() - claimed < LEASE_SECONDS:
            return lease
        mine = f"{self.step_key}#"
        others = [
            p for p in self.storage.get_concurrency_info(self.pool).pending_steps
            if p.assigned_timestamp is None and not (p.run_id == self.run_id and p.step_key.startswith(mine))
        ]
        if not others:
            return key, time.monotonic()
        self.storage.free_concurrency_slot_for_step(self.run_id, key)
        return None

    def close(self) -> None:
        """Free the leases no request holds; threads still waiting for a slot give up (``RuntimeError``)."""
        self._closed.set()
        with self._lock:
            idle, self._idle = self._idle, []
        for key, _claimed in idle:
            self.storage.free_concurrency_slot_for_step(self.run_id, key)


def free_run_slots(instance, run_id: str) -> None:
    """Free every slot (and queue entry) the run ``run_id`` holds in any pool."""
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
