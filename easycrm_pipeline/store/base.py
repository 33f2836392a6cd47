"""The lead store interface shared by the DuckDB and DynamoDB back ends.

The rules come from the old system (docs/old-system.md) and the table contract
(docs/contracts.md#the-leads-table):

* the dedupe key is the normalized email (trim, lower-case; ``""``/``n/a``/``null``/``none`` -> no email);
* a lead without an email is always a new lead;
* an existing email is updated in place: ``leadId`` and ``createdAt`` are kept, the standardized fields the file
  provides are replaced (even with empty values, ``merge="replace"``), ``sourceFile`` and ``updatedAt`` are set;
* every create/update is written to an audit trail (``lead_changes``) with before/after values;
* processing statistics follow the old system's ``processing_stats`` JSON (docs/old-system.md; see
  :meth:`UpsertStats.to_dict`).

Everything a store returns is plain JSON-able Python: ``str``/``int``/``None``, timestamps as ISO-8601 UTC strings
(``"2026-11-29T18:31:10.123456Z"``, fixed width so they sort as text), JSON columns as ``dict``/``list``.
"""
from __future__ import annotations

import abc
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

from easycrm_pipeline import fields
from easycrm_pipeline.matching.merge import MergeResult
from easycrm_pipeline.matching.pairs import BlockIndex, Candidates
from easycrm_pipeline.models import LEAD_FIELDS, QuarantineRow, StandardLead

#: Fields a lead can be sorted by (``LeadQuery.sort``).
SORT_FIELDS: tuple[str, ...] = LEAD_FIELDS + (
    "sourceFile",
    "sourceWorksheet",
    "sourceRow",
    "createdAt",
    "updatedAt",
    "leadId",
)

#: The text fields ``LeadQuery.search`` looks in (the lead fields declared ``search``: all but ``remarks``).
SEARCH_FIELDS: tuple[str, ...] = fields.SEARCH_FIELDS

#: Columns of a lead as returned by ``query_leads`` / ``get_lead_by_email`` (docs/contracts.md#the-leads-table).
LEAD_COLUMNS: tuple[str, ...] = (
    "leadId",
    *LEAD_FIELDS,
    "sourceFile",
    "sourceWorksheet",
    "sourceRow",
    "sourceRowId",
    "createdAt",
    "updatedAt",
    "rawRow",
    "standardizer",
)

#: Audit actions written to ``lead_changes``: an import's ``lead_created`` / ``lead_updated`` /
#: ``batch_duplicate_resolved`` (docs/contracts.md), an undo's ``lead_deleted`` / ``lead_restored``, and
#: ``lead_restandardized``: an existing lead's fields rewritten by a re-standardization (same shape as
#: ``lead_updated``; it is not an import of the lead's ``sourceFile``, so ``undo`` never reverts it as one);
#: ``lead_merged`` / ``lead_merged_away``: ``easycrm merge KEEP OTHER`` filled KEEP from OTHER / deleted OTHER
#: (issue 18; ``runId`` is the merge id, ``details`` holds what ``undo_merge`` needs).
CHANGE_ACTIONS: tuple[str, ...] = (
    "lead_created",
    "lead_updated",
    "batch_duplicate_resolved",
    "lead_deleted",
    "lead_restored",
    "lead_restandardized",
    "lead_merged",
    "lead_merged_away",
)

#: The audit actions ``upsert_file(update_action=...)`` accepts for the leads it updates.
UPDATE_ACTIONS: tuple[str, ...] = ("lead_updated", "lead_restandardized")

#: Merge policies accepted by ``upsert_file``.
MERGE_POLICIES: tuple[str, ...] = ("replace", "fill-blank")

MAX_PAGE_SIZE = 100

#: The lead fields an import writes besides the key ``email``.
VALUE_FIELDS: tuple[str, ...] = tuple(f for f in LEAD_FIELDS if f != "email")

#: Sort fields compared as text, case-insensitively (the others: numbers and timestamps).
TEXT_SORT: frozenset[str] = frozenset(LEAD_FIELDS) | {"sourceFile", "sourceWorksheet", "leadId"}

#: Timestamps as text: ISO-8601 UTC with microseconds, fixed width so they sort as text (Python ``strftime`` and
#: DuckDB ``strftime`` read the same format).
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_NO_EMAIL = {"", "n/a", "null", "none"}


class StoreError(RuntimeError):
    """A store operation failed for a reason other than bad input (ValueError is used for bad input)."""


class StoreLockTimeout(StoreError, TimeoutError):
    """The store could not be locked within the timeout (another process kept it busy)."""


class QueryTimeLimit(StoreError, TimeoutError):
    """A read-only question (``run_readonly_sql``) ran past its time limit and was stopped; ``str(exc)`` says so
    in one line."""


#: Seconds a read-only question may run (``easycrm ask``; ``EASYCRM_ASK_TIMEOUT_SECONDS``).
DEFAULT_QUERY_SECONDS = 10.0
#: Memory a read-only question's private DuckDB database may use (the leads copy plus the query's work).
QUERY_MEMORY_LIMIT = "1GB"


def run_limited(con: Any, sql: str, *, max_rows: int, time_limit: float) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` on the DuckDB connection ``con``, stopped after ``time_limit`` seconds.

    A timer thread calls ``con.interrupt()`` (DuckDB's documented way to cancel a running query from another
    thread) when the limit passes; the query then fails with ``duckdb.InterruptException``, reported as
    :class:`QueryTimeLimit`.

    Returns:
        ``(columns, rows)``: at most ``max_rows`` rows as tuples of JSON-able values.

    Raises:
        QueryTimeLimit: the limit passed ("the query was stopped after 10 s (time limit; ...)").
        duckdb.Error: the query failed otherwise.
    """
    import threading

    import duckdb

    timer = threading.Timer(time_limit, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        rows = [tuple(_jsonable(v) for v in row) for row in cur.fetchmany(max_rows)]
    except duckdb.InterruptException:
        raise QueryTimeLimit(
            f"the query was stopped after {time_limit:g} s (time limit; EASYCRM_ASK_TIMEOUT_SECONDS): ask a "
            f"narrower question"
        ) from None
    finally:
        timer.cancel()
    return names, rows


class UndoRefused(Exception):
    """An undo cannot go ahead; ``str()`` is the one-line reason, ``leads`` the conflicting leads (if any).

    Attributes:
        leads: ``[{"leadId", "email", "changedBy", "action", "undoOf"}]``: the leads changed later by another
            import, a re-standardization or an undo (``changedBy`` is that change's ``newSourceFile``, ``action``
            its audit action, ``undoOf`` the file whose undo wrote it, ``None`` for a change that is not an undo;
            one entry per lead and kind of later change, so a lead can appear more than once: the reason counts
            distinct leads), sorted by email; empty when the reason is something else (nothing to undo, a store
            without undo).
    """

    def __init__(self, reason: str, leads: list[dict] | None = None):
        super().__init__(reason)
        self.leads = leads or []


@dataclass
class UndoResult:
    """What an undo did (or would do with ``dry_run``).

    Attributes:
        file / run_id: the import that was reverted (``sourceFile`` name, the ``runId`` of its audit rows).
        deleted: leads the import had created, now deleted.
        restored: leads the import had updated, now back to their before-image.
        conflicts: leads changed later too (shape of :attr:`UndoRefused.leads`); non-empty only when the
            undo went ahead with ``force``.
        dry_run: nothing was written.
    """

    file: str
    run_id: str | None
    deleted: int = 0
    restored: int = 0
    conflicts: list[dict] = field(default_factory=list)
    dry_run: bool = False


#: The audit actions only an undo writes.
UNDO_ACTIONS: tuple[str, ...] = ("lead_deleted", "lead_restored")


def unmerge_plan(keep: str, merge: dict, other: dict, current: dict | None, blocker: str | None,
                 later: Iterable[dict], *, force: bool, dry_run: bool) -> Any:
    """The checks and the outcome of undoing one merge (``easycrm undo --merge KEEP``), the rule both back ends
    share; the back end finds the rows and writes.

    Args:
        keep: KEEP's leadId.
        merge: KEEP's ``lead_merged`` audit row (``runId`` = the merge id, ``fieldsChanged`` as a dict).
        other: the merged-away lead as the merge recorded it (its ``lead_merged_away`` row's ``details.lead``).
        current: KEEP as stored now (None: deleted since).
        blocker: the id of a lead that now holds OTHER's ``leadId`` or email, or None.
        later: KEEP's audit rows written after the merge (``leadId``, ``email``, ``newSourceFile``, ``action``,
            ``previousSourceFile``).
        force: undo although KEEP changed later (those later values of the merged fields are lost).
        dry_run: carried into the result.

    Returns:
        :class:`~easycrm_pipeline.matching.merge.MergeResult` with ``undone=True``: ``lead`` = KEEP's lead fields to
        write back, ``changed`` = the merge's ``fieldsChanged`` reversed, ``conflicts`` when forced.

    Raises:
        UndoRefused: KEEP no longer exists, OTHER cannot come back (``blocker``), or KEEP changed later without
            ``force`` (``leads`` lists those changes).
    """
    if current is None:
        raise UndoRefused(f"lead {keep!r} no longer exists; its merge cannot be undone")
    if blocker:
        raise UndoRefused(f"lead {other['leadId']!r} (email {other.get('email')!r}) cannot come back: "
                          f"lead {blocker!r} holds its id or email now")
    conflicts = [{"leadId": r.get("leadId"), "email": r.get("email"), "changedBy": r.get("newSourceFile"),
                  "action": r.get("action"),
                  "undoOf": r.get("previousSourceFile") if r.get("action") in UNDO_ACTIONS else None}
                 for r in later]
    if conflicts and not force:
        raise UndoRefused(f"lead {keep!r} was changed after the merge; use --force to undo it anyway", conflicts)
    changed = merge.get("fieldsChanged") or {}
    lead = {f: current.get(f) for f in LEAD_FIELDS}
    lead.update({f: v["before"] for f, v in changed.items() if f in LEAD_FIELDS})
    return MergeResult(keep=str(keep), other=other["leadId"], merge_id=merge["runId"], lead=lead,
                       changed={f: {"before": v["after"], "after": v["before"]} for f, v in changed.items()},
                       dry_run=dry_run, undone=True, conflicts=conflicts if force else [])


def normalize_email(email: str | None) -> str | None:
    """The dedupe key of an email (the old system's ``normalize_email``, docs/old-system.md): trimmed, lower-case;
    ``None`` when there is none.

    ``""``, ``"n/a"``, ``"null"``, ``"none"`` (any case, any surrounding whitespace) and ``None`` give ``None``
    (the old system's ``'N/A'``: such a row always becomes a new lead).
    """
    if email is None:
        return None
    key = str(email).strip().lower()
    return None if key in _NO_EMAIL else key


def clean_value(value: Any) -> str | None:
    """A field value as stored: stripped text, ``None`` for ``None``/empty/whitespace-only."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def last_wins(leads: list[StandardLead]) -> tuple[list[str | None], list[int]]:
    """The normalized email of every lead and the indices of the leads to keep (file order): of several leads with
    the same email only the last is kept (docs/old-system.md: "last occurrence wins"); leads without email are all
    kept."""
    emails = [normalize_email(lead.email) for lead in leads]
    last: dict[str, int] = {}
    for i, email in enumerate(emails):
        if email is not None:
            last[email] = i
    return emails, [i for i, email in enumerate(emails) if email is None or last[email] == i]


@dataclass
class UpsertStats:
    """What one ``upsert_file`` call did (the old system's ``processing_stats``).

    Attributes:
        total: leads passed in (``len(leads)``).
        created: new leads inserted.
        updated: existing leads (same email) whose standardized fields changed and were rewritten.
        unchanged: existing leads the file matched without changing any standardized field (nothing written).
        duplicates_detected: leads that were duplicates of something: ``updated + unchanged`` (email already in the
            table) plus ``batch_duplicates``.
        batch_duplicates: rows merged away inside the file: the ``merged_row_ids`` of every ``duplicates_resolved``
            entry plus leads of this call dropped because a later lead had the same email (last one wins).
        processing_ms: wall time of the call in milliseconds, lock wait excluded.
        duplicate_detection_ms: milliseconds spent matching incoming emails to existing leads.
        lock_wait_ms: milliseconds spent waiting for the store lock.

    ``created + updated + unchanged == total - (leads dropped by the in-call dedupe)``.
    """

    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_detected: int = 0
    processing_ms: float = 0.0
    duplicate_detection_ms: float = 0.0
    batch_duplicates: int = 0
    lock_wait_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The stats as a JSON-able dict (dataclass field names, plus the old system's names as aliases).

        Seeds' aliases: ``total_leads``, ``leads_created``, ``leads_updated``, ``processing_time_ms``,
        ``duplicate_detection_time_ms``.
        """
        out = asdict(self)
        out.update(
            total_leads=self.total,
            leads_created=self.created,
            leads_updated=self.updated,
            processing_time_ms=self.processing_ms,
            duplicate_detection_time_ms=self.duplicate_detection_ms,
        )
        return out


@dataclass(frozen=True)
class LeadQuery:
    """A filtered, sorted, paginated leads query.

    Attributes:
        search: whitespace-separated terms; a lead matches when EVERY term is contained (case-insensitive) in at
            least one of ``SEARCH_FIELDS`` (firstName, lastName, title, company, email, phone).
        first_name / last_name / title / company / email / phone / source_file: case-insensitive "contains"
            filters on the matching column (all given filters must match). ``phone`` also matches when its digits
            are contained in the stored phone's digits (``"030 12"`` finds ``"03012..."``); a ``phone`` filter that
            starts with ``+`` is a country-code prefix instead: it matches from the start of the E.164 number only
            (``"+1"`` finds ``"+15551234567"``, not ``"+442012345678"``; see
            :func:`~easycrm_pipeline.store.query.phone_prefix`).
        sort: a field of ``SORT_FIELDS`` (default ``"createdAt"``); matched case-insensitively and normalized to the
            canonical spelling. Text is sorted case-insensitively, NULLs last; ties by ``sourceRow`` then ``leadId``.
        descending: sort direction (default True: newest first).
        page: 1-based page number (default 1).
        page_size: leads per page, 1..100 (default 50).
        filters: more "contains" filters as ``{lead field name: text}`` (any field of ``fields.FIELDS``, e.g.
            ``{"linkedinUrl": "in/ann"}``; a field with a keyword above may be given either way).

    Raises:
        ValueError: ``page < 1``, ``page_size`` outside 1..100, a non-integer page/page_size, or an unknown sort
            field (the message lists the allowed ones).
    """

    search: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    source_file: str | None = None
    sort: str = "createdAt"
    descending: bool = True
    page: int = 1
    page_size: int = 50
    filters: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        for name in ("page", "page_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.page < 1:
            raise ValueError(f"page must be 1 or more, got {self.page}")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {self.page_size}")
        wanted = (self.sort or "").strip()
        canonical = {f.lower(): f for f in SORT_FIELDS}
        # accept snake_case too (created_at -> createdAt)
        key = wanted.lower().replace("_", "")
        if key not in canonical:
            raise ValueError(f"unknown sort field {self.sort!r}; use one of: {', '.join(SORT_FIELDS)}")
        unknown = sorted(set(self.filters or ()) - set(LEAD_FIELDS))
        if unknown:
            raise ValueError(f"unknown filter field {unknown[0]!r}; use one of: {', '.join(LEAD_FIELDS)}")
        object.__setattr__(self, "sort", canonical[key])

    @property
    def offset(self) -> int:
        """Rows skipped before this page: ``(page - 1) * page_size``."""
        return (self.page - 1) * self.page_size

    def column_filters(self) -> dict[str, str]:
        """The non-empty per-column filters as ``{column name: text}`` (``search`` excluded)."""
        pairs = {o.field: getattr(self, o.dest, None) for o in fields.FILTERS}
        pairs.update({k: v for k, v in (self.filters or {}).items() if v is not None})
        pairs["sourceFile"] = self.source_file
        return {k: v.strip() for k, v in pairs.items() if v is not None and v.strip()}

    def search_terms(self) -> list[str]:
        """``search`` split on whitespace, lower-cased (empty list when there is no search)."""
        return [t.lower() for t in (self.search or "").split()]


class DuplicateResolution(Protocol):
    """What ``upsert_file(duplicates_resolved=...)`` expects of each entry (duck-typed).

    ``email``: the normalized email; ``kept_row_id``: row id of the occurrence that won (the last one);
    ``merged_row_ids``: row ids of the earlier occurrences dropped in its favour.
    """

    email: str | None
    kept_row_id: str
    merged_row_ids: Iterable[str]


#: The lead columns the quality checks read (:meth:`LeadStore.quality`).
QUALITY_COLUMNS: tuple[str, ...] = ("leadId", "email", "phone", "sourceRow")


class StandardizeCache(Protocol):
    """Storage of the standardization cache (``pipeline.planning``): answers by content key, next to the leads."""

    def get(self, keys: list[str]) -> dict[str, dict]:
        """``{key: entry}`` of the ``keys`` present (none stored yet: ``{}``)."""

    def put(self, entries: dict[str, dict]) -> int:
        """Store ``{key: entry}`` (an existing key is replaced); returns the number written."""


class LeadStore(abc.ABC):
    """Where clean leads live (DuckDB file or DynamoDB table): upsert by email, audit trail, quarantine, queries.

    Implementations must be safe to use from several OS processes at once (several Dagster runs write while the CLI
    reads) and must not keep connections open between calls.
    """

    @abc.abstractmethod
    def init(self) -> None:
        """Create the tables (leads, lead_changes, quarantine, file_imports) if missing. Idempotent."""

    @abc.abstractmethod
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
        """Insert/update one file's leads by email, atomically; see the implementation for the exact rules.

        ``update_action`` (one of ``UPDATE_ACTIONS``) is the audit action of the updated leads: ``lead_updated``
        for an import, ``lead_restandardized`` for a re-standardization (created leads are always
        ``lead_created``).
        """

    @abc.abstractmethod
    def add_quarantine(
        self, rows: list[QuarantineRow], *, source_file: str, run_id: str | None = None, replace: bool = False
    ) -> int:
        """Store rows that could not become leads; returns how many were stored.

        A row identical (``sheet``, ``row_number``, ``reason``, ``raw``) to one already stored for ``source_file``,
        or to an earlier row of the call, is skipped (the stored one keeps its ``runId`` and ``at``), so re-running
        a file, or finishing an interrupted run of it, never doubles its quarantine.

        With ``replace=True`` (what the ingest's collect step does: each run re-reads the whole file) ``rows`` are
        the file's whole quarantine: the rows stored for ``source_file`` that are not among ``rows`` are deleted
        first (rows that became leads leave the quarantine; ``rows=[]`` empties it), the others stay as stored.
        So the quarantine shows what the latest completed ingest of each file could not turn into leads, and a
        re-run of an unchanged file changes nothing visible. ``easycrm undo`` does not touch the quarantine.
        Other files' rows are never touched.

        Args:
            rows: ``QuarantineRow`` objects (``sheet``, ``row_number``, ``reason``, ``raw`` dict).
            source_file: the file they came from (base name, as ``sourceFile``).
            run_id: the run that quarantined them (kept by rows already stored).
            replace: make ``rows`` the file's whole quarantine (see above).

        Returns:
            The number of rows newly stored (not counting the ones already stored, nor the deleted ones).

        Raises:
            ValueError / StoreError: a row without reason (back-end specific: nothing of the call is stored on
                DuckDB; on DynamoDB nothing, as the reasons are checked first).
        """

    @abc.abstractmethod
    def record_import(self, source_file: str, run_id: str | None, stats: dict) -> None:
        """Record that a file was imported, with its stats (JSON-able dict)."""

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A block whose writes through this store object, from this thread, form one unit where the back end can
        (the ingest's collect step: ``upsert_file`` + ``add_quarantine`` + ``record_import``).

        The DuckDB store holds its write lock and ONE transaction for the whole block: all of it is committed at
        the end, or nothing (an exception, or a ``kill -9``, rolls back every call of the block). This default
        (the DynamoDB store keeps it) adds nothing: each call commits on its own, and a back end without
        multi-call transactions must make a re-run of an interrupted block converge instead (idempotent upsert,
        quarantine rows not stored twice, the import recorded by the re-run).

        Yields:
            None.
        """
        yield

    @abc.abstractmethod
    def query_leads(self, q: LeadQuery) -> tuple[list[dict], int]:
        """One page of leads matching ``q`` and the total number of matches."""

    @abc.abstractmethod
    def get_lead_by_email(self, email: str) -> dict | None:
        """The lead with this email (normalized before the lookup) or None."""

    @abc.abstractmethod
    def count_leads(self) -> int:
        """Number of leads in the store."""

    @abc.abstractmethod
    def changes(self, source_file: str | None = None, run_id: str | None = None) -> list[dict]:
        """Audit rows (oldest first), optionally only those of one file and/or run."""

    @abc.abstractmethod
    def quarantine_rows(self, source_file: str | None = None) -> list[dict]:
        """Quarantined rows (in insertion order), optionally only one file's."""

    @abc.abstractmethod
    def file_imports(self, source_file: str | None = None) -> list[dict]:
        """Recorded imports (oldest first), optionally one file's: ``sourceFile``, ``runId``, ``at``, ``stats``."""

    @abc.abstractmethod
    def all_leads(self) -> list[dict]:
        """Every lead (no paging), ordered by ``createdAt``, ``sourceRow``, ``leadId``."""

    # ------------------------------------------------------------------ streaming / read-only SQL (issue 6)
    # Not abstract: a generic default built on the methods above, so every back end has them; a back end may
    # override with something faster (the DuckDB store streams from one cursor).

    def iter_leads(
        self, q: LeadQuery | None = None, chunk_size: int = 1000, columns: Sequence[str] | None = None
    ) -> Iterator[dict]:
        """Every lead matching ``q``'s filters, in ``q``'s sort order, ignoring ``q.page``/``q.page_size``.

        Memory stays bounded by ``chunk_size`` leads (plus the back end's own buffering): the leads are fetched
        chunk by chunk and yielded one at a time, never collected into one list.

        The default pages through :meth:`query_leads` (``MAX_PAGE_SIZE`` leads per call); leads written while the
        iteration runs may be skipped or seen twice (offset paging), so take a store snapshot for exact exports.

        Args:
            q: filters and sort (``None``: all leads, ``createdAt`` newest first).
            chunk_size: leads fetched per round trip (at least 1).
            columns: the keys wanted (a subset of ``LEAD_COLUMNS``; default all); back ends may skip work for the
                others.

        Yields:
            Lead dicts with the keys of ``columns`` (values as ``query_leads`` returns them).

        Raises:
            ValueError: ``chunk_size`` < 1.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        from dataclasses import replace

        base = replace(q or LeadQuery(), page=1, page_size=MAX_PAGE_SIZE)
        page = 1
        while True:
            rows, total = self.query_leads(replace(base, page=page))
            for row in rows:
                yield row if columns is None else {c: row.get(c) for c in columns}
            if not rows or page * MAX_PAGE_SIZE >= total:
                return
            page += 1

    # ------------------------------------------------------------------ capabilities
    # What callers outside ``store/`` used to find out by testing the store's type (``hasattr(store, ...)``).

    def exists(self) -> bool:
        """Whether the store has been created (something was ingested or ``init`` ran); reads of a store that does
        not exist see no leads. The default: True (a back end whose storage cannot be missing)."""
        return True

    def location(self) -> str:
        """Where the store lives, for messages (a file path, a table name)."""
        return repr(self)

    def cache(self) -> StandardizeCache | None:
        """The standardization cache kept with this store, or None when the back end has none (the default):
        then every row goes to the standardizer."""
        return None

    def file_leads(self, source_file: str) -> Iterator[dict]:
        """The leads whose ``sourceFile`` is ``source_file`` as ``{"leadId", "email", "phone", "sourceRow"}``, by
        ``sourceRow`` (NULLs last) then ``leadId``, one at a time (what the data-quality checks of
        ``dagster_defs/checks.py`` read).

        The default reads :meth:`all_leads` once; a back end with a query language streams them (DuckDB).
        """
        leads = [{k: lead.get(k) for k in QUALITY_COLUMNS} for lead in self.all_leads()
                 if lead.get("sourceFile") == source_file]
        leads.sort(key=lambda r: (r["sourceRow"] is None, r["sourceRow"] or 0, r["leadId"]))
        yield from leads

    def duplicate_emails(self, source_file: str) -> dict[str, int]:
        """``{email key: number of leads}`` for the emails of ``source_file``'s leads held by more than one lead in
        the whole table, compared trimmed and lower-cased, sorted by key (a store's unique email index makes this
        empty unless something wrote past it). The default reads :meth:`all_leads` once."""
        counts: dict[str, int] = {}
        mine: set[str] = set()
        for lead in self.all_leads():
            key = (lead.get("email") or "").strip().lower()
            if key:
                counts[key] = counts.get(key, 0) + 1
                if lead.get("sourceFile") == source_file:
                    mine.add(key)
        return {k: counts[k] for k in sorted(mine) if counts[k] > 1}

    def run_readonly_sql(
        self, sql: str, *, max_rows: int = 1000, time_limit: float = DEFAULT_QUERY_SECONDS
    ) -> tuple[list[str], list[tuple]]:
        """Run one already-validated read-only SELECT over a table named ``leads`` and return its result.

        The caller validates the SQL (``easycrm_pipeline.readers.ask.validate_sql``); this method adds no checks of
        its own beyond running it where nothing can be written, on a private copy of the leads (so it never holds
        the store while it runs: an ingest is never blocked by a question), stopped after ``time_limit`` seconds
        (:func:`run_limited`). The default copies every lead (the columns of ``LEAD_COLUMNS`` except ``rawRow``)
        into a private in-memory DuckDB database with external access disabled and runs the query there (fine for
        the lead counts a DynamoDB table holds here; the DuckDB store overrides the copy).

        Args:
            sql: one SELECT statement reading only ``leads``.
            max_rows: at most this many rows are returned.
            time_limit: seconds the query may run.

        Returns:
            ``(columns, rows)``: column names, and rows as tuples of JSON-able values (timestamps as ISO-8601 UTC
            strings).

        Raises:
            QueryTimeLimit: the query ran past ``time_limit``.
        """
        import duckdb
        import pandas as pd

        cols = [c for c in LEAD_COLUMNS if c != "rawRow"]
        frame = pd.DataFrame.from_records(
            ([lead.get(c) for c in cols] for lead in self.iter_leads()), columns=cols
        )
        con = duckdb.connect(":memory:", config={"threads": 1, "memory_limit": QUERY_MEMORY_LIMIT})
        try:
            con.register("leads_frame", frame)
            casts = ", ".join(
                f'CAST("{c}" AS {"INTEGER" if c == "sourceRow" else "TIMESTAMP" if c.endswith("At") else "VARCHAR"})'
                f' AS "{c}"'
                for c in cols
            )
            con.execute(f"CREATE TABLE leads AS SELECT {casts} FROM leads_frame")
            con.unregister("leads_frame")
            con.execute("SET enable_external_access = false")
            return run_limited(con, sql, max_rows=max_rows, time_limit=time_limit)
        finally:
            con.close()

    def set_standardizer(self, lead_ids: Iterable[str], version: str) -> int:
        """Record that the leads ``lead_ids`` are up to date with standardizer ``version`` although none of their
        fields changed (``upsert_file`` writes nothing for an unchanged lead, so its old version would stay and the
        lead would be re-standardized again on every run). Only the ``standardizer`` column changes: no field, no
        ``updatedAt``, no audit row.

        Returns:
            The number of leads whose version changed.

        Raises:
            NotImplementedError: the back end does not support it (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot update standardizer versions yet")

    def undo_import(
        self, file: str, *, force: bool = False, dry_run: bool = False, undo_run_id: str | None = None
    ) -> UndoResult:
        """Revert the latest not-yet-undone import of ``file``, from its ``lead_changes`` audit rows.

        Semantics (both back ends):

        * the import is the latest run (``runId``) whose ``lead_created``/``lead_updated`` rows have
          ``newSourceFile == file`` and whose part for ``file`` was not undone yet (an undo marks exactly that
          (file, run) pair undone, also when it had nothing left to revert, so one run that wrote several files
          keeps the other files' parts undoable, and a second undo of the same import is refused);
        * leads of the import that no longer exist (deleted since by a forced undo of the import that created
          them) are skipped: not reverted, not counted in :class:`UndoResult`, not conflicts;
        * leads it created are deleted (audit ``lead_deleted``: the deleted values as ``before``); their email is
          free again;
        * leads it updated get their before-image back: the changed fields, ``sourceFile``, ``updatedAt``,
          ``sourceWorksheet``, ``sourceRow``, ``sourceRowId``, ``rawRow`` and ``standardizer`` (audit
          ``lead_restored``, ``fieldsChanged`` with before/after swapped); ``leadId``, ``email`` and ``createdAt``
          never changed;
        * every undo audit row has ``runId = undo_run_id``, ``previousSourceFile = file`` and
          ``details = {"undoOfRun": <the reverted runId>, ...}``;
        * when another run changed one of those (still existing) leads after this import (``lead_updated``,
          ``lead_deleted``, ``lead_restored``, ``lead_restandardized``), nothing is written and
          :class:`UndoRefused` lists them, unless ``force``. A re-standardization is such a later change, never
          the import itself, although its audit rows carry the lead's ``sourceFile`` as ``newSourceFile``.
          Ignored (:func:`~easycrm_pipeline.store.plans.undo_conflicts`): the rows of an undo and the updates of
          an import already undone, as long as the lead's values are still exactly what this import left; so
          after ``undo u.csv`` of a re-run, the earlier import of ``u.csv`` is undoable without ``force``;
        * the quarantine is left alone: it shows the rows the latest completed ingest of ``file`` could not turn
          into leads (see :meth:`add_quarantine`), and an undo reads no file.

        Args:
            file: the ``sourceFile`` name of the import (base name, as stored).
            force: revert even the leads changed later (the later values of the fields this import had changed
                are lost).
            dry_run: compute and return the result, write nothing.
            undo_run_id: written as ``runId`` of the undo's audit rows (e.g. the Dagster run of the undo job).

        Returns:
            :class:`UndoResult`.

        Raises:
            UndoRefused: no import of ``file`` left to undo, conflicts without ``force``, or a back end without
                undo (this default).
        """
        raise UndoRefused(f"undo is not available on {type(self).__name__}")

    # ------------------------------------------------------------------ possible duplicates (issue 18)
    # Not abstract: the defaults below work on any back end from the methods above (candidates found in memory);
    # the writes raise NotImplementedError until a back end implements them.

    def run_lead_ids(self, run_id: str | None) -> list[str]:
        """The ids of the leads run ``run_id`` created or updated (its ``lead_created``/``lead_updated`` audit
        rows), in audit order, each once."""
        seen: dict[str, None] = {}
        for row in self.changes(run_id=run_id):
            if row.get("action") in ("lead_created", "lead_updated") and row.get("leadId"):
                seen.setdefault(row["leadId"], None)
        return list(seen)

    def duplicate_candidates(self, lead_ids: Sequence[str]) -> tuple[Any, dict[str, dict]]:
        """Candidate duplicate pairs of the leads ``lead_ids`` against the whole table, by shared blocking key
        (:mod:`easycrm_pipeline.matching.keys`), and the leads of those pairs: one round of
        :meth:`duplicate_candidate_rounds` holding every id.

        Returns:
            ``(Candidates, {leadId: lead})``.
        """
        rounds = self.duplicate_candidate_rounds(lead_ids, max(1, len(lead_ids)))
        try:
            return next(rounds, (Candidates(), {}))
        finally:
            rounds.close()

    def duplicate_candidate_rounds(self, lead_ids: Sequence[str],
                                   round_size: int) -> Iterator[tuple[Any, dict[str, dict]]]:
        """:meth:`duplicate_candidates` of ``lead_ids`` in rounds of ``round_size`` leads, the table read once.

        The default reads every lead once (:meth:`iter_leads`) and blocks in memory
        (:class:`~easycrm_pipeline.matching.pairs.BlockIndex`); the DuckDB store does it in SQL.

        Yields:
            Per round, in ``lead_ids`` order: ``(Candidates, {leadId: lead})`` (the leads of that round's pairs).
        """
        ids = list(dict.fromkeys(str(i) for i in lead_ids))
        if not ids:
            return
        table = {lead["leadId"]: lead for lead in self.iter_leads(columns=("leadId", *LEAD_FIELDS))}
        index = BlockIndex(table.values())
        for start in range(0, len(ids), round_size):
            cands = index.candidates(table[i] for i in ids[start:start + round_size] if i in table)
            yield cands, {i: table[i] for pair in cands.pairs for i in pair}

    def record_possible_duplicates(self, pairs: Sequence[Any], *, source_file: str | None,
                                   run_id: str | None) -> int:
        """Store :class:`~easycrm_pipeline.matching.pairs.FoundPair` objects as possible duplicates (a pair already
        stored gets the new score, rules, evidence, file and run); dismissed pairs are skipped.

        Returns:
            The number of pairs stored or refreshed.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot store possible duplicates")

    def possible_duplicates(self, min_score: float = 0.0) -> list[dict]:
        """The stored possible duplicates with ``score >= min_score`` whose two leads both still exist and that
        were not dismissed, best first: ``[{"leadA", "leadB", "score", "rules", "evidence", "sourceFile", "runId",
        "at", "a", "b"}]`` (``a``/``b``: the two leads' ``leadId`` and lead fields)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list possible duplicates")

    def dismissed_pairs(self) -> set[tuple[str, str]]:
        """Every pair recorded as "not the same person", as ``(smaller leadId, larger leadId)``."""
        raise NotImplementedError(f"{type(self).__name__} cannot dismiss pairs")

    def dismiss_pair(self, a: str, b: str) -> bool:
        """Record that leads ``a`` and ``b`` are different people: the pair is never proposed again.

        Returns:
            True when newly recorded, False when it already was.

        Raises:
            ValueError: ``a == b``, or a lead id that does not exist.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot dismiss pairs")

    def merge_leads(self, keep: str, other: str, *, dry_run: bool = False) -> Any:
        """Merge lead ``other`` into lead ``keep`` (rules: :mod:`easycrm_pipeline.matching.merge`) and delete
        ``other``, atomically, with audit rows ``lead_merged`` (``keep``: ``fieldsChanged``) and
        ``lead_merged_away`` (``other``: its whole row in ``details.lead``), both with ``runId`` = the merge id.

        Returns:
            :class:`~easycrm_pipeline.matching.merge.MergeResult`.

        Raises:
            ValueError: ``keep == other`` or a lead that does not exist.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot merge leads")

    def undo_merge(self, keep: str, *, force: bool = False, dry_run: bool = False,
                   undo_run_id: str | None = None) -> Any:
        """Reverse the latest merge into ``keep`` not undone yet: ``keep``'s fields and ``updatedAt`` back to their
        before-image, the merged-away lead re-created exactly (same ``leadId``, ``createdAt``, values); audit rows
        ``lead_restored`` for both with ``details.undoOfMerge``.

        Returns:
            :class:`~easycrm_pipeline.matching.merge.MergeResult` (``undone=True``).

        Raises:
            UndoRefused: no merge into ``keep`` left to undo; ``keep`` changed after the merge (unless ``force``);
                the merged-away lead's email is held by another lead now, or ``keep`` no longer exists.
        """
        raise UndoRefused(f"undoing a merge is not available on {type(self).__name__}")


def _jsonable(value: Any) -> Any:
    """A SQL result value as plain JSON-able Python (timestamps -> ISO-8601 UTC text, decimals -> float)."""
    from datetime import date, datetime, timezone
    from decimal import Decimal

    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime(TS_FORMAT)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
