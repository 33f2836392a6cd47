"""``easycrm undo``: an import's creations deleted, its updates restored to the exact before-image, conflicts refused."""
import json

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.models import LEAD_FIELDS, StandardLead
from easycrm_pipeline.pipeline.undo import UndoRefused, undo_file
from easycrm_pipeline.store.duckdb_store import DuckDBStore


def lead(n, email, title, sheet=None, raw_extra="x"):
    fields = {f: None for f in LEAD_FIELDS}
    fields.update(firstName=f"F{n}", lastName="Lee", title=title, email=email, company="Acme")
    return StandardLead(
        row_id=f"0:{n}", sheet=sheet, row_number=n, fields=fields, provided=frozenset(LEAD_FIELDS),
        raw={"Email": email, "Title": title, "Extra": raw_extra}, standardizer="rules-1",
    )  # fmt: skip


@pytest.fixture
def store(isolated_env):
    s = DuckDBStore(isolated_env / "leads.duckdb")
    s.init()
    return s


def table(store):
    with store.read_connection() as con:
        cur = con.execute('SELECT * FROM leads ORDER BY email')
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def test_undo_restores_updates_exactly_and_deletes_creations(store):
    store.upsert_file([lead(2, "a@x.com", "CEO", "S1", "a1"), lead(3, "b@x.com", "CTO")], source_file="a.csv", run_id="r1")
    before = table(store)
    stats = store.upsert_file(
        [lead(5, "a@x.com", "Chair", "S2", "a2"), lead(6, "c@x.com", "CFO")], source_file="b.csv", run_id="r2"
    )
    assert (stats.created, stats.updated) == (1, 1)
    result = undo_file(store, "b.csv", undo_run_id="u1")
    assert (result.run_id, result.deleted, result.restored) == ("r2", 1, 1)
    assert table(store) == before  # every column, leadId, timestamps, worksheet, raw row included
    actions = [c["action"] for c in store.changes() if c.get("runId") == "u1"]
    assert sorted(actions) == ["lead_deleted", "lead_restored"]
    with pytest.raises(UndoRefused, match="no import of 'b.csv' left to undo"):
        undo_file(store, "b.csv")


def test_undo_refuses_when_a_later_import_changed_the_leads_unless_forced(store):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    with pytest.raises(UndoRefused) as refused:
        undo_file(store, "a.csv")
    assert [c["email"] for c in refused.value.leads] == ["a@x.com"]
    assert table(store)[0]["title"] == "Chair"  # nothing changed
    result = undo_file(store, "a.csv", force=True)
    assert result.deleted == 1 and table(store) == []


def test_undo_cli_dry_run_then_real(store, capsys):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    assert main(["undo", "a.csv", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "file": "a.csv", "runId": "r1", "deleted": 1, "restored": 0, "conflictsOverridden": 0, "dryRun": True,
    }  # fmt: skip
    assert len(table(store)) == 1
    assert main(["undo", "a.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == 1 and table(store) == []
    assert main(["undo", "a.csv"]) == 2
    assert "no import of 'a.csv' left to undo" in capsys.readouterr().err


def test_undo_job_in_dagster(store):
    from easycrm_pipeline.dagster_defs.admin import undo_job

    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    result = undo_job.execute_in_process(run_config={"ops": {"undo_file_op": {"config": {"file": "a.csv"}}}})
    assert result.success
    assert result.output_for_node("undo_file_op") == {"file": "a.csv", "run": "r1", "deleted": 1, "restored": 0}
    assert table(store) == []
