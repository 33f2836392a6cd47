"""Folder and S3 listings (the S3 paging against a real moto server lives in easycrm_tests/dagster_defs)."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from easycrm_pipeline.dropzone import DropFile, scan_folder, scan_s3


def _write(path: Path, data: bytes, age: float = 10.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    old = time.time() - age
    os.utime(path, (old, old))
    return path


def test_scan_folder_recursive_with_odd_names_and_ignores(tmp_path: Path) -> None:
    inbox = tmp_path / "box"
    _write(inbox / "leads.csv", b"email\na@x.com\n")
    _write(inbox / "sub dir" / "Léads 2024.csv", b"email\nb@x.com\n")
    _write(inbox / "a" / "b" / "深い.XLSX", b"PK fake")
    _write(inbox / "~$lock.xlsx", b"lock")
    _write(inbox / "notes.pdf", b"hello")
    _write(inbox / ".hidden.csv", b"x")
    _write(inbox / ".tmp" / "partial.csv", b"x")
    _write(inbox / "empty.csv", b"")
    (inbox / "empty folder").mkdir()
    ignored: list[tuple[str, str]] = []

    files = scan_folder(inbox, settle_seconds=0, on_ignored=lambda n, r: ignored.append((n, r)))

    assert [f.partition_key for f in files] == ["a/b/深い.XLSX", "leads.csv", "sub dir/Léads 2024.csv"]
    leads = files[1]
    body = b"email\na@x.com\n"
    assert leads == DropFile(
        partition_key="leads.csv",
        location=str(inbox.absolute() / "leads.csv"),
        file_name="leads.csv",
        fingerprint=f"{hashlib.sha256(body).hexdigest()}:{len(body)}",
        size=len(body),
    )
    assert files[2].file_name == "Léads 2024.csv" and Path(files[2].location).is_file()
    reasons = dict(ignored)
    assert set(reasons) == {"~$lock.xlsx", "notes.pdf", ".hidden.csv", ".tmp/", "empty.csv"}
    assert "Excel lock file" in reasons["~$lock.xlsx"]
    assert "'.pdf'" in reasons["notes.pdf"]
    assert "hidden folder" in reasons[".tmp/"]
    assert "0 bytes" in reasons["empty.csv"]


def test_scan_folder_leaves_files_still_being_written(tmp_path: Path) -> None:
    inbox = tmp_path / "box"
    inbox.mkdir()
    (inbox / "fresh.csv").write_bytes(b"email\n")  # changed just now
    ignored: list[tuple[str, str]] = []
    assert scan_folder(inbox, settle_seconds=5, on_ignored=lambda n, r: ignored.append((n, r))) == []
    assert ignored and ignored[0][0] == "fresh.csv" and "still being written" in ignored[0][1]
    assert [f.file_name for f in scan_folder(inbox, settle_seconds=0)] == ["fresh.csv"]


def test_scan_folder_future_mtime_does_not_block_forever(tmp_path: Path) -> None:
    inbox = tmp_path / "box"
    path = _write(inbox / "from the future.csv", b"email\n", age=-3600)  # mtime one hour ahead (clock skew)
    assert path.stat().st_mtime > time.time() + 3000
    time.sleep(0.3)
    assert [f.file_name for f in scan_folder(inbox, settle_seconds=0.2)] == ["from the future.csv"]


def test_scan_folder_missing_inbox_is_empty(tmp_path: Path) -> None:
    assert scan_folder(tmp_path / "nope") == []


def test_scan_folder_hash_budget_defers_uncached_files(tmp_path: Path) -> None:
    inbox = tmp_path / "box"
    for i in range(3):
        _write(inbox / f"f{i}.csv", f"email\n{i}@x.com\n".encode())
    ignored: list[tuple[str, str]] = []
    # budget already exhausted before the first file: nothing new is hashed this time
    assert scan_folder(inbox, settle_seconds=0, hash_budget_seconds=-1,
                       on_ignored=lambda n, r: ignored.append((n, r))) == []
    assert [n for n, _ in ignored] == ["f0.csv", "f1.csv", "f2.csv"] and "deferred" in ignored[0][1]
    assert len(scan_folder(inbox, settle_seconds=0)) == 3
    # once hashed (cached), an exhausted budget no longer defers them
    assert len(scan_folder(inbox, settle_seconds=0, hash_budget_seconds=-1)) == 3


class _FakePaginator:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages, self.calls = pages, []

    def paginate(self, **kwargs: Any):
        self.calls.append(kwargs)
        for contents in self.pages:
            yield {"Contents": contents} if contents else {}


class _FakeClient:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.paginator = _FakePaginator(pages)

    def get_paginator(self, name: str) -> _FakePaginator:
        assert name == "list_objects_v2"
        return self.paginator


def test_scan_s3_reads_every_page_and_applies_rules() -> None:
    pages = [
        [{"Key": "uploads/", "Size": 0, "ETag": '"d41d8cd98f00b204e9800998ecf8427e"'},
         {"Key": "uploads/b.csv", "Size": 5, "ETag": '"e1"'}],
        [{"Key": "uploads/sub dir/Léads 2024.xlsx", "Size": 7, "ETag": '"abc-2"'},
         {"Key": "uploads/~$b.xlsx", "Size": 3, "ETag": '"e3"'},
         {"Key": "uploads/notes.pdf", "Size": 3, "ETag": '"e4"'}],
        [],
    ]
    client = _FakeClient(pages)
    ignored: list[tuple[str, str]] = []
    files = scan_s3(client, "bkt", "uploads/", on_ignored=lambda n, r: ignored.append((n, r)))
    assert client.paginator.calls == [{"Bucket": "bkt", "Prefix": "uploads/"}]
    assert files == [
        DropFile("s3://bkt/uploads/b.csv", "s3://bkt/uploads/b.csv", "b.csv", "e1:5", 5),
        DropFile("s3://bkt/uploads/sub dir/Léads 2024.xlsx", "s3://bkt/uploads/sub dir/Léads 2024.xlsx",
                 "Léads 2024.xlsx", "abc-2:7", 7),
    ]
    assert [n for n, _ in ignored] == ["uploads/", "uploads/~$b.xlsx", "uploads/notes.pdf"]
    assert "folder marker" in ignored[0][1]
