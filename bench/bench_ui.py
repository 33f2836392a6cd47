"""Issue 14's speed measure: a partition materialized from the Dagster UI against ``easycrm ingest`` of the same kind
of file (same size, same fake DeepSeek latency, nothing cached for either).

* :func:`start_services`: ``dagster-webserver`` (free loopback port) and ``dagster-daemon`` on the bench's fresh
  ``DAGSTER_HOME``, each in its own process group, stopped by :func:`stop_services`.
* :func:`register_partition`: keeps a file content-addressed and adds its ``lead_files`` partition without a run — what
  an earlier ingest leaves behind, so the UI's Materialize can resolve the partition key to the file.
* :func:`materialize_like_the_ui`: submits ``ingest_job`` through the webserver's GraphQL API the way the UI's
  Materialize button does (the partition tag and the asset selection, no run config, no other tag) and waits for the
  run to end; returns the seconds from the submit to the run's end and its status.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_services(env: dict[str, str], cwd: Path, logs: Path, timeout: float = 120.0) -> tuple[int, list]:
    """Start the webserver and the daemon with ``env``; wait until the webserver answers. Returns ``(port, procs)``.

    Raises:
        RuntimeError: a service exited, or the webserver did not answer within ``timeout`` seconds.
    """
    port = _free_port()
    workspace = str(cwd / "workspace.yaml")
    commands = {
        "webserver.log": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", workspace],
        "daemon.log": [str(BIN / "dagster-daemon"), "run", "-w", workspace],
    }
    procs = []
    for name, cmd in commands.items():
        with open(logs / name, "wb") as fh:
            procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            stop_services(procs)
            raise RuntimeError(f"a Dagster service exited; see {logs}")
        try:
            with opener.open(f"http://127.0.0.1:{port}/server_info", timeout=5) as resp:
                if resp.status == 200:
                    return port, procs
        except OSError:
            time.sleep(1.0)
    stop_services(procs)
    raise RuntimeError(f"the webserver did not answer within {timeout:.0f} s; see {logs}")


def stop_services(procs: list) -> None:
    """SIGTERM each service's process group, SIGKILL what is left after 15 s."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def register_partition(env: dict[str, str], cwd: Path, path: Path) -> None:
    """Keep ``path`` (content-addressed) and add its ``lead_files`` partition, in a subprocess with ``env``.

    Raises:
        subprocess.CalledProcessError: the registration failed.
    """
    code = (
        "import sys, dagster as dg\n"
        "from pathlib import Path\n"
        "from easycrm_pipeline.dropzone.files import keep\n"
        "p = Path(sys.argv[1])\n"
        "keep(p, p.name, p.name, str(p))\n"
        "dg.DagsterInstance.get().add_dynamic_partitions('lead_files', [p.name])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], env=env, cwd=cwd, check=True, capture_output=True)


def materialize_like_the_ui(port: int, partition: str, home: Path, timeout: float) -> tuple[float, str]:
    """Submit ``ingest_job`` for ``partition`` (asset selection ``leads``, no run config) over GraphQL and wait.

    Returns:
        ``(seconds from the submit to the run's end, the run's final status name)``; ``(timeout, "TIMEOUT")`` when
        it did not end in time.
    """
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    instance = dg.DagsterInstance.from_config(str(home))
    t0 = time.time()
    run_id = client.submit_job_execution("ingest_job", tags={"dagster/partition": partition},
                                         asset_selection=["leads"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = instance.get_run_record_by_id(run_id)
        if record is not None and record.dagster_run.is_finished:
            end = record.end_time or time.time()
            return end - t0, record.dagster_run.status.value
        time.sleep(0.2)
    return timeout, "TIMEOUT"
