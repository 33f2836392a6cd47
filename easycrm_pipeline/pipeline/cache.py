"""Storage of the standardization cache (see ``pipeline.planning``): kept by the lead store itself
(:meth:`LeadStore.cache <easycrm_pipeline.store.base.LeadStore.cache>`; the DuckDB store keeps a
``standardize_cache`` table next to the leads), written by the standardize steps, read by the parse step.

A store without a cache (DynamoDB today) gives None: every row goes to DeepSeek.
"""
from __future__ import annotations

from easycrm_pipeline.store.base import LeadStore, StandardizeCache


def open_cache(store: LeadStore) -> StandardizeCache | None:
    """The cache kept with ``store`` (None when the store has no cache support)."""
    return store.cache()


__all__ = ["StandardizeCache", "open_cache"]
