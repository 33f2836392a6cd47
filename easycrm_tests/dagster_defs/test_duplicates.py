"""The ``possible_duplicates`` asset in the real ingest job: lineage leads -> possible_duplicates, pairs recorded
after each file's upsert with per-run metadata by rule, and its check warning when a file brings many pairs."""
import dagster as dg

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.duplicates import too_many
from easycrm_pipeline.pipeline.collect import open_store

PEOPLE = [("Anna", "Müller", "Acme GmbH"), ("Ben", "Weber", "Globex AG"), ("Clara", "Rossi", "Initech Inc."),
          ("David", "Kelly", "Umbrella Ltd"), ("Emma", "Novak", "Hooli LLC"), ("Felix", "Jansen", "Wayne SARL"),
          ("Greta", "Lange", "Stark AG"), ("Hans", "Krause", "Soylent Inc."), ("Ines", "Tanaka", "Tyrell Ltd"),
          ("Jonas", "Patel", "Wonka GmbH"), ("Klara", "Murphy", "Oscorp AG"), ("Lukas", "Bakker", "Delos Inc.")]


def _csv(path, rows):
    path.write_text("First Name,Last Name,Company,Email,Phone\n" + "".join(",".join(r) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _run(instance, capsys, main, path):
    assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
    return instance.get_run_records(limit=1)[0].dagster_run.run_id


def _materialization(instance, run_id):
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    mats = [e.dagster_event.event_specific_data.materialization for e in events]
    return next(m for m in mats if m.asset_key == dg.AssetKey("possible_duplicates"))


def _check(instance, run_id):
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return next(e.dagster_event.event_specific_data for e in events
                if e.dagster_event.event_specific_data.check_name == "few_possible_duplicates")


def test_lineage():
    from easycrm_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("leads") in graph.get(dg.AssetKey("possible_duplicates")).parent_keys
    job = defs.resolve_job_def("ingest_job")
    assert "possible_duplicates" in {node.name for node in job.graph.node_dict.values()}


def test_ingest_records_pairs_and_warns_when_a_file_brings_many(isolated_env, capsys):
    from easycrm_pipeline.cli.main import main

    instance = dg.DagsterInstance.get()
    first = [(f, l, c, f"{f.lower()}.{l.lower()}@{c.split()[0].lower()}.com", f"+49301234{i:03d}")
             for i, (f, l, c) in enumerate(PEOPLE)]
    run_a = _run(instance, capsys, main, _csv(isolated_env / "a.csv", first))
    mat = _materialization(instance, run_a)
    assert mat.partition == "a.csv" and mat.metadata["pairs_found"].value == 0
    assert mat.metadata["leads_compared"].value == 12
    assert _check(instance, run_a).passed

    # one person again under a private address: a pair, few for the file -> the check passes
    run_b = _run(instance, capsys, main, _csv(isolated_env / "b.csv", [
        ("Anna", "Müller", "ACME", "anna1980@gmail.com", ""), ("Zoe", "Nobody", "Paper Co", "zoe@paper.com", "")]))
    mat = _materialization(instance, run_b)
    assert mat.metadata["pairs_found"].value == 1
    assert mat.metadata["pairs_by_name"].value == 1 and mat.metadata["pairs_by_phone"].value == 0
    assert _check(instance, run_b).passed
    store = open_store(get_settings())
    pairs = store.possible_duplicates()
    assert len(pairs) == 1 and pairs[0]["sourceFile"] == "b.csv" and pairs[0]["runId"] == run_b
    emails = {pairs[0]["a"]["email"], pairs[0]["b"]["email"]}
    assert "anna1980@gmail.com" in emails and len(store.all_leads()) == 14  # recorded, never merged

    # everybody again, without email, same phones: 12 pairs for 12 leads -> the check warns, the run succeeds
    run_c = _run(instance, capsys, main, _csv(isolated_env / "c.csv", [(f, l, "", "", p) for f, l, _c, _e, p in first]))
    mat = _materialization(instance, run_c)
    assert mat.metadata["pairs_found"].value == 12 and mat.metadata["pairs_by_phone"].value == 12
    check = _check(instance, run_c)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN and check.partition == "c.csv"
    assert instance.get_run_by_id(run_c).status == dg.DagsterRunStatus.SUCCESS


def test_too_many():
    assert not too_many(10, 10) and not too_many(11, 100) and too_many(11, 50) and too_many(30, 100)
