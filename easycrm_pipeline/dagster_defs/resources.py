"""The two resources bound once in ``definitions.py``: the lead store and DeepSeek (visible in the UI; a field whose
environment variable is set where the definitions load is bound as ``dg.EnvVar``, so the key is a secret).

Ops, asset checks, assets and the schedule's ops take them as parameters (``store: StoreResource``,
``deepseek: DeepSeekResource``) instead of reading the environment; the CLI builds the same objects with
:meth:`StoreResource.from_settings` / :meth:`DeepSeekResource.from_settings`.
"""
from __future__ import annotations

import dagster as dg

from easycrm_pipeline.config import DEEPSEEK, Settings, env_name, get_settings, is_set
from easycrm_pipeline.deepseek.client import DEFAULT_PRICE_TABLE
from easycrm_pipeline.pipeline.standardizer import DeepSeekOptions
from easycrm_pipeline.store import LeadStore, open_store


#: Resource field -> ``Settings`` field (whose environment variable binds it).
_STORE_FIELDS = {"kind": "store", "db_path": "db_path", "dynamodb_table": "dynamodb_table", "aws_region": "aws_region"}
_DEEPSEEK_FIELDS = {"api_key": "deepseek_api_key", "base_url": "deepseek_base_url", "model": "deepseek_model"}


def _bound(settings: Settings, fields: dict[str, str]) -> dict:
    """``{resource field: dg.EnvVar(variable) when the variable is set, else the settings' value}``."""
    return {
        name: dg.EnvVar(env_name(field)) if is_set(field) else getattr(settings, field)
        for name, field in fields.items()
    }


class StoreResource(dg.ConfigurableResource):
    """The lead store (docs/contracts.md#environment: ``EASYCRM_STORE``, ``EASYCRM_DB``, ``EASYCRM_DYNAMODB_TABLE``,
    ``AWS_REGION``).

    Attributes:
        kind: ``duckdb`` or ``dynamodb`` (normalized and checked like ``EASYCRM_STORE``).
        db_path: the DuckDB file ("" -> ``EASYCRM_DB`` or its default).
        dynamodb_table: the DynamoDB leads table.
        aws_region: region of the DynamoDB client (None: boto3's own).
    """

    kind: str = "duckdb"
    db_path: str = ""
    dynamodb_table: str = "easycrm-leads"
    aws_region: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreResource:
        """The resource for ``settings`` (fields bound to ``dg.EnvVar`` where their variable is set)."""
        values = _bound(settings, _STORE_FIELDS)
        if not isinstance(values["db_path"], dg.EnvVar):
            values["db_path"] = str(values["db_path"])
        return cls(**values)

    def settings(self) -> Settings:
        """``get_settings()`` with this resource's fields (checked like the environment's).

        Raises:
            ValueError: a bad value (e.g. ``kind`` is not duckdb/dynamodb).
        """
        given = {"store": self.kind, "dynamodb_table": self.dynamodb_table, "aws_region": self.aws_region}
        return get_settings(**given, **({"db_path": self.db_path} if self.db_path else {}))

    def get(self) -> LeadStore:
        """The store, initialized (DuckDB: folder, file and tables created once per process and path;
        ``store.open_store``)."""
        return open_store(self.settings())


class DeepSeekResource(dg.ConfigurableResource):
    """DeepSeek chat API settings (docs/contracts.md#environment, docs/deepseek.md); defaults: ``config.DEEPSEEK``.

    Attributes:
        api_key: bound to ``dg.EnvVar("DEEPSEEK_API_KEY")`` so the key never appears in run config or the UI;
            ``None`` -> the offline rules standardize.
        base_url: API root; requests go to ``{base_url}/chat/completions``.
        model: model name.
        read_timeout: seconds to wait for an answer (slow replies stream keep-alive blank lines for minutes).
        max_attempts: HTTP tries per request (429/5xx/timeouts/blank replies are retried with backoff and jitter).
        max_tokens_per_lead: completion budget per lead in a batch (``max_tokens`` = 200 + this x leads).
        temperature: sampling temperature (0: deterministic standardization).
        price_cache_hit / price_cache_miss / price_output: USD per 1M tokens (defaults: DeepSeek's price list for
            deepseek-v4-flash at the peak rate, see ``deepseek.client.PRICE_TABLES``).
    """

    api_key: str | None = None
    base_url: str = DEEPSEEK.base_url
    model: str = DEEPSEEK.model
    read_timeout: float = DEEPSEEK.read_timeout
    max_attempts: int = DEEPSEEK.max_attempts
    max_tokens_per_lead: int = DEEPSEEK.max_tokens_per_lead
    temperature: float = DEEPSEEK.temperature
    price_cache_hit: float = DEFAULT_PRICE_TABLE["cache_hit"]
    price_cache_miss: float = DEFAULT_PRICE_TABLE["cache_miss"]
    price_output: float = DEFAULT_PRICE_TABLE["output"]

    @classmethod
    def from_settings(cls, settings: Settings) -> DeepSeekResource:
        """Key, base URL and model from ``settings``; each bound as ``dg.EnvVar`` when its variable is set (so the
        offline default needs no variable at all)."""
        return cls(**_bound(settings, _DEEPSEEK_FIELDS))

    def options(self) -> DeepSeekOptions:
        """The client tuning as the pure-logic ``DeepSeekOptions``."""
        return DeepSeekOptions(
            read_timeout=self.read_timeout,
            max_attempts=self.max_attempts,
            max_tokens_per_row=self.max_tokens_per_lead,
            temperature=self.temperature,
            price_table={
                "cache_hit": self.price_cache_hit,
                "cache_miss": self.price_cache_miss,
                "output": self.price_output,
            },
        )

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with the DeepSeek fields taken from this resource. Without a key ``llm_mode`` is ``never``;
        with one it is ``EASYCRM_LLM`` when given, else ``always``."""
        key = (self.api_key or "").strip() or None  # a CRLF .env leaves "\r" (see config.Settings)
        mode = settings.llm_mode if key and settings.llm_mode_given else ("always" if key else "never")
        return settings.model_copy(update={
            "deepseek_api_key": key,
            "deepseek_base_url": self.base_url.rstrip("/"),
            "deepseek_model": self.model,
            "llm_mode": mode,
        })

    def settings(self) -> Settings:
        """``get_settings()`` with this resource's DeepSeek fields (:meth:`apply`)."""
        return self.apply(get_settings())
