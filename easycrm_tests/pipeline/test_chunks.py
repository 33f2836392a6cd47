"""Chunks of batches (pipeline/chunks.py): the sizing that bounds a run's Dagster steps, and ``run_chunk`` against the
fake DeepSeek server: each batch one request, a fatal error stops the chunk with its finished batches stored, a chunk
run again sends only its unfinished batches, a batch failing 3 times goes to the dead letter."""
from __future__ import annotations

import pickle

import pytest

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed, DeepSeekFatal
from easycrm_pipeline.models import RawRow
from easycrm_pipeline.pipeline.batches import make_batches
from easycrm_pipeline.pipeline.chunks import (
    MAX_CHUNKS,
    TRIES,
    BatchResults,
    batches_per_chunk,
    make_chunks,
    run_chunk,
)
from easycrm_pipeline.pipeline.rowfile import RowFile, write_rows
from easycrm_pipeline.pipeline.standardizer import DeepSeekOptions, dead_letter, make_standardizer
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek


def rows(n: int) -> list[RawRow]:
    return [
        RawRow(f"0:{i + 2}", None, i + 2, (("First Name", f"ann{i}"), ("Last Name", "LEE"), ("Email", f"a{i}@x.example")))
        for i in range(n)
    ]


def first_chunk(n: int, directory, batch_size: int = 10):
    """The first chunk of ``n`` rows written to a rows file in ``directory`` (what the parse step hands on)."""
    return make_chunks(write_rows(directory / "to_send.parquet", rows(n)), batch_size)[0]


@pytest.mark.parametrize(
    ("leads", "chunks", "per_chunk"),
    [
        (30, 1, 500),  # a small file: one step
        (1_000, 1, 500),  # the bench's 1k file: one step of 100 batches
        (50_000, 10, 500),  # the 50k file: 10 steps (<= 500)
        (1_048_576, 200, 525),  # HubSpot's per-file maximum: capped at MAX_CHUNKS steps
    ],
)
def test_chunk_count_is_bounded_whatever_the_file_size(leads, chunks, per_chunk):
    total_batches = -(-leads // 10)
    assert batches_per_chunk(total_batches) == per_chunk
    assert -(-total_batches // per_chunk) == chunks <= MAX_CHUNKS


def test_chunks_are_consecutive_batches_in_file_order(tmp_path):
    batches = make_batches(rows(12_340), 10)
    chunks = make_chunks(write_rows(tmp_path / "to_send.parquet", rows(12_340)), 10)
    assert [c.mapping_key for c in chunks] == ["chunk_0001", "chunk_0002", "chunk_0003"]
    assert [c.batch_count for c in chunks] == [500, 500, 234]
    assert [b for c in chunks for b in c.read_batches()] == batches
    assert chunks[-1].rows == 2_340 and all(c.total == 3 for c in chunks)


@pytest.mark.parametrize("n", [1, 10, 11, 5_001])
def test_a_chunks_slice_gives_the_batches_of_the_in_memory_split(tmp_path, n):
    """Each chunk read from the rows file gives the batches (numbers, totals, keys, rows) that cutting the rows held
    in memory gives: the batch journal, the cache, progress and the dead letter see the same keys."""
    old = make_batches(rows(n), 10)
    size = batches_per_chunk(len(old))
    expected = [old[i : i + size] for i in range(0, len(old), size)]
    chunks = make_chunks(write_rows(tmp_path / "to_send.parquet", rows(n)), 10)
    assert [list(c.read_batches()) for c in chunks] == expected
    assert [c.rows for c in chunks] == [sum(len(b.rows) for b in part) for part in expected]
    assert [[ref[0] for ref in c.batch_refs] for c in chunks] == [[b.mapping_key for b in part] for part in expected]
    assert all(c.total_batches == len(old) for c in chunks)


def test_the_batch_refs_of_a_big_file_follow_its_rows():
    """More than MAX_CHUNKS x 500 batches (of 3 rows, the file's last batch of 2): chunks of 501 batches, the last
    one shorter; each batch ref names its key, first row and row count (nothing is read to make the chunks)."""
    n = 3 * (MAX_CHUNKS * 500 + 7) - 1
    big = make_chunks(RowFile("/nowhere/to_send.parquet", n), 3)
    assert len(big) == MAX_CHUNKS and big[0].batch_count == 501
    refs = [ref for c in big for ref in c.batch_refs]
    assert [key for key, _, _ in refs] == [f"batch_{k:05d}" for k in range(1, MAX_CHUNKS * 500 + 8)]
    assert [first for _, first, _ in refs] == list(range(0, n, 3))
    assert {count for _, _, count in refs[:-1]} == {3} and refs[-1][2] == 2
    assert sum(c.rows for c in big) == n and big[-1].total_batches == len(refs)


def test_a_chunks_pickle_does_not_grow_with_its_rows(tmp_path):
    """A chunk travels between steps as a Dagster output (pickled): it names its rows, it does not carry them."""
    small = make_chunks(write_rows(tmp_path / "small.parquet", rows(10)), 10)[0]
    full = make_chunks(write_rows(tmp_path / "full.parquet", rows(5_000)), 10)[0]
    assert full.batch_count == 500 and full.rows == 5_000
    assert len(pickle.dumps(full)) < 2_000
    assert len(pickle.dumps(full)) - len(pickle.dumps(small)) < 50  # the path's length and a few integers


def _deepseek(monkeypatch, fake, **options):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
    return make_standardizer(get_settings(), DeepSeekOptions(**options))


def _dead(batch, exc, tries):
    return dead_letter(batch, f"DeepSeek failed after {tries} tries: {exc}")


def test_a_chunk_run_again_sends_only_its_unfinished_batches(isolated_env, monkeypatch):
    """A 401 on the 3rd request stops the chunk (no new batch starts); the batches finished before are stored, and
    running the chunk again (what a step retry or a re-execution from failure does) sends only the others."""
    chunk = first_chunk(60, isolated_env)
    store = BatchResults(isolated_env / "results")
    with FakeDeepSeek(latency=0.0) as fake:
        standardizer = _deepseek(monkeypatch, fake)
        fake.script([{}, {}, {"status": 401}])
        with pytest.raises(DeepSeekFatal):
            run_chunk(chunk, standardizer.standardize, store, dead_letter=_dead, workers=1)
        first = fake.request_ids()
        assert len(first) == 3  # one thread: batches 1 and 2 answered, the 3rd refused, the rest never sent
        finished = [key for key, _, _ in chunk.batch_refs if store.get(key) is not None]
        assert finished == ["batch_00001", "batch_00002"]

        results, progress = run_chunk(chunk, standardizer.standardize, store, dead_letter=_dead, workers=3)
        again = fake.request_ids()[3:]
    assert len(again) == 4  # batches 3-6 only
    sent_first = {i for ids in first[:2] for i in ids}
    assert not sent_first & {i for ids in again for i in ids}
    assert progress.reused == 2 and progress.batches_done == 6 and progress.rows_done == 60
    assert [r.batch for r in results] == [key for key, _, _ in chunk.batch_refs]
    assert sum(len(r.leads) for r in results) == 60


def test_a_batch_failing_every_try_goes_to_the_dead_letter_and_the_rest_stands(isolated_env, monkeypatch):
    chunk = first_chunk(20, isolated_env)
    store = BatchResults(isolated_env / "results")
    with FakeDeepSeek(latency=0.0) as fake:
        standardizer = _deepseek(monkeypatch, fake, max_attempts=1)
        fake.script([{"status": 503}] * TRIES)  # one thread: batch 1 gets the three 503s
        results, progress = run_chunk(
            chunk, standardizer.standardize, store, dead_letter=_dead, retryable=(DeepSeekBatchFailed,),
            workers=1, retry_delay=0.01,
        )
        assert fake.request_count == TRIES + 1
    assert results[0].failed and "after 3 tries" in results[0].error
    assert len(results[0].quarantine) == 10 and not results[0].leads
    assert not results[1].failed and len(results[1].leads) == 10
    assert progress.failed == {"batch_00001": results[0].error}
    assert store.get("batch_00001").failed  # a dead letter is finished: a retry does not send it again


def test_earlier_runs_results_count_as_finished(tmp_path):
    """A re-execution reads its parent run's directory (read only) before sending a batch."""
    chunk = first_chunk(20, tmp_path)
    parent = BatchResults(tmp_path / "parent")
    parent.put(_dead(chunk.read_batches()[0], "x", 3))
    child = BatchResults(tmp_path / "child", earlier=[tmp_path / "parent"])
    sent = []

    def standardize(batch, hold):
        sent.append(batch.mapping_key)
        return _dead(batch, "y", 1)

    results, progress = run_chunk(chunk, standardize, child, dead_letter=_dead)
    assert sent == ["batch_00002"] and progress.reused == 1
    assert (tmp_path / "child" / "batch_00002.pkl").exists() and not (tmp_path / "parent" / "batch_00002.pkl").exists()


def test_the_slot_is_held_around_the_request_only(isolated_env, monkeypatch):
    """``run_chunk`` gives the standardizer the slot as ``hold``: DeepSeek's standardizer enters it once per batch
    and sends exactly its request inside it (the rules' proposal before and the validation after run without a
    slot); the rules standardizer sends nothing and never takes a slot."""
    import contextlib

    chunk = first_chunk(30, isolated_env)
    with FakeDeepSeek(latency=0.05) as fake:
        standardizer = _deepseek(monkeypatch, fake)
        inside = []

        @contextlib.contextmanager
        def slot(key):
            before = fake.request_count
            yield
            inside.append((key, fake.request_count - before))

        results, progress = run_chunk(chunk, standardizer.standardize, BatchResults(isolated_env / "r"),
                                      slot=slot, dead_letter=_dead, workers=1)
        assert sorted(inside) == [("batch_00001", 1), ("batch_00002", 1), ("batch_00003", 1)]
        assert fake.request_count == 3 and progress.batches_done == 3
    assert sum(len(r.leads) for r in results) == 30

    monkeypatch.setenv("EASYCRM_LLM", "never")
    rules = make_standardizer(get_settings())
    taken = []
    run_chunk(chunk, rules.standardize, BatchResults(isolated_env / "rules"), slot=lambda key: taken.append(key)
              or contextlib.nullcontext(), dead_letter=_dead)
    assert taken == []
