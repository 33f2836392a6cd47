"""Lead stores: where clean leads live (DuckDB file by default, DynamoDB optionally).

Use :func:`get_store` to build the store the settings ask for (:func:`open_store`: and have its tables ready); see :class:`~easycrm_pipeline.store.base.LeadStore`
for the interface.
"""
from __future__ import annotations

import threading
from pathlib import Path

from easycrm_pipeline.config import Settings, get_settings
from easycrm_pipeline.store.base import (
    LeadQuery,
    LeadStore,
    StoreError,
    StoreLockTimeout,
    UpsertStats,
    normalize_email,
)


def get_store(settings: Settings | None = None) -> LeadStore:
    """The store selected by ``EASYCRM_STORE`` (``duckdb`` -> ``DuckDBStore(EASYCRM_DB)``; ``dynamodb`` ->
    ``DynamoDBStore(EASYCRM_DYNAMODB_TABLE)``). Nothing is created: call ``init()`` for that.

    Args:
        settings: a ``config.Settings``; read from the environment when None.

    Raises:
        ValueError: bad settings (see ``config.get_settings``).
    """
    settings = settings or get_settings()
    if settings.store == "dynamodb":
        from easycrm_pipeline.store.dynamodb_store import DynamoDBStore

        return DynamoDBStore(settings.dynamodb_table, region_name=settings.aws_region)
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    return DuckDBStore(settings.db_path, lock_timeout=settings.lock_timeout)


#: DuckDB files whose schema this process has created or checked (``open_store`` runs the DDL once per path).
_READY: set[Path] = set()
_READY_LOCK = threading.Lock()


def open_store(settings: Settings | None = None) -> LeadStore:
    """:func:`get_store`, ready for writes: for DuckDB the folder, file and tables are created if missing, once per
    process and path (the DDL takes the store's write lock, so it must not run in every mapped step); DynamoDB
    tables are created by ``easycrm init-store`` only.

    Raises:
        ValueError: bad settings (see ``config.get_settings``).
        StoreLockTimeout: the DuckDB file stayed locked by another process while its schema was created.
    """
    settings = settings or get_settings()
    store = get_store(settings)
    if settings.store == "duckdb":
        path = settings.db_path.absolute()
        with _READY_LOCK:
            if path not in _READY or not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                store.init()
                _READY.add(path)
    return store


__all__ = [
    "LeadQuery", "LeadStore", "StoreError", "StoreLockTimeout", "UpsertStats", "get_store", "normalize_email",
    "open_store",
]
