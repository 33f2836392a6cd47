"""The instance the CLI and ``make dev`` use: compute logs are on (sensor tick logs and run logs show in the UI)."""
import dagster as dg

from easycrm_pipeline.cli.instance import _FALLBACK_YAML, PROJECT_DAGSTER_YAML


def test_compute_logs_are_captured_by_default(isolated_env):
    """Issue 14: with NoOpComputeLogManager every tick's "View logs" was empty."""
    assert "compute_logs" not in PROJECT_DAGSTER_YAML.read_text().split("# Compute logs")[0]
    assert "NoOpComputeLogManager" not in PROJECT_DAGSTER_YAML.read_text() + _FALLBACK_YAML
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME holds a copy of the project's dagster.yaml (conftest)
    assert type(instance.compute_log_manager).__name__ == "LocalComputeLogManager"
