"""Helpers for the store tests that run several OS processes (``_worker`` subprocesses)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from easycrm_tests.store._worker import writer_emails

ROOT = Path(__file__).resolve().parents[2]


def worker(*args: str) -> subprocess.Popen:
    """Start ``python -m easycrm_tests.store._worker ARGS`` from the project root (text pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "easycrm_tests.store._worker", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def kill_worker(proc: subprocess.Popen, marker: str, delay: float = 0.0) -> None:
    """Wait for ``marker`` on the worker's stdout, sleep ``delay`` s, then ``kill -9`` it (always reaped)."""
    try:
        wait_for_line(proc, marker)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float = 60) -> None:
    """Read the worker's stdout until a line equal to ``marker`` (fails on EOF or timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"worker ended before {marker!r}: {proc.stderr.read()}")
        if line.strip() == marker:
            return
    pytest.fail(f"no {marker!r} within {timeout} s")


def three_writers_and_a_reader(store, spec: str, tmp_path: Path, files_per_writer: int = 4, pool: int = 1000) -> None:
    """Run 3 writer processes (overlapping emails, see ``_worker.writer_emails``) and a reader process at once
    against ``store`` (opened by the workers from ``spec``), then assert: no errors, exactly one lead per email,
    every call's created/updated rows in the audit trail, an unbroken before/after chain per email ending in the
    lead's current values, and a reader that kept reading and never saw the count go down."""
    stop = tmp_path / "stop-reading"
    start_at = time.time() + 2.0  # all three begin together, after their imports (~1 s)
    reader = worker("read", spec, str(stop))
    writers = [worker("write", spec, str(k), str(files_per_writer), str(start_at), str(pool)) for k in range(3)]
    results = []
    try:
        for w in writers:
            out, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
            assert "lock" not in err.lower(), err[-2000:]
            results.extend(json.loads(out))
    finally:
        stop.touch()
        r_out, r_err = reader.communicate(timeout=60)
    assert reader.returncode == 0, r_err
    reads = json.loads(r_out)

    expected_emails = {f"p{i}@example.com" for k in range(3) for j in range(files_per_writer)
                       for i in writer_emails(k, j, pool)}
    # exactly one lead per email
    leads = store.all_leads()
    emails = [r["email"] for r in leads]
    assert len(emails) == len(set(emails)) == len(expected_emails) == pool, (len(emails), len(set(emails)))
    assert set(emails) == expected_emails
    # every call's work is in the audit trail, and nothing else
    assert len(results) == 3 * files_per_writer
    per_file = pool * 2 // 5
    assert sum(r["created"] for r in results) == pool
    assert all(r["unchanged"] == 0 and r["created"] + r["updated"] == per_file for r in results)
    changes = store.changes()
    assert len(changes) == sum(r["created"] + r["updated"] for r in results) == 3 * files_per_writer * per_file
    for r in results:
        mine = store.changes(run_id=r["run_id"])
        assert sum(c["action"] == "lead_created" for c in mine) == r["created"]
        assert sum(c["action"] == "lead_updated" for c in mine) == r["updated"]
    # per email: the audit rows form an unbroken chain (no lost update) ending in the lead's current title
    by_email: dict[str, list[dict]] = {}
    for c in changes:
        by_email.setdefault(c["email"], []).append(c)
    leads_by_email = {r["email"]: r for r in leads}
    for email, chain in by_email.items():
        assert chain[0]["action"] == "lead_created"
        for prev, nxt in zip(chain, chain[1:]):
            assert nxt["fieldsChanged"]["title"]["before"] == prev["fieldsChanged"]["title"]["after"], [
                (c["at"], c["action"], c["fieldsChanged"]["title"], c["runId"]) for c in chain]
            assert nxt["previousSourceFile"] == prev["newSourceFile"]
        assert [c["at"] for c in chain] == sorted(c["at"] for c in chain)  # time follows the commit order
        final = leads_by_email[email]
        assert final["title"] == chain[-1]["fieldsChanged"]["title"]["after"]
        assert final["sourceFile"] == chain[-1]["newSourceFile"]
        assert final["leadId"] == chain[0]["leadId"] == chain[-1]["leadId"]
    # the reader read the whole time, without errors, and never saw the count go down
    assert reads["errors"] == [], reads["errors"][:5]
    assert reads["reads"] >= 3, reads
    assert reads["counts"] == sorted(reads["counts"]), reads["counts"]
    assert reads["counts"][-1] <= pool
