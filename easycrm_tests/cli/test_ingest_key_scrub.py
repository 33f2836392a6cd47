"""Issue 16 item 7 end to end: an endpoint that reflects the request (API key included) in its 200 answers.

One ``easycrm ingest`` against the fake DeepSeek echoing ``Authorization: Bearer <key>`` in every answer's content,
first as an answer item's remarks, then as content that is not JSON (so the batch ends in the dead letter with the
parser's snippet in its reason). The key must not reach the ``--json`` output, ``easycrm status``, the Dagster event
log, the step outputs or the DuckDB file."""
from __future__ import annotations

import json

import dagster as dg
import duckdb
import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

KEY = "sk-echoed-0123456789abcdef"


def _texts_of_duckdb(path) -> str:
    """Every value of every table of the DuckDB file, as one text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        for (table,) in con.execute("select table_name from information_schema.tables").fetchall():
            out.extend(str(row) for row in con.execute(f'select * from "{table}"').fetchall())
        return "\n".join(out)
    finally:
        con.close()


@pytest.mark.parametrize("reply", [{"echo": True}, {"content": "not JSON at all: $AUTHORIZATION"}],
                         ids=["echo-in-remarks", "echo-in-bad-content"])
def test_a_key_echoed_in_200_answers_is_stored_logged_and_printed_nowhere(isolated_env, monkeypatch, capsys,
                                                                           reply):
    tmp = isolated_env
    path = tmp / "echo.csv"
    path.write_text("First Name,Last Name,Email,Notes\n" + "".join(
        f"Ann{i},Lee,ann{i}@example.com,note {i}\n" for i in range(5)), encoding="utf-8")
    with FakeDeepSeek(api_key=KEY, default_action=reply) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code = main(["ingest", str(path), "--json"])
        out = capsys.readouterr()
        assert fake.request_count >= 1
        # the endpoint really did reflect the key
        assert fake.request_headers[0]["Authorization"] == f"Bearer {KEY}"
    assert code == 0, out.err
    stats = json.loads(out.out)["files"][0]
    assert stats["status"] == "completed" and stats["llm_leads"] == 5 and stats["completion_tokens_per_lead"] > 0
    assert main(["status", "echo.csv", "--json"]) == 0
    status = capsys.readouterr()
    printed = out.out + out.err + status.out + status.err
    if "content" in reply:  # the dead letter's reason quotes the content, scrubbed
        assert "Bearer ***" in printed and stats["quarantined"] == 5
    assert KEY not in printed
    # event log (with every event's metadata) and step outputs (pickled by the IO manager) under DAGSTER_HOME
    instance = dg.DagsterInstance.get()
    (event,) = instance.fetch_materializations(dg.AssetKey("leads"), limit=1).records
    metadata = event.asset_materialization.metadata  # the run's metadata carries the issue-13 figure
    assert metadata["completion_tokens_per_lead"].value == stats["completion_tokens_per_lead"]
    assert metadata["llm_leads"].value == 5
    for record in instance.get_run_records():
        for entry in instance.all_logs(record.dagster_run.run_id):
            assert KEY not in repr(entry)
    for file in (tmp / "dagster_home").rglob("*"):
        if file.is_file():
            assert KEY.encode() not in file.read_bytes(), file
    stored = _texts_of_duckdb(tmp / "leads.duckdb")
    assert KEY not in stored and "ann0@example.com" in stored
    assert KEY.encode() not in (tmp / "leads.duckdb").read_bytes()
