"""The lead store on DynamoDB (``EASYCRM_STORE=dynamodb``), same interface and rules as the DuckDB store.

Tables (created only by :meth:`DynamoDBStore.init`, never as a side effect of a write):

``<table>`` (``EASYCRM_DYNAMODB_TABLE``, default ``easycrm-leads``) — the leads
    Hash key ``leadId`` (S). Global secondary index ``EmailIndex`` on ``email`` (S, projection ALL), as in the old
    system (docs/old-system.md); leads without email have no ``email`` attribute (sparse index). Attributes are those of
    docs/contracts.md (``None`` values are simply absent), ``createdAt``/``updatedAt`` as ISO-8601 UTC strings,
    ``rawRow`` as a JSON string, plus ``rev`` (N, bumped on every write, used for optimistic concurrency).
``<table>-meta`` — everything else, hash ``pk`` (S) + range ``sk`` (S)
    * ``pk = "EMAIL#<email>"``, ``sk = "EMAIL"``, ``leadId``: the email-uniqueness item. A lead with an email is
      created in one ``TransactWriteItems`` with a ``attribute_not_exists(pk)`` put of this item, which closes the
      race between two processes creating the same email (the GSI alone is eventually consistent and can't).
    * ``pk = "CHANGE#<newSourceFile>"``, ``sk = "<at>#<n>#<random>"``: audit rows (same attributes as DuckDB's
      ``lead_changes``; ``fieldsChanged``/``details`` as JSON strings; an update's ``details`` holds the rest of its
      before-image: ``sourceWorksheet``, ``sourceRow``, ``sourceRowId``, ``rawRow``, ``standardizer``). An undo's
      ``lead_deleted`` rows have no ``newSourceFile``: partition ``CHANGE#``.
    * ``pk = "QUARANTINE#<sourceFile>"`` (``sk = "ROW#<digest>"``, one item per distinct quarantined row:
      :meth:`DynamoDBStore.add_quarantine`), ``pk = "IMPORT#<sourceFile>"``: quarantine rows and file imports.
    * ``pk = "UNDO#<sourceFile>"``, ``sk = "RUN#<runId>"``: the import ``runId`` of that file was undone
      (:meth:`DynamoDBStore.undo_import`).

Atomicity differs from DuckDB: DynamoDB transactions hold at most 100 items, so a file is written in transactions
of up to 33 leads, each lead together with its uniqueness item and its audit row. A crash mid-file leaves the leads
of the committed transactions (each complete with its audit row); re-running the file is idempotent (unchanged
leads are not written), so the re-run converges to the table of a clean run. The same holds for the collect step's
three writes (upsert, quarantine, import record: :meth:`LeadStore.atomic
<easycrm_pipeline.store.base.LeadStore.atomic>` cannot span them here): a crash between them leaves the earlier
ones written, and the re-run completes the rest without doubling any (quarantined rows are stored once per file,
a lead without email that the file already stored is recognized by the collect step).

An update is a conditional put on the lead's ``rev``: a concurrent writer that changed the lead in between makes the
transaction fail, and the leads of that transaction are re-read and recomputed (up to ``max_attempts`` times).

Reads (``query_leads``, ``count_leads``, ``changes`` without a file) scan the table: fine for a CRM's thousands of
leads, not meant for millions.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Sequence

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from easycrm_pipeline.matching.merge import plan_merge
from easycrm_pipeline.matching.pairs import pair_of
from easycrm_pipeline.models import LEAD_FIELDS, QuarantineRow, StandardLead
from easycrm_pipeline.store.base import (
    LEAD_COLUMNS,
    LeadQuery,
    LeadStore,
    TS_FORMAT,
    StoreError,
    UndoRefused,
    UndoResult,
    UpsertStats,
    last_wins,
    normalize_email,
    unmerge_plan,
)
from easycrm_pipeline.store.plans import (
    UNDOABLE_ACTIONS,
    LeadRevert,
    LeadWrite,
    UndoPlan,
    check_upsert_args,
    duplicate_audit_rows,
    latest_undoable_run,
    plan_lead_write,
    plan_undo,
    reverted_changes,
)
from easycrm_pipeline.store.query import matches, sort_rows

_JSON_ATTRS = {"rawRow", "fieldsChanged", "details", "stats"}
_CHANGE_KEYS = ("changeId", "at", "action", "email", "leadId", "previousSourceFile", "newSourceFile",
                "fieldsChanged", "batchId", "runId", "rowId", "previousUpdatedAt", "details")
_QUARANTINE_KEYS = ("sourceFile", "sheet", "row", "reason", "rawRow", "runId", "at")
_LEADS_PER_TRANSACTION = 33  # 3 items per created lead, 100 items per TransactWriteItems
_MAX_TRANSACTION_ITEMS = 100

_ser = TypeSerializer()
_deser = TypeDeserializer()


def _iso_now() -> str:
    """Now, UTC, as the fixed-width ISO-8601 text every store returns (``2026-11-29T18:31:10.123456Z``)."""
    return datetime.now(timezone.utc).strftime(TS_FORMAT)


def _to_item(values: dict[str, Any]) -> dict[str, dict]:
    """Python values -> DynamoDB attribute values; ``None`` attributes are left out."""
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def _from_item(item: dict[str, dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        value = _deser.deserialize(v)
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        if k in _JSON_ATTRS and isinstance(value, str):
            value = json.loads(value)
        out[k] = value
    return out


def _chunks(seq: list, size: int) -> Iterable[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class DynamoDBStore(LeadStore):
    """Leads in a DynamoDB table (plus ``<table>-meta``), safe for several writer processes at once.

    Args:
        table: the leads table name (``EASYCRM_DYNAMODB_TABLE``).
        endpoint_url: an S3/DynamoDB-compatible endpoint (moto server, DynamoDB local); default: boto3's own
            resolution (``AWS_ENDPOINT_URL`` or AWS).
        region_name: default: boto3's (``AWS_DEFAULT_REGION``, its config file), else ``us-east-1``; ``get_store``
            passes ``config.Settings.aws_region`` (``AWS_REGION``, else ``AWS_DEFAULT_REGION``).
        max_attempts: how often a transaction that lost a race is recomputed before :class:`StoreError`.

    Rules: as :meth:`DuckDBStore.upsert_file <easycrm_pipeline.store.duckdb_store.DuckDBStore.upsert_file>`
    (docs/old-system.md); atomicity per transaction of up to 33 leads (see the module doc).
    """

    def __init__(self, table: str, *, endpoint_url: str | None = None, region_name: str | None = None,
                 max_attempts: int = 20) -> None:
        self.table = table
        self.meta_table = f"{table}-meta"
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.max_attempts = max_attempts
        self._client = None
        self._client_pid: int | None = None

    def __repr__(self) -> str:
        return f"DynamoDBStore({self.table!r})"

    @property
    def client(self):
        """The boto3 DynamoDB client (one per process: clients are not fork-safe)."""
        if self._client is None or self._client_pid != os.getpid():
            session = boto3.session.Session()
            region = self.region_name or session.region_name or "us-east-1"
            self._client = session.client(
                "dynamodb", endpoint_url=self.endpoint_url, region_name=region,
                config=Config(retries={"max_attempts": 10, "mode": "adaptive"}),
            )
            self._client_pid = os.getpid()
        return self._client

    # ------------------------------------------------------------------ schema

    def init(self) -> None:
        """Create the leads table (hash ``leadId``, GSI ``EmailIndex`` on ``email``) and ``<table>-meta`` (hash
        ``pk``, range ``sk``), on-demand billing, and wait until both are ACTIVE. Existing tables are kept.

        Raises:
            botocore.exceptions.ClientError: DynamoDB refused (credentials, permissions...).
        """
        specs = [
            dict(
                TableName=self.table,
                KeySchema=[{"AttributeName": "leadId", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "leadId", "AttributeType": "S"},
                                      {"AttributeName": "email", "AttributeType": "S"}],
                GlobalSecondaryIndexes=[{
                    "IndexName": "EmailIndex",
                    "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }],
                BillingMode="PAY_PER_REQUEST",
            ),
            dict(
                TableName=self.meta_table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            ),
        ]
        for spec in specs:
            try:
                self.client.create_table(**spec)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceInUseException":
                    raise
        for name in (self.table, self.meta_table):
            self.client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    # ------------------------------------------------------------------ capabilities (see LeadStore)

    def exists(self) -> bool:
        """Whether the leads table exists (``DescribeTable``).

        Raises:
            botocore.exceptions.ClientError: DynamoDB failed otherwise (credentials, permissions...).
        """
        try:
            self.client.describe_table(TableName=self.table)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            return False
        return True

    def location(self) -> str:
        """The leads table's name."""
        return self.table

    # ------------------------------------------------------------------ reads used by the upsert

    def _batch_get(self, table: str, keys: list[dict]) -> list[dict]:
        """BatchGetItem (consistent reads) for any number of keys; unprocessed keys are retried."""
        out: list[dict] = []
        for chunk in _chunks(keys, 100):
            request = {table: {"Keys": chunk, "ConsistentRead": True}}
            delay = 0.05
            while request:
                resp = self.client.batch_get_item(RequestItems=request)
                out.extend(resp.get("Responses", {}).get(table, []))
                request = resp.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
        return out

    def _existing(self, emails: list[str]) -> dict[str, dict]:
        """``{email: current lead item (plain dict)}`` for the emails that already have a lead."""
        if not emails:
            return {}
        keys = [_to_item({"pk": f"EMAIL#{e}", "sk": "EMAIL"}) for e in sorted(set(emails))]
        owners = {_from_item(i)["pk"][6:]: _from_item(i)["leadId"] for i in self._batch_get(self.meta_table, keys)}
        if not owners:
            return {}
        leads = self._batch_get(self.table, [_to_item({"leadId": lid}) for lid in set(owners.values())])
        by_id = {x["leadId"]: x for x in (_from_item(i) for i in leads)}
        return {e: by_id[lid] for e, lid in owners.items() if lid in by_id}

    # ------------------------------------------------------------------ writes

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
        """Insert or update one file's leads by email (rules and arguments of ``DuckDBStore.upsert_file``, with
        ``update_action`` the audit action of the updated leads: ``lead_updated`` or ``lead_restandardized``).

        Each lead is written with its audit row (and, when created with an email, its uniqueness item) in a
        ``TransactWriteItems`` of up to 33 leads; a transaction that loses a race with another process is re-read
        and recomputed.

        Returns:
            :class:`UpsertStats`.

        Raises:
            ValueError: unknown ``merge`` policy or ``update_action``, or empty ``source_file``.
            StoreError: a transaction kept losing races ``max_attempts`` times.
            botocore.exceptions.ClientError: DynamoDB failed (e.g. tables missing: run ``init()``).
        """
        check_upsert_args(merge, source_file, update_action)
        t0 = time.monotonic()
        batch_ids = batch_ids or {}
        duplicates_resolved = list(duplicates_resolved or [])
        stats = UpsertStats(total=len(leads))
        emails, keep = last_wins(leads)
        stats.batch_duplicates = (len(leads) - len(keep)) + sum(
            len(list(d.merged_row_ids or [])) for d in duplicates_resolved)
        counter = iter(range(1, 10**9))
        plan = functools.partial(plan_lead_write, merge=merge, source_file=source_file, run_id=run_id,
                                 update_action=update_action)
        written = self._write_leads([(leads[i], emails[i]) for i in keep], plan, stats, batch_ids=batch_ids,
                                    counter=counter, source_file=source_file)
        now = _iso_now()
        owners = self._existing(sorted({e for e in map(normalize_email, (d.email for d in duplicates_resolved))
                                        if e in written and e is not None}))
        rows = duplicate_audit_rows(duplicates_resolved, written=written, owners=owners, batch_ids=batch_ids,
                                    source_file=source_file, run_id=run_id)
        self._batch_put(self.meta_table, [self._audit_item(r, source_file=source_file, now=now, n=next(counter))
                                          for r in rows])
        stats.duplicates_detected = stats.updated + stats.unchanged + stats.batch_duplicates
        stats.processing_ms = round((time.monotonic() - t0) * 1000, 1)
        return stats

    def _change_item(self, *, source_file: str, now: str, n: int, **attrs: Any) -> dict:
        values = {"pk": f"CHANGE#{source_file}", "sk": f"{now}#{n:09d}#{uuid.uuid4().hex[:8]}",
                  "changeId": str(uuid.uuid4()), "at": now}
        values.update(attrs)
        return _to_item(values)

    def _write_leads(self, pending: list[tuple[StandardLead, str | None]], plan: Callable[..., LeadWrite | None],
                     stats: UpsertStats, *, batch_ids: dict, counter: Iterator[int], source_file: str) -> set:
        """Plan and write ``pending`` ``(lead, normalized email)``, re-reading and re-planning the leads of a
        transaction that lost a race, up to ``max_attempts`` times; counts into ``stats``. Returns the emails of
        the leads created or updated.

        Raises:
            StoreError: some leads kept losing races.
        """
        written: set[str | None] = set()
        det = 0.0
        for attempt in range(self.max_attempts):
            t = time.monotonic()
            existing = self._existing([e for _, e in pending if e is not None])
            det += time.monotonic() - t
            # the time of each attempt, taken AFTER its read: a write that depends on another's (it read that
            # one's committed version) is then always later, so per lead the audit rows' ``at`` follow the commit
            # order
            now = _iso_now()
            ops = [(lead, email, plan(lead, email, existing.get(email) if email else None, now=now,
                                      batch_id=batch_ids.get(lead.row_id), lead_id=str(uuid.uuid4())))
                   for lead, email in pending]
            stats.unchanged += sum(1 for op in ops if op[2] is None)
            pending = self._commit_chunks([op for op in ops if op[2] is not None], stats, written, now=now,
                                          counter=counter)
            if not pending:
                stats.duplicate_detection_ms = round(det * 1000, 1)
                return written
            time.sleep(min(0.02 * (attempt + 1), 0.5))
        raise StoreError(f"{len(pending)} leads of {source_file} kept conflicting with concurrent writers "
                         f"after {self.max_attempts} attempts")

    def _commit_chunks(self, ops: list[tuple[StandardLead, str | None, LeadWrite]], stats: UpsertStats,
                       written: set, *, now: str, counter: Iterator[int]) -> list[tuple[StandardLead, str | None]]:
        """Commit ``ops`` ``(lead, email, write)`` in transactions of ``_LEADS_PER_TRANSACTION`` leads, counting the
        committed ones into ``stats`` and their emails into ``written``; returns the ``(lead, email)`` of the
        transactions that lost a race."""
        lost = []
        for chunk in _chunks(ops, _LEADS_PER_TRANSACTION):
            if not self._commit_writes([w for _, _, w in chunk], now=now, counter=counter):
                lost.extend((lead, email) for lead, email, _ in chunk)
                continue
            written.update(email for _, email, _ in chunk)
            stats.created += sum(1 for _, _, w in chunk if w.created)
            stats.updated += sum(1 for _, _, w in chunk if not w.created)
        return lost

    def _audit_item(self, row: dict, *, source_file: str, now: str, n: int) -> dict:
        """An audit row of a plan (``fieldsChanged``/``details`` as dicts) as a ``CHANGE#<source_file>`` item."""
        values = dict(row)
        for key in ("fieldsChanged", "details"):
            if values.get(key) is not None:
                values[key] = json.dumps(values[key], ensure_ascii=False)
        return self._change_item(source_file=source_file, now=now, n=n, **values)

    def _commit_writes(self, writes: list[LeadWrite], *, now: str, counter: Iterator[int]) -> bool:
        """Write ``writes`` in ONE ``TransactWriteItems``: each lead's ``Put`` (a new lead: only if its id is free,
        plus its ``EMAIL#`` uniqueness item; an update: only if its ``rev`` is still the one read) and its audit
        row. Returns False when the transaction lost a race with another writer (nothing written).

        Raises:
            botocore.exceptions.ClientError: DynamoDB failed otherwise.
        """
        items: list[dict] = []
        for w in writes:
            lead = dict(w.lead, rawRow=json.dumps(w.lead["rawRow"], ensure_ascii=False),
                        rev=(w.old.get("rev", 0) + 1) if w.old else 1)
            if w.created:
                items.append({"Put": {"TableName": self.table, "Item": _to_item(lead),
                                      "ConditionExpression": "attribute_not_exists(leadId)"}})
                if lead["email"] is not None:
                    items.append({"Put": {"TableName": self.meta_table,
                                          "Item": _to_item({"pk": f"EMAIL#{lead['email']}", "sk": "EMAIL",
                                                            "leadId": lead["leadId"]}),
                                          "ConditionExpression": "attribute_not_exists(pk)"}})
            else:
                items.append({"Put": {"TableName": self.table, "Item": _to_item(lead),
                                      "ConditionExpression": "#rev = :rev",
                                      "ExpressionAttributeNames": {"#rev": "rev"},
                                      "ExpressionAttributeValues": {":rev": _ser.serialize(w.old.get("rev", 0))}}})
            items.append({"Put": {"TableName": self.meta_table, "Item": self._audit_item(
                w.audit, source_file=w.audit["newSourceFile"], now=now, n=next(counter))}})
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            return False
        return True

    def _batch_put(self, table: str, items: list[dict]) -> None:
        self._batch_write(table, [{"PutRequest": {"Item": it}} for it in items])

    def _batch_write(self, table: str, requests: list[dict]) -> None:
        """``BatchWriteItem`` of ``PutRequest``/``DeleteRequest`` entries, 25 a call, unprocessed ones retried."""
        for chunk in _chunks(requests, 25):
            request = {table: list(chunk)}
            delay = 0.05
            while request:
                resp = self.client.batch_write_item(RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)

    def add_quarantine(
        self, rows: list[QuarantineRow], *, source_file: str, run_id: str | None = None, replace: bool = False
    ) -> int:
        """Store rows that cannot become leads: items ``pk = "QUARANTINE#<file>"``, ``sk = "ROW#<digest of sheet,
        row, reason, raw cells>"``, listed in the order of their ``order`` attribute (``"<at>#<n>"``).

        A row already stored for ``source_file`` (same sheet, row, reason and raw cells; rows stored before the
        digest keys are recognized by their attributes) is skipped, so a re-run of a file, e.g. after a crash
        between its upsert and its import record, never doubles the quarantine; two runs writing the same row
        at once write the same item.

        With ``replace`` (:meth:`LeadStore.add_quarantine <easycrm_pipeline.store.base.LeadStore.add_quarantine>`)
        the file's stored items that are not among ``rows`` are deleted first, then the new ones put: not one
        transaction, but a crash in between is converged by the re-run (it deletes and puts what is left).

        Returns:
            The number of rows stored (``len(rows)`` minus the ones already stored).

        Raises:
            ValueError: a row without reason (nothing of the call is stored or deleted).
            botocore.exceptions.ClientError: DynamoDB failed.
        """
        if any(not r.reason for r in rows):
            raise ValueError("a quarantined row needs a reason")
        if not rows and not replace:
            return 0
        now = _iso_now()
        pk = f"QUARANTINE#{source_file}"
        wanted = [(r, json.dumps(r.raw or {}, ensure_ascii=False, default=str)) for r in rows]
        wanted_ids = {_quarantine_identity(r.sheet, r.row_number, r.reason, json.loads(raw)) for r, raw in wanted}
        stored: set[str] = set()
        stale: list[dict] = []
        for item in self._query_pk(pk):
            identity = _quarantine_identity(item.get("sheet"), item.get("row"), item.get("reason"),
                                            item.get("rawRow"))
            if replace and identity not in wanted_ids:
                stale.append(_to_item({"pk": item["pk"], "sk": item["sk"]}))
            else:
                stored.add(identity)
        self._batch_write(self.meta_table, [{"DeleteRequest": {"Key": key}} for key in stale])
        items = []
        for n, (r, raw) in enumerate(wanted):
            identity = _quarantine_identity(r.sheet, r.row_number, r.reason, json.loads(raw))
            if identity in stored:
                continue
            stored.add(identity)
            digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
            items.append(_to_item({"pk": pk, "sk": f"ROW#{digest}", "order": f"{now}#{n:09d}",
                                   "sourceFile": source_file, "sheet": r.sheet, "row": r.row_number,
                                   "reason": r.reason, "rawRow": raw, "runId": run_id, "at": now}))
        self._batch_put(self.meta_table, items)
        return len(items)

    def record_import(self, source_file: str, run_id: str | None, stats: dict) -> None:
        """Add a ``pk = "IMPORT#<file>"`` item with the run id and the stats (JSON string)."""
        now = _iso_now()
        self.client.put_item(TableName=self.meta_table, Item=_to_item({
            "pk": f"IMPORT#{source_file}", "sk": f"{now}#{run_id or ''}", "sourceFile": source_file,
            "runId": run_id, "at": now, "stats": json.dumps(stats or {}, ensure_ascii=False, default=str)}))

    # ------------------------------------------------------------------ reads

    def _scan(self, table: str, **kwargs) -> list[dict]:
        out, start = [], None
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            resp = self.client.scan(TableName=table, ConsistentRead=True, **kwargs)
            out.extend(_from_item(i) for i in resp.get("Items", []))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return out

    def _query_pk(self, pk: str) -> list[dict]:
        out, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            resp = self.client.query(TableName=self.meta_table, ConsistentRead=True,
                                     KeyConditionExpression="pk = :pk",
                                     ExpressionAttributeValues={":pk": {"S": pk}}, **kwargs)
            out.extend(_from_item(i) for i in resp.get("Items", []))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return out

    def _meta_rows(self, prefix: str, source_file: str | None) -> list[dict]:
        if source_file is not None:
            rows = self._query_pk(f"{prefix}{source_file}")
        else:
            rows = self._scan(self.meta_table, FilterExpression="begins_with(pk, :p)",
                              ExpressionAttributeValues={":p": {"S": prefix}})
        rows.sort(key=lambda r: r["sk"])
        return rows

    @staticmethod
    def _lead_dict(item: dict) -> dict:
        return {c: item.get(c) for c in LEAD_COLUMNS}

    def all_leads(self) -> list[dict]:
        """Every lead ordered by ``createdAt``, ``sourceRow``, ``leadId`` (a full scan)."""
        rows = [self._lead_dict(i) for i in self._scan(self.table)]
        rows.sort(key=lambda r: (r["createdAt"] or "", r["sourceRow"] or 0, r["leadId"]))
        return rows

    def iter_leads(
        self, q: LeadQuery | None = None, chunk_size: int = 1000, columns: Sequence[str] | None = None
    ) -> Iterator[dict]:
        """Every lead matching ``q``'s filters in ``q``'s order (``page``/``page_size`` ignored; ``None``: all
        leads, newest first), from ONE full scan (the generic default pages through ``query_leads``, which would
        scan the table once per 100 leads). ``chunk_size`` is checked for interface parity only.

        Raises:
            ValueError: ``chunk_size`` < 1 or an unknown column.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        names = list(columns) if columns is not None else list(LEAD_COLUMNS)
        unknown = [c for c in names if c not in LEAD_COLUMNS]
        if unknown:
            raise ValueError(f"unknown lead column(s): {', '.join(unknown)}")
        for row in self._filtered_sorted(q or LeadQuery()):
            yield {c: row.get(c) for c in names}

    def set_standardizer(self, lead_ids: Iterable[str], version: str) -> int:
        """Set ``standardizer = version`` on the given existing leads where it differs (no audit row, ``updatedAt``
        kept). Returns how many changed; unknown ids are ignored."""
        changed = 0
        for lead_id in dict.fromkeys(lead_ids):
            try:
                self.client.update_item(
                    TableName=self.table, Key=_to_item({"leadId": lead_id}),
                    UpdateExpression="SET standardizer = :v",
                    ConditionExpression="attribute_exists(leadId) AND "
                                        "(attribute_not_exists(standardizer) OR standardizer <> :v)",
                    ExpressionAttributeValues={":v": {"S": version}},
                )
                changed += 1
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return changed

    def query_leads(self, q: LeadQuery) -> tuple[list[dict], int]:
        """One page of leads matching ``q`` and the total (a full scan, then filter/sort/page in Python with the
        same semantics as the DuckDB store)."""
        ordered = self._filtered_sorted(q)
        return ordered[q.offset : q.offset + q.page_size], len(ordered)

    def _filtered_sorted(self, q: LeadQuery) -> list[dict]:
        """Every lead matching ``q`` in ``q``'s order (one full scan; rules: :mod:`~easycrm_pipeline.store.query`)."""
        return sort_rows(filter(matches(q), (self._lead_dict(i) for i in self._scan(self.table))), q)

    def get_lead_by_email(self, email: str) -> dict | None:
        """The lead holding ``email`` (normalized), looked up through the ``EmailIndex`` GSI, or None."""
        key = normalize_email(email)
        if key is None:
            return None
        resp = self.client.query(TableName=self.table, IndexName="EmailIndex",
                                 KeyConditionExpression="email = :e", ExpressionAttributeValues={":e": {"S": key}})
        items = resp.get("Items", [])
        return self._lead_dict(_from_item(items[0])) if items else None

    def count_leads(self) -> int:
        """Number of leads (a ``Select=COUNT`` scan)."""
        total, start = 0, None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            resp = self.client.scan(TableName=self.table, Select="COUNT", ConsistentRead=True, **kwargs)
            total += resp["Count"]
            start = resp.get("LastEvaluatedKey")
            if not start:
                return total

    def changes(self, source_file: str | None = None, run_id: str | None = None) -> list[dict]:
        """Audit rows in write order (``at``, then position in the call), optionally one file's and/or run's;
        dicts with the keys of DuckDB's ``lead_changes`` (without ``seq``)."""
        rows = self._meta_rows("CHANGE#", source_file)
        if run_id is not None:
            rows = [r for r in rows if r.get("runId") == run_id]
        return [{k: r.get(k) for k in _CHANGE_KEYS} for r in rows]

    def quarantine_rows(self, source_file: str | None = None) -> list[dict]:
        """Quarantined rows in insertion order (optionally one file's), keys as DuckDB's (without ``seq``)."""
        rows = self._meta_rows("QUARANTINE#", source_file)
        rows.sort(key=lambda r: r.get("order") or r["sk"])  # items stored before ``order`` have it as their sk
        return [{k: r.get(k) for k in _QUARANTINE_KEYS} for r in rows]

    def file_imports(self, source_file: str | None = None) -> list[dict]:
        """Recorded imports (oldest first): ``sourceFile``, ``runId``, ``at``, ``stats``."""
        return [{k: r.get(k) for k in ("sourceFile", "runId", "at", "stats")}
                for r in self._meta_rows("IMPORT#", source_file)]

    # ------------------------------------------------------------------ undo (issue 4)

    def undo_import(
        self, file: str, *, force: bool = False, dry_run: bool = False, undo_run_id: str | None = None
    ) -> UndoResult:
        """Revert the latest not-yet-undone import of ``file`` (semantics: :meth:`LeadStore.undo_import
        <easycrm_pipeline.store.base.LeadStore.undo_import>`, the same as the DuckDB store's).

        How (the audit rows live in ``<table>-meta``):

        1. the import: the latest ``runId`` among the ``lead_created``/``lead_updated`` rows of partition
           ``CHANGE#<file>`` without an undo marker (``pk = "UNDO#<file>"``, ``sk = "RUN#<runId>"``);
        2. its leads are read (consistent ``BatchGetItem``), THEN the audit rows written since the import are
           scanned: every write the lead read saw has its audit row in the scan (lead and audit row are written in
           one transaction), so no later change is missed;
        3. a later change of one of its still existing leads by another run (``lead_updated``/``lead_deleted``/
           ``lead_restored``/``lead_restandardized`` after this import's first change of that lead) is a conflict
           (except an undo's rows and the updates of imports already undone, as long as the lead is still what
           this import left: :func:`~easycrm_pipeline.store.base.undo_conflicts`; the undone imports are read
           from the ``UNDO#<file>`` markers of the files of those updates): :class:`UndoRefused` lists them unless
           ``force``; a lead whose stored ``updatedAt``/``sourceFile`` is
           not what this import wrote, without such an audit row, is a conflict too
           (``action = "changed_without_audit"``); leads that no longer exist are skipped (nothing to revert,
           nothing to lose);
        4. per lead, ONE conditional write (the before-image ``Put``, or ``Delete`` of a created lead together with
           its ``EMAIL#`` uniqueness item, conditioned on still pointing at this lead) plus its audit rows, in
           ``TransactWriteItems`` of at most 100 items; each lead write is conditioned on the ``rev``, ``updatedAt``
           and ``sourceFile`` read in step 2, so a lead changed between the check and the write is never silently
           overwritten: the transaction is cancelled and everything is recomputed from step 1 (which then sees the
           change and refuses, unless ``force``), up to ``max_attempts`` times;
        5. the undo marker is put (``attribute_not_exists``) in the last transaction (alone when none of the
           import's leads is left to revert: the import then counts as undone, with 0 deleted and 0 restored).

        Atomicity: an import of more than ~30 leads is undone in several transactions. If the undo is interrupted
        (or a race makes the recomputation refuse) part-way, the leads already reverted stay reverted, each with its
        audit rows (``details.undoOfChange`` names the reverted audit row); the import is not marked undone, so
        ``easycrm undo FILE`` again finishes THE SAME import and skips what was already reverted.

        Undo audit rows: partition ``CHANGE#<newSourceFile>`` (``lead_restored``: the restored ``sourceFile``;
        ``lead_deleted``: ``newSourceFile`` is null, partition ``CHANGE#``), ``details = {"undoOfRun",
        "undoOfChange"}``. Restored leads get ``rev + 1`` (``rev`` is not part of the before-image).

        Raises:
            UndoRefused: no import of ``file`` left to undo (also when the tables do not exist), or conflicts
                without ``force``.
            StoreError: the writes kept losing races with concurrent writers ``max_attempts`` times.
            botocore.exceptions.ClientError: DynamoDB failed.
        """
        committed = {"deleted": 0, "restored": 0}
        overridden: dict[tuple, dict] = {}
        run_id = None
        for attempt in range(self.max_attempts):
            plan = self._undo_plan(file)
            run_id = plan.run_id
            plan.refuse_unless(force)
            for c in plan.conflicts:
                overridden.setdefault(tuple(c.values()), c)
            if dry_run:
                return UndoResult(file=file, run_id=run_id, conflicts=plan.conflicts, dry_run=True,
                                  deleted=plan.deleted, restored=plan.restored)
            try:
                for items, reverts in self._undo_transactions(plan, undo_run_id=undo_run_id):
                    self.client.transact_write_items(TransactItems=items)
                    committed["deleted"] += sum(r.deleted for r in reverts)
                    committed["restored"] += sum(r.restored for r in reverts)
            except ClientError as exc:
                if not _lost_race(exc):
                    raise
                time.sleep(min(0.02 * (attempt + 1), 0.5))
                continue
            return UndoResult(file=file, run_id=run_id, conflicts=list(overridden.values()), **committed)
        raise StoreError(f"undo of {file!r} (run {run_id}) kept conflicting with concurrent writers after "
                         f"{self.max_attempts} attempts")

    def _undo_plan(self, file: str) -> UndoPlan:
        """Read what undoing the latest not-yet-undone import of ``file`` needs (steps 1-3 of :meth:`undo_import`)
        and plan it (:func:`~easycrm_pipeline.store.plans.plan_undo`), nothing written.

        Raises:
            UndoRefused: nothing left to undo.
        """
        try:
            done = {_marker_run(r["sk"]) for r in self._query_pk(f"UNDO#{file}")}
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            raise UndoRefused(f"no import of {file!r} left to undo (the store has no tables: run "
                              f"`easycrm init-store`)") from exc
        own = [r for r in self._query_pk(f"CHANGE#{file}") if r.get("action") in UNDOABLE_ACTIONS]
        run_id = latest_undoable_run(file, ((r.get("runId"), r["sk"]) for r in own), done)
        changes = [r for r in own if r.get("runId") == run_id]
        lead_ids = list(dict.fromkeys(c["leadId"] for c in changes if c.get("leadId")))
        # the leads BEFORE the audit scan: a write seen here has its audit row in the scan (same transaction)
        current = {x["leadId"]: x for x in (_from_item(i) for i in self._batch_get(
            self.table, [_to_item({"leadId": lid}) for lid in lead_ids]))}
        since = min(c["at"] for c in changes)
        later = self._scan(self.meta_table, FilterExpression="begins_with(pk, :p) AND #at >= :t",
                           ExpressionAttributeNames={"#at": "at"},
                           ExpressionAttributeValues={":p": {"S": "CHANGE#"}, ":t": {"S": since}})
        return plan_undo(file, run_id, changes, later, current, undone=self._undone_by(later), order="sk",
                         reverted=reverted_changes(later), check_unaudited=True)

    def _undone_by(self, later: list[dict]) -> set[tuple[str, str | None]]:
        """``(sourceFile, runId)`` of the undone imports among the files that updated leads in ``later`` (their
        ``UNDO#<file>`` markers)."""
        files = {r.get("newSourceFile") for r in later if r.get("action") == "lead_updated"} - {None}
        return {(f, _marker_run(m["sk"])) for f in sorted(files) for m in self._query_pk(f"UNDO#{f}")}

    def _undo_transactions(self, plan: UndoPlan, *, undo_run_id: str | None) -> list[tuple[list[dict], list]]:
        """``plan`` as ``[(TransactWriteItems items, the reverts they write)]``: each lead's items kept in one
        transaction of at most 100 items, the undo marker (``attribute_not_exists``) in the last one."""
        now = _iso_now()
        counter = iter(range(1, 10**9))
        transactions: list[tuple[list[dict], list]] = [([], [])]
        for revert in plan.reverts:
            items = self._undo_items(revert, now=now, undo_run_id=undo_run_id, counter=counter)
            if len(transactions[-1][0]) + len(items) > _MAX_TRANSACTION_ITEMS - 1:  # 1 left for the marker
                transactions.append(([], []))
            transactions[-1][0].extend(items)
            transactions[-1][1].append(revert)
        transactions[-1][0].append({"Put": {
            "TableName": self.meta_table,
            "Item": _to_item({"pk": f"UNDO#{plan.file}", "sk": _undo_marker_sk(plan.run_id), "runId": plan.run_id,
                              "undoRunId": undo_run_id, "at": now}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }})
        return transactions

    def _undo_items(self, revert: LeadRevert, *, now: str, undo_run_id: str | None,
                    counter: Iterator[int]) -> list[dict]:
        """The transaction items reverting one lead: its ``Put`` (before-image) or ``Delete`` (+ the ``EMAIL#``
        item), conditioned on the lead being as read (same ``rev``, ``updatedAt`` and ``sourceFile``), and its
        audit rows."""
        lead = revert.read
        lead_id = revert.lead_id
        names = {"#rev": "rev", "#u": "updatedAt", "#sf": "sourceFile", "#id": "leadId"}
        values: dict[str, dict] = {}
        conds = ["attribute_exists(#id)"]
        for placeholder, attr in (("rev", "rev"), ("u", "updatedAt"), ("sf", "sourceFile")):
            if lead.get(attr) is None:
                conds.append(f"attribute_not_exists(#{placeholder})")
            else:
                conds.append(f"#{placeholder} = :{placeholder}")
                values[f":{placeholder}"] = _ser.serialize(lead[attr])
        condition = {"ConditionExpression": " AND ".join(conds), "ExpressionAttributeNames": names}
        if values:
            condition["ExpressionAttributeValues"] = values
        items: list[dict] = []
        if revert.delete:
            items.append({"Delete": {"TableName": self.table, "Key": _to_item({"leadId": lead_id}), **condition}})
            if lead.get("email"):
                items.append({"Delete": {
                    "TableName": self.meta_table, "Key": _to_item({"pk": f"EMAIL#{lead['email']}", "sk": "EMAIL"}),
                    "ConditionExpression": "attribute_not_exists(pk) OR leadId = :id",
                    "ExpressionAttributeValues": {":id": {"S": lead_id}},
                }})
        else:
            image = {**lead, **revert.restore, "rev": (lead.get("rev") or 0) + 1}
            if isinstance(image.get("rawRow"), (dict, list)):
                image["rawRow"] = json.dumps(image["rawRow"], ensure_ascii=False)
            items.append({"Put": {"TableName": self.table, "Item": _to_item(image), **condition}})
        for row in revert.audit:
            audit = {**row, "fieldsChanged": json.dumps(row["fieldsChanged"], ensure_ascii=False),
                     "details": json.dumps(row["details"]), "runId": undo_run_id}
            items.append({"Put": {"TableName": self.meta_table, "Item": self._change_item(
                source_file=row["newSourceFile"] or "", now=now, n=next(counter), **audit)}})
        return items

    # ------------------------------------------------------------------ possible duplicates (issue 18)
    # Meta items: ``DUPE`` / ``<leadA>|<leadB>`` (a possible duplicate), ``DISMISSED`` / ``<leadA>|<leadB>``.
    # Candidates are found by the generic in-memory blocking of ``LeadStore.duplicate_candidates`` (one scan).

    def record_possible_duplicates(self, pairs: Sequence[Any], *, source_file: str | None,
                                   run_id: str | None) -> int:
        """Put ``pairs`` (``FoundPair``) as ``DUPE`` items (a stored pair is overwritten), dismissed pairs left out
        (see :meth:`LeadStore.record_possible_duplicates`)."""
        dismissed = self.dismissed_pairs()
        now = _iso_now()
        items = [_to_item({"pk": "DUPE", "sk": f"{p.lead_a}|{p.lead_b}", "leadA": p.lead_a, "leadB": p.lead_b,
                           "score": Decimal(str(p.score)), "rules": json.dumps(list(p.rules)),
                           "evidence": json.dumps(p.evidence, ensure_ascii=False), "sourceFile": source_file,
                           "runId": run_id, "at": now})
                 for p in pairs if (p.lead_a, p.lead_b) not in dismissed]
        self._batch_put(self.meta_table, items)
        return len(items)

    def possible_duplicates(self, min_score: float = 0.0) -> list[dict]:
        """Stored possible duplicates (see :meth:`LeadStore.possible_duplicates`)."""
        dismissed = self.dismissed_pairs()
        rows = [r for r in self._query_pk("DUPE")
                if r["score"] >= min_score and (r["leadA"], r["leadB"]) not in dismissed]
        ids = sorted({i for r in rows for i in (r["leadA"], r["leadB"])})
        leads = {x["leadId"]: x for x in (_from_item(i) for i in self._batch_get(
            self.table, [_to_item({"leadId": i}) for i in ids]))}
        fields = ("leadId", *LEAD_FIELDS, "sourceFile")
        out = []
        for r in rows:
            if r["leadA"] in leads and r["leadB"] in leads:
                item = {k: r.get(k) for k in ("leadA", "leadB", "score", "rules", "evidence", "sourceFile", "runId",
                                              "at")}
                item["score"] = float(item["score"])
                item["rules"], item["evidence"] = json.loads(r["rules"]), json.loads(r["evidence"])
                item["a"] = {c: leads[r["leadA"]].get(c) for c in fields}
                item["b"] = {c: leads[r["leadB"]].get(c) for c in fields}
                out.append(item)
        out.sort(key=lambda p: (-p["score"], p["leadA"], p["leadB"]))
        return out

    def dismissed_pairs(self) -> set[tuple[str, str]]:
        """Every dismissed pair ``(leadA, leadB)``."""
        return {(r["leadA"], r["leadB"]) for r in self._query_pk("DISMISSED")}

    def dismiss_pair(self, a: str, b: str) -> bool:
        """Record leads ``a`` and ``b`` as different people (a conditional put: False when already recorded).

        Raises:
            ValueError: ``a == b`` or a lead id that does not exist.
        """
        lead_a, lead_b = pair_of(str(a), str(b))
        found = {_from_item(i)["leadId"] for i in self._batch_get(
            self.table, [_to_item({"leadId": i}) for i in (lead_a, lead_b)])}
        missing = [i for i in (lead_a, lead_b) if i not in found]
        if missing:
            raise ValueError(f"no lead with leadId {missing[0]!r}")
        try:
            self.client.put_item(TableName=self.meta_table, ConditionExpression="attribute_not_exists(pk)",
                                 Item=_to_item({"pk": "DISMISSED", "sk": f"{lead_a}|{lead_b}", "leadA": lead_a,
                                                "leadB": lead_b, "at": _iso_now()}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    @staticmethod
    def _stored(lead: dict) -> dict:
        """A lead dict (``rawRow`` parsed) as the item to put (``rawRow`` as JSON text)."""
        out = dict(lead)
        if isinstance(out.get("rawRow"), (dict, list)):
            out["rawRow"] = json.dumps(out["rawRow"], ensure_ascii=False)
        return out

    def _email_items(self, email: str | None, *, holder: str, was: str | None) -> list[dict]:
        """Transaction items moving the ``EMAIL#`` item of ``email`` to lead ``holder`` (``None``: deleting it)
        from lead ``was`` (``None``: it must not exist yet)."""
        if not email:
            return []
        key = {"pk": f"EMAIL#{email}", "sk": "EMAIL"}
        cond = ({"ConditionExpression": "attribute_not_exists(pk)"} if was is None else
                {"ConditionExpression": "leadId = :was", "ExpressionAttributeValues": {":was": {"S": was}}})
        if holder is None:
            return [{"Delete": {"TableName": self.meta_table, "Key": _to_item(key), **cond}}]
        return [{"Put": {"TableName": self.meta_table, "Item": _to_item({**key, "leadId": holder}), **cond}}]

    def _lead_put(self, item: dict, *, rev: int | None) -> dict:
        """A ``Put`` of a lead item, conditional on its stored ``rev`` (``None``: it must not exist)."""
        cond = ({"ConditionExpression": "attribute_not_exists(leadId)"} if rev is None else
                {"ConditionExpression": "#rev = :rev", "ExpressionAttributeNames": {"#rev": "rev"},
                 "ExpressionAttributeValues": {":rev": _ser.serialize(rev)}})
        return {"Put": {"TableName": self.table, "Item": _to_item(self._stored(item)), **cond}}

    def _transact(self, items: list[dict], what: str) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _lost_race(exc):
                raise StoreError(f"{what}: a lead changed meanwhile; nothing was written, try again") from exc
            raise

    def merge_leads(self, keep: str, other: str, *, dry_run: bool = False) -> Any:
        """Merge ``other`` into ``keep`` in ONE ``TransactWriteItems`` (conditional on both leads' ``rev``): KEEP
        put, OTHER deleted, OTHER's ``EMAIL#`` item moved to KEEP or deleted, two audit items (see
        :meth:`LeadStore.merge_leads`).

        Raises:
            ValueError: ``keep == other`` or a lead that does not exist.
            StoreError: one of the leads changed meanwhile (nothing written).
        """
        rows = {x["leadId"]: x for x in (_from_item(i) for i in self._batch_get(
            self.table, [_to_item({"leadId": i}) for i in {str(keep), str(other)}]))}
        plan = plan_merge(keep, other, rows)
        if dry_run:
            return plan.result(None)
        k, o, after, changed, gone = plan.keep, plan.other, plan.lead, plan.changed, plan.gone
        merge_id = f"merge-{uuid.uuid4()}"
        now = _iso_now()
        counter = iter(range(1, 10))
        items = [self._lead_put(dict(k, **after, updatedAt=now, rev=k.get("rev", 0) + 1), rev=k.get("rev", 0)),
                 {"Delete": {"TableName": self.table, "Key": _to_item({"leadId": o["leadId"]}),
                             "ConditionExpression": "#rev = :rev", "ExpressionAttributeNames": {"#rev": "rev"},
                             "ExpressionAttributeValues": {":rev": _ser.serialize(o.get("rev", 0))}}}]
        if o.get("email"):
            items += self._email_items(o["email"], holder=k["leadId"] if after["email"] == o["email"] else None,
                                       was=o["leadId"])
        for lead, action, fields, new_file, details in (
            (k, "lead_merged", changed, k.get("sourceFile"),
             {"mergeId": merge_id, "keptLeadId": k["leadId"], "mergedLeadId": o["leadId"]}),
            (o, "lead_merged_away", gone, None,
             {"mergeId": merge_id, "mergedInto": k["leadId"], "lead": self._lead_dict(o)}),
        ):
            items.append({"Put": {"TableName": self.meta_table, "Item": self._change_item(
                source_file=str(k.get("sourceFile")), now=now, n=next(counter), action=action,
                email=after["email"] if lead is k else o.get("email"), leadId=lead["leadId"],
                previousSourceFile=lead.get("sourceFile"), newSourceFile=new_file,
                fieldsChanged=json.dumps(fields, ensure_ascii=False), runId=merge_id,
                previousUpdatedAt=lead.get("updatedAt"), details=json.dumps(details, ensure_ascii=False))}})
        self._transact(items, "merge")
        return plan.result(merge_id)

    def undo_merge(self, keep: str, *, force: bool = False, dry_run: bool = False,
                   undo_run_id: str | None = None) -> Any:
        """Reverse the latest merge into ``keep`` in ONE ``TransactWriteItems`` (see :meth:`LeadStore.undo_merge`).

        Raises:
            UndoRefused: nothing to undo, later changes without ``force``, or the merged-away lead cannot come back.
            StoreError: a lead changed meanwhile (nothing written).
        """
        audit, merge, other = self._merge_to_undo(str(keep))
        rows = {x["leadId"]: x for x in (_from_item(i) for i in self._batch_get(
            self.table, [_to_item({"leadId": i}) for i in (str(keep), other["leadId"])]))}
        current = rows.get(str(keep))
        holder = None
        if other.get("email"):
            got = self._batch_get(self.meta_table, [_to_item({"pk": f"EMAIL#{other['email']}", "sk": "EMAIL"})])
            holder = _from_item(got[0])["leadId"] if got else None
        blocker = other["leadId"] if other["leadId"] in rows else (holder if holder not in (None, str(keep)) else None)
        later = [r for r in audit if r.get("leadId") == str(keep) and (r["at"], r["sk"]) > (merge["at"], merge["sk"])]
        result = unmerge_plan(str(keep), merge, other, current, blocker, later, force=force, dry_run=dry_run)
        if dry_run:
            return result
        items = self._unmerge_items(result, merge, other, current, holder, undo_run_id)
        self._transact(items, "undo of the merge")
        return result


    def _merge_to_undo(self, keep: str) -> tuple[list[dict], dict, dict]:
        """``(every audit row in write order, KEEP's latest lead_merged row not undone yet, the merged-away lead)``.

        Raises:
            UndoRefused: no merge into ``keep`` left to undo.
        """
        audit = sorted(self._scan(self.meta_table, FilterExpression="begins_with(pk, :p)",
                                  ExpressionAttributeValues={":p": {"S": "CHANGE#"}}),
                       key=lambda r: (r["at"], r["sk"]))
        undone = {(r.get("details") or {}).get("undoOfMerge") for r in audit
                  if r.get("action") == "lead_restored" and isinstance(r.get("details"), dict)}
        merge = next((r for r in reversed(audit) if r.get("action") == "lead_merged" and r.get("leadId") == keep
                      and r.get("runId") not in undone), None)
        if merge is None:
            raise UndoRefused(f"no merge into lead {keep!r} left to undo")
        away = next(r for r in audit if r.get("runId") == merge["runId"] and r.get("action") == "lead_merged_away")
        return audit, merge, away["details"]["lead"]

    def _unmerge_items(self, result: Any, merge: dict, other: dict, current: dict, holder: str | None,
                       undo_run_id: str | None) -> list[dict]:
        """The transaction items of an undone merge: KEEP put back (conditional on its ``rev``), OTHER re-created,
        OTHER's ``EMAIL#`` item back to it (from ``holder``), two ``lead_restored`` audit items."""
        now = _iso_now()
        counter = iter(range(1, 10))
        lead = result.lead
        restored = {k: v for k, v in dict(current, **lead, updatedAt=merge.get("previousUpdatedAt")).items()
                    if v is not None}
        restored["rev"] = current.get("rev", 0) + 1
        items = [self._lead_put(restored, rev=current.get("rev", 0)),
                 self._lead_put({k: v for k, v in other.items() if v is not None}, rev=None)]
        if other.get("email"):
            items += self._email_items(other["email"], holder=other["leadId"], was=holder)
        back = {f: {"before": None, "after": other.get(f)} for f in LEAD_FIELDS if other.get(f) is not None}
        details = json.dumps({"undoOfMerge": result.merge_id})
        for lead_id, email, fields, prev_file, new_file in (
            (result.keep, lead["email"], result.changed, current.get("sourceFile"), current.get("sourceFile")),
            (other["leadId"], other.get("email"), back, None, other.get("sourceFile")),
        ):
            items.append({"Put": {"TableName": self.meta_table, "Item": self._change_item(
                source_file=str(current.get("sourceFile")), now=now, n=next(counter), action="lead_restored",
                email=email, leadId=lead_id, previousSourceFile=prev_file, newSourceFile=new_file,
                fieldsChanged=json.dumps(fields, ensure_ascii=False), runId=undo_run_id, details=details)}})
        return items

def _lost_race(exc: ClientError) -> bool:
    """True when a ``TransactWriteItems`` failed only because of other writers (a condition no longer held, or a
    concurrent transaction on the same item), not because the request itself is wrong."""
    code = exc.response["Error"]["Code"]
    if code == "TransactionConflictException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    return all(r.get("Code") in (None, "None", "ConditionalCheckFailed", "TransactionConflict") for r in reasons)


def _quarantine_identity(sheet: Any, row: Any, reason: Any, raw: Any) -> str:
    """What makes two quarantined rows of one file the same row (``add_quarantine`` stores it once)."""
    return json.dumps([sheet, None if row is None else int(row), reason, raw], ensure_ascii=False, sort_keys=True,
                      default=str)


def _undo_marker_sk(run_id: str | None) -> str:
    """The sort key of an import's undo marker (``pk = "UNDO#<file>"``); a run without id gets ``"NORUN"``."""
    return "NORUN" if run_id is None else f"RUN#{run_id}"


def _marker_run(sk: str) -> str | None:
    """The ``runId`` an undo marker's sort key names (inverse of :func:`_undo_marker_sk`)."""
    return None if sk == "NORUN" else sk.removeprefix("RUN#")
