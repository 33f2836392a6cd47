"""The ingest job (the one the sensors launch and ``easycrm ingest`` runs) and its run config.

Executor (``EASYCRM_EXECUTOR``):

* unset / ``local`` (default): Dagster's in-process executor, the job's own default (a run launched from the UI with
  no run config gets it too). A run has few steps (parse, at most ``pipeline.chunks.MAX_CHUNKS`` chunks, collect) and
  each chunk step keeps 5 DeepSeek requests in flight on its own threads, one ``deepseek`` pool slot per request, so
  one step at a time keeps the pool full; no process start per step.
* ``multiprocess``: Dagster's multiprocess executor (forkserver, ``max_concurrent`` = the pool size): every step in
  its own process, for steps that must be isolated from each other.
* ``celery``: every step is a Celery task (``dagster-celery``, broker ``EASYCRM_CELERY_BROKER``, results
  ``EASYCRM_CELERY_BACKEND``) run by ``dagster-celery worker`` processes, on this machine or others; the run process
  only orchestrates. Each request of a chunk claims its ``deepseek`` slot in the instance's storage (PostgreSQL), so
  the limit holds across every worker (see deploy/README.md).
* ``k8s``: every step is a Kubernetes Job (``dagster-k8s``; image and namespace from the K8sRunLauncher or from
  ``EASYCRM_K8S_IMAGE`` / ``EASYCRM_K8S_NAMESPACE``).

The job's executor accepts all of these (``ingest_executor``), so one job definition serves every deployment and the
choice is run config only; ``dagster-celery`` / ``dagster-k8s`` are imported only when chosen (extra ``scale``).
"""
import dagster as dg

from easycrm_pipeline.config import get_settings, is_set
from easycrm_pipeline.dagster_defs.assets import leads
from easycrm_pipeline.dagster_defs.failures import tag_failure_reason

#: Concurrent DeepSeek calls allowed across all runs (the ``deepseek`` pool limit; seeds: "Concurrency: 5").
DEEPSEEK_POOL_LIMIT = 5


def _executor_env() -> str:
    """``EASYCRM_EXECUTOR`` as given, stripped and lower-cased (``"local"`` when unset, ``""`` when invalid: the
    error is raised where the executor is chosen, :func:`executor_name`)."""
    try:
        return get_settings().executor
    except ValueError:
        return ""


def _optional_schema(module: str, attr: str, mode: str) -> dg.Field:
    """The config schema of an optional executor when ``EASYCRM_EXECUTOR`` chooses it and its package is installed;
    otherwise a permissive one, checked against the real schema when the executor is created (``_checked_config``).

    Importing ``dagster-k8s`` / ``dagster-celery`` costs ~50 MB and ~0.5 s in every process that loads the
    definitions (each run process): only deployments that use them pay for them."""
    if _executor_env() == mode:
        try:
            executor_def = getattr(__import__(module, fromlist=[attr]), attr)
        except ImportError:
            pass
        else:
            return dg.Field(executor_def.config_schema.config_type, is_required=False)
    return dg.Field(dg.Permissive(), is_required=False, default_value={})


def _checked_config(delegate: dg.ExecutorDefinition, config: dict) -> dict:
    """``config`` validated against ``delegate``'s schema with its defaults filled in.

    Raises:
        DagsterInvalidConfigError: the config does not fit the executor's schema.
    """
    from dagster._config import process_config

    result = process_config(delegate.config_schema.config_type, config or {})
    if not result.success:
        raise dg.DagsterInvalidConfigError(f"Invalid config for the {delegate.name} executor", result.errors, config)
    return result.value


_LOCAL_FIELDS = dg.multi_or_in_process_executor.config_schema.config_type.fields


def _requirements(config) -> list:
    return [] if "in_process" in config else dg.multiple_process_executor_requirements()


@dg.executor(
    name="easycrm_executor",
    config_schema=dg.Field(
        dg.Selector(
            {
                "multiprocess": _LOCAL_FIELDS["multiprocess"],
                "in_process": _LOCAL_FIELDS["in_process"],
                "celery": _optional_schema("dagster_celery", "celery_executor", "celery"),
                "k8s": _optional_schema("dagster_k8s", "k8s_job_executor", "k8s"),
            }
        ),
        default_value={"in_process": {}},
    ),
    requirements=_requirements,
)
def ingest_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's ``in_process`` (the default) or ``multiprocess`` executor, or ``celery`` / ``k8s``, chosen by run
    config."""
    (mode, config), = init_context.executor_config.items()
    if mode == "celery":
        delegate = _import_executor("dagster_celery", "celery_executor", mode)
        config = _checked_config(delegate, config)
    elif mode == "k8s":
        delegate = _import_executor("dagster_k8s", "k8s_job_executor", mode)
        config = _checked_config(delegate, config)
    else:
        delegate, config = dg.multi_or_in_process_executor, {mode: config}
    return delegate.executor_creation_fn(
        dg.InitExecutorContext(
            job=init_context.job, executor_def=delegate, executor_config=config, instance=init_context.instance
        )
    )


def _import_executor(module: str, attr: str, mode: str) -> dg.ExecutorDefinition:
    try:
        return getattr(__import__(module, fromlist=[attr]), attr)
    except ImportError as exc:
        raise dg.DagsterInvariantViolationError(
            f"EASYCRM_EXECUTOR={mode} needs {module.replace('_', '-')}: pip install 'easycrm_pipeline[scale]'"
        ) from exc


ingest_job = dg.define_asset_job(
    name="ingest_job",
    # collect_leads evaluates the leads checks (checks.py); issue 18: possible_duplicates after the upsert, per file
    selection=dg.AssetSelection.assets(leads, "possible_duplicates").without_checks(),
    description="Parse a dropped lead file, standardize it batch by batch, upsert the leads.",
    executor_def=ingest_executor,
    hooks={tag_failure_reason},  # a failed run's one-line reason as the run tag easycrm/error
)


def executor_name() -> str:
    """``EASYCRM_EXECUTOR``: ``local`` (default), ``multiprocess``, ``celery`` or ``k8s``.

    Raises:
        ValueError: any other value.
    """
    return get_settings().executor


def execution_config(llm_enabled: bool) -> dict:
    """Run config ``execution`` section for ``EASYCRM_EXECUTOR``.

    ``local``: ``{}`` (the job's default executor, in-process: the same as a run launched from the UI).
    ``multiprocess``: forkserver processes for DeepSeek, in-process for the rules.
    ``celery``: broker and result backend are read from ``EASYCRM_CELERY_BROKER`` / ``EASYCRM_CELERY_BACKEND`` where the run and the steps execute
    (``{"env": ...}``: the URLs, which may carry a password, are never stored in the run's config). ``k8s``: the
    K8sRunLauncher's image/namespace, or ``EASYCRM_K8S_IMAGE`` / ``EASYCRM_K8S_NAMESPACE`` when set.
    """
    name = executor_name()
    if name == "celery":
        return {
            "execution": {
                "config": {
                    "celery": {
                        "broker": {"env": "EASYCRM_CELERY_BROKER"},
                        "backend": {"env": "EASYCRM_CELERY_BACKEND"},
                        # One task at a time per worker process: a prefetched step would wait behind a slow one.
                        "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True},
                    }
                }
            }
        }
    if name == "k8s":
        k8s: dict = {"max_concurrent": DEEPSEEK_POOL_LIMIT}
        if is_set("k8s_image"):
            k8s["job_image"] = {"env": "EASYCRM_K8S_IMAGE"}
        if is_set("k8s_namespace"):
            k8s["job_namespace"] = {"env": "EASYCRM_K8S_NAMESPACE"}
        return {"execution": {"config": {"k8s": k8s}}}
    if name == "local":
        return {}
    if not llm_enabled:
        return {"execution": {"config": {"in_process": {}}}}
    return {
        "execution": {
            "config": {
                "multiprocess": {
                    "max_concurrent": DEEPSEEK_POOL_LIMIT,
                    "start_method": {"forkserver": {"preload_modules": ["easycrm_pipeline.preload"]}},
                }
            }
        }
    }
