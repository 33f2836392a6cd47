"""Breaker 2: where an export goes (readers/export.py). A path that exists and is not a regular file (a FIFO here;
``/dev/stdout``, ``/dev/null`` or ``/dev/full`` for a user running as root) must be written into or refused, never
replaced by a new regular file."""
from __future__ import annotations

import os
import stat
import threading


from easycrm_pipeline.readers.export import ExportError, check_output_path, write_leads_csv


def test_an_existing_fifo_is_written_into_or_refused_not_replaced(tmp_path):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    try:
        check_output_path(fifo)
    except ExportError:
        return  # refused in one line: fine
    drained: list[bytes] = []
    threading.Thread(target=lambda: drained.append(open(fifo, "rb").read()), daemon=True).start()
    write_leads_csv([{"leadId": "x", "email": "a@example.org"}], fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
