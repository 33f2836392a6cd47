"""Splitting a parsed file into batches, and the result of standardizing one batch.

The old system's lead splitter (docs/old-system.md) sends batches of 10 leads (``EASYCRM_BATCH_SIZE``); each batch
becomes one Dagster ``DynamicOutput`` whose mapping key must match ``^[A-Za-z0-9_]+$`` (docs/dagster-facts.md),
hence ``batch_00001``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from easycrm_pipeline.models import QuarantineRow, RawRow, StandardLead


@dataclass(frozen=True)
class Batch:
    """One batch of raw rows.

    Attributes:
        number: 1-based batch number in file order.
        total: number of batches in the file.
        rows: the raw rows, in file order (at most ``batch_size``).
    """

    number: int
    total: int
    rows: tuple[RawRow, ...]

    @property
    def mapping_key(self) -> str:
        """Dagster mapping key, e.g. ``batch_00001`` (:func:`batch_key`)."""
        return batch_key(self.number)


@dataclass
class BatchResult:
    """What standardizing one batch produced.

    Attributes:
        batch: the batch's mapping key.
        leads: standardized leads, one per row that became a lead (file order).
        quarantine: rows of this batch that could not be standardized (dead letter), with the reason.
        llm_leads: rows DeepSeek was asked to standardize (0 for the offline rules and cache hits).
        llm_calls: DeepSeek requests made (0 for the offline rules).
        prompt_cache_hit_tokens / prompt_cache_miss_tokens / completion_tokens: DeepSeek ``usage`` summed.
        cost_usd: cost of those tokens (USD) from the configured price table.
        failed: True when the batch went to the dead letter (its rows are in ``quarantine``).
        error: the one-line reason when ``failed``.
        ms: wall time of the standardization in milliseconds.
        dead_row_ids: row ids of the rows sent to the quarantine (dead letter).
    """

    batch: str
    leads: list[StandardLead] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    llm_leads: int = 0
    llm_calls: int = 0
    prompt_cache_hit_tokens: int = 0
    prompt_cache_miss_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failed: bool = False
    error: str | None = None
    ms: float = 0.0
    dead_row_ids: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """All tokens of this batch (prompt hit + miss + completion)."""
        return self.prompt_cache_hit_tokens + self.prompt_cache_miss_tokens + self.completion_tokens

    @property
    def completion_tokens_per_lead(self) -> float:
        """DeepSeek output tokens per lead asked about (0.0 when DeepSeek was not asked): the figure that drives
        DeepSeek's time and price (issue 13)."""
        return completion_tokens_per_lead(self.completion_tokens, self.llm_leads)


def completion_tokens_per_lead(completion_tokens: int, leads: int) -> float:
    """``completion_tokens / leads`` rounded to 0.1 token (0.0 when ``leads`` is 0)."""
    return round(completion_tokens / leads, 1) if leads else 0.0


def batch_key(number: int) -> str:
    """The key of batch ``number`` (1-based, file order): ``batch_00001`` (only ``[A-Za-z0-9_]``, Dagster's mapping
    key alphabet); the batch journal, the cache's progress and the dead letter know a batch by it."""
    return f"batch_{number:05d}"


def make_batches(rows: list[RawRow], batch_size: int) -> list[Batch]:
    """Cut ``rows`` (file order) into consecutive batches of ``batch_size`` rows.

    Raises:
        ValueError: ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    chunks = [tuple(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
    return [Batch(number=i + 1, total=len(chunks), rows=chunk) for i, chunk in enumerate(chunks)]
