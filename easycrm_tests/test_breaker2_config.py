"""Breaker 2: the pydantic-settings Settings against odd environments (docs/contracts.md#environment)."""
from __future__ import annotations

import subprocess
import sys


from easycrm_pipeline.config import get_settings


def test_only_the_documented_upper_case_names_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("EASYCRM_DB", str(tmp_path / "upper.duckdb"))
    monkeypatch.setenv("easycrm_db", str(tmp_path / "lower.duckdb"))
    monkeypatch.setenv("easycrm_store", "garbage")
    settings = get_settings()  # the old reader (os.environ["EASYCRM_*"]) never saw the lower-case names
    assert settings.db_path == tmp_path / "upper.duckdb"
    assert settings.store == "duckdb"


def test_a_sensor_interval_that_is_not_ascii_digits_is_ignored_or_named(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "EASYCRM_SENSOR_INTERVAL_SECONDS": "²", "DAGSTER_HOME": str(tmp_path / "dh"),
           "EASYCRM_DB": str(tmp_path / "leads.duckdb")}
    done = subprocess.run([sys.executable, "-m", "easycrm_pipeline.cli.main", "leads", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    # today's rule (config._interval): anything but digits is ignored; else a bad value names its variable
    assert done.returncode == 0 or "EASYCRM_SENSOR_INTERVAL_SECONDS" in done.stderr, done.stderr
