"""One ``deepseek`` pool slot per request (dagster_defs/pool_slots.py) on a real instance (temp DAGSTER_HOME with the
project's dagster.yaml: pool limit 5).

The first test is the upgrade canary: pool_slots uses the instance's concurrency-slot storage methods, which Dagster
does not document as public API. If an upgrade renames or reshapes them, it fails here, loudly, before any run
silently loses its DeepSeek limit.
"""
from __future__ import annotations

import inspect
import threading
import time

import dagster as dg
import pytest

from easycrm_pipeline.cli.instance import get_instance
from easycrm_pipeline.dagster_defs.pool_slots import PoolSlots, free_run_slots, pool_limit

RUN_A = "a" * 32
RUN_B = "b" * 32


def test_upgrade_canary_the_concurrency_slot_storage_methods_keep_their_shape():
    assert dg.__version__.startswith("1.13."), f"Dagster {dg.__version__}: re-check pool_slots.py, then this test"
    storage = get_instance().event_log_storage
    expected = {
        "claim_concurrency_slot": ["concurrency_key", "run_id", "step_key", "priority"],
        "free_concurrency_slot_for_step": ["run_id", "step_key"],
        "free_concurrency_slots_for_run": ["run_id"],
        "get_pool_limits": [],
        "get_pool_config": [],
        "initialize_concurrency_limit_to_default": ["concurrency_key"],
        "get_concurrency_info": ["concurrency_key"],
    }
    for name, params in expected.items():
        method = getattr(storage, name)
        assert list(inspect.signature(method).parameters) == params, name
    assert storage.supports_global_concurrency_limits
    assert pool_limit(get_instance(), "deepseek") == 5  # initializes the pool to the default limit
    status = storage.claim_concurrency_slot("deepseek", RUN_A, "canary", 0)
    assert status.is_claimed is True  # ConcurrencyClaimStatus.is_claimed, what PoolSlots polls
    storage.free_concurrency_slot_for_step(RUN_A, "canary")
    assert storage.get_concurrency_info("deepseek").claimed_slots == []


def test_pool_limit_comes_from_the_instance_and_an_unlimited_pool_holds_nothing():
    instance = get_instance()
    assert pool_limit(instance, "deepseek") == 5  # the project's default_limit, initialized like Dagster does
    slots = PoolSlots(instance, "deepseek", RUN_A, "leads.standardize_chunk[chunk_0001]")
    assert slots.limit == 5


def test_requests_of_two_runs_never_hold_more_slots_than_the_limit():
    """20 threads in each of two 'runs' (two PoolSlots, as two chunk steps of two runs) do 0.15 s requests: never
    more than 5 at once across both, and every slot is back in the pool afterwards."""
    instance = get_instance()
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "done": 0}

    def request(slots: PoolSlots) -> None:
        with slots.hold():
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.15)
            with lock:
                state["now"] -= 1
                state["done"] += 1

    runs = [PoolSlots(instance, "deepseek", run, f"leads.standardize_chunk[chunk_000{n}]")
            for n, run in enumerate((RUN_A, RUN_B))]
    threads = [threading.Thread(target=request, args=(runs[i % 2],)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for slots in runs:
        slots.close()
    assert state["done"] == 40
    assert state["peak"] == 5  # 40 requests of 0.15 s: the pool is the only thing that holds them back
    info = instance.event_log_storage.get_concurrency_info("deepseek")
    assert info.claimed_slots == [] and info.pending_steps == []


def test_a_queued_request_waits_for_a_freed_slot_and_a_dead_runs_slots_can_be_freed():
    instance = get_instance()
    holder = PoolSlots(instance, "deepseek", RUN_A, "leads.standardize_chunk[chunk_0001]")
    held = [holder.hold() for _ in range(5)]
    for cm in held:
        cm.__enter__()  # run A holds all 5 slots (as a killed run would, until freed)
    waiter = PoolSlots(instance, "deepseek", RUN_B, "leads.standardize_chunk[chunk_0001]")
    got = threading.Event()

    def wait_for_slot():
        with waiter.hold():
            got.set()

    thread = threading.Thread(target=wait_for_slot)
    thread.start()
    assert not got.wait(1.0)  # blocked: the pool is full
    free_run_slots(instance, RUN_A)  # what the dead-run reaper and run monitoring do for a dead run
    assert got.wait(30)
    thread.join(30)
    info = instance.event_log_storage.get_concurrency_info("deepseek")
    assert info.claimed_slots == []


def test_closing_the_step_s_slots_stops_its_threads_waiting_for_one():
    """A cancelled or failed chunk step closes its PoolSlots: a thread still queued for a slot gives up at once
    instead of keeping the process alive until another run frees one."""
    instance = get_instance()
    holder = PoolSlots(instance, "deepseek", RUN_A, "leads.standardize_chunk[chunk_0001]")
    held = [holder.hold() for _ in range(5)]
    for cm in held:
        cm.__enter__()
    waiter = PoolSlots(instance, "deepseek", RUN_B, "leads.standardize_chunk[chunk_0001]")
    errors = []

    def wait_for_slot():
        try:
            with waiter.hold():
                pass
        except RuntimeError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=wait_for_slot)
    thread.start()
    time.sleep(0.5)
    waiter.close()
    thread.join(10)
    assert not thread.is_alive() and errors and "stopped while waiting" in errors[0]
    info = instance.event_log_storage.get_concurrency_info("deepseek")
    assert all(s.run_id != RUN_B for s in info.pending_steps)  # its queue entry is gone too
    free_run_slots(instance, RUN_A)


@pytest.fixture(autouse=True)
def _fresh_instance(isolated_env):
    yield
    get_instance().dispose()


def _claiming_process(run_id: str, now, peak, done, requests: int) -> None:
    """One run process: ``requests`` threads each send 5 short requests in a row, counting holders in ``now``."""
    instance = get_instance()
    slots = PoolSlots(instance, "deepseek", run_id, "leads.standardize_chunk[chunk_0001]")

    def requests_in_a_row() -> None:
        for _ in range(5):
            with slots.hold():
                with now.get_lock():
                    now.value += 1
                    peak.value = max(peak.value, now.value)
                time.sleep(0.005)
                with now.get_lock():
                    now.value -= 1
                    done.value += 1

    threads = [threading.Thread(target=requests_in_a_row) for _ in range(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    slots.close()


def test_claims_racing_from_several_processes_never_exceed_the_limit():
    """Four processes claim at once with short requests: Dagster's SQLite storage takes a free slot row without
    locking it (SQLite ignores FOR UPDATE), so unserialized claims could hand one row to two processes and let a 6th
    request run; the claims are serialized, so never more than 5 hold a slot."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    now, peak, done = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Value("i", 0)
    runs = [c * 32 for c in "cdef"]
    procs = [ctx.Process(target=_claiming_process, args=(run, now, peak, done, 10)) for run in runs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert done.value == 200
    assert 1 <= peak.value <= 5
    assert get_instance().event_log_storage.get_concurrency_info("deepseek").claimed_slots == []


def _initializing_process(start) -> None:
    start.wait(30)
    assert pool_limit(get_instance(), "deepseek") == 5


def test_run_processes_starting_together_initialize_the_pool_once():
    """Every run process asks for the pool's limit as it starts; on a fresh instance each one would initialize the
    pool to its default and add 5 slot rows of its own (seen: a 6th request in flight). The pool keeps 5 rows."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_initializing_process, args=(start,)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    info = get_instance().event_log_storage.get_concurrency_info("deepseek")
    assert info.slot_count == 5


def _busy(slots: PoolSlots, stop: threading.Event, seconds: float = 0.02) -> None:
    while not stop.is_set():
        with slots.hold():
            time.sleep(seconds)


def test_a_step_keeps_its_slots_while_nobody_else_waits_and_gives_one_back_when_another_run_does(monkeypatch):
    """Leases checked every LEASE_SECONDS (0.2 s here): with no other request queued, the step's 10 busy threads keep
    the same 5 slot keys (no free + claim); once another run queues a request, it gets a slot while the first run's
    threads are still busy (not starved), and the limit holds throughout."""
    from easycrm_pipeline.dagster_defs import pool_slots

    monkeypatch.setattr(pool_slots, "LEASE_SECONDS", 0.2)
    instance = get_instance()
    storage = instance.event_log_storage
    busy = PoolSlots(instance, "deepseek", RUN_A, "leads.standardize_chunk[chunk_0001]")
    stop = threading.Event()
    threads = [threading.Thread(target=_busy, args=(busy, stop)) for _ in range(10)]
    for t in threads:
        t.start()
    try:
        seen = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # 7 lease periods
            claimed = storage.get_concurrency_info("deepseek").claimed_slots
            assert len(claimed) <= 5
            seen.append(frozenset(s.step_key for s in claimed))
            time.sleep(0.05)
        keys = frozenset().union(*seen)
        assert len(keys) == 5 and all(k.startswith("leads.standardize_chunk[chunk_0001]#") for k in keys)

        other = PoolSlots(instance, "deepseek", RUN_B, "leads.standardize_chunk[chunk_0001]")
        got = threading.Event()

        def one_request() -> None:
            with other.hold():
                assert len(storage.get_concurrency_info("deepseek").claimed_slots) <= 5
                got.set()

        waiter = threading.Thread(target=one_request)
        waiter.start()
        assert got.wait(30)  # while run A's 10 threads never stop asking
        waiter.join(10)
        other.close()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        busy.close()
    info = storage.get_concurrency_info("deepseek")
    assert info.claimed_slots == [] and info.pending_steps == []
