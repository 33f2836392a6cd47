"""Suite-wide isolation: every test gets its own DuckDB file, inbox and DAGSTER_HOME, and never a real DeepSeek key."""
import shutil

import pytest

from easycrm_pipeline.cli.instance import PROJECT_DAGSTER_YAML

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
