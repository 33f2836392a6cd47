"""Suite-wide isolation: every test gets its own DuckDB file, inbox and DAGSTER_HOME, and never a real DeepSeek key."""
import shutil

import pytest

from easycrm_pipeline.cli.instance import PROJECT_DAGSTER_YAML
from easycrm_pipeline.config import Settings, get_settings

ISOLATED_VARS = (
    "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "DEEPSEEK_MODEL", "EASYCRM_STORE", "EASYCRM_S3_BUCKET",
    "EASYCRM_S3_PREFIX", "EASYCRM_BATCH_SIZE", "EASYCRM_DEFAULT_REGION", "EASYCRM_MERGE", "EASYCRM_LLM",
    "AWS_ENDPOINT_URL", "EASYCRM_EXPORT_PATH", "EASYCRM_EXECUTOR", "EASYCRM_FILES_S3_PREFIX",
)  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Point EASYCRM_DB / EASYCRM_INBOX / DAGSTER_HOME into ``tmp_path`` and unset the DeepSeek and AWS settings."""
    for var in ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("EASYCRM_DB", str(tmp_path / "leads.duckdb"))
    monkeypatch.setenv("EASYCRM_INBOX", str(inbox))
    monkeypatch.setenv("EASYCRM_FILES_DIR", str(tmp_path / "files"))  # kept files (dropzone.files)
    monkeypatch.setenv("EASYCRM_EXPORT_PATH", str(tmp_path / "exports" / "leads.csv"))  # exports, rejected rows
    return tmp_path


@pytest.fixture
def settings(isolated_env) -> Settings:
    """This test's settings built in code (``config.Settings``): the DuckDB file, inbox, exports and kept files in
    ``tmp_path``, offline rules. Pass it to the code under test; derive a variant with ``settings.replace(...)``
    (checked like the environment's values) instead of ``monkeypatch.setenv``."""
    return get_settings(
        db_path=isolated_env / "leads.duckdb", inbox=isolated_env / "inbox", files_dir=isolated_env / "files",
        export_path=isolated_env / "exports" / "leads.csv", store="duckdb",
    )
