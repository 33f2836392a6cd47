"""Pending-run markers (``dagster_defs/pending.py``): what ``easycrm ingest`` leaves for ``easycrm cancel`` before
its runs exist. Real files and real processes; the end-to-end cancel is in ``easycrm_tests/cli/test_runs.py``."""
import json
import os
import subprocess
import sys
import time

from easycrm_pipeline.dagster_defs.pending import announce, marker_path, pending_run


def test_announce_writes_a_live_marker_per_file_and_removes_it(tmp_path):
    before = time.time()
    with announce(tmp_path, ["a.csv", "odd/key ü.csv"]) as since:
        assert before <= since <= time.time()
        for key in ("a.csv", "odd/key ü.csv"):
            marker = pending_run(tmp_path, ["nothing.csv", key])
            assert (marker.partition, marker.owner_pid, marker.since) == (key, os.getpid(), since)
        assert pending_run(tmp_path, ["b.csv"]) is None
    assert pending_run(tmp_path, ["a.csv"]) is None and not list((tmp_path / ".easycrm-pending").glob("*"))


def test_a_marker_of_a_process_that_died_is_not_pending(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    path = marker_path(tmp_path, "a.csv")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"partition": "a.csv", "ownerPid": dead_pid, "since": time.time()}))
    assert pending_run(tmp_path, ["a.csv"]) is None


def test_a_marker_another_ingest_wrote_meanwhile_is_left_to_it(tmp_path):
    with announce(tmp_path, ["a.csv"]):
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            path = marker_path(tmp_path, "a.csv")
            path.write_text(json.dumps({"partition": "a.csv", "ownerPid": other.pid, "since": time.time()}))
        except BaseException:
            other.kill()
            raise
    try:
        assert pending_run(tmp_path, ["a.csv"]).owner_pid == other.pid
    finally:
        other.kill()
        other.wait()
    assert pending_run(tmp_path, ["a.csv"]) is None  # its owner is gone


def test_an_unreadable_marker_is_not_pending(tmp_path):
    path = marker_path(tmp_path, "a.csv")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert pending_run(tmp_path, ["a.csv"]) is None
