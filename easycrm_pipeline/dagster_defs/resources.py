"""The DeepSeek configuration as a Dagster resource (visible in the UI, the key is a secret from ``EnvVar``)."""
import os

import dagster as dg

from easycrm_pipeline.config import Settings
from easycrm_pipeline.deepseek.client import DEFAULT_BASE_URL, DEFAULT_MODEL, DEFAULT_PRICE_TABLE
from easycrm_pipeline.pipeline.standardizer import DeepSeekOptions


class DeepSeekResource(dg.ConfigurableResource):
    """DeepSeek chat API settings (docs/contracts.md#environment, docs/deepseek.md).

    Attributes:
        api_key: bound to ``dg.EnvVar("DEEPSEEK_API_KEY")`` so the key never appears in run config or the UI;
            ``None`` -> the offline rules standardize.
        base_url: API root; requests go to ``{base_url}/chat/completions``.
        model: ``deepseek-v4-flash`` by default (``deepseek-chat`` was retired on 2026-07-24).
        read_timeout: seconds to wait for an answer (slow replies stream keep-alive blank lines for minutes).
        max_attempts: HTTP tries per request (429/5xx/timeouts/blank replies are retried with backoff and jitter).
        max_tokens_per_lead: completion budget per lead in a batch (``max_tokens`` = 200 + this x leads).
        temperature: sampling temperature (0: deterministic standardization).
        price_cache_hit / price_cache_miss / price_output: USD per 1M tokens (defaults: DeepSeek's price list for
            deepseek-v4-flash at the peak rate, see ``deepseek.client.PRICE_TABLES``).
    """

    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    read_timeout: float = 120.0
    max_attempts: int = 3
    max_tokens_per_lead: int = 160
    temperature: float = 0.0
    price_cache_hit: float = DEFAULT_PRICE_TABLE["cache_hit"]
    price_cache_miss: float = DEFAULT_PRICE_TABLE["cache_miss"]
    price_output: float = DEFAULT_PRICE_TABLE["output"]

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
        """``settings`` with the DeepSeek fields taken from this resource (the environment stays the default)."""
        import dataclasses

        key = (self.api_key or "").strip() or None  # a CRLF .env leaves "\r" (see config.get_settings)
        if not key:
            mode = "never"
        elif os.environ.get("EASYCRM_LLM", "").strip():
            mode = settings.llm_mode
        else:
            mode = "always"
        return dataclasses.replace(
            settings,
            deepseek_api_key=key,
            deepseek_base_url=self.base_url.rstrip("/"),
            deepseek_model=self.model,
            llm_mode=mode,
        )


def deepseek_resource_from_env() -> DeepSeekResource:
    """The resource bound in the Definitions: key, base URL and model from the environment (docs/contracts.md).

    The key is bound as ``EnvVar`` only when it is set where the definitions load, so the offline default needs no
    variable at all.
    """
    kwargs: dict = {}
    if os.environ.get("DEEPSEEK_API_KEY"):
        kwargs["api_key"] = dg.EnvVar("DEEPSEEK_API_KEY")
    if os.environ.get("DEEPSEEK_BASE_URL"):
        kwargs["base_url"] = dg.EnvVar("DEEPSEEK_BASE_URL")
    if os.environ.get("DEEPSEEK_MODEL"):
        kwargs["model"] = dg.EnvVar("DEEPSEEK_MODEL")
    return DeepSeekResource(**kwargs)
