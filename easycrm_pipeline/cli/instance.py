"""The Dagster instance the CLI uses: ``$DAGSTER_HOME`` or the project's ``data/dagster_home``.

The project's ``dagster.yaml`` (pool ``deepseek`` = 5, run monitoring, run retries) is written into a new
``DAGSTER_HOME`` that has none, so ``easycrm ingest`` runs share the same pool limit as ``make dev``.
"""
from __future__ import annotations

import os
from pathlib import Path

from easycrm_pipeline.config import PROJECT_ROOT
from easycrm_pipeline.store.locking import file_lock

#: The instance settings shipped with the project (also used for fresh test instances).
PROJECT_DAGSTER_YAML = PROJECT_ROOT / "data" / "dagster_home" / "dagster.yaml"

_FALLBACK_YAML = """concurrency:
  pools:
    default_limit: 5
    granularity: op
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 15
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
telemetry:
  enabled: false
"""


def ensure_dagster_home() -> Path:
    """Set ``DAGSTER_HOME`` (absolute) if unset, create it, and write the project's dagster.yaml if missing.

    Returns:
        The absolute DAGSTER_HOME path.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / "data" / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    yaml_path = home / "dagster.yaml"
    if not yaml_path.exists():
        text = PROJECT_DAGSTER_YAML.read_text() if PROJECT_DAGSTER_YAML.exists() else _FALLBACK_YAML
        yaml_path.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    """A ``DagsterInstance`` on ``ensure_dagster_home()``.

    Opening a new SQLite instance creates its schema; two processes doing it at once race ("table alembic_version
    already exists", "more than one head present"), so every easycrm process opens the instance under one lock.
    """
    import dagster as dg

    with instance_lock():
        return dg.DagsterInstance.get()


def instance_lock():
    """The file lock (context manager) under which easycrm processes create or change the instance's storage
    (schema creation, dynamic partitions): SQLite schema migrations must not run twice at once."""
    return file_lock(ensure_dagster_home() / ".easycrm-instance.lock", exclusive=True)
