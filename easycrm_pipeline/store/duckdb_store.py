"""The lead store on a DuckDB file (docs/contracts.md#the-leads-table, docs/dagster-facts.md#duckdb-next-to-dagster,
docs/old-system.md).

Tables (created by :meth:`DuckDBStore.init`, column names exactly as below):

``leads``
    ``leadId`` VARCHAR uuid primary key (kept for life), ``firstName``, ``lastName``, ``title``, ``company``,
    ``email`` (normalized; NULL when the row had none; UNIQUE among non-NULL values), ``phone``, ``remarks``,
    ``sourceFile`` (file name of the last file that wrote it), ``sourceWorksheet`` (NULL for CSV), ``sourceRow``
    (1-based row number in that file/sheet), ``sourceRowId`` (the parser's ``"<sheet index>:<row>"`` id),
    ``createdAt`` / ``updatedAt`` (TIMESTAMP, UTC, naive), ``rawRow`` (JSON: the raw ``{header: value}`` row),
    ``standardizer`` (what produced the fields, e.g. ``"rules-1"``).
``lead_changes`` (the audit trail; docs/old-system.md#audit-log)
    ``seq`` (insertion order), ``changeId``, ``at``, ``action`` (``lead_created``, ``lead_updated``,
    ``batch_duplicate_resolved``, ``lead_deleted``, ``lead_restored``, ``lead_restandardized``: ``base.CHANGE_ACTIONS``;
    a file made before ``lead_restandardized`` existed gets its CHECK constraint rebuilt by the first write),
    ``email``, ``leadId``,
    ``previousSourceFile``, ``newSourceFile``, ``fieldsChanged`` (JSON ``{field: {"before": v, "after": v}}``),
    ``batchId``, ``runId``, ``rowId`` (source row id), ``previousUpdatedAt``, ``details`` (JSON, e.g. the kept and
    merged row ids of a ``batch_duplicate_resolved`` row).
``quarantine``
    ``seq``, ``sourceFile``, ``sheet``, ``row``, ``reason``, ``rawRow`` (JSON), ``runId``, ``at``.
``file_imports``
    ``sourceFile``, ``runId``, ``at``, ``stats`` (JSON).
``undone_imports``
    ``sourceFile``, ``runId`` (the import that was undone), ``undoRunId``, ``at``, ``deleted``, ``restored``: one row
    per undo (:meth:`DuckDBStore.undo_import`).

Concurrency: no connection is kept between calls. Every call takes an ``fcntl.flock`` on ``<db>.lock`` (exclusive for
writes, shared for reads: :mod:`easycrm_pipeline.store.locking`), then opens DuckDB (read-write, or ``read_only``
for reads), does its work and closes. A DuckDB lock ``IOException`` (some other program holding the file) is
retried until the same timeout.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import pandas as pd

from easycrm_pipeline import fields
from easycrm_pipeline.matching.keys import SQL_KEYS, sql_keys_select
from easycrm_pipeline.matching.merge import plan_merge
from easycrm_pipeline.matching.pairs import MAX_BLOCK, Candidates, pair_of
from easycrm_pipeline.models import LEAD_FIELDS, QuarantineRow, StandardLead
from easycrm_pipeline.store.base import (
    CHANGE_ACTIONS,
    DEFAULT_QUERY_SECONDS,
    QUERY_MEMORY_LIMIT,
    LEAD_COLUMNS,
    MERGE_POLICIES,
    LeadQuery,
    LeadStore,
    QUALITY_COLUMNS,
    TS_FORMAT,
    VALUE_FIELDS,
    StoreError,
    StoreLockTimeout,
    _NO_EMAIL,
    UndoRefused,
    UndoResult,
    UpsertStats,
    clean_value,
    last_wins,
    normalize_email,
    run_limited,
    unmerge_plan,
)
from easycrm_pipeline.store.locking import DEFAULT_LOCK_TIMEOUT, file_lock, lock_message
from easycrm_pipeline.store.plans import (
    LATER_CHANGE_ACTIONS,
    UndoPlan,
    check_upsert_args,
    latest_undoable_run,
    plan_undo,
)
from easycrm_pipeline.store.query import to_sql

#: DuckDB settings of every connection to the store (one process must open a file with one configuration). One
#: DuckDB thread: the store has one writer at a time and the machine's cores already run Dagster's steps; each
#: extra DuckDB thread adds its own buffers (~40 MB at a 50,000-lead upsert, measured: 605-625 MB peak RSS of the
#: whole ingest with 2 threads, 570-577 MB with 1; the issue's limit is 600 MB) while the upsert stays ~1.3 s.
#: ``memory_limit`` is not used: DuckDB 2.0.1 failed a 50,000-lead upsert under 128MB with "Invalid unicode (byte
#: sequence mismatch) detected in segment statistics update".
DUCKDB_CONFIG = {"threads": 1}
#: DuckDB threads of the duplicate-candidate query (:meth:`DuckDBStore.duplicate_candidates`): the machine's cores.
MATCH_THREADS = max(1, os.cpu_count() or 1)

@dataclass
class FileUpsert:
    """What :meth:`DuckDBStore.upsert_lead_files` did: the upsert's :class:`UpsertStats`, the emails merged within
    the file and the rows merged away, email-less leads recognized as already stored by this file, and the
    milliseconds the in-file dedupe took."""

    stats: UpsertStats
    emails_merged: int = 0
    rows_merged: int = 0
    already_stored: int = 0
    dedupe_ms: float = 0.0


#: DuckDB's memory limit while a file is upserted from its Parquet lead files (``upsert_lead_files``): beyond it
#: DuckDB spills what it can to temporary files (issue 13). What it cannot spill grows with the file: the
#: transaction's new rows of ``leads`` and their two indexes (``leadId``, ``email``), so the limit is this floor or
#: :data:`FILE_UPSERT_BYTES_PER_LEAD` per lead of the file, whichever is larger. Measured (new leads, one thread):
#: 200,000 under 256 MB (peak +270 MB), 400,000 ran out of memory under 256 MB and passed under 400 MB (+414 MB).
#: Should it still run out, ``pipeline.collect`` redoes the file's transaction without the limit.
FILE_UPSERT_MEMORY = "256MB"
#: DuckDB's memory limit while :meth:`DuckDBStore.duplicate_candidate_rounds` computes the blocking keys of the
#: whole table (beyond it the temporary tables and joins spill to temporary files; issue 13). Measured at 200,000
#: leads: peak RSS +470 MB under DuckDB's default limit, +340 MB under 256 MB, +220 MB under 128 MB, no slower.
MATCH_MEMORY = "128MB"
#: Bytes of DuckDB memory allowed per lead of the file above :data:`FILE_UPSERT_MEMORY` (see there).
FILE_UPSERT_BYTES_PER_LEAD = 1024


def _mb_of(setting: str) -> float:
    """Megabytes of a DuckDB size setting such as ``"256MB"``, ``"2GB"``, ``"512KiB"`` (1000- or 1024-based
    units both read as powers of 1024: a limit, not an accounting)."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)i?b?\s*", setting.lower())
    if not m:
        raise ValueError(f"not a DuckDB memory size: {setting!r}")
    return float(m.group(1)) * {"": 1 / 1024 ** 2, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 ** 2}[m.group(2)]

#: Lead fields an update may change (email is the key and never changes on update): ``base.VALUE_FIELDS``.
_VALUE_FIELDS = VALUE_FIELDS


#: ``lead_changes`` (``{name}``: the table name, so a migration can build the new table next to the old one).
_LEAD_CHANGES_DDL = """
    CREATE TABLE IF NOT EXISTS {name} (
        "seq" BIGINT DEFAULT nextval('lead_changes_seq'),
        "changeId" VARCHAR NOT NULL,
        "at" TIMESTAMP NOT NULL,
        "action" VARCHAR NOT NULL CHECK ("action" IN (%s)),
        "email" VARCHAR,
        "leadId" VARCHAR,
        "previousSourceFile" VARCHAR,
        "newSourceFile" VARCHAR,
        "fieldsChanged" JSON,
        "batchId" VARCHAR,
        "runId" VARCHAR,
        "rowId" VARCHAR,
        "previousUpdatedAt" TIMESTAMP,
        "details" JSON
    )
    """ % ", ".join(f"'{a}'" for a in CHANGE_ACTIONS)
_LEAD_CHANGES_COLUMNS = ("seq", "changeId", "at", "action", "email", "leadId", "previousSourceFile",
                         "newSourceFile", "fieldsChanged", "batchId", "runId", "rowId", "previousUpdatedAt",
                         "details")

_SCHEMA = [
    f"""
    CREATE TABLE IF NOT EXISTS leads (
        "leadId" VARCHAR PRIMARY KEY,
        {fields.ddl_columns()},
        "sourceFile" VARCHAR,
        "sourceWorksheet" VARCHAR,
        "sourceRow" INTEGER,
        "sourceRowId" VARCHAR,
        "createdAt" TIMESTAMP NOT NULL,
        "updatedAt" TIMESTAMP NOT NULL,
        "rawRow" JSON,
        "standardizer" VARCHAR
    )
    """,
    *fields.ddl_migrations(),
    "CREATE SEQUENCE IF NOT EXISTS lead_changes_seq",
    _LEAD_CHANGES_DDL.format(name="lead_changes"),
    "CREATE SEQUENCE IF NOT EXISTS quarantine_seq",
    """
    CREATE TABLE IF NOT EXISTS quarantine (
        "seq" BIGINT DEFAULT nextval('quarantine_seq'),
        "sourceFile" VARCHAR NOT NULL,
        "sheet" VARCHAR,
        "row" INTEGER,
        "reason" VARCHAR NOT NULL,
        "rawRow" JSON,
        "runId" VARCHAR,
        "at" TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS file_imports (
        "sourceFile" VARCHAR NOT NULL,
        "runId" VARCHAR,
        "at" TIMESTAMP NOT NULL,
        "stats" JSON
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS undone_imports (
        "sourceFile" VARCHAR NOT NULL,
        "runId" VARCHAR,
        "undoRunId" VARCHAR,
        "at" TIMESTAMP NOT NULL,
        "deleted" INTEGER NOT NULL,
        "restored" INTEGER NOT NULL
    )
    """,
    # issue 18: pairs that may be the same person (leadA < leadB), and pairs recorded as different people
    """
    CREATE TABLE IF NOT EXISTS possible_duplicates (
        "leadA" VARCHAR NOT NULL,
        "leadB" VARCHAR NOT NULL,
        "score" DOUBLE NOT NULL,
        "rules" JSON,
        "evidence" JSON,
        "sourceFile" VARCHAR,
        "runId" VARCHAR,
        "at" TIMESTAMP NOT NULL,
        PRIMARY KEY ("leadA", "leadB")
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dismissed_pairs (
        "leadA" VARCHAR NOT NULL,
        "leadB" VARCHAR NOT NULL,
        "at" TIMESTAMP NOT NULL,
        PRIMARY KEY ("leadA", "leadB")
    )
    """,
]

#: The tables a database must hold to be read (``read_connection``); ``undone_imports`` came later and is optional
#: there (it is created by the next write).
_TABLES = ("leads", "lead_changes", "quarantine", "file_imports")
_JSON_COLUMNS = {"rawRow", "fieldsChanged", "details", "stats", "rules", "evidence"}


def _q(name: str) -> str:
    """A quoted SQL identifier (column names are camelCase)."""
    return '"' + name.replace('"', '""') + '"'


def utc_now() -> datetime:
    """Now, UTC, as the naive ``datetime`` stored in TIMESTAMP columns."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso_utc(value: Any) -> Any:
    """A stored naive-UTC ``datetime`` as ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"``; anything else unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime(TS_FORMAT)
    return value


def _rows_as_dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        item = {}
        for name, value in zip(names, row):
            if name in _JSON_COLUMNS and isinstance(value, str):
                value = json.loads(value)
            item[name] = iso_utc(value)
        out.append(item)
    return out


_local = threading.local()


def _reads_held() -> dict[str, int]:
    """``{lock path: number of read_connection blocks open}`` for the current thread."""
    held = getattr(_local, "reads", None)
    if held is None:
        held = _local.reads = {}
    return held


def _atomic_connections() -> dict[str, duckdb.DuckDBPyConnection]:
    """``{lock path: connection}`` of the :meth:`DuckDBStore.atomic` blocks open in the current thread."""
    held = getattr(_local, "atomic", None)
    if held is None:
        held = _local.atomic = {}
    return held


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` ... ``COMMIT`` on ``con``; any exception (a kill included) rolls back and is re-raised.

    On the connection of an open :meth:`DuckDBStore.atomic` block it only joins the block's transaction (an
    exception still propagates and rolls the whole block back).
    """
    if any(con is held for held in _atomic_connections().values()):
        yield con
        return
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise


def _migrate_change_actions(con: duckdb.DuckDBPyConnection) -> None:
    """Give ``lead_changes`` the CHECK constraint of today's ``CHANGE_ACTIONS`` when it was made with an older list
    (DuckDB cannot alter a CHECK): the table is rebuilt in one transaction, same rows, same ``seq`` values, same
    sequence. A no-op (one catalog query) once the constraint is current."""
    checks = [
        expr or ""
        for (expr,) in con.execute(
            """SELECT expression FROM duckdb_constraints()
               WHERE database_name = current_database() AND table_name = 'lead_changes'
                 AND constraint_type = 'CHECK'"""
        ).fetchall()
    ]
    if all(f"'{a}'" in expr for expr in checks for a in CHANGE_ACTIONS):
        return
    cols = ", ".join(_q(c) for c in _LEAD_CHANGES_COLUMNS)
    with transaction(con):
        con.execute("DROP TABLE IF EXISTS lead_changes_migrating")
        con.execute(_LEAD_CHANGES_DDL.format(name="lead_changes_migrating"))
        con.execute(f"INSERT INTO lead_changes_migrating ({cols}) SELECT {cols} FROM lead_changes ORDER BY \"seq\"")
        con.execute("DROP TABLE lead_changes")
        con.execute("ALTER TABLE lead_changes_migrating RENAME TO lead_changes")


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


#: The standardization cache's table (created by the first :meth:`DuckDBCache.put`).
CACHE_DDL = """
CREATE TABLE IF NOT EXISTS standardize_cache (
    "key" VARCHAR PRIMARY KEY,
    "entry" JSON NOT NULL,
    "at" TIMESTAMP NOT NULL
)
"""
#: Keys per ``IN (...)`` lookup of the cache.
CACHE_CHUNK = 5000


class DuckDBCache:
    """The standardization cache (``pipeline.planning``) on a :class:`DuckDBStore`: table ``standardize_cache`` in
    the same file, under the same lock discipline (one writer at a time, shared readers)."""

    def __init__(self, store: DuckDBStore):
        self.store = store

    def get(self, keys: list[str]) -> dict[str, dict]:
        """``{key: entry}`` for the ``keys`` present (missing table or file -> ``{}``)."""
        found: dict[str, dict] = {}
        if not keys:
            return found
        with self.store.read_connection() as con:
            for i in range(0, len(keys), CACHE_CHUNK):
                try:
                    rows = con.execute('SELECT "key", "entry" FROM standardize_cache WHERE "key" IN (SELECT unnest(?))',
                                       [keys[i : i + CACHE_CHUNK]]).fetchall()
                except duckdb.CatalogException:
                    return found
                found.update({k: json.loads(v) for k, v in rows})
        return found

    def put(self, entries: dict[str, dict]) -> int:
        """Store ``{key: entry}`` (an existing key is replaced) in one transaction; returns the number written.

        Raises:
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        if not entries:
            return 0
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        keys = list(entries)
        values = [json.dumps(entries[k], ensure_ascii=False) for k in keys]
        with self.store.write_connection() as con:
            con.execute(CACHE_DDL)
            with transaction(con):  # one statement over two lists: DuckDB's executemany runs row by row (~14 s
                con.execute(  # for 1,000 entries on a loaded 2-core machine, 0.03 s this way)
                    'INSERT INTO standardize_cache ("key", "entry", "at") SELECT u.k, u.e, ? '
                    "FROM (SELECT unnest(?::VARCHAR[]) AS k, unnest(?::VARCHAR[]) AS e) AS u "
                    'ON CONFLICT ("key") DO UPDATE SET "entry" = excluded."entry", "at" = excluded."at"',
                    [now, keys, values],
                )
        return len(keys)


class DuckDBStore(LeadStore):
    """Leads in one DuckDB file, safe for several writer and reader processes at once.

    Args:
        path: the DuckDB file (``EASYCRM_DB``); its folder is created on the first write.
        lock_timeout: seconds a call waits for the store lock (and retries DuckDB's own lock error) before raising
            :class:`StoreLockTimeout`.

    Rules (docs/old-system.md): see :meth:`upsert_file`.
    """

    #: DuckDB's memory limit in :meth:`upsert_lead_files` (None: DuckDB's default, 80 % of the RAM).
    file_upsert_memory: str | None = FILE_UPSERT_MEMORY
    #: DuckDB memory per lead of the file above ``file_upsert_memory`` (:data:`FILE_UPSERT_BYTES_PER_LEAD`).
    file_upsert_bytes_per_lead: int = FILE_UPSERT_BYTES_PER_LEAD

    def __init__(self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = float(lock_timeout)

    def __repr__(self) -> str:
        return f"DuckDBStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connections

    def _connect(self, *, read_only: bool, deadline: float) -> duckdb.DuckDBPyConnection:
        delay = 0.01
        start = deadline - self.lock_timeout  # when the call began waiting (for our lock first)
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=DUCKDB_CONFIG)
            except duckdb.IOException as exc:
                if not _is_lock_error(exc) or time.monotonic() >= deadline:
                    if _is_lock_error(exc):
                        first = (str(exc).splitlines() or [""])[0]
                        raise StoreLockTimeout(lock_message(
                            time.monotonic() - start, f"DuckDB file {self.path} held by another program: {first}"
                        )) from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextmanager
    def write_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection holding the exclusive store lock, closed (and unlocked) on exit.

        The schema is ensured first. The caller manages its own transaction (``BEGIN``/``COMMIT``). Keep the block
        short: every other writer and reader waits for it.

        Raises:
            StoreLockTimeout: the lock was not obtained within ``lock_timeout`` seconds.
        """
        with self._write_connection() as (con, _waited):
            yield con

    @contextmanager
    def _write_connection(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, float]]:
        active = _atomic_connections().get(str(self.lock_path))
        if active is not None:  # inside this thread's atomic() block: its connection, lock and transaction
            yield active, 0.0
            return
        if _reads_held().get(str(self.lock_path)):
            # this thread holds the shared lock (e.g. inside an ``iter_leads`` loop): waiting would deadlock
            raise StoreError(
                f"cannot write to {self.path} while this thread is still reading it (an unfinished iter_leads "
                f"loop or read_connection block): finish or close the read first"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with file_lock(self.lock_path, exclusive=True, timeout=self.lock_timeout) as waited:
            con = self._connect(read_only=False, deadline=start + self.lock_timeout)
            try:
                for stmt in _SCHEMA:
                    con.execute(stmt)
                _migrate_change_actions(con)
                yield con, waited
            finally:
                con.close()

    @contextmanager
    def read_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection holding the shared store lock (writers wait; other readers don't).

        When the database file (or its tables) does not exist yet, the connection is an in-memory database with the
        empty schema, so queries return no rows instead of failing. Meant for read-only SQL (``easycrm ask``,
        exports). Inside this thread's :meth:`atomic` block it is the block's read-write connection (reads see the
        block's uncommitted writes; waiting for the shared lock there would deadlock): do not write while
        iterating its results.

        Raises:
            StoreLockTimeout: the lock was not obtained within ``lock_timeout`` seconds.
        """
        active = _atomic_connections().get(str(self.lock_path))
        if active is not None:
            yield active
            return
        if not self.path.exists():
            con = duckdb.connect(":memory:")
            try:
                for stmt in _SCHEMA:
                    con.execute(stmt)
                yield con
            finally:
                con.close()
            return
        start = time.monotonic()
        held = _reads_held()
        key = str(self.lock_path)
        with file_lock(self.lock_path, exclusive=False, timeout=self.lock_timeout):
            held[key] = held.get(key, 0) + 1
            con = None
            try:
                con = self._connect(read_only=True, deadline=start + self.lock_timeout)
                have = {
                    r[0]
                    for r in con.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
                    ).fetchall()
                }
                if not set(_TABLES) <= have:
                    con.close()
                    con = duckdb.connect(":memory:")
                    for stmt in _SCHEMA:
                        con.execute(stmt)
                yield con
            finally:
                held[key] -= 1
                if con is not None:
                    con.close()

    # ------------------------------------------------------------------ writes

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold the exclusive store lock and ONE transaction for the block: every write call of this store from
        this thread inside it (``upsert_file``, ``add_quarantine``, ``record_import``, ``set_standardizer``,
        ``undo_import``) joins it, and is committed at the end of the block, or rolled back with all the others
        when the block raises or the process dies (``kill -9``). Reads inside the block use the same connection
        and see its writes. A nested block joins the outer one. Other threads and processes wait for the lock.

        Raises:
            StoreLockTimeout: the lock was not obtained within ``lock_timeout`` seconds.
            StoreError: this thread is still reading the store (an unfinished ``iter_leads`` loop).
        """
        key = str(self.lock_path)
        held = _atomic_connections()
        if key in held:
            yield
            return
        with self._write_connection() as (con, _waited), transaction(con):
            held[key] = con
            try:
                yield
            finally:
                del held[key]

    # ------------------------------------------------------------------ capabilities (see LeadStore)

    def exists(self) -> bool:
        """Whether the DuckDB file exists (reads of a missing file see no leads and create nothing)."""
        return self.path.exists()

    def location(self) -> str:
        """The DuckDB file's path."""
        return str(self.path)

    def cache(self) -> DuckDBCache:
        """The standardization cache: table ``standardize_cache`` in the same file (:class:`DuckDBCache`)."""
        return DuckDBCache(self)

    def file_leads(self, source_file: str, block: int = 10_000) -> Iterator[dict]:
        """:meth:`LeadStore.file_leads` in one SQL query read ``block`` rows at a time (a 1,000,000-lead file is never
        all in memory, issue 13); the read connection (shared lock: readers never wait) is held until the iteration
        ends."""
        with self.read_connection() as con:
            cur = con.execute(
                f"""SELECT {", ".join(_q(c) for c in QUALITY_COLUMNS)} FROM leads WHERE "sourceFile" = ?
                    ORDER BY "sourceRow" NULLS LAST, "leadId" """, [source_file])
            while rows := cur.fetchmany(block):
                for row in rows:
                    yield dict(zip(QUALITY_COLUMNS, row))

    def duplicate_emails(self, source_file: str) -> dict[str, int]:
        """:meth:`LeadStore.duplicate_emails` in one SQL query on a read connection (shared lock)."""
        with self.read_connection() as con:
            dupes = con.execute(
                """SELECT lower(trim("email")) AS k, count(*) FROM leads
                   WHERE "email" IS NOT NULL AND trim("email") <> '' AND lower(trim("email")) IN (
                       SELECT lower(trim("email")) FROM leads WHERE "sourceFile" = ? AND "email" IS NOT NULL)
                   GROUP BY k HAVING count(*) > 1 ORDER BY k""",
                [source_file]).fetchall()
        return {k: int(n) for k, n in dupes}

    def init(self) -> None:
        """Create the DuckDB file and the tables ``leads``, ``lead_changes``, ``quarantine``, ``file_imports`` if
        missing (idempotent; existing data is kept).

        Raises:
            StoreLockTimeout: another process kept the store locked for ``lock_timeout`` seconds.
        """
        with self._write_connection():
            pass

    def upsert_file(
        self,
        leads: list[StandardLead],
        *,
        source_file: str,
        run_id: str | None = None,
        batch_ids: dict[str, str] | None = None,
        merge: str = "replace",
        duplicates_resolved: list | None = None,
        update_action: str = "lead_updated",
    ) -> UpsertStats:
        """Insert or update one file's leads by email, set-based, in ONE transaction (a crash writes nothing).

        Rules (docs/old-system.md):

        * The key is the normalized email (:func:`normalize_email`); a lead without one always becomes a new lead.
        * Two leads of this call with the same email: the last one wins (the caller normally deduped already;
          the dropped ones count in ``batch_duplicates``).
        * New email -> new lead: fresh uuid ``leadId``, ``createdAt = updatedAt = now``; fields not in
          ``StandardLead.provided`` are NULL.
        * Existing email -> ``leadId``, ``createdAt`` and ``email`` kept. For each field in ``provided``:
          ``merge="replace"`` (the old system's rule, the default) writes the new value even when it is empty (NULL);
          ``merge="fill-blank"`` never overwrites a non-empty value with an empty one. Fields not in ``provided``
          are left untouched. When a standardized field changed, ``sourceFile``, ``sourceWorksheet``,
          ``sourceRow``, ``sourceRowId``, ``updatedAt``, ``rawRow`` and ``standardizer`` are set too.
        * An update that changes no standardized field writes nothing (``unchanged``; no audit row; ``updatedAt``
          and ``sourceFile`` kept), so re-running the same file is idempotent.
        * Values are stored stripped; empty strings are stored as NULL.
        * Audit: one ``lead_changes`` row per created (all non-NULL fields, ``before`` null) or updated lead
          (changed fields only, with ``before``/``after``), plus one ``batch_duplicate_resolved`` row per entry of
          ``duplicates_resolved`` whose lead this call created or updated (``leadId`` of the lead now holding that
          email, ``details`` = ``{"keptRowId", "mergedRowIds"}``); a re-run that leaves the lead unchanged writes
          none (no audit row is written twice).

        Args:
            leads: standardized leads of ONE file, in file order.
            source_file: the file name stored in ``sourceFile`` / ``newSourceFile``.
            run_id: Dagster run id stored in the audit rows.
            batch_ids: ``{row_id: batch id}``; the audit row of a lead gets its row's batch id.
            merge: ``"replace"`` or ``"fill-blank"``.
            duplicates_resolved: objects with ``.email``, ``.kept_row_id``, ``.merged_row_ids`` (within-file
                duplicates the caller resolved).
            update_action: audit action of the updated leads (``UPDATE_ACTIONS``): ``"lead_updated"`` (an
                import) or ``"lead_restandardized"`` (a re-standardization, which ``undo`` never takes for an
                import of ``source_file``).

        Returns:
            :class:`UpsertStats`.

        Raises:
            ValueError: unknown ``merge`` policy or ``update_action``, or empty ``source_file``.
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
            duckdb.Error: the database failed; the transaction is rolled back.
        """
        check_upsert_args(merge, source_file, update_action)
        t0 = time.monotonic()
        batch_ids = batch_ids or {}
        duplicates_resolved = list(duplicates_resolved or [])
        stats = UpsertStats(total=len(leads))

        # In-call dedupe: last occurrence of an email wins (docs/old-system.md; DuckDB rejects a key twice).
        emails, keep = last_wins(leads)
        dropped = len(leads) - len(keep)
        merged_ids = sum(len(list(d.merged_row_ids or [])) for d in duplicates_resolved)
        stats.batch_duplicates = dropped + merged_ids

        incoming = _incoming_frame(leads, emails, keep, batch_ids)
        dups = _duplicates_frame(duplicates_resolved, batch_ids)

        with self._write_connection() as (con, waited):
            stats.lock_wait_ms = round(waited * 1000, 1)
            con.register("incoming_df", incoming)
            con.register("dups_df", dups)
            try:
                self._upsert_incoming(con, stats, source_file=source_file, run_id=run_id, merge=merge,
                                      update_action=update_action)
            finally:
                con.unregister("incoming_df")
                con.unregister("dups_df")
        stats.processing_ms = round((time.monotonic() - t0) * 1000 - stats.lock_wait_ms, 1)
        return stats

    def upsert_lead_files(
        self,
        paths: Sequence[str],
        *,
        source_file: str,
        run_id: str | None = None,
        merge: str = "replace",
    ) -> FileUpsert:
        """Dedupe one file's leads and upsert them, set-based, straight from the Parquet lead files ``paths``
        (:mod:`easycrm_pipeline.pipeline.leadfile`): no lead is held in Python, whatever the file's size.

        The in-file dedupe is :func:`easycrm_pipeline.rules.dedupe.merge_in_file` in SQL (same rule: leads sharing
        an email merge, per field the last non-empty value in file order wins, remarks parts and flags are combined
        in first-seen order, ``provided`` is the union, the merged lead keeps the last occurrence's row; a lead
        without email is never merged); email-less leads whose raw row this file already stored are not created
        again (:func:`easycrm_pipeline.pipeline.collect.drop_reimported_emailless`); then the upsert of
        :meth:`upsert_file`, with one ``batch_duplicate_resolved`` audit row per merged email.

        Returns:
            :class:`FileUpsert`: the :class:`UpsertStats`, emails merged, rows merged away, email-less leads
            recognized as already stored.

        Raises:
            ValueError / StoreLockTimeout / duckdb.Error: as :meth:`upsert_file`.
        """
        if merge not in MERGE_POLICIES:
            raise ValueError(f"merge must be one of {', '.join(MERGE_POLICIES)}, got {merge!r}")
        if not source_file or not str(source_file).strip():
            raise ValueError("source_file must be a non-empty file name")
        t0 = time.monotonic()
        stats = UpsertStats()
        result = FileUpsert(stats)
        files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
        no_email = ", ".join("'" + e + "'" for e in sorted(_NO_EMAIL))
        strip = "regexp_replace({x}, '^\\s+|\\s+$', '', 'g')"
        key = "CASE WHEN f_email IS NOT NULL AND f_email <> '' THEN f_email END"
        last_fields = ", ".join(
            f'arg_max(fl."f_{f}", fl.ord) FILTER (WHERE fl."f_{f}" IS NOT NULL AND fl."f_{f}" <> \'\') AS "f_{f}"'
            for f in LEAD_FIELDS if f != "remarks"
        )
        field_list = ", ".join(f'"f_{f}"' for f in LEAD_FIELDS)
        with self._write_connection() as (con, waited):
            stats.lock_wait_ms = round(waited * 1000, 1)
            det = time.monotonic()
            limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            if self.file_upsert_memory:  # beyond it DuckDB spills to temporary files
                leads = con.execute(f"SELECT count(*) FROM read_parquet({files})").fetchone()[0]
                mb = max(_mb_of(self.file_upsert_memory), leads * self.file_upsert_bytes_per_lead / 1024 ** 2)
                con.execute(f"SET memory_limit = '{max(1, round(mb))}MB'")
            try:
                # views over the Parquet files: the file's leads are read as the queries need them, never copied
                con.execute(
                    f"""CREATE OR REPLACE TEMP VIEW fl AS
                        SELECT *, {key} AS k, row_number() OVER (ORDER BY "sheetIndex", "rowNumber") AS ord
                        FROM read_parquet({files})"""
                )
                con.execute(
                    """CREATE OR REPLACE TEMP TABLE grp AS
                       SELECT k, count(*) AS n, min(ord) AS first_ord, max(ord) AS last_ord
                       FROM fl WHERE k IS NOT NULL GROUP BY k"""
                )
                # remarks parts of the merged groups, first occurrence first
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE g_remarks AS
                        SELECT k, string_agg(part, '; ' ORDER BY seen) AS remarks FROM (
                            SELECT k, part, min(ord * 1000000 + i) AS seen FROM (
                                SELECT k, ord, {strip.format(x="raw_part")} AS part, i FROM (
                                    SELECT fl.k, fl.ord, unnest(parts) AS raw_part,
                                           unnest(generate_series(1, len(parts))) AS i
                                    FROM (SELECT k, ord, string_split(coalesce("f_remarks", ''), '; ') AS parts
                                          FROM fl) fl JOIN grp USING (k)
                                    WHERE grp.n > 1
                                )
                            ) WHERE part <> '' GROUP BY k, part
                        ) GROUP BY k"""
                )
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE merged AS
                        SELECT fl.k AS k, min(fl.ord) AS sort_ord,
                               arg_max(fl."rowId", fl.ord) AS "rowId", arg_max(fl.sheet, fl.ord) AS sheet,
                               arg_max(fl."rowNumber", fl.ord) AS "rowNumber",
                               arg_max(fl."rawRow", fl.ord) AS "rawRow",
                               arg_max(fl.standardizer, fl.ord) AS standardizer,
                               arg_max(fl."batchId", fl.ord) AS "batchId",
                               {last_fields},
                               list_distinct(flatten(list(fl.provided))) AS provided,
                               list(fl."rowId" ORDER BY fl.ord) FILTER (WHERE fl.ord <> g.last_ord) AS merged_ids
                        FROM fl JOIN grp g ON fl.k = g.k WHERE g.n > 1 GROUP BY fl.k"""
                )
                # the file's leads after the in-file merge, in first-occurrence order
                con.execute(
                    f"""CREATE OR REPLACE TEMP VIEW uniq AS
                        SELECT m.sort_ord, m."rowId", m.sheet, m."rowNumber", m."rawRow", m.standardizer,
                               m."batchId", {", ".join('r.remarks AS "f_remarks"' if f == "remarks" else f'm."f_{f}"'
                                                       for f in LEAD_FIELDS)}, m.provided, m.k
                        FROM merged m LEFT JOIN g_remarks r ON r.k = m.k
                        UNION ALL
                        SELECT ord, "rowId", sheet, "rowNumber", "rawRow", standardizer, "batchId",
                               {field_list}, provided, k
                        FROM fl WHERE k IS NULL OR k IN (SELECT k FROM grp WHERE n = 1)"""
                )
                # email-less leads this file already stored (same raw row) are not created again
                con.execute(
                    """CREATE OR REPLACE TEMP TABLE known AS
                        SELECT CAST(json("rawRow") AS VARCHAR) AS raw, count(*) AS n FROM leads
                        WHERE "sourceFile" = ? AND (email IS NULL OR email = '') GROUP BY 1""",
                    [source_file],
                )
                email = "lower(" + strip.format(x='u."f_email"') + ")"
                value_cols = ", ".join(
                    f'nullif({strip.format(x=chr(34) + "f_" + f + chr(34))}, \'\') AS "f_{f}", '
                    f"list_contains(provided, '{f}') AS \"p_{f}\""
                    for f in _VALUE_FIELDS
                )
                con.execute(
                    f"""CREATE OR REPLACE TEMP VIEW incoming_all AS
                        SELECT row_number() OVER (ORDER BY sort_ord) - 1 AS pos, *,
                               CASE WHEN email_raw IS NULL OR email_raw IN ({no_email}) THEN NULL
                                    ELSE email_raw END AS email,
                               row_number() OVER (PARTITION BY raw_key ORDER BY sort_ord) AS raw_seq
                        FROM (SELECT u.*, {email} AS email_raw,
                                     CASE WHEN u."f_email" IS NULL THEN CAST(json(u."rawRow") AS VARCHAR) END
                                         AS raw_key
                              FROM uniq u)"""
                )
                result.already_stored = con.execute(
                    """SELECT count(*) FROM incoming_all i JOIN known ON i.raw_key = known.raw
                       WHERE i.raw_seq <= known.n"""
                ).fetchone()[0]
                con.execute(
                    f"""CREATE OR REPLACE TEMP VIEW incoming_df AS
                        SELECT pos, "rowId", sheet, "rowNumber", email, "rawRow", standardizer, "batchId",
                               {value_cols}
                        FROM incoming_all i
                        WHERE NOT (i.raw_key IS NOT NULL AND i.raw_seq <= coalesce(
                                   (SELECT n FROM known WHERE known.raw = i.raw_key), 0))
                        QUALIFY email IS NULL OR row_number() OVER (PARTITION BY email ORDER BY pos DESC) = 1"""
                )
                total, kept = con.execute(
                    "SELECT (SELECT count(*) FROM incoming_all) - ?, (SELECT count(*) FROM incoming_df)",
                    [result.already_stored],
                ).fetchone()
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE dups_df AS
                        SELECT CASE WHEN lower({strip.format(x="k")}) IN ({no_email}) THEN NULL
                                    ELSE lower({strip.format(x="k")}) END AS email,
                               "rowId" AS "keptRowId", "batchId",
                               CAST(to_json(struct_pack("keptRowId" := "rowId", "mergedRowIds" := merged_ids))
                                    AS VARCHAR) AS details,
                               len(merged_ids) AS merged
                        FROM merged ORDER BY sort_ord"""
                )
                result.emails_merged, merged_rows = con.execute(
                    "SELECT count(*), coalesce(sum(merged), 0) FROM dups_df").fetchone()
                result.rows_merged = int(merged_rows)
                result.dedupe_ms = round((time.monotonic() - det) * 1000, 1)
                stats.total = int(total)
                stats.batch_duplicates = int(total - kept) + result.rows_merged
                self._upsert_incoming(con, stats, source_file=source_file, run_id=run_id, merge=merge,
                                      update_action="lead_updated")
            finally:
                for kind, table in (("VIEW", "incoming_df"), ("VIEW", "incoming_all"), ("VIEW", "uniq"),
                                    ("TABLE", "dups_df"), ("TABLE", "known"), ("TABLE", "merged"),
                                    ("TABLE", "g_remarks"), ("TABLE", "grp"), ("VIEW", "fl")):
                    try:
                        con.execute(f"DROP {kind} IF EXISTS {table}")
                    except duckdb.Error:  # an aborted transaction: its rollback drops them
                        break
                con.execute(f"SET memory_limit = '{limit}'")
                con.execute(f"SET threads = {DUCKDB_CONFIG['threads']}")
        stats.processing_ms = round((time.monotonic() - t0) * 1000 - stats.lock_wait_ms, 1)
        return result

    def _upsert_incoming(self, con: duckdb.DuckDBPyConnection, stats: UpsertStats, *, source_file: str,
                         run_id: str | None, merge: str, update_action: str) -> None:
        """The set-based upsert of the relations ``incoming_df`` (one row per lead: ``pos``, ``rowId``, ``sheet``,
        ``rowNumber``, normalized ``email`` unique or NULL, ``rawRow`` JSON text, ``standardizer``, ``batchId``,
        ``f_<field>`` / ``p_<field>`` per value field) and ``dups_df`` (``email``, ``keptRowId``, ``details``,
        ``batchId``) on ``con`` (holding the write lock), in one transaction; fills ``stats``' counts."""
        now = utc_now()  # under the lock: updatedAt and audit times follow the commit order across processes
        with transaction(con):
            det = self._stage(con, merge)
            stats.duplicate_detection_ms = round(det * 1000, 1)
            created, updated, unchanged = con.execute(
                """
                SELECT count(*) FILTER (WHERE old_id IS NULL),
                       count(*) FILTER (WHERE old_id IS NOT NULL AND changed),
                       count(*) FILTER (WHERE old_id IS NOT NULL AND NOT changed)
                FROM stage
                """
            ).fetchone()
            # the emails this call writes: a duplicate resolved onto a lead left unchanged (a re-run)
            # writes no audit row, as its lead writes none (nothing is written twice)
            con.execute("""CREATE OR REPLACE TEMP TABLE written_emails AS
                           SELECT email FROM stage WHERE email IS NOT NULL AND (old_id IS NULL OR changed)""")
            self._apply(con, source_file=source_file, run_id=run_id, now=now, update_action=update_action)
            con.execute(
                """
                INSERT INTO lead_changes ("changeId", "at", "action", "email", "leadId", "newSourceFile",
                                          "batchId", "runId", "rowId", "details")
                SELECT uuid()::VARCHAR, ?, 'batch_duplicate_resolved', d.email, l."leadId", ?,
                       d."batchId", ?, d."keptRowId", CAST(d.details AS JSON)
                FROM (SELECT CAST(email AS VARCHAR) AS email, CAST("batchId" AS VARCHAR) AS "batchId",
                             CAST("keptRowId" AS VARCHAR) AS "keptRowId", CAST(details AS VARCHAR) AS details
                      FROM dups_df) d
                LEFT JOIN leads l ON d.email IS NOT NULL AND l.email = d.email
                WHERE d.email IN (SELECT email FROM written_emails)
                """,
                [now, source_file, run_id],
            )
            con.execute("DROP TABLE written_emails")
        stats.created, stats.updated, stats.unchanged = int(created), int(updated), int(unchanged)
        stats.duplicates_detected = stats.updated + stats.unchanged + stats.batch_duplicates

    def _stage(self, con: duckdb.DuckDBPyConnection, merge: str) -> float:
        """Create temp table ``stage``: incoming rows joined to existing leads, new values, ``changed`` flag.

        Returns the seconds the email matching took.
        """
        old_cols = ", ".join(f'l.{_q(f)} AS "o_{f}"' for f in LEAD_FIELDS)
        in_cols = ", ".join(f'CAST(i."f_{f}" AS VARCHAR) AS "f_{f}", CAST(i."p_{f}" AS BOOLEAN) AS "p_{f}"'
                            for f in _VALUE_FIELDS)
        if merge == "replace":
            new_expr = 'CASE WHEN "p_{f}" THEN "f_{f}" ELSE "o_{f}" END'
        else:  # fill-blank
            new_expr = 'CASE WHEN "p_{f}" AND "f_{f}" IS NOT NULL THEN "f_{f}" ELSE "o_{f}" END'
        new_cols = ", ".join(new_expr.format(f=f) + f' AS "n_{f}"' for f in _VALUE_FIELDS)
        changed = " OR ".join(f'"n_{f}" IS DISTINCT FROM "o_{f}"' for f in _VALUE_FIELDS)
        t = time.monotonic()
        con.execute("DROP TABLE IF EXISTS stage")
        con.execute(
            f"""
            CREATE TEMP TABLE stage AS
            SELECT *, {new_cols}, (old_id IS NOT NULL AND ({changed})) AS changed
            FROM (
                SELECT CAST(i.pos AS BIGINT) AS pos, CAST(i."rowId" AS VARCHAR) AS "rowId",
                       CAST(i.sheet AS VARCHAR) AS sheet, CAST(i."rowNumber" AS INTEGER) AS "rowNumber",
                       CAST(i.email AS VARCHAR) AS email, CAST(i."rawRow" AS VARCHAR) AS "rawRow",
                       CAST(i.standardizer AS VARCHAR) AS standardizer, CAST(i."batchId" AS VARCHAR) AS "batchId",
                       {in_cols},
                       l."leadId" AS old_id, {old_cols},
                       l."sourceFile" AS "o_sourceFile", l."updatedAt" AS "o_updatedAt",
                       l."sourceWorksheet" AS "o_sourceWorksheet", l."sourceRow" AS "o_sourceRow",
                       l."sourceRowId" AS "o_sourceRowId", l."rawRow" AS "o_rawRow",
                       l."standardizer" AS "o_standardizer",
                       coalesce(l."leadId", CAST(uuid() AS VARCHAR)) AS lead_id
                FROM incoming_df i
                LEFT JOIN leads l ON i.email IS NOT NULL AND l.email = CAST(i.email AS VARCHAR)
            )
            """
        )
        return time.monotonic() - t

    def _apply(self, con: duckdb.DuckDBPyConnection, *, source_file: str, run_id: str | None, now: datetime,
               update_action: str = "lead_updated") -> None:
        """Write ``stage`` into ``leads`` (UPDATE ... FROM, INSERT ... SELECT) and ``lead_changes`` (updated leads
        with action ``update_action``)."""
        sets = ", ".join(f'{_q(f)} = s."n_{f}"' for f in _VALUE_FIELDS)
        con.execute(
            f"""
            UPDATE leads SET {sets},
                "sourceFile" = ?, "sourceWorksheet" = s.sheet, "sourceRow" = s."rowNumber",
                "sourceRowId" = s."rowId", "updatedAt" = ?, "rawRow" = CAST(s."rawRow" AS JSON),
                "standardizer" = s.standardizer
            FROM stage s
            WHERE leads."leadId" = s.lead_id AND s.old_id IS NOT NULL AND s.changed
            """,
            [source_file, now],
        )
        con.execute(
            f"""
            INSERT INTO leads ("leadId", {", ".join(_q(f) for f in _VALUE_FIELDS)}, "email",
                               "sourceFile", "sourceWorksheet", "sourceRow", "sourceRowId",
                               "createdAt", "updatedAt", "rawRow", "standardizer")
            SELECT lead_id, {", ".join(f's."n_{f}"' for f in _VALUE_FIELDS)}, s.email,
                   ?, s.sheet, s."rowNumber", s."rowId", ?, ?, CAST(s."rawRow" AS JSON), s.standardizer
            FROM stage s WHERE s.old_id IS NULL ORDER BY s.pos
            """,
            [source_file, now, now],
        )
        parts = []
        for f in LEAD_FIELDS:
            if f == "email":
                # the key: reported for a created lead only (an update never changes it)
                after, before_cmp = "s.email", "CASE WHEN s.old_id IS NULL THEN NULL ELSE s.email END"
            else:
                after, before_cmp = f's."n_{f}"', f's."o_{f}"'
            parts.append(
                f"struct_pack(k := '{f}', b := s.\"o_{f}\", a := {after}, c := ({after} IS DISTINCT FROM {before_cmp}))"
            )
        entries = ", ".join(parts)
        fields_changed = (
            f"to_json(map_from_entries(list_transform(list_filter([{entries}], lambda x: x.c), "
            f"lambda x: struct_pack(k := x.k, v := struct_pack(\"before\" := x.b, \"after\" := x.a)))))"
        )
        con.execute(
            f"""
            INSERT INTO lead_changes ("changeId", "at", "action", "email", "leadId", "previousSourceFile",
                                      "newSourceFile", "fieldsChanged", "batchId", "runId", "rowId",
                                      "previousUpdatedAt", "details")
            SELECT CAST(uuid() AS VARCHAR), ?,
                   CASE WHEN s.old_id IS NULL THEN 'lead_created' ELSE ? END,
                   s.email, s.lead_id, s."o_sourceFile", ?, {fields_changed}, s."batchId", ?, s."rowId",
                   s."o_updatedAt",
                   -- the rest of the before-image, so `easycrm undo` restores an update exactly
                   CASE WHEN s.old_id IS NULL THEN NULL ELSE to_json(struct_pack(
                       "sourceWorksheet" := s."o_sourceWorksheet", "sourceRow" := s."o_sourceRow",
                       "sourceRowId" := s."o_sourceRowId", "rawRow" := s."o_rawRow",
                       "standardizer" := s."o_standardizer")) END
            FROM stage s WHERE s.old_id IS NULL OR s.changed ORDER BY s.pos
            """,
            [now, update_action, source_file, run_id],
        )
        con.execute("DROP TABLE stage")

    def add_quarantine(
        self, rows: list[QuarantineRow], *, source_file: str, run_id: str | None = None, replace: bool = False
    ) -> int:
        """Store rows that cannot become leads, with their reason (one transaction), in the given order.

        A row whose ``sheet``, ``row``, ``reason`` and raw cells equal those of a row already stored for
        ``source_file`` (or of an earlier row of the call) is skipped (the stored one keeps its ``runId`` and
        ``at``): re-running a file never doubles its quarantine. With ``replace`` the file's stored rows that are
        not among ``rows`` are deleted in the same transaction (inside :meth:`atomic`: the collect step's one
        transaction with the upsert and the import record), see :meth:`LeadStore.add_quarantine`.

        Args:
            rows: ``QuarantineRow`` objects (``sheet``, ``row_number``, ``reason``, ``raw`` dict).
            source_file: file name they came from.
            run_id: Dagster run id.
            replace: ``rows`` are the file's whole quarantine.

        Returns:
            The number of rows stored (``len(rows)`` minus the ones already stored).

        Raises:
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
            duckdb.Error: e.g. a row without reason; nothing of the call is stored (no deletion either).
        """
        if not rows:
            if replace:
                with self._write_connection() as (con, _), transaction(con):
                    con.execute('DELETE FROM quarantine WHERE "sourceFile" = ?', [source_file])
            return 0
        df = pd.DataFrame(
            {
                "pos": list(range(len(rows))),
                "sheet": [r.sheet for r in rows],
                "row": [r.row_number for r in rows],
                "reason": [r.reason for r in rows],
                "rawRow": [json.dumps(r.raw or {}, ensure_ascii=False, default=str) for r in rows],
            }
        )
        now = utc_now()
        with self._write_connection() as (con, _):
            con.register("q_df", df)
            try:
                with transaction(con):
                    if replace:
                        con.execute(
                            """
                            DELETE FROM quarantine q
                            WHERE q."sourceFile" = ? AND NOT EXISTS (
                                SELECT 1 FROM q_df d
                                WHERE q."sheet" IS NOT DISTINCT FROM CAST(d.sheet AS VARCHAR)
                                  AND q."row" IS NOT DISTINCT FROM CAST(d."row" AS INTEGER)
                                  AND q."reason" = CAST(d.reason AS VARCHAR)
                                  AND CAST(q."rawRow" AS VARCHAR) = CAST(CAST(d."rawRow" AS JSON) AS VARCHAR))
                            """,
                            [source_file],
                        )
                    stored = con.execute(
                        """
                        INSERT INTO quarantine ("sourceFile", "sheet", "row", "reason", "rawRow", "runId", "at")
                        SELECT ?, d.sheet, d."row", d.reason, d."rawRow", ?, ?
                        FROM (SELECT CAST(pos AS BIGINT) AS pos, CAST(sheet AS VARCHAR) AS sheet,
                                     CAST("row" AS INTEGER) AS "row", CAST(reason AS VARCHAR) AS reason,
                                     CAST("rawRow" AS JSON) AS "rawRow"
                              FROM q_df
                              QUALIFY row_number() OVER (PARTITION BY sheet, "row", reason, "rawRow"
                                                         ORDER BY pos) = 1) d
                        WHERE NOT EXISTS (
                            SELECT 1 FROM quarantine q
                            WHERE q."sourceFile" = ? AND q."sheet" IS NOT DISTINCT FROM d.sheet
                              AND q."row" IS NOT DISTINCT FROM d."row" AND q."reason" = d.reason
                              AND CAST(q."rawRow" AS VARCHAR) = CAST(d."rawRow" AS VARCHAR))
                        ORDER BY d.pos
                        """,
                        [source_file, run_id, now, source_file],
                    ).fetchone()[0]
            finally:
                con.unregister("q_df")
        return int(stored)

    def record_import(self, source_file: str, run_id: str | None, stats: dict) -> None:
        """Append a ``file_imports`` row: the file, the run and its stats (any JSON-able dict; non-JSON values are
        stored via ``str``).

        Raises:
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        payload = json.dumps(stats or {}, ensure_ascii=False, default=str)
        with self._write_connection() as (con, _):
            con.execute(
                'INSERT INTO file_imports ("sourceFile", "runId", "at", "stats") VALUES (?, ?, ?, CAST(? AS JSON))',
                [source_file, run_id, utc_now(), payload],
            )

    # ------------------------------------------------------------------ reads

    def query_leads(self, q: LeadQuery) -> tuple[list[dict], int]:
        """One page of leads matching ``q`` (see :class:`LeadQuery` for filter/sort semantics).

        Returns:
            ``(leads, total)``: ``leads`` is a list of dicts with the keys of ``LEAD_COLUMNS`` (timestamps as
            ISO-8601 UTC strings, ``rawRow`` as a dict), at most ``q.page_size`` long; ``total`` is the number of
            leads matching the filters (all pages).

        Raises:
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds.
        """
        where, params, order = to_sql(q)
        cols = ", ".join(_q(c) for c in LEAD_COLUMNS)
        with self.read_connection() as con:
            total = con.execute(f"SELECT count(*) FROM leads {where}", params).fetchone()[0]
            cur = con.execute(
                f"SELECT {cols} FROM leads {where} ORDER BY {order} LIMIT ? OFFSET ?",
                params + [q.page_size, q.offset],
            )
            rows = _rows_as_dicts(cur)
        return rows, int(total)

    def get_lead_by_email(self, email: str) -> dict | None:
        """The lead holding ``email`` (normalized first) as a dict like ``query_leads``'s, or None.

        Raises:
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds.
        """
        key = normalize_email(email)
        if key is None:
            return None
        cols = ", ".join(_q(c) for c in LEAD_COLUMNS)
        with self.read_connection() as con:
            rows = _rows_as_dicts(con.execute(f'SELECT {cols} FROM leads WHERE "email" = ?', [key]))
        return rows[0] if rows else None

    def count_leads(self) -> int:
        """Number of leads (0 when the database does not exist yet).

        Raises:
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds.
        """
        with self.read_connection() as con:
            return int(con.execute("SELECT count(*) FROM leads").fetchone()[0])

    def all_leads(self) -> list[dict]:
        """Every lead, ordered by ``createdAt``, ``sourceRow``, ``leadId`` (for exports and tests; no paging)."""
        cols = ", ".join(_q(c) for c in LEAD_COLUMNS)
        with self.read_connection() as con:
            return _rows_as_dicts(
                con.execute(f'SELECT {cols} FROM leads ORDER BY "createdAt", "sourceRow", "leadId"')
            )

    def changes(self, source_file: str | None = None, run_id: str | None = None) -> list[dict]:
        """Audit rows in insertion order, optionally only those whose ``newSourceFile`` is ``source_file`` and/or
        whose ``runId`` is ``run_id``.

        Returns:
            Dicts with the ``lead_changes`` columns (``fieldsChanged``/``details`` as dicts, ``at`` and
            ``previousUpdatedAt`` as ISO-8601 UTC strings).
        """
        clauses, params = [], []
        if source_file is not None:
            clauses.append('"newSourceFile" = ?')
            params.append(source_file)
        if run_id is not None:
            clauses.append('"runId" = ?')
            params.append(run_id)
        where = "WHERE " + " AND ".join(clauses) if clauses else ""
        with self.read_connection() as con:
            return _rows_as_dicts(con.execute(f'SELECT * FROM lead_changes {where} ORDER BY "seq"', params))

    def quarantine_rows(self, source_file: str | None = None) -> list[dict]:
        """Quarantined rows in insertion order (optionally one file's): dicts with ``sourceFile``, ``sheet``,
        ``row``, ``reason``, ``rawRow`` (dict), ``runId``, ``at`` (ISO-8601 UTC), ``seq``."""
        where, params = ("", []) if source_file is None else ('WHERE "sourceFile" = ?', [source_file])
        with self.read_connection() as con:
            return _rows_as_dicts(con.execute(f'SELECT * FROM quarantine {where} ORDER BY "seq"', params))

    def file_imports(self, source_file: str | None = None) -> list[dict]:
        """Recorded imports (oldest first), optionally one file's: ``sourceFile``, ``runId``, ``at``, ``stats``."""
        where, params = ("", []) if source_file is None else ('WHERE "sourceFile" = ?', [source_file])
        with self.read_connection() as con:
            return _rows_as_dicts(con.execute(f'SELECT * FROM file_imports {where} ORDER BY "at"', params))


    # ------------------------------------------------------------------ streaming / read-only SQL (issue 6)

    def iter_leads(
        self, q: LeadQuery | None = None, chunk_size: int = 1000, columns: Sequence[str] | None = None
    ) -> Iterator[dict]:
        """Every lead matching ``q``'s filters in ``q``'s order (page/page_size ignored), streamed from ONE
        read-only cursor ``chunk_size`` rows at a time (``fetchmany``), so Python never holds more than one chunk.

        Timestamps are formatted by DuckDB (same ISO-8601 UTC text as :func:`iso_utc`); ``rawRow`` is parsed only
        when asked for. The shared store lock is held until the iteration ends (or the generator is closed):
        writers wait for it, other readers don't. The snapshot is consistent (one query).

        Args:
            q: filters and sort (``None``: all leads, newest first).
            chunk_size: rows per ``fetchmany``.
            columns: keys wanted (a subset of ``LEAD_COLUMNS``, default all).

        Raises:
            ValueError: ``chunk_size`` < 1 or an unknown column.
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        names = list(columns) if columns is not None else list(LEAD_COLUMNS)
        unknown = [c for c in names if c not in LEAD_COLUMNS]
        if unknown:
            raise ValueError(f"unknown lead column(s): {', '.join(unknown)}")
        q = q or LeadQuery()
        where, params, order = to_sql(q)
        select = ", ".join(
            f"strftime({_q(c)}, '{TS_FORMAT}') AS {_q(c)}" if c in ("createdAt", "updatedAt") else _q(c)
            for c in names
        )
        raw_at = names.index("rawRow") if "rawRow" in names else None
        with self.read_connection() as con:
            cur = con.execute(f"SELECT {select} FROM leads {where} ORDER BY {order}", params)
            while True:
                chunk = cur.fetchmany(chunk_size)
                if not chunk:
                    return
                for row in chunk:
                    item = dict(zip(names, row))
                    if raw_at is not None and isinstance(row[raw_at], str):
                        item["rawRow"] = json.loads(row[raw_at])
                    yield item

    def run_readonly_sql(
        self, sql: str, *, max_rows: int = 1000, time_limit: float = DEFAULT_QUERY_SECONDS
    ) -> tuple[list[str], list[tuple]]:
        """Run one already-validated SELECT on a private, read-only copy of the leads, stopped after
        ``time_limit`` seconds: a question never blocks an ingest.

        Under the shared store lock (only as long as the copy takes) the file is attached READ_ONLY to a private
        in-memory database, ``leads`` (every column but ``rawRow``) is copied into it and the file is detached.
        The lock is then released and the query runs on the copy with external access (files, URLs, extensions)
        switched off, one thread, a memory limit, and a timer that interrupts it (:func:`run_limited`).

        Returns:
            ``(columns, rows)``: at most ``max_rows`` rows as tuples (timestamps as ISO-8601 UTC strings).

        Raises:
            QueryTimeLimit: the query ran past ``time_limit``.
            duckdb.Error: the query failed (e.g. a type error in a validated query).
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds (during the copy).
        """
        cols = ", ".join(_q(c) for c in LEAD_COLUMNS if c != "rawRow")
        mem = duckdb.connect(":memory:", config={"threads": 1, "memory_limit": QUERY_MEMORY_LIMIT})
        try:
            if self.path.exists():
                with file_lock(self.lock_path, exclusive=False, timeout=self.lock_timeout):
                    self._attach_read_only(mem, deadline=time.monotonic() + self.lock_timeout)
                    try:
                        have = {r[0] for r in mem.execute(
                            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'snapshot_src'").fetchall()}
                        if "leads" in have:
                            mem.execute(f"CREATE TABLE leads AS SELECT {cols} FROM snapshot_src.leads")
                    finally:
                        mem.execute("DETACH snapshot_src")
            if not mem.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'leads'").fetchone()[0]:
                mem.execute(_SCHEMA[0])  # no store yet: an empty leads table
            mem.execute("SET enable_external_access = false")
            return run_limited(mem, sql, max_rows=max_rows, time_limit=time_limit)
        finally:
            mem.close()

    def _attach_read_only(self, mem: duckdb.DuckDBPyConnection, *, deadline: float) -> None:
        """``ATTACH`` the store file READ_ONLY to ``mem`` as ``snapshot_src``, retrying DuckDB's lock error (another
        program holding the file) until ``deadline``, like :meth:`_connect`."""
        delay, start = 0.01, deadline - self.lock_timeout
        while True:
            try:
                mem.execute("ATTACH ? AS snapshot_src (READ_ONLY)", [str(self.path)])
                return
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise
                if time.monotonic() >= deadline:
                    first = (str(exc).splitlines() or [""])[0]
                    raise StoreLockTimeout(lock_message(
                        time.monotonic() - start, f"DuckDB file {self.path} held by another program: {first}"
                    )) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def set_standardizer(self, lead_ids, version: str) -> int:
        """Set ``standardizer = version`` on the given leads (only that column; no audit row, ``updatedAt`` kept).

        Returns:
            How many leads had a different version before.

        Raises:
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        ids = [str(i) for i in lead_ids]
        if not ids:
            return 0
        df = pd.DataFrame({"leadId": ids})
        with self._write_connection() as (con, _):
            con.register("ids_df", df)
            try:
                before = con.execute(
                    'SELECT count(*) FROM leads WHERE "leadId" IN (SELECT CAST("leadId" AS VARCHAR) FROM ids_df) '
                    'AND "standardizer" IS DISTINCT FROM ?',
                    [version],
                ).fetchone()[0]
                con.execute(
                    'UPDATE leads SET "standardizer" = ? WHERE "leadId" IN (SELECT CAST("leadId" AS VARCHAR) '
                    'FROM ids_df) AND "standardizer" IS DISTINCT FROM ?',
                    [version, version],
                )
            finally:
                con.unregister("ids_df")
        return int(before)

    # ------------------------------------------------------------------ undo (issue 4)

    def undo_import(
        self, file: str, *, force: bool = False, dry_run: bool = False, undo_run_id: str | None = None
    ) -> UndoResult:
        """Revert the latest not-yet-undone import of ``file`` (semantics: :meth:`LeadStore.undo_import`), in ONE
        transaction under the exclusive store lock, so the conflict check and the writes see the same table.

        An update's before-image comes from its audit row: ``fieldsChanged`` (the changed fields),
        ``previousSourceFile``, ``previousUpdatedAt`` and ``details`` (``sourceWorksheet``, ``sourceRow``,
        ``sourceRowId``, ``rawRow``, ``standardizer``).

        An import (``file``, ``runId``) counts as undone once table ``undone_imports`` holds a row for it (written by
        every undo, in the same transaction, even when none of its leads was left to revert), or, for undos made
        before that table existed, once an undo audit row names that run in ``details.undoOfRun`` with
        ``previousSourceFile = file``. Leads of the import that no longer exist (deleted by a forced undo of the
        import that created them) are neither reverted, nor counted, nor conflicts.

        Raises:
            UndoRefused: no import of ``file`` left to undo, or conflicts without ``force``.
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        with self.write_connection() as con, transaction(con):
            plan = _undo_plan(con, file)
            plan.refuse_unless(force)
            result = UndoResult(file=file, run_id=plan.run_id, conflicts=plan.conflicts, dry_run=dry_run,
                                deleted=plan.deleted, restored=plan.restored)
            if not dry_run:
                _apply_undo(con, plan, undo_run_id=undo_run_id, now=utc_now())
        return result

    # ------------------------------------------------------------------ possible duplicates (issue 18)

    def duplicate_candidate_rounds(self, lead_ids: Sequence[str],
                                   round_size: int) -> Iterator[tuple[Any, dict[str, dict]]]:
        """:meth:`LeadStore.duplicate_candidate_rounds`, set-based: a handful of queries prepare every round at once,
        then each round reads its slice of small temporary tables.

        The new leads' keys (their round attached) come first; then the table's leads holding one of those keys (one
        scan of ``leads``), the size of each block (``GROUP BY rule, key``) of which only keys held by two or more
        leads are joined further (a key held by one lead makes no pair, and in a table of distinct people that is
        nearly every key), the members of the blocks of at most ``MAX_BLOCK`` leads, the pairs, the skipped keys per
        round and the leads of the pairs. Measured (2 threads): 1,048,576 new leads in a table of as many ~5 s, +50 MB (the
        earlier shape kept every key of the file with its block and read ``leads`` once per round: 211 s); 1,000 new
        leads in a table of 1,000,000 ~1 s.

        Yields, per round in ``lead_ids`` order, the same ``(Candidates, {leadId: lead})`` as
        :meth:`duplicate_candidates` of that round's ids. The store's shared lock and one read connection are held
        until the generator is finished or closed: do not write to the store while iterating.

        Raises:
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds.
        """
        ids = list(dict.fromkeys(str(i) for i in lead_ids))
        if not ids:
            return
        rules = ", ".join(SQL_KEYS)
        table_keys = f'(UNPIVOT ({sql_keys_select("leads")}) ON {rules} INTO NAME rule VALUE key)'
        new_leads = '(SELECT * FROM leads SEMI JOIN match_ids_df r ON CAST(r."leadId" AS VARCHAR) = leads."leadId")'
        new_keys = f"(UNPIVOT ({sql_keys_select(new_leads)}) ON {rules} INTO NAME rule VALUE key)"
        cols = ", ".join(_q(c) for c in ("leadId", *LEAD_FIELDS))
        building = ("m_keys", "m_table", "m_sizes", "m_hits", "m_new")  # dropped once the rounds' tables exist
        temp = (*building, "m_rows", "m_skip", "m_pair_ids", "m_leads")
        with self.read_connection() as con:
            con.register("match_ids_df",
                         pd.DataFrame({"leadId": ids, "rnd": [i // round_size for i in range(len(ids))]}))
            limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

            def prepare() -> None:
                con.execute(f"""CREATE OR REPLACE TEMP TABLE m_keys AS
                                SELECT CAST(r.rnd AS BIGINT) AS rnd, k."leadId", k.rule, k.key FROM {new_keys} k
                                JOIN match_ids_df r ON CAST(r."leadId" AS VARCHAR) = k."leadId" """)
                con.execute(f"""CREATE OR REPLACE TEMP TABLE m_table AS
                                SELECT t.rule, t.key, t."leadId" FROM {table_keys} t
                                SEMI JOIN (SELECT DISTINCT rule, key FROM m_keys) k ON k.rule = t.rule AND k.key = t.key""")
                con.execute("""CREATE OR REPLACE TEMP TABLE m_sizes AS
                               SELECT rule, key, count(*) AS n FROM m_table GROUP BY rule, key HAVING count(*) > 1""")
                con.execute(f"""CREATE OR REPLACE TEMP TABLE m_hits AS
                                SELECT t.rule, t.key, t."leadId" FROM m_table t
                                SEMI JOIN (SELECT rule, key FROM m_sizes WHERE n <= {MAX_BLOCK}) s
                                    ON s.rule = t.rule AND s.key = t.key""")
                con.execute("""CREATE OR REPLACE TEMP TABLE m_new AS
                               SELECT k.rnd, k."leadId", k.rule, k.key, s.n FROM m_keys k
                               JOIN m_sizes s ON s.rule = k.rule AND s.key = k.key""")
                con.execute(f"""CREATE OR REPLACE TEMP TABLE m_rows AS
                                SELECT k.rnd, k."leadId" AS a, h."leadId" AS b, k.rule FROM m_new k
                                JOIN m_hits h ON h.rule = k.rule AND h.key = k.key
                                WHERE k.n <= {MAX_BLOCK} AND h."leadId" <> k."leadId" ORDER BY k.rnd""")
                con.execute(f"""CREATE OR REPLACE TEMP TABLE m_skip AS
                                SELECT rnd, rule, count(DISTINCT key) AS keys FROM m_new
                                WHERE n > {MAX_BLOCK} GROUP BY rnd, rule""")
                con.execute("""CREATE OR REPLACE TEMP TABLE m_pair_ids AS
                               SELECT rnd, a AS "leadId" FROM m_rows UNION SELECT rnd, b FROM m_rows""")
                con.execute(f"""CREATE OR REPLACE TEMP TABLE m_leads AS SELECT {cols} FROM leads
                                SEMI JOIN (SELECT DISTINCT "leadId" FROM m_pair_ids) p
                                    ON p."leadId" = leads."leadId" """)

            try:
                # beyond MATCH_MEMORY the joins spill to temporary files (DuckDB's default is 80 % of the RAM); the
                # scans of the whole table use every core
                con.execute(f"SET memory_limit = '{MATCH_MEMORY}'")
                con.execute(f"SET threads = {MATCH_THREADS}")
                try:
                    prepare()
                except duckdb.OutOfMemoryException:  # not all of it could spill: once more under DuckDB's default
                    con.execute(f"SET memory_limit = '{limit}'")
                    prepare()
                con.unregister("match_ids_df")
                for table in building:
                    con.execute(f"DROP TABLE {table}")
                busy = {r[0] for r in con.execute("SELECT DISTINCT rnd FROM m_rows UNION SELECT rnd FROM m_skip")
                        .fetchall()}
                for rnd in range((len(ids) + round_size - 1) // round_size):
                    cands = Candidates()
                    leads: list[dict] = []
                    if rnd in busy:
                        for a, b, rule in con.execute("SELECT a, b, rule FROM m_rows WHERE rnd = ?", [rnd]).fetchall():
                            cands.add(a, b, rule)
                        cands.skipped_keys = dict(con.execute(
                            "SELECT rule, keys FROM m_skip WHERE rnd = ?", [rnd]).fetchall())
                        leads = _rows_as_dicts(con.execute(
                            f'SELECT {cols} FROM m_leads SEMI JOIN (SELECT "leadId" FROM m_pair_ids WHERE rnd = ?) p '
                            f'ON p."leadId" = m_leads."leadId"', [rnd]))
                    yield cands, {lead["leadId"]: lead for lead in leads}
            finally:
                try:
                    con.unregister("match_ids_df")
                except duckdb.Error:
                    pass
                for table in temp:
                    try:
                        con.execute(f"DROP TABLE IF EXISTS {table}")
                    except duckdb.Error:  # an aborted transaction (inside atomic()): its rollback drops them
                        break
                con.execute(f"SET memory_limit = '{limit}'")
                con.execute(f"SET threads = {DUCKDB_CONFIG['threads']}")

    def run_lead_ids(self, run_id: str | None) -> list[str]:
        """The ids of the leads run ``run_id`` created or updated, in audit order, each once (one query on
        ``lead_changes`` alone: joining ``leads`` to drop deleted leads cost ~60 MB at 50,000 leads, and the
        blocking query only reads leads that exist)."""
        with self.read_connection() as con:
            rows = con.execute(  # sorted here, not by DuckDB: its sort cost ~18 MB more at 50,000 rows
                """SELECT "seq", "leadId" FROM lead_changes
                   WHERE "runId" IS NOT DISTINCT FROM ? AND "action" IN ('lead_created', 'lead_updated')""",
                [run_id],
            ).fetchall()
        rows.sort()
        return list(dict.fromkeys(r[1] for r in rows if r[1] is not None))

    def record_possible_duplicates(self, pairs: Sequence[Any], *, source_file: str | None,
                                   run_id: str | None) -> int:
        """Upsert ``pairs`` (``FoundPair``) into ``possible_duplicates`` in one transaction, dismissed pairs left out
        (see :meth:`LeadStore.record_possible_duplicates`).

        Raises:
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        if not pairs:
            return 0
        df = pd.DataFrame({
            "leadA": [p.lead_a for p in pairs], "leadB": [p.lead_b for p in pairs],
            "score": [float(p.score) for p in pairs],
            "rules": [json.dumps(list(p.rules)) for p in pairs],
            "evidence": [json.dumps(p.evidence, ensure_ascii=False) for p in pairs],
        })
        with self._write_connection() as (con, _), transaction(con):
            con.register("found_df", df)
            try:
                fresh = """FROM found_df d WHERE NOT EXISTS (
                               SELECT 1 FROM dismissed_pairs x
                               WHERE x."leadA" = CAST(d."leadA" AS VARCHAR) AND x."leadB" = CAST(d."leadB" AS VARCHAR))"""
                n = con.execute(f"SELECT count(*) {fresh}").fetchone()[0]
                con.execute(
                    f"""INSERT INTO possible_duplicates ("leadA", "leadB", "score", "rules", "evidence", "sourceFile",
                                                         "runId", "at")
                        SELECT CAST(d."leadA" AS VARCHAR), CAST(d."leadB" AS VARCHAR), CAST(d.score AS DOUBLE),
                               CAST(d.rules AS JSON), CAST(d.evidence AS JSON), ?, ?, ? {fresh}
                        ON CONFLICT ("leadA", "leadB") DO UPDATE SET "score" = excluded."score",
                            "rules" = excluded."rules", "evidence" = excluded."evidence",
                            "sourceFile" = excluded."sourceFile", "runId" = excluded."runId", "at" = excluded."at"
                    """,
                    [source_file, run_id, utc_now()],
                )
            finally:
                con.unregister("found_df")
        return int(n)

    def possible_duplicates(self, min_score: float = 0.0) -> list[dict]:
        """Stored possible duplicates (see :meth:`LeadStore.possible_duplicates`); ``[]`` for a store made before
        the table existed.

        Raises:
            StoreLockTimeout: a writer kept the store locked for ``lock_timeout`` seconds.
        """
        fields = ("leadId", *LEAD_FIELDS, "sourceFile")
        a_cols = ", ".join(f'a.{_q(c)} AS "a_{c}"' for c in fields)
        b_cols = ", ".join(f'b.{_q(c)} AS "b_{c}"' for c in fields)
        with self.read_connection() as con:
            if not _has_tables(con, "possible_duplicates", "dismissed_pairs"):
                return []
            rows = _rows_as_dicts(con.execute(
                f"""SELECT p."leadA", p."leadB", p."score", p."rules", p."evidence", p."sourceFile", p."runId",
                           p."at", {a_cols}, {b_cols}
                    FROM possible_duplicates p JOIN leads a ON a."leadId" = p."leadA"
                    JOIN leads b ON b."leadId" = p."leadB"
                    WHERE p."score" >= ? AND NOT EXISTS (SELECT 1 FROM dismissed_pairs x
                                                        WHERE x."leadA" = p."leadA" AND x."leadB" = p."leadB")
                    ORDER BY p."score" DESC, p."leadA", p."leadB" """,
                [float(min_score)],
            ))
        out = []
        for r in rows:
            item = {k: r[k] for k in ("leadA", "leadB", "score", "rules", "evidence", "sourceFile", "runId", "at")}
            for k in ("rules", "evidence"):
                if isinstance(item[k], str):
                    item[k] = json.loads(item[k])
            item["a"] = {c: r[f"a_{c}"] for c in fields}
            item["b"] = {c: r[f"b_{c}"] for c in fields}
            out.append(item)
        return out

    def dismissed_pairs(self) -> set[tuple[str, str]]:
        """Every dismissed pair ``(leadA, leadB)`` (``leadA < leadB``)."""
        with self.read_connection() as con:
            if not _has_tables(con, "dismissed_pairs"):
                return set()
            return {(a, b) for a, b in con.execute('SELECT "leadA", "leadB" FROM dismissed_pairs').fetchall()}

    def dismiss_pair(self, a: str, b: str) -> bool:
        """Record leads ``a`` and ``b`` as different people (see :meth:`LeadStore.dismiss_pair`).

        Raises:
            ValueError: ``a == b`` or a lead id that does not exist.
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        lead_a, lead_b = pair_of(str(a), str(b))
        with self._write_connection() as (con, _), transaction(con):
            found = {r[0] for r in con.execute('SELECT "leadId" FROM leads WHERE "leadId" IN (?, ?)',
                                               [lead_a, lead_b]).fetchall()}
            missing = [i for i in (lead_a, lead_b) if i not in found]
            if missing:
                raise ValueError(f"no lead with leadId {missing[0]!r}")
            before = con.execute('SELECT count(*) FROM dismissed_pairs WHERE "leadA" = ? AND "leadB" = ?',
                                 [lead_a, lead_b]).fetchone()[0]
            if before:
                return False
            con.execute('INSERT INTO dismissed_pairs ("leadA", "leadB", "at") VALUES (?, ?, ?)',
                        [lead_a, lead_b, utc_now()])
        return True

    def merge_leads(self, keep: str, other: str, *, dry_run: bool = False) -> Any:
        """Merge ``other`` into ``keep`` in ONE transaction (see :meth:`LeadStore.merge_leads`).

        Raises:
            ValueError: ``keep == other`` or a lead that does not exist.
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        cols = ", ".join(_q(c) for c in LEAD_COLUMNS)
        with self._write_connection() as (con, _), transaction(con):
            rows = {r["leadId"]: r for r in _rows_as_dicts(con.execute(
                f'SELECT {cols} FROM leads WHERE "leadId" IN (?, ?)', [str(keep), str(other)]))}
            plan = plan_merge(keep, other, rows)
            if dry_run:
                return plan.result(None)
            k, o, after = plan.keep, plan.other, plan.lead
            merge_id = f"merge-{uuid.uuid4()}"
            now = utc_now()
            con.execute('DELETE FROM leads WHERE "leadId" = ?', [o["leadId"]])
            sets = ", ".join(f"{_q(f)} = ?" for f in LEAD_FIELDS)
            con.execute(f'UPDATE leads SET {sets}, "updatedAt" = ? WHERE "leadId" = ?',
                        [after[f] for f in LEAD_FIELDS] + [now, k["leadId"]])
            _merge_audit(con, now, "lead_merged", after["email"], k["leadId"], k["sourceFile"], k["sourceFile"],
                         plan.changed, merge_id, k["updatedAt"],
                         {"mergeId": merge_id, "keptLeadId": k["leadId"], "mergedLeadId": o["leadId"]})
            _merge_audit(con, now, "lead_merged_away", o["email"], o["leadId"], o["sourceFile"], None, plan.gone,
                         merge_id, o["updatedAt"], {"mergeId": merge_id, "mergedInto": k["leadId"], "lead": o})
        return plan.result(merge_id)

    def undo_merge(self, keep: str, *, force: bool = False, dry_run: bool = False,
                   undo_run_id: str | None = None) -> Any:
        """Reverse the latest merge into ``keep`` in ONE transaction (see :meth:`LeadStore.undo_merge`).

        Raises:
            UndoRefused: nothing to undo, later changes without ``force``, or the merged-away lead cannot come back.
            StoreLockTimeout: the store stayed locked for ``lock_timeout`` seconds.
        """
        with self._write_connection() as (con, _), transaction(con):
            merge, other = _merge_to_undo(con, str(keep))
            current = _rows_as_dicts(con.execute(
                f'SELECT {", ".join(_q(c) for c in LEAD_COLUMNS)} FROM leads WHERE "leadId" = ?', [str(keep)]))
            taken = con.execute(
                'SELECT "leadId" FROM leads WHERE "leadId" = ? OR ("email" = ? AND "leadId" <> ?)',
                [other["leadId"], other.get("email"), str(keep)]).fetchall()
            later = _rows_as_dicts(con.execute(
                """SELECT "leadId", "email", "newSourceFile", "action", "previousSourceFile" FROM lead_changes
                   WHERE "leadId" = ? AND "seq" > ? ORDER BY "seq" """, [str(keep), merge["seq"]]))
            result = unmerge_plan(str(keep), merge, other, current[0] if current else None,
                                  taken[0][0] if taken else None, later, force=force, dry_run=dry_run)
            lead = result.lead
            if dry_run:
                return result
            now = utc_now()
            sets = ", ".join(f"{_q(f)} = ?" for f in LEAD_FIELDS)
            con.execute(f'UPDATE leads SET {sets}, "updatedAt" = ? WHERE "leadId" = ?',
                        [lead[f] for f in LEAD_FIELDS] + [_naive(merge["previousUpdatedAt"]), str(keep)])
            values = [json.dumps(other[c], ensure_ascii=False) if c == "rawRow" and other.get(c) is not None
                      else _naive(other.get(c)) if c in ("createdAt", "updatedAt") else other.get(c)
                      for c in LEAD_COLUMNS]
            con.execute(f'INSERT INTO leads ({", ".join(_q(c) for c in LEAD_COLUMNS)}) '
                        f'VALUES ({", ".join("?" for _ in LEAD_COLUMNS)})', values)
            details = {"undoOfMerge": merge["runId"]}
            _merge_audit(con, now, "lead_restored", lead["email"], str(keep), current[0]["sourceFile"],
                         current[0]["sourceFile"], result.changed, undo_run_id, current[0]["updatedAt"], details)
            back = {f: {"before": None, "after": other.get(f)} for f in LEAD_FIELDS if other.get(f) is not None}
            _merge_audit(con, now, "lead_restored", other.get("email"), other["leadId"], None, other.get("sourceFile"),
                         back, undo_run_id, None, details)
        return result


def _incoming_frame(leads: list[StandardLead], emails: list[str | None], keep: list[int],
                    batch_ids: dict) -> pd.DataFrame:
    """The leads ``keep`` of one ``upsert_file`` call as the ``incoming_df`` its SQL reads (one row per lead:
    position, row id, sheet, row number, normalized email, rawRow JSON, standardizer, batch id, and per value
    field ``f_<field>`` (cleaned value) and ``p_<field>`` (provided))."""
    cols: dict[str, list[Any]] = {
        "pos": [],
        "rowId": [],
        "sheet": [],
        "rowNumber": [],
        "email": [],
        "rawRow": [],
        "standardizer": [],
        "batchId": [],
    }
    for f in _VALUE_FIELDS:
        cols["f_" + f] = []
        cols["p_" + f] = []
    for i in keep:
        lead = leads[i]
        cols["pos"].append(i)
        cols["rowId"].append(lead.row_id)
        cols["sheet"].append(lead.sheet)
        cols["rowNumber"].append(lead.row_number)
        cols["email"].append(emails[i])
        cols["rawRow"].append(json.dumps(lead.raw or {}, ensure_ascii=False))
        cols["standardizer"].append(lead.standardizer)
        batch = batch_ids.get(lead.row_id)
        cols["batchId"].append(None if batch is None else str(batch))
        provided = lead.provided
        fields = lead.fields
        for f in _VALUE_FIELDS:
            cols["f_" + f].append(clean_value(fields.get(f)))
            cols["p_" + f].append(f in provided)
    return pd.DataFrame(cols)


def _duplicates_frame(duplicates_resolved: list, batch_ids: dict) -> pd.DataFrame:
    """The ``dups_df`` of one ``upsert_file`` call: per resolved within-file duplicate its normalized email, kept
    row id, ``details`` JSON and batch id."""
    return pd.DataFrame(
        {
            "email": [normalize_email(d.email) for d in duplicates_resolved],
            "keptRowId": [d.kept_row_id for d in duplicates_resolved],
            "details": [
                json.dumps(
                    {"keptRowId": d.kept_row_id, "mergedRowIds": list(d.merged_row_ids or [])},
                    ensure_ascii=False,
                )
                for d in duplicates_resolved
            ],
            "batchId": [None if batch_ids.get(d.kept_row_id) is None else str(batch_ids[d.kept_row_id])
                        for d in duplicates_resolved],
        }
    )


def _undo_plan(con: duckdb.DuckDBPyConnection, file: str) -> UndoPlan:
    """Read what the undo of the latest not-yet-undone import of ``file`` needs (its audit rows, its leads, the
    audit rows written since) and plan it (:func:`~easycrm_pipeline.store.plans.plan_undo`); nothing written.

    Raises:
        UndoRefused: no import of ``file`` left to undo.
    """
    runs = con.execute(
        """SELECT "runId", max("seq") FROM lead_changes
           WHERE "newSourceFile" = ? AND "action" IN ('lead_created', 'lead_updated') GROUP BY "runId"
        """,
        [file]).fetchall()
    run_id = latest_undoable_run(file, runs, {r for _f, r in _undone_imports(con, file)})
    of_import = """FROM lead_changes WHERE "runId" IS NOT DISTINCT FROM ? AND "newSourceFile" = ?
                   AND "action" IN ('lead_created', 'lead_updated')"""
    changes = _rows_as_dicts(con.execute(
        f"""SELECT "seq", "changeId", "at", "action", "leadId", "email", "fieldsChanged", "previousSourceFile",
                   "previousUpdatedAt", "details" {of_import} ORDER BY "seq" """, [run_id, file]))
    current = {r["leadId"]: r for r in _rows_as_dicts(con.execute(
        f'SELECT * FROM leads WHERE "leadId" IN (SELECT "leadId" {of_import})', [run_id, file]))}
    later: list[dict] = []
    if changes:
        later = _rows_as_dicts(con.execute(
            f"""SELECT c."seq", c."leadId", c."email", c."newSourceFile", c."previousSourceFile", c."action",
                       c."runId", c."details"
               FROM lead_changes c
               WHERE c."seq" > ? AND c."runId" IS DISTINCT FROM ?
                 AND c."action" IN ({", ".join(f"'{a}'" for a in LATER_CHANGE_ACTIONS)})
                 AND c."leadId" IN (SELECT "leadId" {of_import})
               ORDER BY c."seq"
            """,
            [changes[0]["seq"], run_id, run_id, file]))
    undone = _undone_imports(con) if later else set()
    return plan_undo(file, run_id, changes, later, current, undone=undone, order="seq")


def _apply_undo(con: duckdb.DuckDBPyConnection, plan: UndoPlan, *, undo_run_id: str | None, now: datetime) -> None:
    """Write ``plan`` inside the caller's transaction: delete or restore each lead, its audit rows, and the row of
    ``undone_imports`` that marks the import undone."""
    for revert in plan.reverts:
        if revert.delete:
            con.execute('DELETE FROM leads WHERE "leadId" = ?', [revert.lead_id])
        else:
            sets = dict(revert.restore)
            sets["updatedAt"] = _naive(sets.get("updatedAt"))
            if sets.get("rawRow") is not None:
                sets["rawRow"] = json.dumps(sets["rawRow"])
            assignments = ", ".join(f'{_q(k)} = ?' for k in sets)
            con.execute(f'UPDATE leads SET {assignments} WHERE "leadId" = ?', [*sets.values(), revert.lead_id])
        for row in revert.audit:
            _undo_audit(con, now, row, undo_run_id)
    con.execute(
        """INSERT INTO undone_imports ("sourceFile", "runId", "undoRunId", "at", "deleted", "restored")
           VALUES (?, ?, ?, ?, ?, ?)""",
        [plan.file, plan.run_id, undo_run_id, now, plan.deleted, plan.restored],
    )


def _undone_imports(con: duckdb.DuckDBPyConnection, file: str | None = None) -> set[tuple[str, str | None]]:
    """``(sourceFile, runId)`` of every import already undone (of ``file`` only, when given): the rows of
    ``undone_imports``, plus, for undos made before that table existed, the ``details.undoOfRun`` of undo audit
    rows (with their ``previousSourceFile``)."""
    where, params = ('WHERE "sourceFile" = ?', [file]) if file is not None else ("", [])
    undone = {(f, r) for f, r in con.execute(f'SELECT "sourceFile", "runId" FROM undone_imports {where}',
                                             params).fetchall()}
    legacy = 'AND "previousSourceFile" = ?' if file is not None else ""
    undone |= {
        (f, r)
        for f, r in con.execute(
            f"""SELECT DISTINCT "previousSourceFile", json_extract_string("details", '$.undoOfRun')
                FROM lead_changes
                WHERE "action" IN ('lead_deleted', 'lead_restored') {legacy}
                  AND "details" IS NOT NULL AND json_extract_string("details", '$.undoOfRun') IS NOT NULL""",
            params,
        ).fetchall()
    }
    return undone


def _undo_audit(con: duckdb.DuckDBPyConnection, now: datetime, row: dict, undo_run_id: str | None) -> None:
    """One undo audit row (``lead_deleted``/``lead_restored``, a :attr:`LeadRevert.audit
    <easycrm_pipeline.store.plans.LeadRevert.audit>` row) inside the caller's transaction."""
    con.execute(
        """INSERT INTO lead_changes ("changeId", "at", "action", "email", "leadId", "previousSourceFile",
                                     "newSourceFile", "fieldsChanged", "runId", "details")
           VALUES (CAST(uuid() AS VARCHAR), ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [now, row["action"], row["email"], row["leadId"], row["previousSourceFile"], row["newSourceFile"],
         json.dumps(row["fieldsChanged"], default=str), undo_run_id, json.dumps(row["details"])],
    )


def _has_tables(con: duckdb.DuckDBPyConnection, *names: str) -> bool:
    """True when the database of ``con`` has every table of ``names`` (tables added later, e.g. issue 18's, are
    missing from a file no write has opened since)."""
    have = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    return set(names) <= have


def _naive(value: Any) -> Any:
    """An ISO-8601 UTC text as read back (``...Z``) as the naive ``datetime`` stored in TIMESTAMP columns."""
    if isinstance(value, str) and value.endswith("Z"):
        return datetime.fromisoformat(value[:-1])
    return value


def _merge_to_undo(con: duckdb.DuckDBPyConnection, keep: str) -> tuple[dict, dict]:
    """``(KEEP's latest lead_merged audit row not undone yet, the merged-away lead as that merge recorded it)``.

    Raises:
        UndoRefused: no merge into ``keep`` left to undo.
    """
    merges = _rows_as_dicts(con.execute(
        """SELECT "seq", "runId", "fieldsChanged", "previousUpdatedAt", "details" FROM lead_changes
           WHERE "leadId" = ? AND "action" = 'lead_merged' ORDER BY "seq" DESC""", [keep]))
    undone = {r[0] for r in con.execute(
        """SELECT DISTINCT json_extract_string("details", '$.undoOfMerge') FROM lead_changes
           WHERE "action" = 'lead_restored' AND json_extract_string("details", '$.undoOfMerge') IS NOT NULL"""
    ).fetchall()}
    merge = next((m for m in merges if m["runId"] not in undone), None)
    if merge is None:
        raise UndoRefused(f"no merge into lead {keep!r} left to undo")
    away = _rows_as_dicts(con.execute(
        """SELECT "details" FROM lead_changes WHERE "runId" = ? AND "action" = 'lead_merged_away'""",
        [merge["runId"]]))
    return merge, away[0]["details"]["lead"]


def _merge_audit(con, now, action, email, lead_id, previous_file, new_file, fields, run_id, previous_updated,
                 details) -> None:
    """One audit row of a merge or of its undo, inside the caller's transaction."""
    con.execute(
        """INSERT INTO lead_changes ("changeId", "at", "action", "email", "leadId", "previousSourceFile",
                                     "newSourceFile", "fieldsChanged", "runId", "previousUpdatedAt", "details")
           VALUES (CAST(uuid() AS VARCHAR), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [now, action, email, lead_id, previous_file, new_file, json.dumps(fields, default=str, ensure_ascii=False),
         run_id, _naive(previous_updated), json.dumps(details, default=str, ensure_ascii=False)],
    )


__all__ = ["DuckDBCache", "DuckDBStore", "StoreError", "StoreLockTimeout", "utc_now", "iso_utc"]
