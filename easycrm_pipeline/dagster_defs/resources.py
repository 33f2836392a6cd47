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
    """``{resource field: value}``: ``dg.EnvVar(variable)`` when the variable is set (the UI shows its name, a
    secret stays out of run config), the settings' value when it was given in code (``Settings(db_path=...)``),
    else None: the setting's default, read where the step runs (``config.get_settings``)."""
    bound = {}
    for name, field in fields.items():
        if is_set(field):
            bound[name] = dg.EnvVar(env_name(field))
        elif field in settings.model_fields_set:
            value = getattr(settings, field)
            bound[name] = None if value is None else str(value)
        else:
            bound[name] = None
    return bound


class StoreResource(dg.ConfigurableResource):
    """The lead store (docs/contracts.md#environment: ``EASYCRM_STORE``, ``EASYCRM_DB``, ``EASYCRM_DYNAMODB_TABLE``,
    ``AWS_REGION``).

    Each field None: the setting as ``config.get_settings()`` reads it where the step runs (its default when the
    variable is unset).

    Attributes:
        kind: ``duckdb`` or ``dynamodb`` (normalized and checked like ``EASYCRM_STORE``).
        db_path: the DuckDB file.
        dynamodb_table: the DynamoDB leads table.
        aws_region: region of the DynamoDB client.
    """

    kind: str | None = None
    db_path: str | None = None
    dynamodb_table: str | None = None
    aws_region: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreResource:
        """The resource for ``settings`` (fields bound to ``dg.EnvVar`` where their variable is set)."""
        return cls(**_bound(settings, _STORE_FIELDS))

    def settings(self) -> Settings:
        """``get_settings()`` with this resource's fields (checked like the environment's).

        Raises:
            ValueError: a bad value (e.g. ``kind`` is not duckdb/dynamodb).
        """
        given = {field: getattr(self, name) for name, field in _STORE_FIELDS.items()}
        return get_settings(**{field: value for field, value in given.items() if value is not None})

    def get(self) -> LeadStore:
        """The store, initialized (DuckDB: folder, file and tables created once per process and path;
        ``store.open_store``)."""
        return open_store(self.settings())


class DeepSeekResource(dg.ConfigurableResource):
    """DeepSeek chat API settings (docs/contracts.md#environment, docs/deepseek.md); defaults: ``config.DEEPSEEK``.

    Attributes:
        api_key: bound to ``dg.EnvVar("DEEPSEEK_API_KEY")`` so the key never appears in run config or the UI;
            no key -> the offline rules standardize.
        base_url: API root; requests go to ``{base_url}/chat/completions``.
        model: model name.
        (These three None: the setting as ``config.get_settings()`` reads it where the step runs.)
        read_timeout: seconds to wait for an answer (slow replies stream keep-alive blank lines for minutes).
        max_attempts: HTTP tries per request (429/5xx/timeouts/blank replies are retried with backoff and jitter).
        max_tokens_per_lead: completion budget per lead in a batch (``max_tokens`` = 200 + this x leads).
        temperature: sampling temperature (0: deterministic standardization).
        price_cache_hit / price_cache_miss / price_output: USD per 1M tokens (defaults: DeepSeek's price list for
            deepseek-v4-flash at the peak rate, see ``deepseek.client.PRICE_TABLES``).
    """

    api_key: str | None = None
    base_url: str | None = None
    model: str | None = None
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
        given = {field: getattr(self, name) for name, field in _DEEPSEEK_FIELDS.items() if getattr(self, name)}
        if not given:
            return settings
        settings = settings.replace(**given)  # checked like the environment's values
        key = settings.deepseek_api_key
        mode = settings.llm_mode if key and settings.llm_mode_given else ("always" if key else "never")
        return settings.model_copy(update={"llm_mode": mode})

    def settings(self) -> Settings:
        """``get_settings()`` with this resource's DeepSeek fields (:meth:`apply`)."""
        return self.apply(get_settings())


class S3ClientResource(dg.ConfigurableResource):
    """A boto3 S3 client for the S3 drop-zone sensor (resource ``s3``).

    Ours rather than ``dagster_aws.s3.S3Resource``: importing ``dagster_aws`` costs every run process and every
    code-location load 1-6 s (its package imports all its components), for a client boto3 builds in one call.
    boto3 reads the credentials, ``AWS_REGION`` and ``AWS_ENDPOINT_URL`` (moto, MinIO) from the environment.

    Attributes:
        region_name: the client's region; None: boto3's default chain.
        endpoint_url: an S3-compatible endpoint; None: ``AWS_ENDPOINT_URL`` or AWS.
    """

    region_name: str | None = None
    endpoint_url: str | None = None

    def get_client(self):
        """A new ``boto3.client("s3")`` with this resource's region and endpoint."""
        import boto3  # ~0.3 s: only the S3 sensor and S3 runs pay it

        return boto3.client("s3", region_name=self.region_name, endpoint_url=self.endpoint_url)
