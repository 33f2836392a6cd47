"""Settings read from the environment (docs/contracts.md#environment). Read at call time, never cached at import."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Project root when running from a checkout (``data/`` lives here); the CWD otherwise.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "data"
    return Path.cwd() / "data"


@dataclass(frozen=True)
class Settings:
    """The environment variables of docs/contracts.md#environment, with their defaults.

    Attributes:
        db_path: DuckDB file (``EASYCRM_DB``, default ``data/leads.duckdb``).
        store: ``"duckdb"`` or ``"dynamodb"`` (``EASYCRM_STORE``).
        dynamodb_table: ``EASYCRM_DYNAMODB_TABLE`` (default ``easycrm-leads``).
        inbox: local drop folder (``EASYCRM_INBOX``, default ``data/inbox``).
        s3_bucket / s3_prefix: bucket watched by the S3 sensor (off when the bucket is unset) and its prefix.
        deepseek_api_key / deepseek_base_url / deepseek_model: DeepSeek access; no key -> offline rules.
        batch_size: leads per batch / DynamicOutput / DeepSeek request (``EASYCRM_BATCH_SIZE``, default 10).
        default_region: ISO 3166 alpha-2 region for phones written without ``+``/``00``; None: never invent one.
        max_file_bytes: files larger than this are refused (``EASYCRM_MAX_FILE_MB``, default 100 MB).
        llm_mode: ``EASYCRM_LLM``: ``always`` (default with a key: every row goes to DeepSeek), ``auto`` (only
            rows the rules cannot settle), ``never`` (rules only; the only choice without a key).
        merge: ``EASYCRM_MERGE``: ``replace`` (the old system's rule, docs/old-system.md: the file's values replace,
            even empty ones) or
            ``fill-blank`` (an empty value never overwrites a stored one).
        lock_timeout: seconds a DuckDB store call waits for a store locked by another process before it fails
            with "the lead store is locked by another process (waited N s)" (``EASYCRM_LOCK_TIMEOUT_SECONDS``,
            default 120).
        ask_timeout: seconds an ``easycrm ask`` query may run before it is stopped (``EASYCRM_ASK_TIMEOUT_SECONDS``,
            default 10).
    """

    db_path: Path
    store: str
    dynamodb_table: str
    inbox: Path
    s3_bucket: str | None
    s3_prefix: str
    deepseek_api_key: str | None
    deepseek_base_url: str
    deepseek_model: str
    batch_size: int
    default_region: str | None
    max_file_bytes: int
    llm_mode: str
    merge: str = "replace"
    lock_timeout: float = 120.0
    ask_timeout: float = 10.0

    @property
    def llm_enabled(self) -> bool:
        """True when DeepSeek standardizes some rows (a key is set and ``EASYCRM_LLM`` is not ``never``)."""
        return bool(self.deepseek_api_key) and self.llm_mode != "never"


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def header_unsafe_position(value: str) -> int | None:
    """Index of the first character of ``value`` an HTTP header value cannot carry (a control character such as
    ``\\n``/``\\r``/``\\t``, DEL, or non-ASCII; RFC 9110 section 5.5 field-value, as httpx/h11 enforce), else
    None. Used to refuse a bad ``DEEPSEEK_API_KEY`` in one line without quoting it."""
    for i, c in enumerate(value):
        if not (" " <= c <= "~"):
            return i
    return None


def get_settings() -> Settings:
    """Read the settings from ``os.environ`` now.

    Raises:
        ValueError: a numeric variable is not a whole number, ``EASYCRM_STORE`` is not duckdb/dynamodb, or
            ``DEEPSEEK_API_KEY`` (stripped of surrounding whitespace) holds a character a header cannot carry.
    """
    data = _default_data_dir()
    store = os.environ.get("EASYCRM_STORE", "duckdb").strip().lower() or "duckdb"
    if store not in ("duckdb", "dynamodb"):
        raise ValueError(f"EASYCRM_STORE must be 'duckdb' or 'dynamodb', got {store!r}")
    region = os.environ.get("EASYCRM_DEFAULT_REGION", "").strip().upper() or None
    # Stripped: a ``.env`` saved with CRLF (or ``$'sk-...\n'``) leaves a \r / \n that httpx refuses in a header,
    # quoting the key in its error (breaker finding 1).
    key = (os.environ.get("DEEPSEEK_API_KEY") or "").strip() or None
    if key is not None and (bad := header_unsafe_position(key)) is not None:
        raise ValueError(f"DEEPSEEK_API_KEY holds a control or non-ASCII character (at position {bad + 1}); "
                         "an HTTP header cannot carry it - check the .env file")
    merge = os.environ.get("EASYCRM_MERGE", "").strip() or "replace"
    if merge not in ("replace", "fill-blank"):
        raise ValueError(f"EASYCRM_MERGE must be 'replace' or 'fill-blank', got {merge!r}")
    llm_mode = os.environ.get("EASYCRM_LLM", "").strip().lower() or ("always" if key else "never")
    if llm_mode not in ("always", "auto", "never"):
        raise ValueError(f"EASYCRM_LLM must be 'always', 'auto' or 'never', got {llm_mode!r}")
    return Settings(
        db_path=Path(os.environ.get("EASYCRM_DB") or data / "leads.duckdb"),
        store=store,
        dynamodb_table=os.environ.get("EASYCRM_DYNAMODB_TABLE") or "easycrm-leads",
        inbox=Path(os.environ.get("EASYCRM_INBOX") or data / "inbox"),
        s3_bucket=os.environ.get("EASYCRM_S3_BUCKET") or None,
        s3_prefix=os.environ.get("EASYCRM_S3_PREFIX", "uploads/"),
        deepseek_api_key=key,
        deepseek_base_url=(os.environ.get("DEEPSEEK_BASE_URL") or "https://api.deepseek.com").rstrip("/"),
        deepseek_model=os.environ.get("DEEPSEEK_MODEL") or "deepseek-v4-flash",
        batch_size=_int_env("EASYCRM_BATCH_SIZE", 10),
        default_region=region,
        max_file_bytes=_int_env("EASYCRM_MAX_FILE_MB", 100) * 1024 * 1024,
        llm_mode=llm_mode,
        merge=merge,
        lock_timeout=float(_int_env("EASYCRM_LOCK_TIMEOUT_SECONDS", 120)),
        ask_timeout=float(_int_env("EASYCRM_ASK_TIMEOUT_SECONDS", 10)),
    )
