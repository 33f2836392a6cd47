"""Two standardizers behind one interface: the offline rules (embedded default) and DeepSeek.

``make_standardizer(settings)`` picks DeepSeek when ``DEEPSEEK_API_KEY`` is set (docs/contracts.md), the rules
otherwise. Both return a ``BatchResult``; DeepSeek's answers pass through the same validators as the rules
(``rules.validate.validate_candidate``): with a mapped Email/Phone column the model's email/phone must be that
column's value (an address injected in a Notes cell is rejected), a dropped field is restored from the rules, and an
email or phone that is not in the raw row never reaches the table (breaker cases l18-l30).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from easycrm_pipeline.config import DEEPSEEK, Settings
from easycrm_pipeline.deepseek.client import DeepSeekClient
from easycrm_pipeline.deepseek.errors import DeepSeekBatchRejected
from easycrm_pipeline.deepseek.prompt import prompt_hash
from easycrm_pipeline.models import QuarantineRow, RawRow
from easycrm_pipeline.pipeline.batches import Batch, BatchResult
from easycrm_pipeline.rules import RULES_VERSION
from easycrm_pipeline.rules.standardize import standardize_rows
from easycrm_pipeline.rules.validate import validate_candidate


@dataclass(frozen=True)
class DeepSeekOptions:
    """Tuning of the DeepSeek client (the Dagster ``DeepSeekResource`` fills it; defaults match the client's).

    Attributes:
        read_timeout: seconds allowed between two received chunks of an answer.
        max_attempts: HTTP tries per request.
        max_tokens_per_row: completion budget per lead (``max_tokens`` = 200 + this x leads, capped at 8192).
        temperature: sampling temperature.
        price_table: USD per 1M tokens, keys ``cache_hit``, ``cache_miss``, ``output``; None: the client's default.
    """

    read_timeout: float = DEEPSEEK.read_timeout
    max_attempts: int = DEEPSEEK.max_attempts
    max_tokens_per_row: int = DEEPSEEK.max_tokens_per_lead
    temperature: float = DEEPSEEK.temperature
    price_table: dict = field(default_factory=dict)


#: A zero-argument context manager factory entered around a DeepSeek request (e.g. one pool slot).
Hold = Callable[[], contextlib.AbstractContextManager]


class Standardizer(Protocol):
    """Turns one batch of raw rows into standardized leads.

    ``version`` identifies what produced the values (stored with each lead; a change triggers re-standardization).
    ``standardize`` raises ``deepseek.errors.DeepSeekFatal`` when the whole file must stop (bad key, no balance)
    and ``deepseek.errors.DeepSeekBatchFailed`` when a retry of the batch may help.
    """

    version: str

    def standardize(self, batch: Batch, hold: Hold = contextlib.nullcontext) -> BatchResult:
        """One ``BatchResult`` for ``batch`` (leads in the batch's row order, quarantine, usage); ``hold()`` is
        entered around the DeepSeek request only (a ``deepseek`` pool slot), never around local work."""
        ...


class RulesStandardizer:
    """The offline rules standardizer (email-validator, phonenumbers, nameparser, header aliases)."""

    def __init__(self, default_region: str | None = None):

        self.default_region = default_region
        self.version = RULES_VERSION

    def standardize(self, batch: Batch, hold: Hold = contextlib.nullcontext) -> BatchResult:
        """Standardize every row of ``batch`` with the rules; never fails for a well-formed row (sends nothing, so
        ``hold`` is not entered)."""
        return self.standardize_rows(list(batch.rows), batch.mapping_key)

    def standardize_rows(self, rows: list[RawRow], name: str) -> BatchResult:
        """Standardize ``rows`` (any number) into a ``BatchResult`` named ``name``."""

        started = time.perf_counter()
        leads = standardize_rows(rows, self.default_region)
        return BatchResult(batch=name, leads=leads, ms=(time.perf_counter() - started) * 1000)


class DeepSeekStandardizer:
    """Standardizes through the DeepSeek chat API (docs/deepseek.md#the-exchange), validated by the rules.

    Each row goes out with the offline rules' fields as its ``"_proposal"``; DeepSeek answers only its corrections
    (a field left out keeps the rules' value, issue 13: output tokens dominate time and price), and every field,
    answered or not, passes ``rules.validate.validate_candidate``.

    Rows DeepSeek leaves unanswered (after the client's own individual re-request) fall back to the rules with the
    flag ``llm-missing-fallback``; a batch DeepSeek rejects as malformed (400/422) goes to the quarantine whole.
    """

    def __init__(self, settings: Settings, options: DeepSeekOptions | None = None):

        self.settings = settings
        self.options = options or DeepSeekOptions()
        self.client = DeepSeekClient(
            base_url=settings.deepseek_base_url,
            api_key=settings.deepseek_api_key,
            model=settings.deepseek_model,
            read_timeout=self.options.read_timeout,
            max_attempts=self.options.max_attempts,
            max_tokens_per_row=self.options.max_tokens_per_row,
            temperature=self.options.temperature,
        )
        self.rules = RulesStandardizer(settings.default_region)
        self.version = deepseek_version(settings)

    def standardize(self, batch: Batch, hold: Hold = contextlib.nullcontext) -> BatchResult:
        """Send the batch to DeepSeek, join the answer on ``id`` and validate every field.

        ``hold()`` (a ``deepseek`` pool slot) is entered around the request only: the rules' proposal is made before
        and the answer validated after, so a slot is never idle while this thread works locally.

        Raises:
            DeepSeekFatal: 401/402 — the whole file must stop.
            DeepSeekBatchFailed: retries exhausted — the caller may retry the step or dead-letter the batch.
        """

        started = time.perf_counter()
        rows = list(batch.rows)
        proposed = standardize_rows(rows, self.settings.default_region)
        proposals = {lead.row_id: lead.fields for lead in proposed}
        try:
            with hold():
                answer = self.client.standardize(rows, proposals)
        except DeepSeekBatchRejected as exc:
            result = dead_letter(batch, f"DeepSeek rejected the batch: {exc}", started)
            return add_usage(result, getattr(exc, "usage", None), self.options.price_table or None)
        usage = answer.usage
        leads = []
        for row, rules_lead in zip(rows, proposed):
            candidate = answer.items.get(row.row_id)
            if candidate is None:
                rules_lead.flags = rules_lead.flags + ("llm-missing-fallback",)
                leads.append(rules_lead)
            else:
                leads.append(validate_candidate(row, candidate, self.settings.default_region, self.version))
        return BatchResult(
            batch=batch.mapping_key,
            leads=leads,
            llm_leads=len(rows),
            llm_calls=usage.calls,
            prompt_cache_hit_tokens=usage.prompt_cache_hit_tokens,
            prompt_cache_miss_tokens=usage.prompt_cache_miss_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd(self.options.price_table or None),
            ms=(time.perf_counter() - started) * 1000,
        )


def deepseek_version(settings: Settings) -> str:
    """Version of the DeepSeek standardizer: ``<model>/<prompt hash>/<rules version>`` (cache and re-standardization
    key: any part changing makes stored answers stale)."""

    return f"{settings.deepseek_model}/{prompt_hash()}/{RULES_VERSION}"


def add_usage(result: BatchResult, usage, price_table: dict | None = None) -> BatchResult:
    """Count a DeepSeek ``Usage`` (calls, tokens, cost) into ``result`` — failed attempts are billed too; a
    dead-lettered batch that spent calls counts its rows as ``llm_leads`` (they were asked about)."""
    if usage is None:
        return result
    if usage.calls and not result.llm_leads:
        result.llm_leads = len(result.dead_row_ids) or len(result.leads)
    result.llm_calls += usage.calls
    result.prompt_cache_hit_tokens += usage.prompt_cache_hit_tokens
    result.prompt_cache_miss_tokens += usage.prompt_cache_miss_tokens
    result.completion_tokens += usage.completion_tokens
    result.cost_usd += usage.cost_usd(price_table)
    return result


#: How every dead-letter reason begins (the ops' "after N tries" and a batch DeepSeek refused), see :func:`is_dead_letter`.
DEAD_LETTER_REASONS = ("DeepSeek failed after", "DeepSeek rejected the batch")


def is_dead_letter(reason: str | None) -> bool:
    """True when a quarantine reason says the row's batch went to the dead letter (a lead row that was not stored
    because standardizing it failed), as opposed to a row that is not a lead (footer, blank key, repeated header)."""
    return bool(reason) and reason.startswith(DEAD_LETTER_REASONS)


def dead_letter(batch: Batch, reason: str, started: float | None = None) -> BatchResult:
    """The old system's dead letter queue (docs/old-system.md): every row of ``batch`` goes to the quarantine with
    ``reason``."""
    ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    return BatchResult(
        batch=batch.mapping_key,
        quarantine=[QuarantineRow(r.sheet, r.row_number, reason, r.as_request_dict()) for r in batch.rows],
        failed=True,
        error=reason,
        ms=ms,
        dead_row_ids=[r.row_id for r in batch.rows],
    )


def make_standardizer(settings: Settings, options: DeepSeekOptions | None = None) -> Standardizer:
    """DeepSeek when a key is set (and ``EASYCRM_LLM`` is not ``never``), the offline rules otherwise."""
    if settings.llm_enabled:
        return DeepSeekStandardizer(settings, options)
    return RulesStandardizer(settings.default_region)
