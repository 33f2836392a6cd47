"""``easycrm undo``: an import's creations deleted, its updates restored to the exact before-image, conflicts refused.

Every test runs on both stores: DuckDB, and DynamoDB on a moto server in SERVER mode on loopback (the CLI and the
Dagster job reach it through ``EASYCRM_STORE=dynamodb`` + ``AWS_ENDPOINT_URL``)."""
import json

import pytest
from boto3.dynamodb.types import TypeDeserializer

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.definitions import resources_for
from easycrm_pipeline.models import LEAD_FIELDS, StandardLead
from easycrm_pipeline.pipeline.undo import UndoRefused, undo_file
from easycrm_pipeline.store import get_store
from easycrm_pipeline.store.base import LEAD_COLUMNS
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.store.conftest import dynamo_endpoint, make_dynamodb_store  # noqa: F401


def lead(n, email, title, sheet=None, raw_extra="x"):
    fields = {f: None for f in LEAD_FIELDS}
    fields.update(firstName=f"F{n}", lastName="Lee", title=title, email=email, company="Acme")
    return StandardLead(
        row_id=f"0:{n}", sheet=sheet, row_number=n, fields=fields, provided=frozenset(LEAD_FIELDS),
        raw={"Email": email, "Title": title, "Extra": raw_extra}, standardizer="rules-1",
    )  # fmt: skip


@pytest.fixture(params=["duckdb", "dynamodb"])
def store(request, isolated_env, monkeypatch):
    """An initialized, empty store of each back end, also the one ``get_store()`` (CLI, Dagster job) builds."""
    if request.param == "duckdb":
        s = DuckDBStore(isolated_env / "leads.duckdb")
        s.init()
        return s
    endpoint = request.getfixturevalue("dynamo_endpoint")
    s = make_dynamodb_store(endpoint)
    monkeypatch.setenv("EASYCRM_STORE", "dynamodb")
    monkeypatch.setenv("EASYCRM_DYNAMODB_TABLE", s.table)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    assert get_store().table == s.table  # what the CLI and the undo job will open
    return s


_deser = TypeDeserializer()


def table(store):
    """Every stored column of every lead, as stored, ordered by email (DynamoDB: every attribute of the raw items
    but ``rev``, the optimistic-concurrency counter every write bumps)."""
    if isinstance(store, DuckDBStore):
        with store.read_connection() as con:
            cur = con.execute("SELECT * FROM leads ORDER BY email")
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
    items = store.client.scan(TableName=store.table, ConsistentRead=True)["Items"]
    rows = [{k: _deser.deserialize(v) for k, v in item.items() if k != "rev"} for item in items]
    return sorted(rows, key=lambda r: (r.get("email") is None, r.get("email") or ""))


def test_undo_restores_updates_exactly_and_deletes_creations(store):
    store.upsert_file([lead(2, "a@x.com", "CEO", "S1", "a1"), lead(3, "b@x.com", "CTO")], source_file="a.csv", run_id="r1")
    before = table(store)
    before_leads = store.all_leads()
    assert {"leadId", "sourceWorksheet", "rawRow", "standardizer", "createdAt", "updatedAt"} <= set(before[0])
    stats = store.upsert_file(
        [lead(5, "a@x.com", "Chair", "S2", "a2"), lead(6, "c@x.com", "CFO")], source_file="b.csv", run_id="r2"
    )
    assert (stats.created, stats.updated) == (1, 1)
    assert table(store) != before
    result = undo_file(store, "b.csv", undo_run_id="u1")
    assert (result.run_id, result.deleted, result.restored, result.conflicts) == ("r2", 1, 1, [])
    assert table(store) == before  # every column, leadId, timestamps, worksheet, raw row included
    assert store.all_leads() == before_leads
    assert store.get_lead_by_email("c@x.com") is None
    undo_rows = {c["action"]: c for c in store.changes() if c.get("runId") == "u1"}
    assert sorted(undo_rows) == ["lead_deleted", "lead_restored"]
    restored, deleted = undo_rows["lead_restored"], undo_rows["lead_deleted"]
    assert (restored["email"], restored["previousSourceFile"], restored["newSourceFile"]) == (
        "a@x.com", "b.csv", "a.csv")
    assert restored["fieldsChanged"] == {"firstName": {"before": "F5", "after": "F2"},
                                         "title": {"before": "Chair", "after": "CEO"}}
    assert (deleted["email"], deleted["previousSourceFile"], deleted["newSourceFile"]) == ("c@x.com", "b.csv", None)
    assert deleted["fieldsChanged"]["title"] == {"before": "CFO", "after": None}
    assert restored["details"]["undoOfRun"] == deleted["details"]["undoOfRun"] == "r2"
    with pytest.raises(UndoRefused, match="no import of 'b.csv' left to undo"):
        undo_file(store, "b.csv")
    # the deleted lead's email is free again: re-ingesting makes exactly one new lead
    again = store.upsert_file([lead(6, "c@x.com", "CFO")], source_file="b.csv", run_id="r3")
    assert (again.created, again.updated, again.unchanged) == (1, 0, 0)
    assert store.get_lead_by_email("c@x.com")["title"] == "CFO" and store.count_leads() == 3


def test_undo_of_a_large_import_restores_every_lead(store):
    """More leads than one DynamoDB transaction holds (100 items): all created ones deleted, all updated restored."""
    store.upsert_file([lead(n, f"p{n}@x.com", "Old", "S1", f"o{n}") for n in range(2, 62)], source_file="a.csv",
                      run_id="r1")
    before = table(store)
    stats = store.upsert_file([lead(n, f"p{n}@x.com", "New", "S2", f"n{n}") for n in range(30, 110)],
                              source_file="b.csv", run_id="r2")
    assert (stats.created, stats.updated) == (48, 32)
    result = undo_file(store, "b.csv", undo_run_id="u1")
    assert (result.deleted, result.restored) == (48, 32)
    assert table(store) == before
    assert len([c for c in store.changes() if c.get("runId") == "u1"]) == 80


def test_undo_refuses_when_a_later_import_changed_the_leads_unless_forced(store):
    store.upsert_file([lead(2, "a@x.com", "CEO"), lead(3, "b@x.com", "CTO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    n_changes = len(store.changes())
    snapshot = table(store)
    with pytest.raises(UndoRefused, match=r"1 lead\(s\) of 'a.csv' were changed later \(by another import, a "
                                          r"re-standardization or an undo\)") as refused:
        undo_file(store, "a.csv")
    assert [(c["email"], c["changedBy"], c["action"]) for c in refused.value.leads] == [
        ("a@x.com", "b.csv", "lead_updated")]
    assert table(store) == snapshot and len(store.changes()) == n_changes  # nothing written
    assert table(store)[0]["title"] == "Chair"
    result = undo_file(store, "a.csv", force=True)
    assert (result.deleted, result.restored) == (2, 0)
    assert [c["email"] for c in result.conflicts] == ["a@x.com"]
    assert table(store) == []


def test_undo_dry_run_writes_nothing(store):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair"), lead(3, "b@x.com", "CTO")], source_file="b.csv", run_id="r2")
    snapshot, n_changes = table(store), len(store.changes())
    result = undo_file(store, "b.csv", dry_run=True)
    assert (result.run_id, result.deleted, result.restored, result.dry_run) == ("r2", 1, 1, True)
    assert table(store) == snapshot and len(store.changes()) == n_changes
    assert undo_file(store, "b.csv").run_id == "r2"  # the dry run did not mark the import undone


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


def test_undo_cli_file_never_ingested_is_one_line(store, capsys):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    assert main(["undo", "data/inbox/never.csv"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["easycrm undo: no import of 'never.csv' left to undo"]
    assert len(table(store)) == 1


def test_undo_cli_lists_conflicts_and_force_overrides(store, capsys):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    assert main(["undo", "a.csv"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["  a@x.com: lead_updated by b.csv",
                   "easycrm undo: 1 lead(s) of 'a.csv' were changed later (by another import, a re-standardization "
                   "or an undo); use --force to undo anyway"]
    assert main(["undo", "a.csv", "--force", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["deleted"], doc["conflictsOverridden"], doc["dryRun"]) == (1, 1, False)
    assert table(store) == []


def test_undo_job_in_dagster(store):
    from easycrm_pipeline.dagster_defs.admin import undo_job

    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    result = undo_job.execute_in_process(
        resources=resources_for(get_settings()), run_config={"ops": {"undo_file_op": {"config": {"file": "a.csv"}}}})
    assert result.success
    assert result.output_for_node("undo_file_op") == {"file": "a.csv", "run": "r1", "deleted": 1, "restored": 0}
    assert table(store) == []
    assert [c["runId"] for c in store.changes() if c["action"] == "lead_deleted"] == [result.run_id]
    refused = undo_job.execute_in_process(
        resources=resources_for(get_settings()),
        run_config={"ops": {"undo_file_op": {"config": {"file": "a.csv"}}}}, raise_on_error=False
    )
    assert not refused.success


def test_undoing_one_file_of_a_run_leaves_the_other_files_of_that_run_undoable(store):
    """One run id can write several files (a maintenance run does): an undo marks only ITS file's part undone."""
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(3, "b@x.com", "CTO")], source_file="b.csv", run_id="r1")
    assert undo_file(store, "a.csv", undo_run_id="u1").deleted == 1
    result = undo_file(store, "b.csv", undo_run_id="u2")
    assert (result.run_id, result.deleted, result.restored) == ("r1", 1, 0)
    assert table(store) == []
    for file in ("a.csv", "b.csv"):
        with pytest.raises(UndoRefused, match=f"no import of '{file}' left to undo"):
            undo_file(store, file)


def test_an_import_whose_leads_are_gone_is_undone_once_then_nothing_is_left(store, capsys):
    """b.csv's only lead was deleted since (a forced undo of a.csv, its creator): undoing b.csv has nothing to
    write, says so in its counts and marks the import undone; the next `undo b.csv` is refused in one line."""
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    assert undo_file(store, "a.csv", force=True, undo_run_id="u1").deleted == 1
    snapshot, n_changes = table(store), len(store.changes())
    result = undo_file(store, "b.csv", undo_run_id="u2")
    assert (result.run_id, result.deleted, result.restored, result.conflicts) == ("r2", 0, 0, [])
    assert table(store) == snapshot == [] and len(store.changes()) == n_changes
    capsys.readouterr()
    assert main(["undo", "b.csv"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["easycrm undo: no import of 'b.csv' left to undo"]
    assert table(store) == snapshot and len(store.changes()) == n_changes


def test_undo_counts_only_the_leads_it_really_reverts(store):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(3, "b@x.com", "CTO")], source_file="c.csv", run_id="r0")
    store.upsert_file([lead(2, "a@x.com", "Chair"), lead(3, "b@x.com", "VP")], source_file="b.csv", run_id="r2")
    undo_file(store, "a.csv", force=True)  # a@x.com deleted, overriding b.csv's update of it
    dry = undo_file(store, "b.csv", dry_run=True)
    assert (dry.deleted, dry.restored, dry.conflicts) == (0, 1, [])
    result = undo_file(store, "b.csv", undo_run_id="u2")
    assert (result.deleted, result.restored, result.conflicts) == (0, 1, [])
    assert [(r["email"], r["title"], r["sourceFile"]) for r in table(store)] == [("b@x.com", "CTO", "c.csv")]
    assert [c["action"] for c in store.changes() if c.get("runId") == "u2"] == ["lead_restored"]
    with pytest.raises(UndoRefused, match="no import of 'b.csv' left to undo"):
        undo_file(store, "b.csv")


def test_an_import_without_run_id_can_be_undone_once(store):
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv")
    result = undo_file(store, "a.csv")
    assert (result.run_id, result.deleted) == (None, 1) and table(store) == []
    with pytest.raises(UndoRefused, match="no import of 'a.csv' left to undo"):
        undo_file(store, "a.csv")


def stale(n, first, last, email, title):
    """A lead as an older standardizer stored it (names in capitals, version ``rules-0``): today's rules case them."""
    fields = {f: None for f in LEAD_FIELDS}
    fields.update(firstName=first, lastName=last, email=email, title=title)
    raw = {"First Name": first, "Last Name": last, "Email": email, "Title": title}
    return StandardLead(row_id=f"0:{n}", sheet=None, row_number=n, fields=fields, provided=frozenset(LEAD_FIELDS),
                        raw=raw, standardizer="rules-0")


def test_a_restandardization_is_a_later_change_not_an_import_of_the_file(store, capsys):
    """`undo a.csv` after a re-standardization reverts a.csv's IMPORT (not the re-standardization, which keeps the
    lead's sourceFile a.csv): the re-standardization is a later change of its leads -> refused, listed, unless
    --force. Its audit rows say `lead_restandardized`."""
    from easycrm_pipeline.pipeline.restandardize import restandardize
    from easycrm_pipeline.pipeline.standardizer import RulesStandardizer

    store.upsert_file([stale(2, "BO", "LEE", "bo@x.com", "CTO")], source_file="c.csv", run_id="r0")
    (c_bo,) = table(store)
    store.upsert_file([stale(2, "ALEX", "SMITH", "alex@x.com", "CEO"), stale(3, "BO", "LEE", "bo@x.com", "VP")],
                      source_file="a.csv", run_id="r1")
    done = restandardize(store, RulesStandardizer(), run_id="restd")
    assert done.updated == 2
    assert sorted((c["action"], c["email"], c["newSourceFile"]) for c in store.changes(run_id="restd")) == [
        ("lead_restandardized", "alex@x.com", "a.csv"), ("lead_restandardized", "bo@x.com", "a.csv")]
    assert {r["firstName"] for r in table(store)} == {"Alex", "Bo"}
    snapshot, n_changes = table(store), len(store.changes())
    with pytest.raises(UndoRefused, match=r"2 lead\(s\) of 'a.csv' were changed later") as refused:
        undo_file(store, "a.csv")
    assert [(c["email"], c["action"]) for c in refused.value.leads] == [
        ("alex@x.com", "lead_restandardized"), ("bo@x.com", "lead_restandardized")]
    assert table(store) == snapshot and len(store.changes()) == n_changes
    assert main(["undo", "a.csv"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "  alex@x.com: lead_restandardized (re-standardization)"
    result = undo_file(store, "a.csv", force=True, undo_run_id="u1")
    assert (result.run_id, result.deleted, result.restored) == ("r1", 1, 1)
    # bo: what a.csv changed (title) is back to c.csv's import, with c.csv's before-image (sourceFile, updatedAt,
    # standardizer, raw row...); the names a.csv did not change keep their later, re-standardized values
    (bo,) = table(store)
    assert bo == {**c_bo, "firstName": "Bo", "lastName": "Lee"}
    with pytest.raises(UndoRefused, match="no import of 'a.csv' left to undo"):
        undo_file(store, "a.csv")


def test_the_refusal_counts_leads_not_later_changes(store):
    """One lead changed twice after the import (two kinds of later change) is ONE lead in the reason."""
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    store.upsert_file([lead(2, "a@x.com", "Owner")], source_file="c.csv", run_id="r3")
    undo_file(store, "c.csv")  # a@x.com: lead_restored (by the undo) after b.csv's lead_updated
    with pytest.raises(UndoRefused, match=r"^1 lead\(s\) of 'a.csv' were changed") as refused:
        undo_file(store, "a.csv")
    assert sorted((c["action"], c["changedBy"]) for c in refused.value.leads) == [
        ("lead_restored", "b.csv"), ("lead_updated", "b.csv"), ("lead_updated", "c.csv")]


def test_undo_marks_the_undone_ingest_run_in_the_dagster_instance(store, capsys):
    """The drop-zone sensors read only the Dagster instance: an undo tags the undone run ``easycrm/undone=true`` so the
    same content dropped again is run again (a dry run marks nothing; an import unknown to the instance is fine)."""
    import dagster as dg

    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.dagster_defs.admin import undo_job

    instance = get_instance()
    for run_id in ("r1", "r2"):
        instance.add_run(dg.DagsterRun(job_name="ingest_job", run_id=run_id, status=dg.DagsterRunStatus.SUCCESS))
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(3, "b@x.com", "CTO")], source_file="b.csv", run_id="r2")
    store.upsert_file([lead(4, "c@x.com", "CFO")], source_file="c.csv", run_id="not-a-dagster-run")

    assert main(["undo", "a.csv", "--dry-run"]) == 0
    assert "easycrm/undone" not in instance.get_run_by_id("r1").tags
    assert main(["undo", "a.csv"]) == 0
    assert instance.get_run_by_id("r1").tags["easycrm/undone"] == "true"
    assert main(["undo", "c.csv", "--json"]) == 0  # no such run in the instance: nothing to mark, no error
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["deleted"] == 1

    result = undo_job.execute_in_process(
        resources=resources_for(get_settings()), 
        run_config={"ops": {"undo_file_op": {"config": {"file": "b.csv"}}}}, instance=instance
    )
    assert result.success
    assert instance.get_run_by_id("r2").tags["easycrm/undone"] == "true"
    assert "easycrm/undone" not in instance.get_run_by_id(result.run_id).tags


def test_the_same_file_can_be_undone_twice_when_only_undone_imports_changed_it_since(store, capsys):
    """u.csv (Old), u.csv again (New), undo -> Old; the first import is then undoable WITHOUT --force: the only
    later changes of its lead are an import already undone and that undo's own row, and the lead is exactly as
    the first import left it."""
    store.upsert_file([lead(2, "u1@x.com", "Old")], source_file="u.csv", run_id="r1")
    store.upsert_file([lead(2, "u1@x.com", "New")], source_file="u.csv", run_id="r2")
    assert undo_file(store, "u.csv", undo_run_id="u1").run_id == "r2"
    assert table(store)[0]["title"] == "Old"
    dry = undo_file(store, "u.csv", dry_run=True)
    assert (dry.run_id, dry.deleted, dry.restored, dry.conflicts) == ("r1", 1, 0, [])
    capsys.readouterr()
    assert main(["undo", "u.csv", "--dry-run", "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["conflictsOverridden"] == 0
    result = undo_file(store, "u.csv", undo_run_id="u2")
    assert (result.run_id, result.deleted, result.conflicts) == ("r1", 1, [])
    assert table(store) == []


def test_an_undone_import_of_another_file_is_no_conflict_either(store):
    """a.csv (CEO), b.csv (Chair), undo b.csv -> CEO: undoing a.csv then needs no --force."""
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    undo_file(store, "b.csv", undo_run_id="u1")
    result = undo_file(store, "a.csv", undo_run_id="u2")
    assert (result.run_id, result.deleted, result.conflicts) == ("r1", 1, [])
    assert table(store) == []


def test_an_undo_that_left_other_values_than_the_import_wrote_is_still_a_conflict(store, capsys):
    """c.csv (CTO), a.csv (CEO), b.csv (Chair), forced undo of a.csv -> CTO (c.csv's). Undoing b.csv would overwrite
    what that undo restored: the lead is not as b.csv left it, so the undo's row is a conflict, named as an undo."""
    store.upsert_file([lead(2, "a@x.com", "CTO")], source_file="c.csv", run_id="r0")
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    undo_file(store, "a.csv", force=True, undo_run_id="u1")
    assert table(store)[0]["title"] == "CTO"
    with pytest.raises(UndoRefused, match=r"^1 lead\(s\) of 'b.csv' were changed later \(by another import, a "
                                          r"re-standardization or an undo\); use --force") as refused:
        undo_file(store, "b.csv")
    assert [(c["email"], c["action"], c["undoOf"]) for c in refused.value.leads] == [
        ("a@x.com", "lead_restored", "a.csv")]
    capsys.readouterr()
    assert main(["undo", "b.csv"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "  a@x.com: lead_restored by an undo of a.csv"


def test_a_real_change_after_an_undone_import_still_refuses(store):
    """a.csv (CEO), b.csv (Chair), undo b.csv -> CEO, then c.csv (Owner): c.csv is a real later change."""
    store.upsert_file([lead(2, "a@x.com", "CEO")], source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, "a@x.com", "Chair")], source_file="b.csv", run_id="r2")
    undo_file(store, "b.csv", undo_run_id="u1")
    store.upsert_file([lead(2, "a@x.com", "Owner")], source_file="c.csv", run_id="r3")
    with pytest.raises(UndoRefused, match=r"^1 lead\(s\) of 'a.csv' were changed later") as refused:
        undo_file(store, "a.csv")
    assert ("lead_updated", "c.csv") in {(c["action"], c["changedBy"]) for c in refused.value.leads}
