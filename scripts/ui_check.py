"""``make ui-check``: screenshots of a fresh Dagster UI for a person to look at (not in CI).

Starts ``dagster dev`` on a free loopback port in a throw-away ``DAGSTER_HOME`` (with its own DuckDB file, inbox, kept
files and exports), with the test suite's fake DeepSeek; drops a good file, a bad one (text named ``.xlsx``) and a
partial one (DeepSeek refuses its one new batch: 10 rows go to the dead letter) into the inbox, waits for their runs,
then has headless Chromium (Debian's ``chromium``) save PNGs under ``data/ui-check/``:

* ``run_bad.png`` / ``run_partial.png`` — the run pages (tags ``easycrm/error``, ``easycrm/partial``);
* ``runs.png`` — the runs list;
* ``partition_partial.png`` / ``partition_bad.png`` — the ``leads`` partition pages with their checks;
* ``lineage.png`` — the asset lineage (``lead_files`` -> ``leads`` -> reports, check badges);
* ``lead_files.png`` — the ``lead_files`` partitions.

Everything it started is stopped at the end (SIGTERM to the process group, SIGKILL after 15 s).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "data" / "ui-check"
BIN = Path(sys.executable).parent
HEADER = "First Name,Last Name,Company,Title,Email,Phone,Notes\n"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--window-size=1600,1100",
]  # fmt: skip
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _csv(n: int, start: int, domain: str) -> str:
    return "".join(
        f"First{i},OKAFOR,Company {i % 7},buyer,Person{i}@{domain},+44 7700 9{i:05d},note {i}\n"
        for i in range(start, start + n)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    body = json.dumps({"query": query}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with _OPENER.open(req, timeout=30) as resp:
        return json.loads(resp.read())["data"]


def _wait_webserver(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dagster dev exited with {proc.returncode}")
        try:
            with _OPENER.open(f"http://127.0.0.1:{port}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"dagster dev did not answer within {timeout} s")


def _wait_run(instance, partition: str, timeout: float = 300):
    import dagster as dg

    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": partition}), limit=1)
        if records and records[0].dagster_run.status in finished:
            run = records[0].dagster_run
            print(f"  {partition}: run {run.run_id[:8]} {run.status.value}", flush=True)
            return run
        time.sleep(2)
    raise SystemExit(f"no finished run for {partition} within {timeout} s")


def _shot(port: int, path: str, name: str, chromium: str, profile: Path) -> Path:
    target = OUT / f"{name}.png"
    url = f"http://127.0.0.1:{port}{path}"
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile / name}", "--virtual-time-budget=20000",
           f"--screenshot={target}", url]  # fmt: skip
    subprocess.run(cmd, check=False, capture_output=True, timeout=120)
    print(f"  {target.relative_to(ROOT)}  <- {url}" if target.exists() else f"  FAILED {name} ({url})", flush=True)
    return target


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium not found: apt-get install chromium (make ui-check does it)")
    from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="easycrm-ui-check-"))
    home, inbox = tmp / "dagster_home", tmp / "inbox"
    home.mkdir()
    inbox.mkdir()
    shutil.copy(ROOT / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    proc = None
    with FakeDeepSeek(latency=0.3) as fake:
        env = dict(
            os.environ, DAGSTER_HOME=str(home), EASYCRM_DB=str(tmp / "leads.duckdb"), EASYCRM_INBOX=str(inbox),
            EASYCRM_FILES_DIR=str(tmp / "files"), EASYCRM_EXPORT_PATH=str(tmp / "exports" / "leads.csv"),
            EASYCRM_SENSOR_INTERVAL_SECONDS="5", DEEPSEEK_API_KEY="sk-ui-check", DEEPSEEK_BASE_URL=fake.base_url,
            PYTHONUNBUFFERED="1",
        )  # fmt: skip
        env.pop("EASYCRM_S3_BUCKET", None)
        os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "EASYCRM_DB")})
        log = open(tmp / "dagster_dev.log", "wb")
        cmd = [str(BIN / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
        print(f"dagster dev on http://127.0.0.1:{port} (DAGSTER_HOME={home})", flush=True)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_webserver(port, proc)
            import dagster as dg

            instance = dg.DagsterInstance.get()
            good = HEADER + _csv(20, 0, "good.example")
            (inbox / "good.csv").write_text(good, encoding="utf-8")
            (inbox / "bad.xlsx").write_text("meeting notes\nremember to call back\n", encoding="utf-8")
            print("dropped good.csv and bad.xlsx; waiting for their runs", flush=True)
            _wait_run(instance, "good.csv")
            bad = _wait_run(instance, "bad.xlsx")
            fake.default_action = {"status": 400}  # the partial file's one new batch is refused: dead letter
            (inbox / "partial.csv").write_text(good + _csv(10, 500, "new.example"), encoding="utf-8")
            print("dropped partial.csv; waiting for its run", flush=True)
            partial = _wait_run(instance, "partial.csv")
            time.sleep(5)  # let the UI's asset health catch up
            profile = tmp / "chromium"
            leads = urllib.parse.quote("leads")
            print("screenshots:", flush=True)
            _shot(port, f"/runs/{bad.run_id}", "run_bad", chromium, profile)
            _shot(port, f"/runs/{partial.run_id}", "run_partial", chromium, profile)
            _shot(port, "/runs", "runs", chromium, profile)
            for key in ("partial.csv", "bad.xlsx"):
                q = urllib.parse.urlencode({"view": "partitions", "partition": key})
                _shot(port, f"/assets/{leads}?{q}", f"partition_{key.split('.')[0]}", chromium, profile)
            _shot(port, "/asset-groups", "lineage", chromium, profile)
            q = urllib.parse.urlencode({"view": "partitions", "partition": "good.csv"})
            _shot(port, f"/assets/lead_files?{q}", "lead_files", chromium, profile)
            tags = {k: v for k, v in instance.get_run_by_id(partial.run_id).tags.items() if k.startswith("easycrm/")}
            print(f"partial run tags: {tags}")
            print(f"bad run reason: {instance.get_run_by_id(bad.run_id).tags.get('easycrm/error')}")
        finally:
            if proc is not None:
                _stop(proc)
            log.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"PNGs in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
