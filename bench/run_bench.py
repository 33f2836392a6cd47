"""``make bench``: speed and memory of the product against its targets (issue 9), in one run on one machine.

Prints a markdown table (measure, value, unit, target, pass/fail) plus notes and a diagnosis of the DeepSeek runs,
and writes ``bench/results.json`` as ``{"measures": {name: {"value", "unit", "target", "ok"}}}``. Details (notes,
per-run timelines, machine load) go to ``bench/work/results_detail.json``. Generated data (made-up people, fixed
seeds) and the temporary Dagster homes / DuckDB files live under ``bench/work/`` (git-ignored).

Measures (each the median of 3 runs when one run takes under a minute, else 1 run):

- ``parse_xlsx_50k_s`` / ``parse_csv_50k_s``: ``easycrm_pipeline.parsing.read_file`` on 50,000 rows x 10 columns.
- ``e2e_1k_ratio_to_ideal`` / ``e2e_1k_peak_in_flight``: ``easycrm ingest`` of 1,000 leads, the fake DeepSeek
  (standalone process) answering every request in 2.0 s; ideal 1,000 / 10 / 5 x 2.0 = 40 s.
- ``e2e_3x1k_ratio_to_ideal`` / ``e2e_3x1k_peak_in_flight``: three 1,000-lead files in one ``easycrm ingest`` call;
  ideal 120 s.
- ``e2e_50k_ratio_to_ideal`` / ``e2e_50k_peak_in_flight`` / ``e2e_50k_dagster_steps``: 50,000 leads, the fake at
  0.5 s; ideal 50,000 / 10 / 5 x 0.5 = 500 s; the run's Dagster steps (issue 13: <= 500).
- ``peak_rss_200k_mb``, ``offline_1m_s`` / ``offline_1m_peak_rss_mb``, ``peak_rss_400k_over_100k``: offline ingest
  of 200,000 / 1,048,576 (HubSpot's per-file maximum) / 100,000 and 400,000 rows: peak RSS of the process tree, wall
  time, and whether memory grows with the file (issue 13).
- ``xlsx_rss_200k_over_50k``: the same for workbooks: peak RSS of the offline ingest of a 200,000-row ``.xlsx`` over
  that of a 50,000-row one (issue 13: workbooks are read row by row, one sheet at a time; calamine still holds the
  sheet being read).
- ``reingest_50k_s`` / ``reingest_50k_llm_calls``: re-ingest of an already-ingested 50,000-lead file.
- ``upsert_50k_s`` / ``upsert_naive_ratio``: ``DuckDBStore.upsert_file`` of 50,000 leads into 50,000 (half
  overlapping) vs the naive per-row lookup-then-write (``bench/bench_upsert.py``).
- ``peak_rss_50k_mb``: peak of the summed RSS of the whole ``easycrm ingest`` process tree (50,000 rows, offline).
- ``samples_offline_s``: offline ``easycrm ingest data/samples/*`` on a fresh DB (leads/s in the notes).
- ``completion_tokens_per_lead_full`` / ``completion_tokens_per_lead`` / ``completion_tokens_reduction``: DeepSeek
  completion tokens per lead over the bench files (the 1,000-lead e2e file and ``data/samples/*``), standardized
  in-process by ``DeepSeekStandardizer`` against the fake DeepSeek answering today's full items (``--answer full``)
  and then corrections to the rules' proposal (the default shape); target: the full figure / the corrections figure
  >= 3 (issue 13).
- ``progress_overhead_pct`` / ``progress_cpu_pct`` (issue 19): the same ``easycrm ingest`` of 500 leads (fake
  DeepSeek at 2.0 s) on a pseudo-terminal with its live progress lines and with ``--quiet`` (3 runs each,
  alternating, fresh instance and DB each): the wall-time difference, and the CPU that ``easycrm`` and its run
  processes (which read the progress from Dagster) spend more with the display, both in % of the ``--quiet`` wall
  time.

Usage: ``python bench/run_bench.py [--only NAME[,NAME]] [--quick] [--out PATH] [--merge] [--budget SECONDS] [--snapshot]``.
``--quick`` uses small sizes (a smoke run of a few minutes; results go to ``bench/work/results_quick.json``).
``--snapshot`` measures the committed ``HEAD`` (``git archive`` into ``bench/work/code_<sha>``, put first on
``PYTHONPATH``) instead of the working tree, so edits in progress in the checkout don't change what is measured;
``--code DIR`` measures any other source tree the same way.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
WORK = BENCH_DIR / "work"
RESULTS = BENCH_DIR / "results.json"
DETAIL = WORK / "results_detail.json"
#: The product's source tree being measured (``--code``/``--snapshot`` change it; default: this checkout).
CODE = ROOT

#: name -> (unit, target, comparison, group). comparison: "le" value <= target, "ge" value >= target,
#: "eq" value == target, "gt1" value > 1 (no target), "done" measured at all (no target).
MEASURES: dict[str, tuple[str, float | None, str, str]] = {
    "parse_xlsx_50k_s": ("s", 3, "le", "parse_xlsx"),
    "parse_csv_50k_s": ("s", 1, "le", "parse_csv"),
    "e2e_1k_ratio_to_ideal": ("x ideal", 1.15, "le", "e2e_1k"),
    "e2e_1k_peak_in_flight": ("requests", 5, "eq", "e2e_1k"),
    "e2e_3x1k_ratio_to_ideal": ("x ideal", 1.15, "le", "e2e_3x1k"),
    "e2e_3x1k_peak_in_flight": ("requests", 5, "eq", "e2e_3x1k"),
    "e2e_50k_ratio_to_ideal": ("x ideal", 1.15, "le", "e2e_50k"),
    "e2e_50k_peak_in_flight": ("requests", 5, "eq", "e2e_50k"),
    "e2e_50k_dagster_steps": ("steps", 500, "le", "e2e_50k"),
    "peak_rss_200k_mb": ("MB", 700, "le", "memory"),
    "offline_1m_s": ("s", 300, "le", "memory"),
    "offline_1m_peak_rss_mb": ("MB", 1500, "le", "memory"),
    "peak_rss_400k_over_100k": ("x", 1.3, "le", "memory"),
    "xlsx_rss_200k_over_50k": ("x", 1.3, "le", "memory"),
    "reingest_50k_s": ("s", 15, "le", "reingest"),
    "reingest_50k_llm_calls": ("calls", 0, "le", "reingest"),
    "upsert_50k_s": ("s", 3, "le", "upsert"),
    "upsert_naive_ratio": ("x", None, "gt1", "upsert"),
    "peak_rss_50k_mb": ("MB", 600, "le", "peak_rss"),
    "samples_offline_s": ("s", None, "done", "samples"),
    "completion_tokens_per_lead_full": ("tokens/lead", None, "done", "tokens"),
    "completion_tokens_per_lead": ("tokens/lead", None, "done", "tokens"),
    "completion_tokens_reduction": ("x", 3, "ge", "tokens"),
    "progress_overhead_pct": ("%", 2, "le", "progress"),
    "progress_cpu_pct": ("%", 2, "le", "progress"),
    # issue 18 (bench/bench_duplicates.py)
    "dupes_gold_precision": ("ratio", 0.95, "ge", "duplicates"),
    "dupes_gold_recall": ("ratio", 0.90, "ge", "duplicates"),
    "dupes_match_1k_in_1m_s": ("s", 3, "le", "duplicates"),
    "dupes_match_peak_rss_mb": ("MB", 600, "le", "duplicates"),
    # issue 14 (bench/bench_ui.py)
    "ui_vs_cli_ratio": ("x CLI", 1.2, "le", "ui"),
}
#: Order the groups run in: the long DeepSeek runs early (so they get their time), the offline ones after.
GROUP_ORDER = ("parse_csv", "parse_xlsx", "e2e_1k", "e2e_3x1k", "e2e_50k", "upsert", "peak_rss", "reingest", "samples",
               "tokens", "memory", "progress", "duplicates", "ui")

FAKE_LATENCY = 2.0
POOL = 5
LONG_RUN_S = 60.0  # a run this long or longer is measured once, else 3 times (median)


@dataclass
class Sizes:
    """Workload sizes: the real ones, or ``--quick``'s small ones."""

    parse_rows: int = 50_000
    e2e_leads: int = 1_000
    big_leads: int = 50_000
    big_latency: float = 0.5
    #: offline memory measures: (rows for the 700 MB limit, the 1M-row file, the pair whose peak RSS ratio is taken)
    rss_200k: int = 200_000
    rows_1m: int = 1_048_576
    rss_pair: tuple[int, int] = (100_000, 400_000)
    #: the pair of .xlsx files whose offline peak RSS ratio is taken
    xlsx_pair: tuple[int, int] = (50_000, 200_000)
    reingest_rows: int = 50_000
    upsert_n: int = 50_000
    naive_n: int = 2_000
    rss_rows: int = 50_000
    #: batch size of the keyed first ingest that prepares the re-ingest (fills a standardization cache, if any)
    reingest_setup_batch: int = 2_500
    #: wall-time cap of the keyed re-ingest (it makes one DeepSeek call per batch when nothing is cached)
    reingest_keyed_cap_s: float = 75.0

    @classmethod
    def quick(cls) -> "Sizes":
        return cls(parse_rows=2_000, e2e_leads=100, reingest_rows=2_000, upsert_n=2_000, naive_n=200,
                   rss_rows=2_000, reingest_setup_batch=500, reingest_keyed_cap_s=30.0, big_leads=2_000,
                   rss_200k=4_000, rows_1m=20_000, rss_pair=(2_000, 8_000), xlsx_pair=(2_000, 8_000))


# ------------------------------------------------------------------------------------------ pure helpers
def median_of(values: list[float | None]) -> float | None:
    """Median of the measured values (None entries are runs that produced no value); None when none did."""
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def repeat(run: Callable[[], dict], runs: int = 3, long_s: float = LONG_RUN_S) -> tuple[dict, list[dict]]:
    """Run ``run`` once; if that took under ``long_s`` (its own ``"seconds"``), ``runs - 1`` more times.

    ``run`` returns a dict of numbers (or None) including ``"seconds"``. Returns the per-key median over the runs
    and the list of all runs.
    """
    results = [run()]
    if (results[0].get("seconds") or 0) < long_s:
        results += [run() for _ in range(runs - 1)]
    keys = [k for k in results[0] if all(isinstance(r.get(k), (int, float, type(None))) for r in results)]
    med = {k: median_of([r.get(k) for r in results]) for k in keys}
    return med, results


def ideal_seconds(leads: int, batch: int = 10, pool: int = POOL, latency: float = FAKE_LATENCY) -> float:
    """Ideal wall time of DeepSeek standardization: batches / pool x latency (every slot always busy)."""
    batches = -(-leads // batch)
    return -(-batches // pool) * latency


def judge(name: str, value: float | None) -> bool:
    """Pass/fail of one measure against its target (a value that was not measured fails)."""
    _unit, target, comparison, _group = MEASURES[name]
    if value is None:
        return False
    if comparison == "le":
        return value <= target
    if comparison == "ge":
        return value >= target
    if comparison == "eq":
        return value == target
    if comparison == "gt1":
        return value > 1
    return True


def measure(name: str, value: float | None, note: str | None = None) -> dict:
    """One entry of ``results.json`` (plus the note, kept out of results.json by :func:`results_doc`)."""
    unit, target, _cmp, _group = MEASURES[name]
    if value is not None:
        value = round(float(value), 3)
        if value.is_integer() and name.endswith(("_calls", "_in_flight")):
            value = int(value)
    return {"value": value, "unit": unit, "target": target, "ok": judge(name, value), "note": note}


def results_doc(measures: dict[str, dict]) -> dict:
    """``{"measures": {name: {"value", "unit", "target", "ok"}}}`` for every name, in :data:`MEASURES` order.

    A name with no entry is reported unmeasured: value None, ok False.
    """
    out = {}
    for name in MEASURES:
        m = measures.get(name) or measure(name, None, "not run")
        out[name] = {"value": m["value"], "unit": m["unit"], "target": m["target"], "ok": bool(m["ok"])}
    return {"measures": out}


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def markdown_table(measures: dict[str, dict]) -> str:
    """The markdown table of all measures, in :data:`MEASURES` order."""
    lines = ["| measure | value | unit | target | pass/fail |", "|---|---:|---|---:|---|"]
    for name, entry in results_doc(measures)["measures"].items():
        cmp = MEASURES[name][2]
        t = entry["target"]
        target = {"le": f"≤ {t:g}" if t is not None else "", "eq": f"= {t:g}" if t is not None else "",
                  "ge": f"≥ {t:g}" if t is not None else "", "gt1": "> 1 (info)",
                  "done": "– (info)"}[cmp]
        verdict = "PASS" if entry["ok"] else ("not measured" if entry["value"] is None else "FAIL")
        lines.append(f"| {name} | {_fmt(entry['value'])} | {entry['unit']} | {target} | {verdict} |")
    return "\n".join(lines)


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)


def select_measures(only: str | None) -> set[str] | None:
    """Measures to take for ``--only NAME[,NAME]``: those named, and all of each group named; ``None`` (all of the
    groups run) without ``--only``. A group's other measures are skipped when they need runs of their own."""
    if not only:
        return None
    names = {s.strip() for s in only.split(",") if s.strip()}
    return {m for m, spec in MEASURES.items() if m in names or spec[3] in names}


def select_groups(only: str | None) -> list[str]:
    """Groups to run for ``--only NAME[,NAME]`` (a measure name or a group name), in :data:`GROUP_ORDER`."""
    if not only:
        return list(GROUP_ORDER)
    wanted = set()
    for item in (s.strip() for s in only.split(",") if s.strip()):
        if item in MEASURES:
            wanted.add(MEASURES[item][3])
        elif item in GROUP_ORDER:
            wanted.add(item)
        else:
            raise SystemExit(f"--only: unknown measure {item!r} (one of {', '.join(MEASURES)})")
    return [g for g in GROUP_ORDER if g in wanted]


# ------------------------------------------------------------------------------------------ processes
def load_text() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def fresh_env(tmp: Path, *, key: str | None = None, base_url: str | None = None,
              extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an ``easycrm`` subprocess: fresh DAGSTER_HOME (the project's dagster.yaml) and EASYCRM_DB."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(CODE / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEEPSEEK_", "EASYCRM_", "DAGSTER_HOME"))}
    env.update(DAGSTER_HOME=str(home), EASYCRM_DB=str(tmp / "leads.duckdb"), EASYCRM_INBOX=str(tmp / "inbox"))
    if key:
        env["DEEPSEEK_API_KEY"] = key
    if base_url:
        env["DEEPSEEK_BASE_URL"] = base_url
    if CODE != ROOT:
        env["PYTHONPATH"] = os.pathsep.join([str(CODE), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


class TreeRSS:
    """Polls a process and all its descendants with psutil every ``interval`` s; keeps the peak of the summed RSS."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_sum = 0
        self.peak_single = 0
        self.procs_at_peak = 0
        self.samples = 0
        #: (pid, create_time) -> last seen user+system CPU seconds: the tree's CPU, approximately (a process
        #: that lives less than one interval is missed, the last interval of each process too)
        self.cpu: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreeRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    rss = p.memory_info().rss
                    total += rss
                    t = p.cpu_times()
                    self.cpu[(p.pid, p.create_time())] = t.user + t.system
                    self.peak_single = max(self.peak_single, rss)
            self.samples += 1
            if total > self.peak_sum:
                self.peak_sum, self.procs_at_peak = total, len(procs)
            self._stop.wait(self.interval)


def kill_tree(proc: subprocess.Popen) -> None:
    """Stop a process we started (own session) and everything it started (``easycrm ingest`` starts its run
    processes in process groups of their own: they are killed one by one)."""
    import psutil

    kids = []
    with contextlib.suppress(psutil.NoSuchProcess):
        kids = psutil.Process(proc.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    for kid in kids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            kid.kill()


def run_ingest(paths: list[Path], env: dict[str, str], *, cap_s: float | None = None,
               poll_rss: bool = False, interval: float = 0.05) -> dict:
    """``easycrm ingest --json PATHS`` as a subprocess; wall time, outcomes, optional process-tree peak RSS.

    Returns ``{"seconds", "rc", "files": [...], "timed_out", "peak_rss_mb", "peak_single_mb", "procs_at_peak",
    "stderr"}``; with ``cap_s`` the process tree is killed after that many seconds (``timed_out`` True).
    """
    exe = Path(sys.executable).with_name("easycrm")
    cmd = [str(exe), "ingest", "--json", *map(str, paths)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    rss = TreeRSS(proc.pid, interval) if poll_rss else None
    timed_out = False
    with rss if rss else contextlib.nullcontext():
        try:
            out, err = proc.communicate(timeout=cap_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_tree(proc)
            out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    files = []
    with contextlib.suppress(ValueError):
        files = json.loads(out or "{}").get("files", [])
    mb = 1024 * 1024
    return {
        "seconds": seconds, "rc": proc.returncode, "files": files, "timed_out": timed_out,
        "peak_rss_mb": rss.peak_sum / mb if rss else None, "peak_single_mb": rss.peak_single / mb if rss else None,
        "procs_at_peak": rss.procs_at_peak if rss else None,
        "tree_cpu_s": round(sum(rss.cpu.values()), 2) if rss else None, "tree_procs": len(rss.cpu) if rss else None,
        "stderr": (err or "").strip()[-2000:],
    }


def run_on_pty(path: Path, env: dict[str, str], *, quiet: bool, cap_s: float) -> dict:
    """``easycrm ingest [--quiet] PATH`` with a pseudo-terminal as stdout/stderr (its live progress lines drawn
    unless ``quiet``); returns ``{"seconds", "rc", "timed_out", "parent_cpu_s", "progress_bytes", "tail"}``.

    ``parent_cpu_s``: user + system CPU seconds of the ``easycrm`` process itself, ``tree_cpu_s`` of it and its
    run processes (which compute the progress lines), sampled every 0.1 s until they exit.
    """
    import fcntl
    import pty
    import struct
    import termios

    import psutil

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    exe = Path(sys.executable).with_name("easycrm")
    cmd = [str(exe), "ingest", *(["--quiet"] if quiet else []), str(path)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**env, "TERM": "xterm-256color"}, cwd=ROOT, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    received = bytearray()

    def drain() -> None:  # read the terminal, as a terminal does (a full pty buffer would block the writer)
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    cpu = 0.0
    timed_out = False
    tree = TreeRSS(proc.pid, 0.1)
    with tree, contextlib.suppress(psutil.NoSuchProcess):
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = ps.cpu_times()
                cpu = t.user + t.system
            if time.perf_counter() - t0 > cap_s:
                timed_out = True
                kill_tree(proc)
                break
            time.sleep(0.1)
    proc.wait()
    seconds = time.perf_counter() - t0
    reader.join(5)
    os.close(master)
    text = received.decode("utf-8", "replace")
    return {"seconds": seconds, "rc": proc.returncode, "timed_out": timed_out, "parent_cpu_s": cpu,
            "tree_cpu_s": sum(tree.cpu.values()),
            "progress_bytes": len(text.split("easycrm ingest", 1)[0]), "tail": text.strip()[-300:]}


def check_files(result: dict, expect: int, what: str) -> str | None:
    """A one-line problem with an ingest result (failed/killed run, wrong file count), or None."""
    if result["timed_out"]:
        return f"{what}: killed after {result['seconds']:.0f} s (cap)"
    bad = [f for f in result["files"] if f.get("status") != "completed"]
    if result["rc"] != 0 or bad or len(result["files"]) != expect:
        detail = bad[0].get("error") if bad else (result["stderr"].splitlines() or ["no output"])[-1]
        return f"{what}: easycrm ingest exit {result['rc']}: {detail}"
    return None


class FakeServer:
    """The fake DeepSeek as a standalone subprocess (``easycrm_pipeline.testing.fake_deepseek``): each answer takes
    ``latency`` seconds, plus its completion tokens / ``tokens_per_second`` when that is given."""

    def __init__(self, tmp: Path, latency: float, tokens_per_second: float | None = None) -> None:
        self.tmp, self.latency, self.tokens_per_second = tmp, latency, tokens_per_second
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> "FakeServer":
        port_file = self.tmp / f"fake_port_{self.latency}"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "easycrm_pipeline.testing.fake_deepseek", "--port", "0", "--latency",
             str(self.latency), "--port-file", str(port_file)]
            + (["--tokens-per-second", str(self.tokens_per_second)] if self.tokens_per_second else []),
            cwd=CODE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        from easycrm_pipeline.testing.fake_deepseek import wait_for_port_file

        self.url = f"http://127.0.0.1:{wait_for_port_file(str(port_file), timeout=30)}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _call(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self._call("/_stats")

    def reset(self) -> dict:
        return self._call("/_reset", "POST")


def completion_tokens_per_lead(paths: list[Path], answer: str) -> dict:
    """DeepSeek completion tokens per lead for ``paths``: each file read, cut in 10-lead batches and standardized by
    ``DeepSeekStandardizer`` against an in-process fake DeepSeek answering in ``answer`` shape (``"full"`` or
    ``"corrections"``). Returns ``{"per_lead", "completion_tokens", "leads", "per_file": {name: per_lead}}``."""
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.parsing import read_file
    from easycrm_pipeline.pipeline.batches import make_batches
    from easycrm_pipeline.pipeline.standardizer import DeepSeekStandardizer
    from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

    saved = {k: os.environ.get(k) for k in ("DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL")}
    tokens = leads = 0
    per_file: dict[str, float] = {}
    try:
        with FakeDeepSeek(answer=answer) as fake:
            os.environ.update(DEEPSEEK_API_KEY="sk-bench", DEEPSEEK_BASE_URL=fake.base_url)
            standardizer = DeepSeekStandardizer(get_settings())
            for path in paths:
                file_tokens = file_leads = 0
                for batch in make_batches(read_file(path).rows, 10):
                    result = standardizer.standardize(batch)
                    file_tokens += result.completion_tokens
                    file_leads += result.llm_leads
                per_file[path.name] = round(file_tokens / file_leads, 1) if file_leads else None
                tokens, leads = tokens + file_tokens, leads + file_leads
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"per_lead": round(tokens / leads, 2) if leads else None, "completion_tokens": tokens, "leads": leads,
            "per_file": per_file}


# ------------------------------------------------------------------------------------------ run timelines
def slot_gaps(launches: list[float], ends: list[float], slots: int) -> list[float]:
    """Idle time of an executor slot: the k-th step end frees the slot the (slots + k)-th launch takes.

    With ``max_concurrent = slots`` and more steps than slots, launch ``slots + k`` (sorted) can only happen after
    the k-th end (sorted); the difference is how long the slot sat empty (event draining, process launch).
    """
    launches, ends = sorted(launches), sorted(ends)
    return [launches[slots + k] - ends[k] for k in range(min(len(ends), len(launches) - slots))]


def run_timeline(home: Path, run_ids: list[str], latency: float = FAKE_LATENCY, slots: int = POOL) -> dict:
    """What the Dagster event logs of DeepSeek runs say about where the time went.

    Per run: seconds from run start to parse success, the standardize phase (first step launch to last success),
    collect; the median step launch overhead (STEP_WORKER_STARTING -> STEP_START) and body (STEP_START ->
    STEP_SUCCESS, includes the fake's latency), the steps' average concurrency (sum of bodies / phase span), and the
    "Step blocked by limit for pool deepseek" engine events. Across runs: the overall concurrency of the bodies.
    """
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    runs, bodies = [], []
    for run_id in run_ids:
        logs = instance.all_logs(run_id)
        events: dict[str, dict[str, float]] = {}
        run_start = run_end = None
        blocked = still_blocked = 0
        for rec in logs:
            ev = rec.dagster_event
            if ev is None:
                continue
            kind = ev.event_type_value
            if kind in ("PIPELINE_START", "RUN_START"):
                run_start = rec.timestamp
            elif kind in ("PIPELINE_SUCCESS", "RUN_SUCCESS", "PIPELINE_FAILURE", "RUN_FAILURE"):
                run_end = rec.timestamp
            elif kind == "ENGINE_EVENT":
                if rec.message.startswith("Step blocked by limit"):
                    blocked += 1
                elif rec.message.startswith("Step still blocked by limit"):
                    still_blocked += 1
            if rec.step_key and kind in ("STEP_WORKER_STARTING", "STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                events.setdefault(rec.step_key, {}).setdefault(kind, rec.timestamp)
        std = {k: v for k, v in events.items() if "standardize_chunk" in k and "STEP_START" in v}
        parse = next((v for k, v in events.items() if k.endswith("parse_file")), {})
        collect = next((v for k, v in events.items() if k.endswith("collect_leads")), {})
        info: dict[str, Any] = {"run_id": run_id, "steps": len(std), "blocked_events": blocked,
                                "still_blocked_events": still_blocked,
                                "dagster_steps": sum(1 for v in events.values() if "STEP_START" in v)}
        if run_start and parse:
            info["run_start_to_parse_success_s"] = round(parse.get("STEP_SUCCESS", run_start) - run_start, 2)
            info["parse_launch_s"] = round(parse.get("STEP_START", 0) - parse.get("STEP_WORKER_STARTING", 0), 2)
        if std:
            launches = [v.get("STEP_WORKER_STARTING", v["STEP_START"]) for v in std.values()]
            ends = [v.get("STEP_SUCCESS") or v.get("STEP_FAILURE") or v["STEP_START"] for v in std.values()]
            run_bodies = [(v["STEP_START"], e) for v, e in zip(std.values(), ends)]
            bodies += run_bodies
            span = max(ends) - min(launches)
            info.update(
                standardize_phase_s=round(span, 2),
                step_launch_median_s=round(statistics.median(
                    v["STEP_START"] - v.get("STEP_WORKER_STARTING", v["STEP_START"]) for v in std.values()), 3),
                step_body_median_s=round(statistics.median(e - s for s, e in run_bodies), 3),
                step_body_max_s=round(max(e - s for s, e in run_bodies), 3),
                slot_gap_median_s=round(statistics.median(slot_gaps(launches, ends, slots)), 3)
                if len(launches) > slots else None,
                avg_steps_running=round(sum(e - s for s, e in run_bodies) / span, 2) if span > 0 else None,
                # (requests in flight: estimated in Bench._e2e from the fake's request count, not per step)
                first_step_launch_after_run_start_s=round(min(launches) - run_start, 2) if run_start else None,
            )
            if collect:
                info["last_step_to_collect_start_s"] = round(
                    collect.get("STEP_START", max(ends)) - max(ends), 2)
        if collect and "STEP_SUCCESS" in collect:
            info["collect_s"] = round(collect["STEP_SUCCESS"] - collect.get("STEP_WORKER_STARTING",
                                                                              collect.get("STEP_START", 0)), 2)
        if parse and "STEP_SUCCESS" in parse:
            info["parse_s"] = round(parse["STEP_SUCCESS"] - parse.get("STEP_WORKER_STARTING",
                                                                        parse.get("STEP_START", 0)), 2)
        if run_start and run_end:
            info["run_s"] = round(run_end - run_start, 2)
        runs.append(info)
    overall: dict[str, Any] = {"runs": runs}
    if bodies:
        span = max(e for _s, e in bodies) - min(s for s, _e in bodies)
        overall["all_runs_avg_steps_running"] = round(sum(e - s for s, e in bodies) / span, 2) if span else None
        overall["all_runs_standardize_span_s"] = round(span, 2)
    return overall


# ------------------------------------------------------------------------------------------ the measures
class Bench:
    def __init__(self, sizes: Sizes, quick: bool, budget_s: float, only: set[str] | None = None) -> None:
        self.sizes, self.quick = sizes, quick
        self.only = only
        self.t0 = time.monotonic()
        self.budget_s = budget_s
        self.measures: dict[str, dict] = {}
        self.detail: dict[str, Any] = {"quick": quick, "sizes": sizes.__dict__, "load": {}, "groups": {}}
        self.run_dir = WORK / ("quick" if quick else "full")
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        self.data_dir = WORK / ("data_quick" if quick else "data")
        self.groups: list[str] = []

    def wants(self, *names: str) -> bool:
        """Whether any of these measures is to be taken (all are without ``--only``)."""
        return self.only is None or any(n in self.only for n in names)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.t0)

    def cap_for(self, group: str, floor: float, ceiling: float) -> float:
        """Wall-time cap of a long run: what the budget leaves after the groups still to run, within bounds."""
        later = self.groups[self.groups.index(group) + 1 :] if group in self.groups else []
        reserve = sum(self.COST[g] * (0.2 if self.quick else 1) for g in later)
        return max(floor, min(ceiling, self.left() - reserve - 10))

    def tmp(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def set(self, name: str, value: float | None, note: str | None = None) -> None:
        self.measures[name] = measure(name, value, note)

    def log(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    # -- data
    def data(self, name: str, rows: int, seed: int, start: int = 0) -> Path:
        from gen import cached

        return cached(self.data_dir / name, rows, seed, start)

    # -- 1. parsing
    def _parse(self, path: Path) -> tuple[dict, list[dict]]:
        from easycrm_pipeline.parsing import read_file

        def once() -> dict:
            t, c = time.perf_counter(), time.process_time()
            parsed = read_file(path)
            took = time.perf_counter() - t
            return {"seconds": took, "cpu_s": time.process_time() - c, "rows": len(parsed.rows)}

        return repeat(once)

    def g_parse_csv(self) -> None:
        n = self.sizes.parse_rows
        med, runs = self._parse(self.data(f"leads_{n}.csv", n, seed=42))
        note = None if med["rows"] == n else f"read {med['rows']} lead rows of {n}"
        self.set("parse_csv_50k_s", med["seconds"], note)
        self.detail["groups"]["parse_csv"] = runs

    def g_parse_xlsx(self) -> None:
        n = self.sizes.parse_rows
        t = time.perf_counter()
        path = self.data(f"leads_{n}.xlsx", n, seed=42)
        self.log(f"xlsx ready ({time.perf_counter() - t:.1f} s incl. generation if not cached)")
        med, runs = self._parse(path)
        note = None if med["rows"] == n else f"read {med['rows']} lead rows of {n}"
        self.set("parse_xlsx_50k_s", med["seconds"], note)
        self.detail["groups"]["parse_xlsx"] = runs

    # -- 2. end to end with the fake DeepSeek at 2.0 s
    def _e2e(self, group: str, files: list[Path], ideal: float, cap_s: float,
             latency: float = FAKE_LATENCY) -> tuple[dict, dict]:
        tmp = self.tmp(group)
        with FakeServer(tmp, latency) as fake:
            env = fresh_env(tmp, key="sk-bench", base_url=fake.url)
            self.log(f"{group}: {len(files)} file(s), ideal {ideal:.0f} s, cap {cap_s:.0f} s, load {load_text()}")
            result = run_ingest(files, env, cap_s=cap_s, poll_rss=True, interval=0.2)
            stats = fake.stats()
        problem = check_files(result, len(files), group)
        timeline = None
        run_ids = [f["run_id"] for f in result["files"] if f.get("run_id")]
        with contextlib.suppress(Exception):
            if not run_ids:  # killed at the cap: no outcomes printed, the instance still has the runs
                import dagster as dg

                instance = dg.DagsterInstance.from_config(str(tmp / "dagster_home"))
                run_ids = [r.dagster_run.run_id for r in instance.get_run_records()]
            timeline = run_timeline(tmp / "dagster_home", run_ids, latency=latency)
            span = timeline.get("all_runs_standardize_span_s")
            if span:  # requests x latency / the standardize span: how full the pool of 5 was kept
                timeline["avg_requests_in_flight_est"] = round(stats.get("request_count", 0) * latency / span, 2)
        detail = {"wall_s": round(result["seconds"], 2), "ideal_s": ideal, "tree_cpu_s": result["tree_cpu_s"],
                  "tree_procs": result["tree_procs"], "peak_rss_mb": result["peak_rss_mb"], "fake": stats, "problem": problem,
                  "llm_calls": sum(f.get("llm_calls") or 0 for f in result["files"]),
                  "files": [{k: f.get(k) for k in ("file", "status", "batches", "llm_calls", "seconds", "error")}
                            for f in result["files"]],
                  "timeline": timeline}
        self.detail["groups"][group] = detail
        return result, detail

    def g_e2e_1k(self) -> None:
        n = self.sizes.e2e_leads
        path = self.data(f"e2e_{n}_a.csv", n, seed=7, start=0)
        ideal = ideal_seconds(n)
        result, d = self._e2e("e2e_1k", [path], ideal, cap_s=self.cap_for("e2e_1k", 1.5 * ideal + 30, 8 * ideal))
        ratio = None if d["problem"] else result["seconds"] / ideal  # a failed run's wall time means nothing
        self.set("e2e_1k_ratio_to_ideal", ratio,
                 f"wall {result['seconds']:.1f} s, ideal {ideal:.0f} s" + (f"; {d['problem']}" if d["problem"] else ""))
        self.set("e2e_1k_peak_in_flight", d["fake"].get("peak_in_flight"),
                 f"{d['fake'].get('request_count')} requests" + (f"; {d['problem']}" if d["problem"] else ""))

    def g_e2e_3x1k(self) -> None:
        n = self.sizes.e2e_leads
        paths = [self.data(f"e2e_{n}_{tag}.csv", n, seed=7, start=i * n) for i, tag in enumerate("abc")]
        ideal = ideal_seconds(3 * n)
        result, d = self._e2e("e2e_3x1k", paths, ideal, cap_s=self.cap_for("e2e_3x1k", 1.5 * ideal + 30, 6 * ideal))
        ratio = None if d["problem"] else result["seconds"] / ideal
        note = f"wall {result['seconds']:.1f} s, ideal {ideal:.0f} s, peak in flight {d['fake'].get('peak_in_flight')}, {d['fake'].get('request_count')} requests"
        self.set("e2e_3x1k_ratio_to_ideal", ratio, note + (f"; {d['problem']}" if d["problem"] else ""))
        self.set("e2e_3x1k_peak_in_flight", d["fake"].get("peak_in_flight"), note)

    def g_e2e_50k(self) -> None:
        n, latency = self.sizes.big_leads, self.sizes.big_latency
        path = self.data(f"e2e_{n}_big.csv", n, seed=11, start=0)
        ideal = ideal_seconds(n, latency=latency)
        result, d = self._e2e("e2e_50k", [path], ideal, latency=latency,
                              cap_s=self.cap_for("e2e_50k", 1.5 * ideal + 30, 3 * ideal))
        ratio = None if d["problem"] else result["seconds"] / ideal
        note = (f"wall {result['seconds']:.1f} s, ideal {ideal:.0f} s, {d['fake'].get('request_count')} requests"
                + (f"; {d['problem']}" if d["problem"] else ""))
        self.set("e2e_50k_ratio_to_ideal", ratio, note)
        self.set("e2e_50k_peak_in_flight", d["fake"].get("peak_in_flight"), note)
        runs = (d.get("timeline") or {}).get("runs") or [{}]
        self.set("e2e_50k_dagster_steps", runs[0].get("dagster_steps"),
                 f"{runs[0].get('steps')} chunk steps + parse, collect and the asset checks")

    # -- 5b. memory does not grow with the file (offline)
    def _offline_rss(self, n: int, tag: str, suffix: str = ".csv") -> dict:
        path = self.data(f"leads_{n}{suffix}", n, seed=42)
        # the generated 1,048,576-row CSV is ~123 MB, over the default 100 MB file limit (EASYCRM_MAX_FILE_MB)
        res = run_ingest([path], fresh_env(self.tmp(f"memory_{tag}"), extra={"EASYCRM_MAX_FILE_MB": "200"}),
                         poll_rss=True, interval=0.1)
        problem = check_files(res, 1, f"offline ingest of {n:,} rows")
        if problem:
            raise RuntimeError(problem)
        self.log(f"memory: {n:,} rows ({suffix}) offline in {res['seconds']:.1f} s, peak tree RSS {res['peak_rss_mb']:.0f} MB")
        return res

    def g_memory(self) -> None:
        s = self.sizes
        if self.wants("peak_rss_200k_mb"):
            r200 = self._offline_rss(s.rss_200k, "200k")
            self.set("peak_rss_200k_mb", r200["peak_rss_mb"], f"{s.rss_200k:,} rows, wall {r200['seconds']:.1f} s")
        if self.wants("peak_rss_400k_over_100k"):
            small, big = (self._offline_rss(n, f"pair_{n}") for n in s.rss_pair)
            self.set("peak_rss_400k_over_100k", big["peak_rss_mb"] / small["peak_rss_mb"],
                     f"{s.rss_pair[1]:,} rows {big['peak_rss_mb']:.0f} MB / {s.rss_pair[0]:,} rows "
                     f"{small['peak_rss_mb']:.0f} MB")
        if self.wants("offline_1m_s", "offline_1m_peak_rss_mb"):
            r1m = self._offline_rss(s.rows_1m, "1m")
            self.set("offline_1m_s", r1m["seconds"], f"{s.rows_1m:,} rows")
            self.set("offline_1m_peak_rss_mb", r1m["peak_rss_mb"], f"{s.rows_1m:,} rows")
        if self.wants("xlsx_rss_200k_over_50k"):
            small, big = (self._offline_rss(n, f"xlsx_{n}", ".xlsx") for n in s.xlsx_pair)
            self.set("xlsx_rss_200k_over_50k", big["peak_rss_mb"] / small["peak_rss_mb"],
                     f"{s.xlsx_pair[1]:,} rows {big['peak_rss_mb']:.0f} MB / {s.xlsx_pair[0]:,} rows "
                     f"{small['peak_rss_mb']:.0f} MB (.xlsx, wall {big['seconds']:.1f} s / {small['seconds']:.1f} s)")

    # -- 4. upsert
    def g_upsert(self) -> None:
        import bench_upsert as bu

        from easycrm_pipeline.store.duckdb_store import DuckDBStore

        n, half = self.sizes.upsert_n, self.sizes.upsert_n // 2
        tmp = self.tmp("upsert")
        first, second = bu.make_leads(0, n, "A"), bu.make_leads(half, n, "B")
        counter = iter(range(100))

        def once() -> dict:
            store = DuckDBStore(tmp / f"set_{next(counter)}.duckdb")
            store.init()
            store.upsert_file(first, source_file="first.csv")
            t, c = time.perf_counter(), time.process_time()
            stats = store.upsert_file(second, source_file="second.csv")
            took = time.perf_counter() - t
            return {"seconds": took, "cpu_s": time.process_time() - c, "in_store_ms": stats.processing_ms,
                    "updated": stats.updated, "created": stats.created}

        med, runs = repeat(once)
        m, mh = self.sizes.naive_n, self.sizes.naive_n // 2

        def naive_once() -> dict:
            store = DuckDBStore(tmp / f"naive_{next(counter)}.duckdb")
            store.init()
            store.upsert_file(bu.make_leads(0, m, "A"), source_file="first.csv")
            t = time.perf_counter()
            bu.naive_upsert(store.path, bu.make_leads(mh, m, "B"), "second.csv")
            return {"seconds": time.perf_counter() - t}

        naive_med, naive_runs = repeat(naive_once)
        per_lead_set = med["seconds"] / n
        per_lead_naive = naive_med["seconds"] / m
        ratio = per_lead_naive / per_lead_set
        self.set("upsert_50k_s", med["seconds"], f"{med['updated']:.0f} updated, {med['created']:.0f} created; "
                 f"CPU {med['cpu_s']:.2f} s (all DuckDB threads), in-store {med['in_store_ms']:.0f} ms")
        self.set("upsert_naive_ratio", ratio,
                 f"naive per-row measured on {m:,} leads into {m:,} ({naive_med['seconds']:.2f} s, "
                 f"~{per_lead_naive * n:.0f} s extrapolated linearly to {n:,}; linear favours the naive way)")
        self.detail["groups"]["upsert"] = {"set_based": runs, "naive": naive_runs}

    # -- 5. peak RSS of the whole offline ingest (and the DB the offline re-ingest starts from)
    def g_peak_rss(self) -> None:
        n = self.sizes.rss_rows
        path = self.data(f"leads_{n}.csv", n, seed=42)
        counter = iter(range(100))
        dbs: list[Path] = []

        def once() -> dict:
            tmp = self.tmp(f"rss_{next(counter)}")
            res = run_ingest([path], fresh_env(tmp), poll_rss=True)
            problem = check_files(res, 1, "offline ingest")
            if problem:
                raise RuntimeError(problem)
            dbs.append(tmp / "leads.duckdb")
            return {"seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"],
                    "peak_single_mb": res["peak_single_mb"], "procs_at_peak": res["procs_at_peak"]}

        med, runs = repeat(once)
        self.set("peak_rss_50k_mb", med["peak_rss_mb"],
                 f"psutil: sum of RSS over the easycrm ingest process tree every 50 ms (max single process "
                 f"{med['peak_single_mb']:.0f} MB; offline runs use the in-process executor: CLI + run process); "
                 f"ingest wall {med['seconds']:.1f} s")
        self.detail["groups"]["peak_rss"] = runs
        self.offline_ingested_db = dbs[0]

    # -- 3. re-ingest of an already-ingested file
    def g_reingest(self) -> None:
        n = self.sizes.reingest_rows
        path = self.data(f"leads_{n}.csv", n, seed=42)
        detail: dict[str, Any] = {}
        notes = []
        # (a) offline re-ingest (no key): the DB of an offline first ingest, restored before every run
        tmp = self.tmp("reingest_offline")
        env = fresh_env(tmp)
        base = getattr(self, "offline_ingested_db", None)
        if base is None or not base.exists() or n != self.sizes.rss_rows:
            first = run_ingest([path], env)
            if check_files(first, 1, "first offline ingest"):
                raise RuntimeError(check_files(first, 1, "first offline ingest"))
            base = tmp / "first.duckdb"
            shutil.copy(tmp / "leads.duckdb", base)
        def offline_once() -> dict:
            shutil.copy(base, tmp / "leads.duckdb")
            res = run_ingest([path], env)
            problem = check_files(res, 1, "offline re-ingest")
            if problem:
                raise RuntimeError(problem)
            f = res["files"][0]
            return {"seconds": res["seconds"], "created": f.get("leads_created"), "updated": f.get("leads_updated"),
                    "unchanged": f.get("leads_unchanged"), "llm_calls": f.get("llm_calls")}

        off_med, off_runs = repeat(offline_once)
        detail["offline"] = off_runs
        # (b) keyed: a first ingest with DeepSeek (fake, latency 0, big batches so it is quick; it fills the
        #     standardization cache once there is one), then the re-ingest with the default batch size, capped.
        tmp = self.tmp("reingest_keyed")
        keyed_s = keyed_calls = None
        with FakeServer(tmp, 0.0) as fake:
            setup_env = fresh_env(tmp, key="sk-bench", base_url=fake.url,
                                  extra={"EASYCRM_BATCH_SIZE": str(self.sizes.reingest_setup_batch)})
            setup_cap = max(30.0, min(240.0, self.left() - self.sizes.reingest_keyed_cap_s - 60))
            self.log(f"reingest: keyed first ingest (batch {self.sizes.reingest_setup_batch}), cap {setup_cap:.0f} s")
            first = run_ingest([path], setup_env, cap_s=setup_cap)
            problem = check_files(first, 1, "keyed first ingest")
            detail["keyed_first"] = {"seconds": round(first["seconds"], 2), "problem": problem,
                                     "fake": fake.stats(), "files": first["files"]}
            if problem:
                notes.append(problem)
            else:
                fake.reset()
                env = fresh_env(tmp, key="sk-bench", base_url=fake.url)
                cap = max(20.0, min(self.sizes.reingest_keyed_cap_s, self.left() - 60))
                self.log(f"reingest: keyed re-ingest (batch 10), cap {cap:.0f} s, load {load_text()}")
                res = run_ingest([path], env, cap_s=cap)
                stats = fake.stats()
                problem = check_files(res, 1, "keyed re-ingest")
                detail["keyed_reingest"] = {"seconds": round(res["seconds"], 2), "problem": problem, "fake": stats,
                                            "files": res["files"]}
                if problem is None:
                    keyed_s, keyed_calls = res["seconds"], stats["request_count"]
                else:
                    notes.append(f"{problem}; it had made {stats['request_count']:,} DeepSeek calls by then "
                                 f"(the file has {n // 10:,} batches of 10; no standardization cache yet?)")
        self.detail["groups"]["reingest"] = detail
        if keyed_s is not None:
            self.set("reingest_50k_s", keyed_s, f"keyed re-ingest; offline re-ingest {off_med['seconds']:.1f} s")
            self.set("reingest_50k_llm_calls", keyed_calls, "fake server request count during the keyed re-ingest")
        else:
            self.set("reingest_50k_s", off_med["seconds"],
                     "OFFLINE re-ingest (no key): the keyed re-ingest could not finish — " + "; ".join(notes))
            self.set("reingest_50k_llm_calls", None, "not measured to the end: " + "; ".join(notes))

    # -- 6. bundled samples, offline
    def g_samples(self) -> None:
        paths = sorted(p for p in (CODE / "data" / "samples").iterdir() if p.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".xls"))
        counter = iter(range(100))

        def once() -> dict:
            tmp = self.tmp(f"samples_{next(counter)}")
            res = run_ingest(paths, fresh_env(tmp))
            problem = check_files(res, len(paths), "samples ingest")
            if problem:
                raise RuntimeError(problem)
            leads = sum((f.get("leads_created") or 0) + (f.get("leads_updated") or 0) for f in res["files"])
            rows = sum(f.get("rows_read") or 0 for f in res["files"])
            return {"seconds": res["seconds"], "leads": leads, "rows": rows}

        med, runs = repeat(once)
        lps = med["leads"] / med["seconds"] if med["seconds"] else None
        self.detail["groups"]["samples"] = runs
        self.detail["samples_leads_per_s"] = lps
        self.set("samples_offline_s", med["seconds"],
                 f"{len(paths)} files, {med['rows']:.0f} rows, {med['leads']:.0f} leads stored: {lps:.0f} leads/s")

    # -- 7. DeepSeek output tokens per lead: full answers vs corrections to the rules' proposal
    def g_tokens(self) -> None:
        n = self.sizes.e2e_leads
        paths = [self.data(f"e2e_{n}_a.csv", n, seed=7, start=0)] + sorted(
            p for p in (CODE / "data" / "samples").iterdir() if p.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".xls"))
        full = completion_tokens_per_lead(paths, "full")
        short = completion_tokens_per_lead(paths, "corrections")
        self.detail["groups"]["tokens"] = {"full": full, "corrections": short}
        files = ", ".join(p.name for p in paths)
        self.set("completion_tokens_per_lead_full", full["per_lead"],
                 f"today's full answer: {full['completion_tokens']} tokens for {full['leads']} leads ({files})")
        self.set("completion_tokens_per_lead", short["per_lead"],
                 f"corrections only: {short['completion_tokens']} tokens for {short['leads']} leads; per file "
                 + ", ".join(f"{k} {v}" for k, v in short["per_file"].items()))
        ratio = full["per_lead"] / short["per_lead"] if short["per_lead"] else None
        self.set("completion_tokens_reduction", ratio,
                 f"{full['per_lead']} -> {short['per_lead']} completion tokens per lead")

    # -- 8. the live progress display of `easycrm ingest` on a terminal (issue 19)
    def g_progress(self) -> None:
        n = max(100, self.sizes.e2e_leads // 2)
        path = self.data(f"e2e_{n}_p.csv", n, seed=11)
        tmp = self.tmp("progress")
        runs: dict[str, list[dict]] = {"pty": [], "quiet": []}
        with FakeServer(tmp, FAKE_LATENCY) as fake:
            for k in range(3):
                for mode in ("pty", "quiet") if k % 2 == 0 else ("quiet", "pty"):
                    env = fresh_env(tmp / f"{mode}_{k}", key="sk-bench", base_url=fake.url)
                    runs[mode].append(run_on_pty(path, env, quiet=mode == "quiet", cap_s=20 * ideal_seconds(n)))
        bad = [r for rs in runs.values() for r in rs if r["rc"] != 0 or r["timed_out"]]
        wall = {m: median_of([r["seconds"] for r in rs]) for m, rs in runs.items()}
        cpu = {m: median_of([r["parent_cpu_s"] for r in rs]) for m, rs in runs.items()}
        tree = {m: median_of([r["tree_cpu_s"] for r in rs]) for m, rs in runs.items()}
        lines = median_of([r["progress_bytes"] for r in runs["pty"]])
        problem = f"; {len(bad)} run(s) failed: {bad[0]['tail']}" if bad else ""
        overhead = None if bad else 100.0 * (wall["pty"] - wall["quiet"]) / wall["quiet"]
        cpu_pct = None if bad else 100.0 * (tree["pty"] - tree["quiet"]) / wall["quiet"]
        note = (f"{n} leads; wall {wall['pty']:.1f} s with progress vs {wall['quiet']:.1f} s --quiet (medians of 3); "
                f"CPU of easycrm + its run processes {tree['pty']:.2f} s vs {tree['quiet']:.2f} s (of easycrm alone "
                f"{cpu['pty']:.2f} s vs {cpu['quiet']:.2f} s); {lines:.0f} bytes of progress drawn")
        self.set("progress_overhead_pct", overhead, note + problem)
        self.set("progress_cpu_pct", cpu_pct, note + problem)
        self.detail["groups"]["progress"] = runs


    # -- 9. issue 18: duplicate matching (gold set precision/recall; a 1,000-lead file against 1,000,000 leads)
    def g_duplicates(self) -> None:
        import bench_duplicates as bd

        tmp = self.tmp("duplicates")
        gold = bd.gold_on_duckdb(tmp / "gold.duckdb", people=2_000 if self.quick else 20_000)
        note = (f"gold set seed 1018: {gold['table']:,} table leads, {gold['new']:,} new ({gold['true_pairs']} true "
                f"pairs); found {gold['found']}, missed by kind {gold['missed_by_kind']}, false by kind "
                f"{gold['false_by_kind']}; DuckDB blocking + scoring {gold['seconds']:.2f} s")
        self.set("dupes_gold_precision", gold["precision"], note)
        self.set("dupes_gold_recall", gold["recall"], note)
        n = 20_000 if self.quick else 1_000_000
        db = tmp / f"table_{n}.duckdb"
        built = bd.build_table(db, n)
        added = bd.add_file(db)
        runs = []
        for _ in range(3):  # the matching is idempotent: each run re-finds and refreshes the same pairs
            proc = subprocess.run([sys.executable, str(BENCH_DIR / "bench_duplicates.py"), "match", str(db)],
                                  capture_output=True, text=True, cwd=str(CODE), env=dict(os.environ))
            if proc.returncode != 0:
                raise RuntimeError((proc.stderr.strip().splitlines() or ["match failed"])[-1])
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        med = {k: median_of([r[k] for r in runs]) for k in ("seconds", "cpu_s", "peak_rss_mb", "rss_before_mb")}
        first = runs[0]
        self.set("dupes_match_1k_in_1m_s", med["seconds"],
                 f"detect_duplicates for a 1,000-lead file (200 table people again) in a {n:,}-lead DuckDB table "
                 f"(built in SQL in {built:.1f} s, file upserted in {added['seconds']:.2f} s): median of 3, CPU "
                 f"{med['cpu_s']:.2f} s; {first['candidates']:,} candidate pairs, {first['pairs']} pairs found "
                 f"(by rule {first['by_rule']}), skipped keys {first['skipped_keys']}; load {load_text()}")
        self.set("dupes_match_peak_rss_mb", med["peak_rss_mb"],
                 f"max RSS of the matching process (Python + DuckDB + pandas + rapidfuzz imported: "
                 f"{med['rss_before_mb']:.0f} MB before matching); target: the ingest's own peak_rss_50k_mb")
        self.detail["groups"]["duplicates"] = {"gold": gold, "match_runs": runs}

    # -- 10. issue 14: a partition materialized from the UI vs `easycrm ingest` of a file of the same size
    def g_ui(self) -> None:
        import bench_ui as bu

        n = self.sizes.e2e_leads
        cli_file = self.data(f"ui_{n}_cli.csv", n, seed=13, start=0)
        ui_file = self.data(f"ui_{n}_ui.csv", n, seed=13, start=n)  # other people: nothing cached for either run
        tmp = self.tmp("ui")
        ideal = ideal_seconds(n)
        with FakeServer(tmp, FAKE_LATENCY) as fake:
            env = fresh_env(tmp, key="sk-bench", base_url=fake.url)
            (tmp / "inbox").mkdir(exist_ok=True)
            cli = run_ingest([cli_file], env, cap_s=8 * ideal)
            problem = check_files(cli, 1, "ui")
            bu.register_partition(env, CODE, ui_file)
            port, procs = bu.start_services(env, CODE, tmp)
            try:
                ui_s, status = bu.materialize_like_the_ui(port, ui_file.name, tmp / "dagster_home", 8 * ideal)
            finally:
                bu.stop_services(procs)
        if status != "SUCCESS":
            problem = (problem + "; " if problem else "") + f"the UI run ended {status}"
        ratio = None if problem else ui_s / cli["seconds"]
        self.set("ui_vs_cli_ratio", ratio,
                 f"{n} leads, fake latency {FAKE_LATENCY} s: UI Materialize (GraphQL submit, asset selection, no run "
                 f"config) {ui_s:.1f} s from submit to run end vs `easycrm ingest` {cli['seconds']:.1f} s; load "
                 f"{load_text()}" + (f"; {problem}" if problem else ""))
        self.detail["groups"]["ui"] = {"ui_s": ui_s, "ui_status": status, "cli_s": cli["seconds"]}

    # -- driver
    #: rough cost of each group in seconds (full sizes), for the budget check
    COST = {"parse_csv": 5, "parse_xlsx": 25, "e2e_1k": 90, "e2e_3x1k": 200, "e2e_50k": 620, "upsert": 45,
            "peak_rss": 75, "reingest": 180, "samples": 50, "tokens": 40, "memory": 600, "progress": 180,
            "duplicates": 150, "ui": 180}

    def run(self, groups: list[str]) -> None:
        self.groups = list(groups)
        for group in groups:
            cost = self.COST[group] * (0.2 if self.quick else 1)
            self.detail["load"][group] = load_text()
            if self.left() < cost:
                self.log(f"{group}: skipped, {self.left():.0f} s left of the budget, needs ~{cost} s")
                for name, spec in MEASURES.items():
                    if spec[3] == group:
                        self.set(name, None, f"skipped: time budget ({self.left():.0f} s left, needs ~{cost} s)")
                continue
            self.log(f"{group}: start ({self.left():.0f} s left; {self.detail['load'][group]})")
            t = time.monotonic()
            try:
                getattr(self, f"g_{group}")()
            except Exception as exc:  # noqa: BLE001 - one broken measure must not lose the others
                self.log(f"{group}: FAILED: {type(exc).__name__}: {exc}")
                for name, spec in MEASURES.items():
                    if spec[3] == group and name not in self.measures:
                        self.set(name, None, f"error: {type(exc).__name__}: {exc}")
            self.log(f"{group}: done in {time.monotonic() - t:.1f} s")


def snapshot_head() -> Path:
    """Export the committed ``HEAD`` into ``bench/work/code_<sha>`` (once) and return that directory."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    target = WORK / f"code_{sha}"
    if not (target / "easycrm_pipeline").exists():
        tmp = WORK / f"code_{sha}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated measure (or group) names")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--out", type=Path, help="results file (default bench/results.json; "
                                              "bench/work/results_quick.json with --quick or --only)")
    ap.add_argument("--budget", type=float, default=2700.0, help="seconds for all measures (default 2700)")
    ap.add_argument("--merge", action="store_true", help="keep the measures of the groups not run from the existing "
                                                          "results file (with --only: complete a run that skipped some)")
    ap.add_argument("--code", type=Path, help="measure the product from this source tree (default: this checkout)")
    ap.add_argument("--snapshot", action="store_true", help="measure the committed HEAD (git archive), not the "
                                                             "working tree")
    args = ap.parse_args(argv)
    global CODE
    if args.snapshot:
        CODE = snapshot_head()
    elif args.code:
        CODE = args.code.resolve()
    sys.path.insert(0, str(BENCH_DIR))
    sys.path.insert(0, str(CODE))
    if CODE != ROOT:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(CODE), *filter(None, [os.environ.get("PYTHONPATH")])])
    import easycrm_pipeline  # noqa: F401 - first, from CODE (bench_upsert puts the checkout on sys.path too)

    if Path(easycrm_pipeline.__file__).resolve().parent.parent != CODE:
        raise SystemExit(f"easycrm_pipeline imported from {easycrm_pipeline.__file__}, not from {CODE}")
    groups = select_groups(args.only)
    sizes = Sizes.quick() if args.quick else Sizes()
    out = args.out.resolve() if args.out else (WORK / "results_quick.json" if args.quick else
                       WORK / "results_only.json" if args.only else RESULTS)
    bench = Bench(sizes, args.quick, args.budget, select_measures(args.only))
    start_load = load_text()
    bench.log(f"bench: groups {', '.join(groups)}; code {CODE}; {os.cpu_count()} cores; {start_load}")
    bench.detail["code"] = str(CODE)
    bench.run(groups)
    bench.detail.update(started_load=start_load, finished_load=load_text(),
                        total_s=round(time.monotonic() - bench.t0, 1),
                        measures=bench.measures, date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    measures = dict(bench.measures)
    if args.merge and out.exists():
        old = json.loads(out.read_text()).get("measures", {})
        for name, entry in old.items():
            if name in MEASURES and (MEASURES[name][3] not in groups or not bench.wants(name)):
                measures[name] = {**entry, "note": None}
    write_json(out, results_doc(measures))
    write_json(DETAIL if out == RESULTS else out.with_name(out.stem + "_detail.json"), bench.detail)
    print(f"## easycrm bench ({'quick sizes' if args.quick else 'full sizes'}), "
          f"{bench.detail['total_s']:.0f} s, {os.cpu_count()} cores\n")
    print(f"code measured: `{CODE}`  \nload at start: `{start_load}`  \n"
          f"load at end: `{bench.detail['finished_load']}`\n")
    print(markdown_table(bench.measures))
    print("\nNotes:")
    for name in MEASURES:
        note = (bench.measures.get(name) or {}).get("note")
        if note:
            print(f"- {name}: {note}")
    for group in ("e2e_1k", "e2e_3x1k", "e2e_50k"):
        g = bench.detail["groups"].get(group)
        if g and g.get("timeline"):
            print(f"- {group} timeline: " + json.dumps(g["timeline"]))
    rg = bench.detail["groups"].get("reingest") or {}
    for part in ("keyed_first", "keyed_reingest"):
        if rg.get(part):
            d = rg[part]
            print(f"- reingest {part}: {d['seconds']} s, fake {d['fake']}" + (f", {d['problem']}" if d["problem"] else ""))
    print(f"\nresults: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
