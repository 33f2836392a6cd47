"""The processed-files record and the new/changed/same decision."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.dropzone import DropFile, ProcessedRecord, diff


def _f(key: str, fp: str) -> DropFile:
    return DropFile(partition_key=key, location=f"/in/{key}", file_name=key.rsplit("/", 1)[-1], fingerprint=fp, size=1)


def test_new_same_changed() -> None:
    record = ProcessedRecord({"a.csv": "h1:1", "b.csv": "h2:1"})
    files = [_f("c.csv", "h3:1"), _f("b.csv", "h2-new:1"), _f("a.csv", "h1:1")]
    to_run, skipped = diff(files, record)
    assert [f.partition_key for f in to_run] == ["b.csv", "c.csv"]  # changed + new, sorted by key
    assert [f.partition_key for f in skipped] == ["a.csv"]


def test_empty_record_runs_everything_and_order_does_not_matter() -> None:
    files = [_f("z.csv", "1:1"), _f("a.csv", "2:1"), _f("m.csv", "3:1")]
    to_run, skipped = diff(files, ProcessedRecord())
    assert [f.partition_key for f in to_run] == ["a.csv", "m.csv", "z.csv"]
    assert skipped == []
    assert diff(list(reversed(files)), ProcessedRecord()) == (to_run, skipped)


def test_record_roundtrip_is_compact_and_deterministic() -> None:
    record = ProcessedRecord().with_processed([_f("sub dir/Léads 2024.csv", "abc:3"), _f("s3://b/k.csv", "e:9")])
    text = record.to_json()
    assert text == '{"files":{"s3://b/k.csv":"e:9","sub dir/Léads 2024.csv":"abc:3"},"v":1}'
    assert ProcessedRecord.from_json(text) == record
    assert dict(ProcessedRecord.from_json(text)) == {"s3://b/k.csv": "e:9", "sub dir/Léads 2024.csv": "abc:3"}


def test_with_processed_replaces_fingerprint_and_keeps_others() -> None:
    record = ProcessedRecord({"a.csv": "old:1", "gone.csv": "x:1"})
    new = record.with_processed([_f("a.csv", "new:1")])
    assert dict(new) == {"a.csv": "new:1", "gone.csv": "x:1"}
    assert dict(record) == {"a.csv": "old:1", "gone.csv": "x:1"}  # immutable


@pytest.mark.parametrize("empty", [None, ""])
def test_first_tick_has_empty_record(empty: str | None) -> None:
    assert len(ProcessedRecord.from_json(empty)) == 0


@pytest.mark.parametrize(
    "bad",
    ["uploads/2024-01-01.csv", "[1,2]", json.dumps({"v": 2, "files": {}}), json.dumps({"v": 1, "files": {"a": 1}})],
)
def test_foreign_cursor_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="processed-files record"):
        ProcessedRecord.from_json(bad)


def _d(key: str, fp: str, drop_id: str) -> DropFile:
    return DropFile(key, f"/in/{key}", key, fp, 1, drop_id=drop_id)


def test_drop_ids_roundtrip_and_tell_dropped_again_from_left_in_place() -> None:
    from easycrm_pipeline.dropzone import redropped

    record = ProcessedRecord().with_processed([_d("a.csv", "h:1", "t1"), _d("b.csv", "h:1", "t1")])
    text = record.to_json()
    assert json.loads(text)["drops"] == {"a.csv": "t1", "b.csv": "t1"}
    assert ProcessedRecord.from_json(text) == record and record.drop_id("a.csv") == "t1"
    assert _d("a.csv", "h:1", "t2") == _d("a.csv", "h:1", "t1")  # the drop id is not part of a file's identity
    files = [_d("a.csv", "h:1", "t2"), _d("b.csv", "h:1", "t1"), _d("c.csv", "h:1", "t9")]
    again, unchanged = redropped(files, ProcessedRecord.from_json(text))
    assert [f.partition_key for f in again] == ["a.csv"]
    # no recorded drop id (c.csv; a record written before drop ids): left in place, not looked up
    assert [f.partition_key for f in unchanged] == ["b.csv", "c.csv"]
    assert record.with_processed([_d("a.csv", "h:1", "t2")]).drop_id("a.csv") == "t2"
