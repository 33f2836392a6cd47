"""``easycrm ingest`` at a terminal: live progress lines and Ctrl-C (issue 19).

``easycrm ingest`` runs as a user runs it: its own process, here on a pseudo-terminal (the ``pty`` module) whose
controlling terminal turns a written ``^C`` into SIGINT for the foreground process group, against real Dagster runs
on the test's temporary instance and the fake DeepSeek server with latency on loopback.
"""
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import dagster as dg
import duckdb
import pytest

from easycrm_pipeline.cli.progress import progress_cells
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek
from easycrm_tests.cli.test_runs import write_csv

#: Generous waits: other test suites load the same 2 cores.
RUN_TIMEOUT = 180.0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")


class Terminal:
    """``easycrm ARGS`` on a 200x50 pseudo-terminal (its controlling terminal, stdout and stderr); everything it
    writes is kept with the time it was read."""

    def __init__(self, *args: str) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "easycrm_pipeline.cli.main", *args],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.chunks: list[tuple[float, str]] = []

    def read(self, until=None, timeout: float = RUN_TIMEOUT) -> bool:
        """Read until ``until(text so far)`` is true (returns True), the process ends, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until(self.text):
                return True
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    data = b""
                if data:
                    self.chunks.append((time.monotonic(), data.decode("utf-8", "replace")))
                    continue
                if self.proc.poll() is not None:
                    break
            elif self.proc.poll() is not None and not ready:
                break
        return until is not None and until(self.text)

    def press_ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        self.read(timeout=timeout)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"easycrm did not end; output: {self.text[-3000:]}")
        finally:
            os.close(self.master)

    @property
    def text(self) -> str:
        return "".join(chunk for _, chunk in self.chunks)

    def lines(self) -> list[tuple[float, str]]:
        """Every line drawn (split at CR and LF, escape sequences removed) with the time it was read."""
        out = []
        for t, chunk in self.chunks:
            for piece in re.split(r"[\r\n]", ANSI.sub("", chunk)):
                if piece.strip():
                    out.append((t, piece.rstrip()))
        return out


def progress_lines(term: Terminal, name: str) -> list[tuple[float, str]]:
    """The progress lines of file ``name``: its name first, then a stage and a percentage."""
    return [(t, ln) for t, ln in term.lines() if ln.startswith(name) and re.search(r"\d+\.\d %", ln)]


def stored(tmp, source_file):
    db = tmp / "leads.duckdb"
    if not db.exists():
        return (0, 0, 0)
    con = duckdb.connect(str(db), read_only=True)
    try:
        return tuple(
            con.execute(f'SELECT count(*) FROM {table} WHERE "sourceFile" = ?', [source_file]).fetchone()[0]
            for table in ("leads", "quarantine", "file_imports")
        )
    finally:
        con.close()


def runs_of(file_name):
    instance = dg.DagsterInstance.get()
    return [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": file_name}))]


# ------------------------------------------------------------------------------------------------ pure
def test_progress_cells_show_every_figure_of_run_progress():
    p = {
        "status": "processing", "stage": "standardizing", "completedBatches": 4, "totalBatches": 12,
        "processedLeads": 40, "totalLeads": 120, "percentage": 33.3, "elapsedSeconds": 8.0, "etaSeconds": 16.0,
        "tokens": 12345, "costUsd": 0.0123, "failedBatches": 1,
    }  # fmt: skip
    assert progress_cells(p, "a.csv") == [
        "a.csv", "standardizing", "33.3 %", "4/12 batches", "40/120 leads", "5.0 leads/s", "ETA 16 s",
        "12,345 tokens", "$0.0123", "1 dead-lettered", "8.0 s",
    ]  # fmt: skip
    parsing = dict(p, stage="parsing", completedBatches=0, totalBatches=None, processedLeads=0, totalLeads=None,
                   percentage=0.0, etaSeconds=None, tokens=0, costUsd=0.0, failedBatches=0)
    assert progress_cells(parsing, "a.csv")[1:8] == [
        "parsing", "0.0 %", "0/? batches", "0/? leads", "- leads/s", "ETA -", "0 tokens",
    ]  # fmt: skip
    # a big file being parsed shows the rows read so far and their rate (a new user saw "0/? leads" for 19 s)
    assert progress_cells(dict(parsing, rowsRead=24000), "a.csv")[4:6] == ["24,000 rows read", "3,000.0 rows/s"]
    from easycrm_pipeline.cli.status import _row  # easycrm status's table row says the same

    row = _row(dict(parsing, status="processing", rowsRead=24000, file="a.csv", runId="r" * 8))
    assert row[2:4] == ["starting", "24,000 read"]
    assert _row(dict(parsing, status="processing", rowsRead=0, file="a.csv", runId="r" * 8))[3] == "starting"
    assert progress_cells(None, "b.csv")[:3] == ["b.csv", "starting", "0.0 %"]
    # offline the DeepSeek cells (always 0) are left out: the line fits 80 columns (a new user could not read it)
    offline = progress_cells(dict(p, tokens=0, costUsd=0.0, failedBatches=0), "a.csv", deepseek=False)
    assert offline == ["a.csv", "standardizing", "33.3 %", "40/120 leads", "5.0 leads/s", "ETA 16 s", "8.0 s"]
    assert len(progress_cells(None, "b.csv", deepseek=False)) == 7
    assert progress_cells(dict(p, costUsd=None), "a.csv")[8] == "$-"  # batches that did not record their cost


# ------------------------------------------------------------------------------------------------ terminal
def test_progress_line_updates_every_second_and_ends_at_100_percent(isolated_env, monkeypatch):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 120)  # 12 batches in waves of 5 at 0.7 s a request: several seconds of standardizing
    with FakeDeepSeek(latency=0.7) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        term = Terminal("ingest", str(a))
        code = term.finish()
    assert code == 0, term.text[-3000:]
    lines = progress_lines(term, "a.csv")
    assert lines, term.text[-3000:]
    distinct: dict[str, float] = {}
    for t, line in lines:
        distinct.setdefault(line, t)
    span = max(distinct.values()) - min(distinct.values())
    assert span > 2.0  # the run lasted long enough to see the line move
    # POLL_SECONDS is 0.5: ~2 redraws a second, each different (elapsed seconds); on a loaded machine at least
    # one a second on average
    assert len(distinct) >= span, (len(distinct), span)
    stages = {line.split()[1] for line in distinct}
    assert "standardizing" in stages
    last = lines[-1][1]
    assert "completed" in last and "100.0 %" in last and "12/12 batches" in last and "120/120 leads" in last
    usage = re.search(r"([1-9][\d,]*) tokens  \$(\d+\.\d{4})", last)  # the file's DeepSeek tokens and cost
    assert usage and float(usage[2]) > 0, last
    status = subprocess.run([sys.executable, "-m", "easycrm_pipeline.cli.main", "status", "a.csv", "--json"],
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    doc = json.loads(status.stdout)  # one source of truth: the line shows what `easycrm status` reads
    assert (doc["tokens"], doc["stage"]) == (int(usage[1].replace(",", "")), "completed")
    assert f"{doc['costUsd']:,.4f}" == usage[2]
    assert "0 dead-lettered" in last
    # then the final table, as off a terminal
    assert term.text.rfind("easycrm ingest") > term.text.rfind("100.0 %")
    assert stored(tmp, "a.csv")[0] == 120


def test_quiet_draws_no_progress_even_on_a_terminal(isolated_env):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 5)
    term = Terminal("ingest", "--quiet", str(a))
    assert term.finish() == 0, term.text[-3000:]
    assert not progress_lines(term, "a.csv")
    assert "easycrm ingest" in term.text and "completed" in term.text


def test_off_a_terminal_only_the_final_result_is_printed(isolated_env):
    """Pipes (CI, scripts): the same output as before progress lines existed - the table, or one JSON document."""
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 5)
    cmd = [sys.executable, "-m", "easycrm_pipeline.cli.main", "ingest", str(a)]
    table = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\r" not in table.stdout
    assert "leads/s" not in table.stdout and " %" not in table.stdout
    lines = table.stdout.splitlines()
    assert lines[0].strip() == "easycrm ingest"  # the table's title comes first: nothing was drawn before it
    assert any("a.csv" in ln and "completed" in ln for ln in lines)
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    doc = json.loads(done.stdout)
    assert list(doc) == ["files"] and doc["files"][0]["leads_unchanged"] == 5


# ------------------------------------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_cancels_every_run_through_dagster_stores_nothing_and_exits_130(isolated_env, monkeypatch):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 100)
    b = write_csv(tmp / "b.csv", 100, start=1000)
    with FakeDeepSeek(latency=3.0) as fake:  # 20 batches in waves of 5: the Ctrl-C lands mid-standardize
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        term = Terminal("ingest", str(a), str(b))
        both = term.read(lambda text: all(
            re.search(rf"{name}\s+standardizing", ANSI.sub("", text)) for name in ("a.csv", "b.csv")
        ))  # fmt: skip
        assert both, term.text[-3000:]
        term.press_ctrl_c()
        code = term.finish()
        requests = fake.request_count
    text = ANSI.sub("", term.text)
    assert code == 130, text[-3000:]
    assert "interrupted - cancelling the runs of 2 file(s)" in text
    for name in ("a.csv", "b.csv"):
        assert re.search(rf"{name}: run [0-9a-f]{{8}} cancelled - nothing of it stored", text), text[-3000:]
        [run] = runs_of(name)
        assert run.status == dg.DagsterRunStatus.CANCELED  # not FAILURE: no run retry starts it again
        assert stored(tmp, name) == (0, 0, 0)  # no lead, no quarantine row, no import record
    assert requests < 20


def test_a_second_ctrl_c_exits_at_once(isolated_env, monkeypatch):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 200)  # 20 batches in 4 waves of 5 at 3 s: both Ctrl-Cs land mid-standardize
    with FakeDeepSeek(latency=3.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        term = Terminal("ingest", str(a))
        assert term.read(lambda text: re.search(r"a\.csv\s+standardizing", ANSI.sub("", text))), term.text[-3000:]
        term.press_ctrl_c()
        assert term.read(lambda text: "interrupted - cancelling" in text, timeout=60), term.text[-3000:]
        deadline = time.monotonic() + 60  # the first Ctrl-C's cancel has reached the run (CANCELING + SIGINT)
        while time.monotonic() < deadline and runs_of("a.csv")[0].status == dg.DagsterRunStatus.STARTED:
            time.sleep(0.1)
        term.press_ctrl_c()
        pressed = time.monotonic()
        code = term.finish(timeout=30)
        assert code == 130
        assert time.monotonic() - pressed < 15  # at once (bound for a loaded machine), not after the runs end
        assert "interrupted again - exiting now" in term.text
        # the run was told to stop by the first Ctrl-C: it still ends cancelled, with nothing stored
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and not all(r.is_finished for r in runs_of("a.csv")):
            time.sleep(0.5)
    runs = runs_of("a.csv")
    assert runs and all(r.status == dg.DagsterRunStatus.CANCELED for r in runs), [r.status for r in runs]
    assert stored(tmp, "a.csv") == (0, 0, 0)


def test_sigterm_off_a_terminal_cancels_the_runs_and_exits_130_with_the_json_result(isolated_env, monkeypatch):
    """SIGTERM (a CI job stopped, ``kill``) does what Ctrl-C does; ``--json`` still prints one document, the file
    ``cancelled``."""
    import signal

    tmp = isolated_env
    # 20 batches in 4 waves of 5 at 3 s: the cancel (which loads Dagster first) lands well before collect_leads
    a = write_csv(tmp / "a.csv", 200)
    with FakeDeepSeek(latency=3.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        proc = subprocess.Popen([sys.executable, "-m", "easycrm_pipeline.cli.main", "ingest", str(a), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and fake.request_count == 0 and proc.poll() is None:
            time.sleep(0.2)  # the first batches are with DeepSeek: mid-standardize
        assert fake.request_count > 0, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 130, err[-3000:]
    assert re.search(r"a\.csv: run [0-9a-f]{8} cancelled - nothing of it stored", err), err[-3000:]
    [outcome] = json.loads(out)["files"]
    assert outcome["status"] == "cancelled" and "leads_created" not in outcome  # no stats: nothing was stored
    [run] = runs_of("a.csv")
    assert run.status == dg.DagsterRunStatus.CANCELED and outcome["run_id"] == run.run_id
    assert stored(tmp, "a.csv") == (0, 0, 0)
