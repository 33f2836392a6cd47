"""Report assets, lineage, the restandardize job and its schedule, on temporary Dagster instances."""
from __future__ import annotations

import base64
import csv
import uuid

import dagster as dg
import pytest

from easycrm_pipeline.dagster_defs.maintenance import (
    RESTANDARDIZE_CRON, restandardize_job, restandardize_schedule,
)
from easycrm_pipeline.dagster_defs.reports import lead_quality_report, leads_export
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.definitions import defs, resources_for
from easycrm_pipeline.readers.export import EXPORT_COLUMNS
from easycrm_pipeline.rules import RULES_VERSION
from easycrm_tests.readers.seed import HYPERLINK, env_store, seed
from easycrm_tests.store.helpers import lead


def metadata_of(result: dg.ExecuteInProcessResult, key: str) -> dict:
    (mat,) = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in mat.materialization.metadata.items()}


def test_lineage_lead_files_leads_reports():
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
               for k in graph.get_all_asset_keys()}
    assert parents["leads"] == {"lead_files"}
    assert parents["leads_export"] == {"leads"}
    assert parents["lead_quality_report"] == {"leads"}
    assert graph.get(dg.AssetKey("leads_export")).partitions_def is None
    assert defs.resolve_job_def("restandardize_job").name == "restandardize_job"
    assert {s.name for s in defs.schedules} >= {"restandardize_schedule"}


def test_materialize_report_assets(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    export = tmp_path / "exports" / "leads.csv"
    monkeypatch.setenv("EASYCRM_EXPORT_PATH", str(export))
    seed(env_store())
    with dg.instance_for_test() as instance:
        result = dg.materialize([leads_export, lead_quality_report], instance=instance,
                                resources=resources_for(get_settings()))
    assert result.success

    md = metadata_of(result, "leads_export")
    assert md["rows"] == 7
    assert md["path"] == str(export.resolve())
    with export.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(EXPORT_COLUMNS) and len(rows) == 8
    assert any(r[4] == "'" + HYPERLINK for r in rows[1:])

    q = metadata_of(result, "lead_quality_report")
    assert q["total_leads"] == 7
    assert q["leads_by_source"] == {"crm_a.csv": 5, "crm_b.xlsx": 2}
    assert q["valid_email_share"] == round(6 / 7, 4)     # the Initech buyer has no email
    assert q["valid_phone_share"] == round(2 / 7, 4)     # +4930111 and 0301234567; "12" is too short
    assert q["named_share"] == round(6 / 7, 4)
    assert q["duplicates_resolved"] == 1
    assert q["quarantined"] == 3
    assert q["quarantine_by_reason"] == {"footer": 2, "no lead fields": 1}
    chart = q["chart"]
    assert chart.startswith("![lead quality](data:image/png;base64,")
    png = base64.b64decode(chart[len("![lead quality](data:image/png;base64,"):-1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_restandardize_job_rewrites_stale_leads():
    store = env_store()
    store.upsert_file([lead(2, firstName="ALEX", lastName="SMITH", email="alex@x.example", standardizer="rules-0"),
                       lead(3, firstName="Bo", email="bo@x.example")], source_file="old.csv")
    with dg.instance_for_test() as instance:
        result = restandardize_job.execute_in_process(instance=instance, resources=resources_for(get_settings()))
    assert result.success
    out = result.output_for_node("write_restandardized")
    assert (out["stale"], out["updated"], out["current_version"]) == (1, 1, RULES_VERSION)
    alex = store.get_lead_by_email("alex@x.example")
    assert (alex["firstName"], alex["standardizer"]) == ("Alex", RULES_VERSION)
    (change,) = store.changes(run_id=result.run_id)
    assert change["action"] == "lead_restandardized" and change["email"] == "alex@x.example"


def test_restandardize_batches_are_in_the_deepseek_pool_with_three_tries():
    op = restandardize_job.graph.node_named("restandardize_batch").definition
    assert op.pool == "deepseek"
    assert op.retry_policy.max_retries == 2


def test_restandardize_job_with_deepseek_maps_one_step_per_batch(monkeypatch):
    from easycrm_pipeline.pipeline.standardizer import make_standardizer
    from easycrm_pipeline.testing import FakeDeepSeek

    store = env_store()
    store.upsert_file(
        [lead(n, firstName="ANA" if n == 2 else f"P{n}", lastName="ROSS", email=f"p{n}@x.example")
         for n in range(2, 5)],
        source_file="rules.csv",
    )  # written by the rules: stale once DeepSeek is on
    with FakeDeepSeek() as fake, dg.instance_for_test() as instance:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        monkeypatch.setenv("EASYCRM_BATCH_SIZE", "2")
        version = make_standardizer(get_settings()).version
        result = restandardize_job.execute_in_process(instance=instance, resources=resources_for(get_settings()))
        requests = fake.request_ids()
    assert result.success
    steps = sorted(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS")
    assert steps == ["plan_restandardize_op", "restandardize_batch[g00001_batch_00001]",
                     "restandardize_batch[g00001_batch_00002]", "write_restandardized"]
    assert sorted(map(sorted, requests)) == [["0:2", "0:3"], ["0:4"]]
    out = result.output_for_node("write_restandardized")
    assert (out["stale"], out["batches"], out["current_version"]) == (3, 2, version)
    assert {r["standardizer"] for r in store.all_leads()} == {version}


def _add_run(instance, status: dg.DagsterRunStatus) -> str:
    from dagster._core.storage.dagster_run import DagsterRun

    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name="restandardize_job", run_id=run_id, status=status))
    return run_id


def test_schedule_is_daily_off_peak_and_skips_while_a_run_is_going():
    assert RESTANDARDIZE_CRON == "30 4 * * *"
    assert restandardize_schedule.execution_timezone == "UTC"
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, resources=resources_for(get_settings()))
        request = restandardize_schedule(ctx)
        assert isinstance(request, dg.RunRequest)
        assert request.run_config == {"execution": {"config": {"in_process": {}}}}  # the ingest's, offline

        finished = _add_run(instance, dg.DagsterRunStatus.SUCCESS)
        assert isinstance(restandardize_schedule(dg.build_schedule_context(instance=instance, resources=resources_for(get_settings()))), dg.RunRequest)

        running = _add_run(instance, dg.DagsterRunStatus.STARTED)
        skip = restandardize_schedule(dg.build_schedule_context(instance=instance, resources=resources_for(get_settings())))
        assert isinstance(skip, dg.SkipReason)
        assert skip.skip_message == f"restandardize_job run {running[:8]} is still going; skipping this tick"
        assert finished != running

        instance.report_run_canceled(instance.get_run_by_id(running))
        _add_run(instance, dg.DagsterRunStatus.STARTING)
        assert isinstance(restandardize_schedule(dg.build_schedule_context(instance=instance, resources=resources_for(get_settings()))), dg.SkipReason)


def test_reports_refresh_by_themselves_after_ingests():
    """Issue 14 item 8: the export and the quality report stayed 'Unsynced'; now the automation sensor (running by
    default) requests them once after leads partitions are materialized, even with a failed file's partition
    missing, and not again until another ingest."""
    from easycrm_pipeline.dagster_defs.partitions import lead_files
    from easycrm_pipeline.dagster_defs.reports import reports_automation_sensor

    assert reports_automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert "reports_automation_sensor" in {s.name for s in defs.sensors}

    @dg.asset(key="leads", partitions_def=lead_files)
    def stand_in_leads() -> None:
        return None

    assets = dg.Definitions(assets=[stand_in_leads, leads_export, lead_quality_report],
                            resources=resources_for(get_settings()))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("lead_files", ["good.csv", "bad.csv"])  # bad.csv never materializes
        first = dg.evaluate_automation_conditions(defs=assets, instance=instance)
        assert first.total_requested == 0  # nothing ingested yet
        dg.materialize([stand_in_leads], partition_key="good.csv", instance=instance)
        after = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=first.cursor)
        assert after.total_requested == 2
        for key in ("leads_export", "lead_quality_report"):
            assert after.get_requested_partitions(dg.AssetKey(key)) == {None}
        again = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=after.cursor)
        assert again.total_requested == 0
