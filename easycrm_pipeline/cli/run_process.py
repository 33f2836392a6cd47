"""``easycrm ingest``'s handle on one file's run process (``python -m easycrm_pipeline.cli.run_file``).

No Dagster here: the waiting ``easycrm ingest`` process only starts the run processes, reads their progress lines
and, when each has ended, its result file (``run_file.write_result``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from easycrm_pipeline.cli.instance import child_env
from easycrm_pipeline.cli.progress import parse_progress
from easycrm_pipeline.dropzone.rules import cli_partition_key, display_name


def flatten(result: dict, name: str) -> dict:
    """A run process's outcome as ``easycrm ingest --json`` shows it: ``file``, ``status``, ``run_id``, ``error``
    and the ``FileStats`` fields flattened in (docs/contracts.md#command-line)."""
    flat = {"file": name, "status": result["status"], "run_id": result["run_id"], "error": result["error"]}
    flat.update({k: v for k, v in (result.get("stats") or {}).items() if k != "file"})
    return flat


class RunProcess:
    """One file's run process.

    The process gets a process group of its own: a Ctrl-C at the terminal reaches only ``easycrm ingest``, which
    cancels the run through Dagster (a bare SIGINT would end the run FAILURE, and run retries would start it again).
    Its stdout and stderr are drained at once by two threads: reading the processes one after the other would let a
    later run fill its 64 KB stderr pipe (Dagster's console log) and block until the earlier runs have ended.

    Args:
        path: the file; result_file: where the process writes its outcome (JSON; absent if it died);
        progress: ask the process for ``EASYCRM_PROGRESS`` lines.

    Attributes:
        proc: the ``subprocess.Popen``; progress: the last ``run_progress`` dict it sent, None before its first.
        name: the file's base name as shown and stored (``sourceFile``), bidi/control characters escaped
            (``dropzone.rules.display_name``); partition: its ``lead_files`` key (``cli_partition_key``).
    """

    def __init__(self, path: Path, result_file: Path, progress: bool = False) -> None:
        # shown and stored escaped like the sensors' names (bidi/control characters); the real path is read
        self.path, self.name, self.partition = path, display_name(path.name), cli_partition_key(path.name)
        self.result_file = result_file
        self.progress: dict | None = None
        cmd = [
            sys.executable, "-m", "easycrm_pipeline.cli.run_file",
            "--partition", self.partition, "--location", str(path), "--file-name", self.name,
            "--result-file", str(result_file), *(["--progress"] if progress else []),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, process_group=0,
                                     env=child_env())
        self.stderr = ""
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            got = parse_progress(line)
            if got is not None:
                self.progress = got

    def _read_err(self) -> None:
        self.stderr = self.proc.stderr.read()

    @property
    def running(self) -> bool:
        """True until the process has closed its output (it is ending or has ended)."""
        return any(reader.is_alive() for reader in self._readers)

    def wait(self) -> None:
        """Wait until the process has ended and its output is read."""
        for reader in self._readers:
            reader.join()
        self.proc.wait()

    def result(self) -> dict | None:
        """The outcome the process wrote (:func:`flatten`), or None when it wrote none (it died: killed, out of
        memory - the caller ends its run: ``dagster_defs.cancel.end_run_of_dead_process``)."""
        self.wait()
        try:
            return flatten(json.loads(self.result_file.read_text(encoding="utf-8")), self.name)
        except (OSError, ValueError):
            return None
