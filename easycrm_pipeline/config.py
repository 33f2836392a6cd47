"""Settings read from the environment (docs/contracts.md#environment): the only module that reads ``os.environ``.

:func:`get_settings` builds a fresh :class:`Settings` at every call (never cached at import), so a test or a
subprocess that changes the environment is seen. DeepSeek's client defaults live once, in :data:`DEEPSEEK`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Project root when running from a checkout (``data/`` lives here); the CWD otherwise.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "data"
    return Path.cwd() / "data"


class DeepSeekSettings(BaseModel):
    """The one home of DeepSeek's client defaults (docs/deepseek.md); the resource, the client and the
    standardizer's options take theirs from :data:`DEEPSEEK`.

    Attributes:
        base_url: API root; requests go to ``{base_url}/chat/completions`` (``DEEPSEEK_BASE_URL``).
        model: model name (``DEEPSEEK_MODEL``; ``deepseek-chat`` was retired on 2026-07-24).
        connect_timeout: seconds to establish the TCP/TLS connection.
        read_timeout: seconds allowed between two received chunks of an answer (slow replies stream keep-alive
            blank lines for minutes).
        total_timeout: seconds allowed for one whole attempt.
        max_attempts: HTTP tries per request (the old system's "after 3 failed attempts", docs/old-system.md).
        max_tokens_per_lead: completion budget per lead of a batch (``max_tokens`` = 200 + this x leads).
        temperature: sampling temperature (0: deterministic standardization).
    """

    model_config = ConfigDict(frozen=True)

    base_url: str = "https://api.deepseek.com"
    model: str = "deepseek-v4-flash"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    total_timeout: float = 300.0
    max_attempts: int = 3
    max_tokens_per_lead: int = 160
    temperature: float = 0.0


#: DeepSeek's defaults (see :class:`DeepSeekSettings`).
DEEPSEEK = DeepSeekSettings()

STORES = ("duckdb", "dynamodb")
MERGES = ("replace", "fill-blank")
LLM_MODES = ("always", "auto", "never")
#: ``EASYCRM_EXECUTOR`` values (``dagster_defs/jobs.py``).
EXECUTORS = ("local", "multiprocess", "celery", "k8s")


def header_unsafe_position(value: str) -> int | None:
    """Index of the first character of ``value`` an HTTP header value cannot carry (a control character such as
    ``\\n``/``\\r``/``\\t``, DEL, or non-ASCII; RFC 9110 section 5.5 field-value, as httpx/h11 enforce), else
    None. Used to refuse a bad ``DEEPSEEK_API_KEY`` in one line without quoting it."""
    for i, c in enumerate(value):
        if not (" " <= c <= "~"):
            return i
    return None


def _whole(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` (text from the environment, or a number given in code) as a whole number >= ``minimum``."""
    raw = value.strip() if isinstance(value, str) else value
    try:
        number = int(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        if len(allowed) == 2:
            raise ValueError(f"{name} must be {allowed[0]!r} or {allowed[1]!r}, got {value!r}")
        if name == "EASYCRM_EXECUTOR":
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        raise ValueError(f"{name} must be {', '.join(repr(a) for a in allowed[:-1])} or {allowed[-1]!r}, got {value!r}")
    return value


def _api_key(name: str, value: str | None) -> str | None:
    # Stripped: a ``.env`` saved with CRLF (or ``$'sk-...\n'``) leaves a \r / \n that httpx refuses in a header,
    # quoting the key in its error (breaker finding 1).
    key = (value or "").strip() or None
    if key is not None and (bad := header_unsafe_position(key)) is not None:
        raise ValueError(f"{name} holds a control or non-ASCII character (at position {bad + 1}); "
                         "an HTTP header cannot carry it - check the .env file")
    return key


def _region(name: str, value: Any) -> str:
    """An ISO 3166 alpha-2 region the phone library knows (``de`` -> ``DE``); anything else is one line naming the
    variable (a region it does not know would silently leave every national number without a country code)."""
    import phonenumbers  # here: the CLI reads the settings on every start, and the region is rarely set

    region = str(value).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{name} must be a two-letter region code such as DE, FR or US (ISO 3166), got {value!r}")
    return region


def _file_path(name: str, value: Any) -> Path:
    """A file the program creates or opens: a path that is an existing folder is one line naming the variable."""
    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{name} must name a file, got the folder {str(path)!r}")
    return path


def _folder_path(name: str, value: Any) -> Path:
    """A folder the program creates or opens: a path that is an existing file is one line naming the variable."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} must name a folder, got the file {str(path)!r}")
    return path


#: Per field: how a given value (text from the environment or a value passed in code) becomes the setting.
_NORMALIZE: dict[str, Any] = {
    "store": lambda n, v: _choice(n, str(v).strip().lower(), STORES),
    "merge": lambda n, v: _choice(n, str(v).strip(), MERGES),
    "llm_mode": lambda n, v: _choice(n, str(v).strip().lower(), LLM_MODES),
    "executor": lambda n, v: _choice(n, str(v).strip().lower(), EXECUTORS),
    "default_region": _region,
    "deepseek_api_key": _api_key,
    "deepseek_base_url": lambda n, v: str(v).rstrip("/"),
    "batch_size": _whole,
    "max_file_mb": _whole,
    "lock_timeout": lambda n, v: float(_whole(n, v)),
    "ask_timeout": lambda n, v: float(_whole(n, v)),
    "sensor_interval_seconds": _whole,
    "db_path": _file_path,
    "dagster_home": _folder_path,
}
#: Fields where an empty value is a value (``EASYCRM_S3_PREFIX=""``: the whole bucket), not "unset".
_EMPTY_IS_A_VALUE = frozenset({"s3_prefix", "io_s3_prefix"})


def _env(name: str, default: Any = None, *more: str) -> Any:
    """A field read from the environment variable ``name`` (or the first of ``name, *more`` that is set)."""
    alias = AliasChoices(name, *more) if more else name
    if callable(default):
        return Field(default_factory=default, validation_alias=alias)
    return Field(default, validation_alias=alias)


class Settings(BaseSettings):
    """The environment variables of docs/contracts.md#environment, with their defaults (one typed, frozen object).

    Empty values count as unset (except the two S3 prefixes). Built by :func:`get_settings`; code and tests may
    also pass fields by name (``Settings(store="duckdb", db_path=tmp / "leads.duckdb")``), the environment filling
    the rest.

    Attributes:
        db_path: DuckDB file (``EASYCRM_DB``, default ``data/leads.duckdb``).
        store: ``"duckdb"`` or ``"dynamodb"`` (``EASYCRM_STORE``, stripped and lower-cased).
        dynamodb_table: ``EASYCRM_DYNAMODB_TABLE`` (default ``easycrm-leads``).
        aws_region: region of the DynamoDB client (``AWS_REGION``, else ``AWS_DEFAULT_REGION``; None: boto3's).
        inbox: local drop folder (``EASYCRM_INBOX``, default ``data/inbox``).
        s3_bucket / s3_prefix: bucket watched by the S3 sensor (off when the bucket is unset) and its prefix.
        deepseek_api_key / deepseek_base_url / deepseek_model: DeepSeek access; no key -> offline rules. The key is
            stripped and refused when a header cannot carry it; the URL loses its trailing ``/``.
        batch_size: leads per batch / DynamicOutput / DeepSeek request (``EASYCRM_BATCH_SIZE``, default 10).
        default_region: ISO 3166 alpha-2 region for phones written without ``+``/``00``; None: never invent one.
        max_file_mb: files larger than this many MiB are refused (``EASYCRM_MAX_FILE_MB``, default 100); see
            :attr:`max_file_bytes`.
        llm_mode: ``EASYCRM_LLM``: ``always`` (default with a key: every row goes to DeepSeek), ``auto`` (only
            rows the rules cannot settle), ``never`` (rules only; the default without a key).
        merge: ``EASYCRM_MERGE``: ``replace`` (the old system's rule, docs/old-system.md: the file's values replace,
            even empty ones) or ``fill-blank`` (an empty value never overwrites a stored one).
        lock_timeout: seconds a DuckDB store call waits for a store locked by another process before it fails
            with "the lead store is locked by another process (waited N s)" (``EASYCRM_LOCK_TIMEOUT_SECONDS``,
            default 120).
        ask_timeout: seconds an ``easycrm ask`` query may run before it is stopped (``EASYCRM_ASK_TIMEOUT_SECONDS``,
            default 10).
        executor: where the ingest job's steps run (``EASYCRM_EXECUTOR``: local, multiprocess, celery, k8s).
        k8s_image / k8s_namespace: ``EASYCRM_K8S_IMAGE`` / ``EASYCRM_K8S_NAMESPACE`` (None: the run launcher's).
        sensor_interval_seconds: ``EASYCRM_SENSOR_INTERVAL_SECONDS`` (a whole number >= 1; None: the sensors'
            defaults).
        export_path: the ``leads_export`` asset's file (``EASYCRM_EXPORT_PATH``, default
            ``data/exports/leads.csv``).
        files_dir / files_s3_prefix: where ingested files are kept (``EASYCRM_FILES_DIR``, default ``data/files``;
            ``EASYCRM_FILES_S3_PREFIX``, None: ``dropzone.files.DEFAULT_S3_PREFIX``).
        io_s3_bucket / io_s3_prefix: step outputs in S3 (``EASYCRM_IO_S3_BUCKET``, unset: on local disk;
            ``EASYCRM_IO_S3_PREFIX``, default ``dagster-io``).
        dagster_home: ``DAGSTER_HOME`` (None: unset; the CLI falls back to ``data/dagster_home``).
    """

    # case_sensitive: only the documented upper-case names are read (`easycrm_db` is not `EASYCRM_DB`)
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True)

    db_path: Path = _env("EASYCRM_DB", lambda: _default_data_dir() / "leads.duckdb")
    store: str = _env("EASYCRM_STORE", "duckdb")
    dynamodb_table: str = _env("EASYCRM_DYNAMODB_TABLE", "easycrm-leads")
    aws_region: str | None = _env("AWS_REGION", None, "AWS_DEFAULT_REGION")
    inbox: Path = _env("EASYCRM_INBOX", lambda: _default_data_dir() / "inbox")
    s3_bucket: str | None = _env("EASYCRM_S3_BUCKET")
    s3_prefix: str = _env("EASYCRM_S3_PREFIX", "uploads/")
    deepseek_api_key: str | None = _env("DEEPSEEK_API_KEY")
    deepseek_base_url: str = _env("DEEPSEEK_BASE_URL", DEEPSEEK.base_url)
    deepseek_model: str = _env("DEEPSEEK_MODEL", DEEPSEEK.model)
    batch_size: int = _env("EASYCRM_BATCH_SIZE", 10)
    default_region: str | None = _env("EASYCRM_DEFAULT_REGION")
    max_file_mb: int = _env("EASYCRM_MAX_FILE_MB", 100)
    llm_mode: str | None = _env("EASYCRM_LLM")
    merge: str = _env("EASYCRM_MERGE", "replace")
    lock_timeout: float = _env("EASYCRM_LOCK_TIMEOUT_SECONDS", 120.0)
    ask_timeout: float = _env("EASYCRM_ASK_TIMEOUT_SECONDS", 10.0)
    executor: str = _env("EASYCRM_EXECUTOR", "local")
    k8s_image: str | None = _env("EASYCRM_K8S_IMAGE")
    k8s_namespace: str | None = _env("EASYCRM_K8S_NAMESPACE")
    sensor_interval_seconds: int | None = _env("EASYCRM_SENSOR_INTERVAL_SECONDS")
    export_path: Path = _env("EASYCRM_EXPORT_PATH", lambda: _default_data_dir() / "exports" / "leads.csv")
    files_dir: Path = _env("EASYCRM_FILES_DIR", lambda: _default_data_dir() / "files")
    files_s3_prefix: str | None = _env("EASYCRM_FILES_S3_PREFIX")
    io_s3_bucket: str | None = _env("EASYCRM_IO_S3_BUCKET")
    io_s3_prefix: str = _env("EASYCRM_IO_S3_PREFIX", "dagster-io")
    dagster_home: Path | None = _env("DAGSTER_HOME")

    @field_validator("*", mode="before")
    @classmethod
    def _given(cls, value: Any, info: ValidationInfo) -> Any:
        """Blank -> the field's default; then the field's own rule (``_NORMALIZE``) with today's error wording."""
        field = cls.model_fields[info.field_name]
        if value is None:
            return None
        if isinstance(value, str) and not value.strip() and info.field_name not in _EMPTY_IS_A_VALUE:
            return field.get_default(call_default_factory=True)
        normalize = _NORMALIZE.get(info.field_name)
        return value if normalize is None else normalize(env_name(info.field_name), value)

    @model_validator(mode="after")
    def _llm_default(self) -> Settings:
        if self.llm_mode is None:  # EASYCRM_LLM unset: DeepSeek for every row with a key, the rules without
            object.__setattr__(self, "llm_mode", "always" if self.deepseek_api_key else "never")
        return self

    @property
    def max_file_bytes(self) -> int:
        """``max_file_mb`` in bytes."""
        return self.max_file_mb * 1024 * 1024

    @property
    def llm_enabled(self) -> bool:
        """True when DeepSeek standardizes some rows (a key is set and ``EASYCRM_LLM`` is not ``never``)."""
        return bool(self.deepseek_api_key) and self.llm_mode != "never"

    @property
    def llm_mode_given(self) -> bool:
        """True when ``EASYCRM_LLM`` (or ``llm_mode=``) was given, False when ``llm_mode`` is the key's default."""
        return "llm_mode" in self.model_fields_set

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (fields by name), checked like the environment's values; the fields given so
        far (in code or by a variable) stay, the others are read from the environment again.

        Raises:
            ValueError: a bad value, in today's one-line wording (see :func:`get_settings`).
        """
        return get_settings(**{**self.model_dump(exclude_unset=True), **changes})

    def child_env(self, **extra: str) -> dict[str, str]:
        """The environment for a child process: this process's, plus ``extra`` (e.g. ``DAGSTER_HOME``)."""
        return {**os.environ, **extra}


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field (``"batch_size"`` -> ``"EASYCRM_BATCH_SIZE"``)."""
    alias = Settings.model_fields[field].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else str(alias)


def is_set(field: str) -> bool:
    """True when the environment variable of a :class:`Settings` field is set to a non-blank value (the
    resources bind such a field as ``dg.EnvVar``)."""
    return bool(os.environ.get(env_name(field), "").strip())


def get_settings(**overrides: Any) -> Settings:
    """Read the settings from ``os.environ`` now; ``overrides`` (fields by name) win over the environment and go
    through the same checks.

    Raises:
        ValueError: one line naming the variable: a numeric variable is not a whole number >= 1,
            ``EASYCRM_STORE`` is not duckdb/dynamodb (likewise ``EASYCRM_MERGE``, ``EASYCRM_LLM``,
            ``EASYCRM_EXECUTOR``), or ``DEEPSEEK_API_KEY`` (stripped of surrounding whitespace) holds a character
            a header cannot carry.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        where = ".".join(str(part) for part in error.get("loc", ()))
        raise ValueError(str(cause) if cause is not None else f"{where}: {error['msg']}") from None
