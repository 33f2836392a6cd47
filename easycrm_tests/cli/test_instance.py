"""The instance the CLI and ``make dev`` use: compute logs are on (sensor tick logs and run logs show in the UI)."""
import dagster as dg

from easycrm_pipeline.cli.instance import _FALLBACK_YAML, PROJECT_DAGSTER_YAML


def test_compute_logs_are_captured_by_default(isolated_env):
    """Issue 14: with NoOpComputeLogManager every tick's "View logs" was empty."""
    assert "compute_logs" not in PROJECT_DAGSTER_YAML.read_text().split("# Compute logs")[0]
    assert "NoOpComputeLogManager" not in PROJECT_DAGSTER_YAML.read_text() + _FALLBACK_YAML
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME holds a copy of the project's dagster.yaml (conftest)
    assert type(instance.compute_log_manager).__name__ == "LocalComputeLogManager"


def test_the_cli_instance_needs_no_dagster_home_in_its_own_environment(monkeypatch, tmp_path):
    """``ensure_dagster_home`` no longer writes ``os.environ``: the run processes get the folder through
    ``child_env`` and this process opens the instance on it by path."""
    import os

    from easycrm_pipeline.cli.instance import child_env, ensure_dagster_home, get_instance

    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert ensure_dagster_home() == home.resolve() and (home / "dagster.yaml").exists()
    monkeypatch.delenv("DAGSTER_HOME")
    before = dict(os.environ)
    fallback = ensure_dagster_home()  # unset: the project's data/dagster_home
    assert fallback.parts[-2:] == ("data", "dagster_home")
    assert dict(os.environ) == before
    assert child_env()["DAGSTER_HOME"] == str(fallback)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert get_instance().root_directory == str(home.resolve())
    assert child_env()["DAGSTER_HOME"] == str(home.resolve())
