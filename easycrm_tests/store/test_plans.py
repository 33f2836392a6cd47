"""The pure plans (store/plans.py): the undo (run choice, reverts, before-images, audit rows, conflicts) and the
upsert of one lead (merge policy, changed fields, audit row), from rows shaped as the stores return them; no store
involved."""
from types import SimpleNamespace

import pytest

from easycrm_pipeline.store.base import UndoRefused
from easycrm_pipeline.store.plans import (
    check_upsert_args,
    duplicate_audit_rows,
    import_left,
    latest_undoable_run,
    merge_fields,
    plan_lead_write,
    plan_undo,
    reverted_changes,
    undo_conflicts,
)
from easycrm_tests.store.helpers import lead as std_lead


def lead(lead_id, **values):
    base = {"leadId": lead_id, "firstName": None, "lastName": None, "title": None, "company": None,
            "email": None, "phone": None, "remarks": None, "sourceFile": "u.csv", "updatedAt": "T2"}
    return {**base, **values}


def created(seq, lead_id, email, **fields):
    return {"seq": seq, "changeId": f"c{seq}", "at": "T2", "action": "lead_created", "leadId": lead_id,
            "email": email, "fieldsChanged": {f: {"before": None, "after": v} for f, v in fields.items()},
            "previousSourceFile": None, "previousUpdatedAt": None, "details": None}


def updated(seq, lead_id, email, changed, *, prev_file="a.csv", prev_at="T1", details=None):
    return {"seq": seq, "changeId": f"c{seq}", "at": "T2", "action": "lead_updated", "leadId": lead_id,
            "email": email, "fieldsChanged": changed, "previousSourceFile": prev_file,
            "previousUpdatedAt": prev_at, "details": details}


def test_latest_undoable_run_skips_undone_runs_and_refuses_when_none_left():
    runs = [("r1", 3), ("r2", 9), ("r1", 5), (None, 7)]
    assert latest_undoable_run("u.csv", runs, set()) == "r2"
    assert latest_undoable_run("u.csv", runs, {"r2"}) is None  # the run without id, position 7
    assert latest_undoable_run("u.csv", runs, {"r2", None}) == "r1"
    with pytest.raises(UndoRefused, match="no import of 'u.csv' left to undo"):
        latest_undoable_run("u.csv", runs, {"r1", "r2", None})
    with pytest.raises(UndoRefused, match="no import of 'x.csv' left to undo"):
        latest_undoable_run("x.csv", [], set())


def test_plan_deletes_created_and_restores_updated_with_before_image():
    changes = [
        created(1, "L1", "ann@x.io", firstName="Ann"),
        updated(2, "L2", "bob@x.io", {"company": {"before": "Old", "after": "New"}},
                details={"sourceRow": 4, "rawRow": {"a": 1}, "standardizer": "v1", "ignored": 1}),
    ]
    current = {"L1": lead("L1", firstName="Ann", email="ann@x.io"),
               "L2": lead("L2", company="New", email="bob@x.io")}
    plan = plan_undo("u.csv", "r1", changes, [], current, undone=set(), order="seq")
    assert (plan.deleted, plan.restored, plan.conflicts) == (1, 1, [])
    by_id = {r.lead_id: r for r in plan.reverts}
    assert by_id["L1"].delete and by_id["L1"].audit == [{
        "action": "lead_deleted", "email": "ann@x.io", "leadId": "L1", "previousSourceFile": "u.csv",
        "newSourceFile": None, "fieldsChanged": {"firstName": {"before": "Ann", "after": None},
                                                 "email": {"before": "ann@x.io", "after": None}},
        "details": {"undoOfRun": "r1", "undoOfChange": "c1"}}]
    l2 = by_id["L2"]
    assert not l2.delete
    assert l2.restore == {"company": "Old", "sourceFile": "a.csv", "updatedAt": "T1", "sourceRow": 4,
                          "rawRow": {"a": 1}, "standardizer": "v1"}
    assert l2.audit[0]["action"] == "lead_restored"
    assert l2.audit[0]["newSourceFile"] == "a.csv"
    assert l2.audit[0]["fieldsChanged"] == {"company": {"before": "New", "after": "Old"}}


def test_created_then_updated_in_one_run_is_deleted_with_both_audit_rows():
    changes = [created(1, "L1", "a@x.io", company="A"),
               updated(2, "L1", "a@x.io", {"company": {"before": "A", "after": "B"}}, prev_file="u.csv")]
    plan = plan_undo("u.csv", "r1", changes, [], {"L1": lead("L1", company="B", email="a@x.io")},
                     undone=set(), order="seq")
    (revert,) = plan.reverts
    assert revert.delete and (plan.deleted, plan.restored) == (1, 1)
    assert [a["action"] for a in revert.audit] == ["lead_restored", "lead_deleted"]
    # the deleted values are the ones after the update is reverted
    assert revert.audit[1]["fieldsChanged"]["company"] == {"before": "A", "after": None}


def test_gone_leads_are_skipped_and_not_counted():
    plan = plan_undo("u.csv", "r1", [created(1, "L1", "a@x.io")], [], {}, undone=set(), order="seq")
    assert (plan.reverts, plan.deleted, plan.restored, plan.conflicts) == ([], 0, 0, [])


def test_later_change_by_another_import_conflicts_and_refuses_without_force():
    changes = [updated(2, "L2", "bob@x.io", {"company": {"before": "Old", "after": "New"}})]
    later = [{"seq": 5, "leadId": "L2", "email": "bob@x.io", "action": "lead_updated", "runId": "r9",
              "newSourceFile": "b.csv", "previousSourceFile": "u.csv", "details": None},
             {"seq": 1, "leadId": "L2", "email": "bob@x.io", "action": "lead_updated", "runId": "r0",
              "newSourceFile": "z.csv", "previousSourceFile": "u.csv", "details": None}]  # before: not later
    plan = plan_undo("u.csv", "r1", changes, later, {"L2": lead("L2", company="Newer", sourceFile="b.csv")},
                     undone=set(), order="seq")
    assert plan.conflicts == [{"leadId": "L2", "email": "bob@x.io", "changedBy": "b.csv", "action": "lead_updated",
                               "undoOf": None}]
    with pytest.raises(UndoRefused, match=r"1 lead\(s\) of 'u.csv' were changed later") as err:
        plan.refuse_unless(False)
    assert err.value.leads == plan.conflicts
    plan.refuse_unless(True)  # forced: no error


def test_undone_later_import_does_not_conflict_when_values_are_back():
    changes = [updated(2, "L2", "bob@x.io", {"company": {"before": "Old", "after": "New"}})]
    later = [{"seq": 5, "leadId": "L2", "email": "bob@x.io", "action": "lead_updated", "runId": "r9",
              "newSourceFile": "u.csv", "previousSourceFile": "u.csv", "details": None},
             {"seq": 6, "leadId": "L2", "email": "bob@x.io", "action": "lead_restored", "runId": "undo1",
              "newSourceFile": "u.csv", "previousSourceFile": "u.csv", "details": {"undoOfRun": "r9"}}]
    current = {"L2": lead("L2", company="New")}
    assert plan_undo("u.csv", "r1", changes, later, current, undone={("u.csv", "r9")}, order="seq").conflicts == []
    moved = {"L2": lead("L2", company="Other")}
    conflicts = plan_undo("u.csv", "r1", changes, later, moved, undone={("u.csv", "r9")}, order="seq").conflicts
    assert [(c["action"], c["undoOf"]) for c in conflicts] == [("lead_restored", "u.csv"), ("lead_updated", None)]


def test_unaudited_change_is_a_conflict_when_asked():
    changes = [updated(2, "L2", "bob@x.io", {"company": {"before": "Old", "after": "New"}})]
    current = {"L2": lead("L2", company="New", updatedAt="T3", email="bob@x.io")}
    assert plan_undo("u.csv", "r1", changes, [], current, undone=set(), order="seq").conflicts == []
    plan = plan_undo("u.csv", "r1", changes, [], current, undone=set(), order="seq", check_unaudited=True)
    assert plan.conflicts == [{"leadId": "L2", "email": "bob@x.io", "changedBy": "u.csv",
                               "action": "changed_without_audit", "undoOf": None}]


def test_changes_reverted_by_an_interrupted_undo_are_left_out():
    changes = [created(1, "L1", "a@x.io"), created(2, "L2", "b@x.io")]
    later = [{"seq": 3, "leadId": "L1", "action": "lead_deleted", "runId": "u0", "details": {"undoOfChange": "c1"}},
             {"seq": 4, "leadId": "L9", "action": "lead_restored", "runId": "u0", "details": {"undoOfRun": "x"}}]
    assert reverted_changes(later) == {"c1"}
    current = {"L1": lead("L1"), "L2": lead("L2")}
    plan = plan_undo("u.csv", "r1", changes, later, current, undone=set(), order="seq",
                     reverted=reverted_changes(later))
    assert [r.lead_id for r in plan.reverts] == ["L2"] and plan.conflicts == []


def test_import_left_and_undo_conflicts_order():
    rows = [{"action": "lead_created", "fieldsChanged": {"firstName": {"after": "Ann"}, "email": {"after": "a@x"}}}]
    left = import_left("u.csv", rows)
    assert left["firstName"] == "Ann" and left["company"] is None and "email" not in left
    assert left["sourceFile"] == "u.csv"
    later = [{"leadId": "B", "email": None, "action": "lead_restandardized", "newSourceFile": "u.csv"},
             {"leadId": "A", "email": "z@x", "action": "lead_updated", "newSourceFile": "b.csv"}]
    got = undo_conflicts(later, left={}, current={}, undone=set())
    assert [c["leadId"] for c in got] == ["A", "B"]  # email None last


# ---------------------------------------------------------------- upsert plan

def test_merge_fields_replace_and_fill_blank():
    old = {"firstName": "Ann", "lastName": "Lee", "company": "Acme", "title": None}
    incoming = std_lead(2, firstName=" Anna ", lastName=None, title="CTO", provided={"firstName", "lastName", "title"})
    values, changed = merge_fields(incoming, old, "replace")
    assert (values["firstName"], values["lastName"], values["company"], values["title"]) == ("Anna", None, "Acme",
                                                                                            "CTO")
    assert changed == {"firstName": {"before": "Ann", "after": "Anna"}, "lastName": {"before": "Lee", "after": None},
                       "title": {"before": None, "after": "CTO"}}
    values, changed = merge_fields(incoming, old, "fill-blank")
    assert values["lastName"] == "Lee" and "lastName" not in changed


def test_plan_lead_write_create_update_unchanged():
    new = std_lead(2, firstName="Ann", email="ann@x.io")
    w = plan_lead_write(new, "ann@x.io", None, merge="replace", source_file="a.csv", run_id="r1", batch_id=7,
                        now="T1", lead_id="L1")
    assert w.created and w.lead["leadId"] == "L1" and w.lead["createdAt"] == w.lead["updatedAt"] == "T1"
    assert w.audit["action"] == "lead_created" and w.audit["batchId"] == "7" and w.audit["details"] is None
    assert list(w.audit["fieldsChanged"]) == ["firstName", "email"]  # LEAD_FIELDS order
    stored = {**w.lead, "sourceRow": 2, "rawRow": {"x": 1}}
    assert plan_lead_write(new, "ann@x.io", stored, merge="replace", source_file="b.csv", run_id="r2",
                           batch_id=None, now="T2", lead_id="unused") is None
    upd = plan_lead_write(std_lead(5, firstName="Anna", email="ann@x.io"), "ann@x.io", stored, merge="replace",
                          source_file="b.csv", run_id="r2", batch_id=None, now="T2", lead_id="unused",
                          update_action="lead_restandardized")
    assert not upd.created and upd.lead["leadId"] == "L1" and upd.lead["createdAt"] == "T1"
    assert upd.audit["action"] == "lead_restandardized" and upd.audit["previousSourceFile"] == "a.csv"
    assert upd.audit["previousUpdatedAt"] == "T1" and upd.audit["details"]["sourceRow"] == 2
    assert upd.audit["details"]["rawRow"] == {"x": 1}
    assert upd.audit["fieldsChanged"] == {"firstName": {"before": "Ann", "after": "Anna"}}


def test_check_upsert_args_and_duplicate_rows():
    for args, msg in [(("merge-all", "a.csv", "lead_updated"), "merge must be one of replace, fill-blank"),
                      (("replace", " ", "lead_updated"), "source_file must be a non-empty file name"),
                      (("replace", "a.csv", "lead_deleted"), "update_action must be one of")]:
        with pytest.raises(ValueError, match=msg):
            check_upsert_args(*args)
    dups = [SimpleNamespace(email=" Ann@X.io", kept_row_id="0:3", merged_row_ids=["0:2"]),
            SimpleNamespace(email="bob@x.io", kept_row_id="0:5", merged_row_ids=["0:4"])]
    rows = duplicate_audit_rows(dups, written={"ann@x.io"}, owners={"ann@x.io": {"leadId": "L1"}},
                                batch_ids={"0:3": 4}, source_file="a.csv", run_id="r1")
    assert rows == [{"action": "batch_duplicate_resolved", "email": "ann@x.io", "leadId": "L1",
                     "newSourceFile": "a.csv", "batchId": "4", "runId": "r1", "rowId": "0:3",
                     "details": {"keptRowId": "0:3", "mergedRowIds": ["0:2"]}}]
