"""``easycrm ingest`` end to end: real Dagster runs (one process per file) on a temp instance, a fake DeepSeek
HTTP server on loopback speaking the OpenAI-compatible wire format, and the DuckDB store."""
import json

import duckdb
import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

HEADER = "First Name,Last Name,Company,Title,Email,Phone,Notes\n"


def write_csv(path, n, start=0, domain="example.com", title="buyer"):
    """A CSV of ``n`` leads ``person{i}@{domain}`` (i from ``start``)."""
    lines = [HEADER]
    for i in range(start, start + n):
        lines.append(f"First{i},OKAFOR,Company {i % 7},{title},Person{i}@{domain},+44 7700 9{i:05d},note {i}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def db_rows(tmp_path, sql):
    con = duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_offline_ingest_stores_every_lead_and_prints_stats(isolated_env, capsys):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 25)
    b = write_csv(tmp / "b.csv", 12, start=20, title="manager")  # 5 emails overlap with a.csv
    code, out, err = run_cli(capsys, "ingest", str(a), str(b), "--json")
    assert code == 0, err
    files = {f["file"]: f for f in json.loads(out)["files"]}
    assert files["a.csv"]["status"] == "completed"
    assert files["a.csv"]["rows_read"] == 25
    assert files["a.csv"]["batches"] == 0  # the offline rules settle every row in the parse step: no mapped step
    assert files["a.csv"]["llm_calls"] == 0
    assert files["b.csv"]["rows_read"] == 12
    # 37 rows, 5 shared emails -> 32 distinct leads whatever order the two runs wrote in
    assert db_rows(tmp, "select count(*), count(distinct email) from leads")[0] == (32, 32)
    created = files["a.csv"]["leads_created"] + files["b.csv"]["leads_created"]
    updated = files["a.csv"]["leads_updated"] + files["b.csv"]["leads_updated"]
    assert (created, updated) == (32, 5)
    shared = ", ".join(f"'person{i}@example.com'" for i in range(20, 25))
    titles = {t for (t,) in db_rows(tmp, f"select title from leads where email in ({shared})")}
    assert len(titles) == 1  # the five shared leads carry the values of whichever file was written last
    first, last, email, phone = db_rows(
        tmp, "select firstName, lastName, email, phone from leads where email = 'person3@example.com'"
    )[0]
    assert (first, last, email, phone) == ("First3", "Okafor", "person3@example.com", "+447700900003")


def test_rerun_of_a_file_with_in_file_duplicates_writes_no_audit_row_twice(isolated_env, capsys):
    """Issue 16 item 2: the README's "a re-run writes nothing twice" holds for the duplicates-resolved rows."""
    tmp = isolated_env
    a = write_csv(tmp / "dups.csv", 6)
    with a.open("a", encoding="utf-8") as fh:  # rows 1 and 4 again, changed: the last occurrence wins
        fh.write("First1,Again,Company 1,cto,Person1@example.com,,x\nFirst4,Again,Company 4,cto,person4@example.com,,y\n")
    assert run_cli(capsys, "ingest", str(a), "--json")[0] == 0
    count = "select action, count(*) from lead_changes group by action order by action"
    before = db_rows(tmp, count)
    assert before == [("batch_duplicate_resolved", 2), ("lead_created", 6)]
    code, out, _ = run_cli(capsys, "ingest", str(a), "--json")
    assert code == 0 and json.loads(out)["files"][0]["leads_unchanged"] == 6
    assert db_rows(tmp, count) == before


def test_store_held_by_another_program_fails_the_file_in_one_line(isolated_env, capsys, monkeypatch):
    """Issue 16 item 12: a DuckDB file held by another writer says the store is locked by another process and how
    long it waited (not "error while executing op collect_leads")."""
    from easycrm_tests.store.multiproc import wait_for_line, worker

    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 3)
    assert run_cli(capsys, "init-store")[0] == 0
    monkeypatch.setenv("EASYCRM_LOCK_TIMEOUT_SECONDS", "1")
    holder = worker("hold", str(tmp / "leads.duckdb"), "60")
    try:
        wait_for_line(holder, "READY")
        code, out, err = run_cli(capsys, "ingest", str(a), "--json")
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    (doc,) = json.loads(out)["files"]
    assert code != 0 and doc["status"] == "error"
    assert doc["error"].startswith("a.csv: the lead store is locked by another process (waited "), doc["error"]
    assert "\n" not in doc["error"] and "error while executing" not in doc["error"]
    assert doc["error"].split("(waited ", 1)[1].split(" s", 1)[0].replace(".", "").isdigit()


def test_rerun_of_same_file_changes_nothing(isolated_env, capsys):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 8)
    assert run_cli(capsys, "ingest", str(a), "--json")[0] == 0
    before = db_rows(tmp, "select leadId, updatedAt from leads order by email")
    code, out, _ = run_cli(capsys, "ingest", str(a), "--json")
    assert code == 0
    stats = json.loads(out)["files"][0]
    assert (stats["leads_created"], stats["leads_updated"], stats["leads_unchanged"]) == (0, 0, 8)
    assert db_rows(tmp, "select leadId, updatedAt from leads order by email") == before
    code, out, _ = run_cli(capsys, "ingest", str(a))  # the table view says so in words
    assert code == 0
    assert "a.csv: nothing changed - all 8 leads were already stored with these values" in out
    assert "unchanged" in out


def test_deepseek_ingest_sends_the_contract_request_and_stores_answers(isolated_env, monkeypatch, capsys):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 23)
    with FakeDeepSeek(latency=0.05) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code, out, err = run_cli(capsys, "ingest", str(a), "--json")
        bodies = list(fake.requests)
    assert code == 0, err
    stats = json.loads(out)["files"][0]
    assert stats["llm_calls"] == 3 and stats["batches"] == 3
    assert stats["tokens"] > 0
    assert len(bodies) == 3
    body = bodies[0]
    assert body["model"] == "deepseek-v4-flash"
    assert body["response_format"] == {"type": "json_object"}
    assert body["thinking"] == {"type": "disabled"}
    sent = {item["id"]: item for b in bodies for item in json.loads(b["messages"][-1]["content"])["leads"]}
    sent_ids = sorted(item["id"] for b in bodies for item in json.loads(b["messages"][-1]["content"])["leads"])
    assert len(sent_ids) == 23 and len(set(sent_ids)) == 23
    assert sent["0:2"]["Email"] == "Person0@example.com"  # row 2 of the CSV, raw header names and raw values
    assert sent["0:2"]["Last Name"] == "OKAFOR"
    assert db_rows(tmp, "select count(*) from leads")[0][0] == 23
    assert db_rows(tmp, "select firstName, lastName, email from leads where email='person0@example.com'")[0] == (
        "First0",
        "Okafor",
        "person0@example.com",
    )


def test_fatal_deepseek_error_fails_the_file_clearly_and_writes_nothing(isolated_env, monkeypatch, capsys):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 5)
    with FakeDeepSeek(api_key="sk-right") as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-wrong")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code, out, err = run_cli(capsys, "ingest", str(a), "--json")
    assert code == 1
    stats = json.loads(out)["files"][0]
    assert stats["status"] == "error"
    assert "DeepSeek rejected the API key" in stats["error"]
    assert "sk-wrong" not in out + err
    assert not (tmp / "leads.duckdb").exists() or db_rows(tmp, "select count(*) from leads")[0][0] == 0


def test_offline_ingest_of_a_utf16_unicode_text_txt_and_a_tsv(isolated_env, capsys):
    """Excel "Unicode text" (.txt: UTF-16 with BOM, tab-separated) and a .tsv go through the same ingest job."""
    tmp = isolated_env
    txt = tmp / "Unicode Export.txt"
    txt.write_bytes("First Name\tLast Name\tCompany\tEmail\tPhone\r\n"
                    "Zoë\tÅngström\tCafé Müller, GmbH\tzoe@example.de\t+49 30 1234567\r\n"
                    "José\tNúñez\tŁódź Sp. z o.o.\tjose@example.es\t0034 600 000 001\r\n".encode("utf-16"))
    tsv = tmp / "leads.tsv"
    tsv.write_text("Email\tName\tPhone\nann@example.com\tAnn Lee\t07700 900123\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "ingest", str(txt), str(tsv), "--json")
    assert code == 0, err
    files = {f["file"]: f for f in json.loads(out)["files"]}
    assert files["Unicode Export.txt"]["status"] == "completed"
    assert (files["Unicode Export.txt"]["rows_read"], files["Unicode Export.txt"]["leads_created"]) == (2, 2)
    assert (files["leads.tsv"]["status"], files["leads.tsv"]["leads_created"]) == ("completed", 1)
    assert db_rows(tmp, "select firstName, lastName, company, phone, sourceFile from leads order by email") == [
        ("Ann", "Lee", None, "07700900123", "leads.tsv"),
        ("José", "Núñez", "Łódź Sp. z o.o.", "+34600000001", "Unicode Export.txt"),
        ("Zoë", "Ångström", "Café Müller, GmbH", "+49301234567", "Unicode Export.txt"),
    ]


@pytest.mark.parametrize("bad", ["missing.csv", "notes.pdf"])
def test_bad_paths_are_refused_before_any_run(isolated_env, capsys, bad):
    tmp = isolated_env
    if bad.endswith(".pdf"):
        (tmp / bad).write_text("hello")
    code, out, err = run_cli(capsys, "ingest", str(tmp / bad))
    assert code == 2
    assert err.count("\n") == 1 and bad in err
    assert not (tmp / "leads.duckdb").exists()


@pytest.mark.parametrize(
    "latency,expected_peak",
    [
        # 0.2 s requests are shorter than a Dagster step's own overhead (~0.5 s on 2 cores): the pool must still
        # never let a 6th request through, but 5 rarely overlap, so only the bound is asserted here.
        (0.2, None),
        # 2 s requests (the benchmark's latency) dominate a step even on a loaded machine: the pool is saturated,
        # the server sees exactly 5 in flight at peak.
        (2.0, 5),
    ],
)
def test_concurrent_files_share_the_deepseek_pool_of_five(isolated_env, monkeypatch, capsys, latency, expected_peak):
    """Three files at once: the pool holds DeepSeek to 5 requests in flight across the three runs, never 6."""
    tmp = isolated_env
    paths = [write_csv(tmp / f"f{k}.csv", 60, start=k * 1000) for k in range(3)]
    with FakeDeepSeek(latency=latency) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code, out, err = run_cli(capsys, "ingest", *map(str, paths), "--json")
        peak, count = fake.peak_in_flight, fake.request_count
    assert code == 0, err
    assert count == 18
    assert peak <= 5
    if expected_peak is not None:
        assert peak == expected_peak
    assert db_rows(tmp, "select count(*), count(distinct email) from leads")[0] == (180, 180)


def _instance_text_for_runs():
    """Every run's config, tags and event log text in the test's DAGSTER_HOME (to look for leaked secrets)."""
    from easycrm_pipeline.cli.instance import get_instance

    instance = get_instance()
    chunks = []
    for record in instance.get_run_records():
        run = record.dagster_run
        chunks.append(json.dumps(run.run_config, default=str) + json.dumps(dict(run.tags)))
        chunks += [str(entry) for entry in instance.all_logs(run.run_id)]
    return "\n".join(chunks)


def test_reingest_costs_no_tokens_and_repeated_rows_are_sent_once(isolated_env, monkeypatch, capsys):
    tmp = isolated_env
    a = write_csv(tmp / "a.csv", 14)
    with open(a, "a", encoding="utf-8") as fh:  # rows 2 and 3 again at the end of the file
        fh.writelines(a.read_text(encoding="utf-8").splitlines(keepends=True)[1:3])
    with FakeDeepSeek() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-secret-0123456789")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code, out, err = run_cli(capsys, "ingest", str(a), "--json")
        assert code == 0, err
        first = json.loads(out)["files"][0]
        sent = [i for ids in fake.request_ids() for i in ids]
        assert sorted(sent) == sorted(f"0:{n}" for n in range(2, 16))  # the 2 repeats are not sent
        assert first["rows_read"] == 16 and first["leads_created"] == 14 and first["duplicates_resolved"] == 2
        fake.reset()
        code, out, err = run_cli(capsys, "ingest", str(a), "--json")
        assert code == 0, err
        second = json.loads(out)["files"][0]
        assert fake.request_count == 0
    assert (second["llm_calls"], second["tokens"], second["batches"]) == (0, 0, 0)
    assert (second["leads_created"], second["leads_updated"], second["leads_unchanged"]) == (0, 0, 14)
    assert "sk-secret-0123456789" not in _instance_text_for_runs()


def test_auto_mode_sends_only_rows_the_rules_cannot_settle(isolated_env, monkeypatch, capsys):
    tmp = isolated_env
    path = tmp / "mixed.csv"
    path.write_text(
        "First Name,Last Name,Full Name,Email\n"
        "Ann,Lee,,ann@example.com\n"
        ",,Bo Berg,bo@example.com\n"
        "Cy,Dunn,,cy@example.com\n",
        encoding="utf-8",
    )
    with FakeDeepSeek() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        monkeypatch.setenv("EASYCRM_LLM", "auto")
        code, out, err = run_cli(capsys, "ingest", str(path), "--json")
        ids = fake.request_ids()
    assert code == 0, err
    assert ids == [["0:3"]]
    assert json.loads(out)["files"][0]["leads_created"] == 3
    assert db_rows(tmp, "select firstName, lastName from leads where email = 'bo@example.com'")[0] == ("Bo", "Berg")


def test_reingest_does_not_duplicate_rows_without_an_email(isolated_env, capsys):
    tmp = isolated_env
    path = tmp / "noemail.csv"
    path.write_text(
        "First Name,Last Name,Email\nAnn,Lee,ann@example.com\nBo,Berg,\nCy,Dunn,not-an-email\nBo,Berg,\n",
        encoding="utf-8",
    )
    assert run_cli(capsys, "ingest", str(path), "--json")[0] == 0
    assert db_rows(tmp, "select count(*) from leads")[0][0] == 4  # no email -> always a new lead (seeds)
    code, out, _ = run_cli(capsys, "ingest", str(path), "--json")
    stats = json.loads(out)["files"][0]
    assert code == 0 and (stats["leads_created"], stats["leads_unchanged"]) == (0, 4)
    assert db_rows(tmp, "select count(*) from leads")[0][0] == 4


def test_every_row_is_accounted_for_leads_quarantine_or_blank(isolated_env, capsys):
    """rows read + blank rows = every row under the header; rows read = lead rows + quarantined (handed case 07)."""
    tmp = isolated_env
    path = tmp / "blank.csv"
    path.write_text("First Name,Last Name,Email\nAna,Costa,ana@x.example\n,,\n   ,  ,\n\nBo,Reis,bo@x.example\n"
                    "Total: 2 leads,,\n")
    code, out, err = run_cli(capsys, "ingest", str(path), "--json")
    assert code == 0, err
    f = json.loads(out)["files"][0]
    assert (f["rows_read"], f["blank_rows"], f["leads_created"], f["quarantined"]) == (3, 3, 2, 1)
    code, out, _ = run_cli(capsys, "ingest", str(path))
    assert "blank" in out


def test_two_big_files_at_once_never_exceed_the_pool_of_five(isolated_env, monkeypatch, capsys):
    """Two 250-lead files at once (one chunk step each, up to 10 request threads each): the instance's pool holds the
    two runs together to 5 requests in flight; at 1 s per request the pool is saturated, so the peak is exactly 5."""
    tmp = isolated_env
    paths = [write_csv(tmp / f"big{k}.csv", 250, start=k * 10_000) for k in range(2)]
    with FakeDeepSeek(latency=1.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code, out, err = run_cli(capsys, "ingest", *map(str, paths), "--json")
        peak, count = fake.peak_in_flight, fake.request_count
    assert code == 0, err
    assert count == 50
    assert peak == 5
    assert db_rows(tmp, "select count(*), count(distinct email) from leads")[0] == (500, 500)


def test_final_notes_say_how_to_list_the_quarantine_and_retry_the_dead_letter_and_both_commands_work(
    isolated_env, monkeypatch, capsys
):
    """Issue 19: the table says where the rejected rows are (the command lists them) and the command that retries
    the dead-lettered batches (a re-ingest sends DeepSeek only the rows its cache lacks: the dead-lettered ones)."""
    import shlex

    tmp = isolated_env
    path = write_csv(tmp / "flaky list.csv", 20)  # a space: the printed commands quote the names
    with FakeDeepSeek() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        # two batches at once: one gets the answer, the other a 503 on each of its 3 tries x 3 HTTP attempts (the
        # client's own retries) -> dead letter
        fake.script([{}] + [{"status": 503}] * 9)
        code, out, err = run_cli(capsys, "ingest", str(path))
        assert code == 0, err
        first_sent = {i for ids in fake.request_ids() for i in ids}
        quarantine_note = next(ln for ln in out.splitlines() if "rejected row(s)" in ln)
        assert quarantine_note.startswith("flaky list.csv: 10 rejected row(s) are in the quarantine")
        listing = shlex.split(quarantine_note.split("list them with: ", 1)[1])
        assert listing == ["easycrm", "quarantine", "flaky list.csv"]
        code, listed_out, err = run_cli(capsys, *listing[1:], "--json")
        assert code == 0, err
        listed = json.loads(listed_out)["rows"]
        assert len(listed) == 10 and all("DeepSeek failed after 3 tries" in r["reason"] for r in listed)
        retry_note = next(ln for ln in out.splitlines() if "batches failed after 3 tries" in ln)
        assert retry_note.startswith("flaky list.csv: 1 of 2 batches failed after 3 tries")
        command = shlex.split(retry_note.split("retry only them with: ", 1)[1])
        assert command == ["easycrm", "ingest", str(path)]
        fake.reset()
        code, out, err = run_cli(capsys, *command[1:], "--json")
        assert code == 0, err
        retried = [i for ids in fake.request_ids() for i in ids]
    dead_rows = {f"0:{r['row']}" for r in listed}
    assert sorted(retried) == sorted(dead_rows) and len(dead_rows) == 10  # only the dead-lettered rows are sent
    assert dead_rows < first_sent
    stats = json.loads(out)["files"][0]
    assert (stats["failed_batches"], stats["quarantined"]) == (0, 0)
    assert db_rows(tmp, "select count(*) from leads")[0][0] == 20
    assert db_rows(tmp, "select count(*) from quarantine")[0][0] == 0  # the file's quarantine is its latest run's


def test_the_waiting_ingest_process_never_imports_dagster_and_reads_results_from_files(isolated_env):
    """``easycrm ingest`` only waits: its run processes import Dagster, it does not (~80 MB and ~2.5 s of CPU less).
    A real ingest in a fresh interpreter; the outcome comes from the run process's result file, not its stdout."""
    import subprocess
    import sys

    path = write_csv(isolated_env / "lean.csv", 8)
    code = (
        "import json, sys\n"
        "from easycrm_pipeline.cli.main import main\n"
        f"rc = main(['ingest', {str(path)!r}, '--json'])\n"
        "print('DAGSTER_LOADED', 'dagster' in sys.modules, rc, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "DAGSTER_LOADED False 0" in proc.stderr, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout)["files"][0]
    assert (outcome["file"], outcome["status"], outcome["rows_read"], outcome["leads_created"]) == ("lean.csv", "completed", 8, 8)


def test_run_file_writes_its_outcome_to_the_result_file(isolated_env, tmp_path):
    """``python -m easycrm_pipeline.cli.run_file --result-file PATH``: the outcome is one JSON document in PATH
    (written atomically: no temporary file is left), nothing is scraped from stdout."""
    import subprocess
    import sys

    path = write_csv(isolated_env / "direct.csv", 5)
    result = tmp_path / "out" / "0.json"
    result.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "easycrm_pipeline.cli.run_file", "--partition", "direct.csv",
                           "--location", str(path), "--file-name", "direct.csv", "--result-file", str(result)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(result.read_text())
    assert (doc["status"], doc["file"], doc["partition"], doc["error"]) == ("completed", "direct.csv", "direct.csv", None)
    assert doc["run_id"] and doc["stats"]["rows_read"] == 5 and doc["stats"]["leads_created"] == 5
    assert "EASYCRM_RESULT" not in proc.stdout
    assert [p.name for p in result.parent.iterdir()] == ["0.json"]


def test_an_export_ingested_again_keeps_its_remarks(isolated_env, capsys):
    """Export -> ingest the export again (offline): every lead unchanged, remarks not grown by the export's own
    columns (a new user saw ``leadId: ...; sourceFile: ...; createdAt: ...`` appended)."""
    tmp = isolated_env
    assert run_cli(capsys, "ingest", str(write_csv(tmp / "crm.csv", 3)), "--json")[0] == 0
    before = dict(db_rows(tmp, 'SELECT email, remarks FROM leads'))
    for flags in ((), ("--all-columns",)):
        out = tmp / "export.csv"
        assert run_cli(capsys, "export", str(out), *flags)[0] == 0
        code, text, err = run_cli(capsys, "ingest", str(out), "--json")
        assert code == 0, err
        assert dict(db_rows(tmp, 'SELECT email, remarks FROM leads')) == before
    assert before == {f"person{i}@example.com": f"note {i}" for i in range(3)}
