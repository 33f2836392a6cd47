"""The run tags the ingest runs carry: set by the sensors and the CLI, read by the ops, the checks and the dead-run
reaper.

Their own module (no imports) so that ``checks`` and ``dead_runs`` read them without importing ``ops``, which imports
both of them. ``ops`` re-exports them.
"""
from __future__ import annotations

#: Run tag carrying the file's location (absolute path or ``s3://bucket/key``), set by the sensors and the CLI.
LOCATION_TAG = "easycrm/location"
#: Run tag with the drop-zone fingerprint of the file's content (set by the sensors: ``<sha256>:<size>`` for folders).
FINGERPRINT_TAG = "easycrm/fingerprint"
#: Run tag carrying the file's base name (the leads' ``sourceFile``).
FILE_NAME_TAG = "easycrm/file_name"
#: Run tag with the pid of the process that executes the run (``easycrm cancel`` interrupts it; the dead-run reaper
#: fails the run when that process is gone).
PID_TAG = "easycrm/pid"
#: Run tag with the host name of that process (a pid means something only on its own host).
HOST_TAG = "easycrm/host"
