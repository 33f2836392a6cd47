"""EASYCRM_EXECUTOR picks where the ingest job's steps run; unset, nothing changes (deploy/README.md)."""
import dagster as dg
import pytest
from dagster._core.system_config.objects import ResolvedRunConfig

from easycrm_pipeline.dagster_defs.jobs import execution_config, executor_name, ingest_executor
from easycrm_pipeline.definitions import get_ingest_job


@pytest.fixture
def celery_env(monkeypatch):
    monkeypatch.setenv("EASYCRM_CELERY_BROKER", "redis://:secret@127.0.0.1:6379/0")
    monkeypatch.setenv("EASYCRM_CELERY_BACKEND", "redis://:secret@127.0.0.1:6379/1")


def test_default_executor_is_unchanged(monkeypatch):
    monkeypatch.delenv("EASYCRM_EXECUTOR", raising=False)
    assert executor_name() == "local"
    assert get_ingest_job().executor_def is ingest_executor
    # no run config: the job's own default executor (in-process), the same for a run launched from the UI
    assert execution_config(True) == {} == execution_config(False)
    executor_field = get_ingest_job().executor_def.config_schema
    assert executor_field.default_value == {"in_process": {}}


@pytest.mark.parametrize("name", ["local", "multiprocess", "celery", "k8s"])
@pytest.mark.parametrize("llm", [True, False])
def test_every_choice_is_valid_run_config_for_the_job(monkeypatch, celery_env, name, llm):
    monkeypatch.setenv("EASYCRM_EXECUTOR", name)
    run_config = execution_config(llm)
    ResolvedRunConfig.build(get_ingest_job(), run_config)  # raises DagsterInvalidConfigError otherwise
    mode = next(iter(run_config["execution"]["config"])) if run_config else "job default (in_process)"
    expected = {"local": "job default (in_process)"}.get(name, name)
    if name == "multiprocess" and not llm:
        expected = "in_process"
    assert mode == expected


def test_celery_urls_stay_out_of_the_run_config(monkeypatch, celery_env):
    monkeypatch.setenv("EASYCRM_EXECUTOR", "celery")
    celery = execution_config(True)["execution"]["config"]["celery"]
    assert celery["broker"] == {"env": "EASYCRM_CELERY_BROKER"}
    assert "secret" not in repr(celery)


def test_unknown_executor_is_refused(monkeypatch):
    monkeypatch.setenv("EASYCRM_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="EASYCRM_EXECUTOR"):
        execution_config(True)


def test_default_choices_are_handed_to_dagsters_own_executor(monkeypatch):
    """The wrapper builds Dagster's own executor for ``in_process`` / ``multiprocess`` (same behaviour as before)."""
    monkeypatch.delenv("EASYCRM_EXECUTOR", raising=False)
    job = get_ingest_job()
    executor = ingest_executor.executor_creation_fn(
        dg.InitExecutorContext(job=dg.reconstructable(get_ingest_job), executor_def=ingest_executor,
                               executor_config={"in_process": {"retries": {"enabled": {}}}},
                               instance=dg.DagsterInstance.ephemeral())
    )
    assert type(executor).__name__ == "InProcessExecutor"
    assert job.executor_def.name == "easycrm_executor"


def test_optional_executors_are_not_imported_unless_chosen():
    """dagster-k8s / dagster-celery (~50 MB) stay out of every run process that does not use them."""
    import subprocess
    import sys

    code = (
        "import sys, easycrm_pipeline.definitions; "
        "print(sorted(m for m in ('dagster_k8s', 'dagster_celery', 'kubernetes', 'celery') if m in sys.modules))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "EASYCRM_EXECUTOR"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_celery_config_is_checked_when_the_executor_is_created(monkeypatch, celery_env):
    """With the permissive definition-time schema, the real one still validates (and fills defaults) at run start."""
    pytest.importorskip("dagster_celery")
    job = dg.reconstructable(get_ingest_job)
    instance = dg.DagsterInstance.ephemeral()

    def create(config):
        return ingest_executor.executor_creation_fn(
            dg.InitExecutorContext(job=job, executor_def=ingest_executor, executor_config={"celery": config},
                                   instance=instance)
        )

    with pytest.raises(dg.DagsterInvalidConfigError, match="celery"):
        create({"no_such_option": 1})
    executor = create({})  # every field has a default
    assert type(executor).__name__ == "CeleryExecutor"
