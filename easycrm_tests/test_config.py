"""``config.get_settings``: the one reader of the environment (docs/contracts.md#environment): the DeepSeek key as read
from the environment (breaker finding 1), today's one-line errors, defaults, and DeepSeek's defaults declared once."""
from __future__ import annotations

import inspect
import os

import pytest

from easycrm_pipeline.config import DEEPSEEK, Settings, get_settings, header_unsafe_position


@pytest.mark.parametrize("raw", ["sk-abc123\n", "sk-abc123\r", " sk-abc123 \r\n"])
def test_a_key_with_surrounding_whitespace_is_read_stripped(monkeypatch, raw):
    monkeypatch.setenv("DEEPSEEK_API_KEY", raw)
    settings = get_settings()
    assert settings.deepseek_api_key == "sk-abc123" and settings.llm_enabled


def test_a_blank_key_is_no_key(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", " \r\n")
    assert get_settings().deepseek_api_key is None


@pytest.mark.parametrize(("value", "position"), [("sk-ok", None), ("sk\tx", 2), ("sk-é", 3), ("sk\x7f", 2)])
def test_header_unsafe_position(value, position):
    assert header_unsafe_position(value) == position


@pytest.mark.parametrize(("var", "value", "message"), [
    ("EASYCRM_STORE", "Postgres", "EASYCRM_STORE must be 'duckdb' or 'dynamodb', got 'postgres'"),
    ("EASYCRM_BATCH_SIZE", "ten", "EASYCRM_BATCH_SIZE must be a whole number, got 'ten'"),
    ("EASYCRM_BATCH_SIZE", "0", "EASYCRM_BATCH_SIZE must be at least 1, got 0"),
    ("EASYCRM_MAX_FILE_MB", "1.5", "EASYCRM_MAX_FILE_MB must be a whole number, got '1.5'"),
    ("EASYCRM_MERGE", "overwrite", "EASYCRM_MERGE must be 'replace' or 'fill-blank', got 'overwrite'"),
    ("EASYCRM_LLM", "Sometimes", "EASYCRM_LLM must be 'always', 'auto' or 'never', got 'sometimes'"),
    ("EASYCRM_EXECUTOR", "spark", "EASYCRM_EXECUTOR must be one of local, multiprocess, celery, k8s, got 'spark'"),
    ("EASYCRM_LOCK_TIMEOUT_SECONDS", "-1", "EASYCRM_LOCK_TIMEOUT_SECONDS must be at least 1, got -1"),
    # found by a new user: a region the phone library does not know was silently ignored, so was a bad interval
    ("EASYCRM_DEFAULT_REGION", "Germany",
     "EASYCRM_DEFAULT_REGION must be a two-letter region code such as DE, FR or US (ISO 3166), got 'Germany'"),
    ("EASYCRM_DEFAULT_REGION", "XX",
     "EASYCRM_DEFAULT_REGION must be a two-letter region code such as DE, FR or US (ISO 3166), got 'XX'"),
    ("EASYCRM_SENSOR_INTERVAL_SECONDS", "abc", "EASYCRM_SENSOR_INTERVAL_SECONDS must be a whole number, got 'abc'"),
])
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError) as caught:
        get_settings()
    assert str(caught.value) == message


def test_defaults_and_normalization(monkeypatch, isolated_env):
    for var in ("EASYCRM_DB", "EASYCRM_INBOX", "EASYCRM_EXPORT_PATH", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    s = get_settings()
    assert (s.store, s.dynamodb_table, s.batch_size, s.max_file_bytes, s.merge) == (
        "duckdb", "easycrm-leads", 10, 100 * 1024 * 1024, "replace")
    assert (s.llm_mode, s.llm_enabled, s.executor, s.s3_prefix, s.io_s3_prefix) == (
        "never", False, "local", "uploads/", "dagster-io")
    assert s.db_path.name == "leads.duckdb" and s.db_path.parent.name == "data"
    assert s.export_path.parts[-3:] == ("data", "exports", "leads.csv")
    assert (s.deepseek_base_url, s.deepseek_model) == (DEEPSEEK.base_url, DEEPSEEK.model)
    monkeypatch.setenv("EASYCRM_STORE", " DynamoDB ")
    monkeypatch.setenv("EASYCRM_DEFAULT_REGION", " de")
    monkeypatch.setenv("EASYCRM_BATCH_SIZE", " 25 ")
    monkeypatch.setenv("EASYCRM_DB", "")  # empty counts as unset ...
    monkeypatch.setenv("EASYCRM_S3_PREFIX", "")  # ... except for a prefix: "" is the whole bucket
    monkeypatch.setenv("DEEPSEEK_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s = get_settings()
    assert (s.store, s.default_region, s.batch_size, s.s3_prefix) == ("dynamodb", "DE", 25, "")
    assert s.db_path.name == "leads.duckdb"
    assert s.deepseek_base_url == "http://127.0.0.1:9/v1"
    assert s.aws_region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # AWS_REGION first, then AWS_DEFAULT_REGION (docs/contracts.md)
    assert get_settings().aws_region == "us-west-2"


def test_llm_mode_defaults_by_key_and_stays_when_given(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-x")
    s = get_settings()
    assert (s.llm_mode, s.llm_mode_given, s.llm_enabled) == ("always", False, True)
    monkeypatch.setenv("EASYCRM_LLM", " AUTO ")
    s = get_settings()
    assert (s.llm_mode, s.llm_mode_given) == ("auto", True)
    monkeypatch.setenv("EASYCRM_LLM", "never")
    assert not get_settings().llm_enabled


def test_fields_given_in_code_win_over_the_environment_and_are_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("EASYCRM_BATCH_SIZE", "7")
    s = get_settings(db_path=tmp_path / "x.duckdb", store="DuckDB")
    assert (s.db_path, s.store, s.batch_size) == (tmp_path / "x.duckdb", "duckdb", 7)
    assert Settings(batch_size=3).batch_size == 3
    with pytest.raises(ValueError, match="EASYCRM_STORE must be 'duckdb' or 'dynamodb', got 'mysql'"):
        get_settings(store="mysql")
    with pytest.raises(Exception):
        s.batch_size = 5  # frozen


def test_deepseek_defaults_are_declared_once():
    """Model, base URL, timeouts, 3 attempts and 160 tokens per lead: config.DEEPSEEK is the one home; the client,
    the standardizer's options, the Dagster resource and the prompt's token budget take theirs from it."""
    from easycrm_pipeline.dagster_defs.resources import DeepSeekResource
    from easycrm_pipeline.deepseek.client import DEFAULT_BASE_URL, DEFAULT_MODEL, DeepSeekClient
    from easycrm_pipeline.deepseek.prompt import MAX_TOKENS_PER_ROW
    from easycrm_pipeline.pipeline.standardizer import DeepSeekOptions

    assert (DEEPSEEK.base_url, DEEPSEEK.model, DEEPSEEK.max_attempts, DEEPSEEK.max_tokens_per_lead) == (
        "https://api.deepseek.com", "deepseek-v4-flash", 3, 160)
    client = inspect.signature(DeepSeekClient).parameters
    assert (DEFAULT_BASE_URL, DEFAULT_MODEL) == (DEEPSEEK.base_url, DEEPSEEK.model)
    for name in ("connect_timeout", "read_timeout", "total_timeout", "max_attempts", "temperature"):
        assert client[name].default == getattr(DEEPSEEK, name), name
    assert client["max_tokens_per_row"].default == DEEPSEEK.max_tokens_per_lead == MAX_TOKENS_PER_ROW
    options = DeepSeekOptions()
    resource = DeepSeekResource()
    assert (options.read_timeout, options.max_attempts, options.max_tokens_per_row) == (
        DEEPSEEK.read_timeout, DEEPSEEK.max_attempts, DEEPSEEK.max_tokens_per_lead)
    assert (resource.read_timeout, resource.max_attempts, resource.max_tokens_per_lead) == (
        DEEPSEEK.read_timeout, DEEPSEEK.max_attempts, DEEPSEEK.max_tokens_per_lead)


def test_child_env_adds_to_the_environment_without_changing_it(monkeypatch):
    monkeypatch.setenv("EASYCRM_MERGE", "fill-blank")
    env = get_settings().child_env(DAGSTER_HOME="/somewhere")
    assert env["DAGSTER_HOME"] == "/somewhere" and env["EASYCRM_MERGE"] == "fill-blank"
    assert os.environ["DAGSTER_HOME"] != "/somewhere"


def test_the_settings_fixture_and_replace(settings, isolated_env):
    """Tests pass settings built in code (conftest's ``settings``); ``replace`` checks like the environment."""
    assert settings.db_path == isolated_env / "leads.duckdb" and not settings.llm_enabled
    other = settings.replace(batch_size=5, deepseek_api_key="sk-1")
    assert (other.batch_size, other.db_path, other.llm_mode, settings.batch_size) == (
        5, settings.db_path, "always", 10)
    with pytest.raises(ValueError, match="^EASYCRM_BATCH_SIZE must be at least 1, got 0$"):
        settings.replace(batch_size="0")
