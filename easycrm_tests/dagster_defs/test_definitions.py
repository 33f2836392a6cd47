"""The code location loads, and the ingest job is wired as the contracts say (pool, retries, partitions)."""
import dagster as dg

from easycrm_pipeline.cli.instance import get_instance
from easycrm_pipeline.dagster_defs.jobs import execution_config
from easycrm_pipeline.definitions import defs, get_ingest_job


def test_definitions_expose_job_asset_and_both_sensors():
    assert defs.resolve_job_def("ingest_job").name == "ingest_job"
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"lead_files", "leads"} <= keys
    assert {s.name for s in defs.sensors} == {"inbox_sensor", "s3_sensor", "dead_run_sensor", "reports_automation_sensor"}


def test_chunk_op_holds_no_pool_slot_itself_and_has_no_retry_policy():
    """The chunk step claims one ``deepseek`` slot per request (pool_slots), never one for itself. Each batch's 3
    tries happen inside the step (test_chunks); the step asks for its own retries (RetryRequested) on other errors:
    a RetryPolicy would also retry it when the run is cancelled (test_runs' cancel test)."""
    from easycrm_pipeline.pipeline.chunks import TRIES

    job = get_ingest_job()
    op = job.graph.node_named("leads").definition.node_named("standardize_chunk").definition
    assert op.pool is None
    assert op.retry_policy is None
    assert TRIES == 3  # the seeds' 3 tries per batch before the dead letter
    assert isinstance(job.partitions_def, dg.DynamicPartitionsDefinition)
    assert job.partitions_def.name == "lead_files"


def test_project_instance_limits_the_deepseek_pool_to_five():
    instance = get_instance()  # temp DAGSTER_HOME with the project's dagster.yaml (conftest)
    info = instance.event_log_storage.get_concurrency_info("deepseek")
    assert info.limit == 5
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert instance.run_retries_enabled and not instance.run_retries_retry_on_asset_or_op_failure


def test_execution_config_keeps_one_run_within_the_pool(monkeypatch):
    monkeypatch.delenv("EASYCRM_EXECUTOR", raising=False)
    assert execution_config(True) == {} == execution_config(False)  # the job's own default: in-process
    assert get_ingest_job().executor_def.config_schema.default_value == {"in_process": {}}
    monkeypatch.setenv("EASYCRM_EXECUTOR", "multiprocess")
    multi = execution_config(True)["execution"]["config"]["multiprocess"]
    assert multi["max_concurrent"] == 5
    assert "forkserver" in multi["start_method"]
