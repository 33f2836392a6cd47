"""Lead stores: where clean leads live (DuckDB file by default, DynamoDB optionally).

Use :func:`get_store` to build the store the settings ask for; see :class:`~easycrm_pipeline.store.base.LeadStore`
for the interface.
"""
from __future__ import annotations

from easycrm_pipeline.store.base import (
    LeadQuery,
    LeadStore,
    StoreError,
    StoreLockTimeout,
    UpsertStats,
    normalize_email,
)


def get_store(settings=None) -> LeadStore:
    """The store selected by ``EASYCRM_STORE`` (``duckdb`` -> ``DuckDBStore(EASYCRM_DB)``; ``dynamodb`` ->
    ``DynamoDBStore(EASYCRM_DYNAMODB_TABLE)``). Nothing is created: call ``init()`` for that.

    Args:
        settings: a ``config.Settings``; read from the environment when None.

    Raises:
        ValueError: bad settings (see ``config.get_settings``).
    """
    from easycrm_pipeline.config import get_settings

    settings = settings or get_settings()
    if settings.store == "dynamodb":
        from easycrm_pipeline.store.dynamodb_store import DynamoDBStore

        return DynamoDBStore(settings.dynamodb_table)
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    return DuckDBStore(settings.db_path, lock_timeout=settings.lock_timeout)


__all__ = ["LeadQuery", "LeadStore", "StoreError", "StoreLockTimeout", "UpsertStats", "get_store", "normalize_email"]
