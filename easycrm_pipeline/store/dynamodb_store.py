"""The lead store on DynamoDB (``EASYCRM_STORE=dynamodb``), same interface and rules as the DuckDB store.

Tables (created only by :meth:`DynamoDBStore.init`, never as a side effect of a write):

``<table>`` (``EASYCRM_DYNAMODB_TABLE``, default ``easycrm-leads``) — the leads
    Hash key ``leadId`` (S). Global secondary index ``EmailIndex`` on ``email`` (S, projection ALL), as in the seeds
    (002 "EmailIndex GSI"); leads without email have no ``email`` attribute (sparse index). Attributes are those of
    DESIGN.md section 4 (``None`` values are simply absent), ``createdAt``/``updatedAt`` as ISO-8601 UTC strings,
    ``rawRow`` as a JSON string, plus ``rev`` (N, bumped on every write, used for optimistic concurrency).
``<table>-meta`` — everything else, hash ``pk`` (S) + range ``sk`` (S)
    * ``pk = "EMAIL#<email>"``, ``sk = "EMAIL"``, ``leadId``: the email-uniqueness item. A lead with an email is
      created in one ``TransactWriteItems`` with a ``attribute_not_exists(pk)`` put of this item, which closes the
      race between two processes creating the same email (the GSI alone is eventually consistent and can't).
    * ``pk = "CHANGE#<sourceFile>"``, ``sk = "<at>#<n>"``: audit rows (same attributes as DuckDB's
      ``lead_changes``; ``fieldsChanged``/``details`` as JSON strings).
    * ``pk = "QUARANTINE#<sourceFile>"``, ``pk = "IMPORT#<sourceFile>"``: quarantine rows and file imports.

Atomicity differs from DuckDB: DynamoDB transactions hold at most 100 items, so a file is written in transactions
of up to 33 leads, each lead together with its uniqueness item and its audit row. A crash mid-file leaves the leads
of the committed transactions (each complete with its audit row); re-running the file is idempotent (unchanged
leads are not written), so the re-run converges to the table of a clean run. An update is a conditional put on the
lead's ``rev``: a concurrent writer that changed the lead in between makes the transaction fail, and the leads of
that transaction are re-read and recomputed (up to ``max_attempts`` times).

Reads (``query_leads``, ``count_leads``, ``changes`` without a file) scan the table: fine for a CRM's thousands of
leads, not meant for millions.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator, Sequence

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from easycrm_pipeline.models import LEAD_FIELDS, QuarantineRow, StandardLead
from easycrm_pipeline.store.base import (
    LEAD_COLUMNS,
    MERGE_POLICIES,
    SEARCH_FIELDS,
    LeadQuery,
    LeadStore,
    StoreError,
    UpsertStats,
    clean_value,
    last_wins,
    normalize_email,
)

_VALUE_FIELDS: tuple[str, ...] = tuple(f for f in LEAD_FIELDS if f != "email")
_TEXT_SORT = set(LEAD_FIELDS) | {"sourceFile", "sourceWorksheet", "leadId"}
_JSON_ATTRS = {"rawRow", "fieldsChanged", "details", "stats"}
_CHANGE_KEYS = ("changeId", "at", "action", "email", "leadId", "previousSourceFile", "newSourceFile",
                "fieldsChanged", "batchId", "runId", "rowId", "previousUpdatedAt", "details")
_QUARANTINE_KEYS = ("sourceFile", "sheet", "row", "reason", "rawRow", "runId", "at")
_LEADS_PER_TRANSACTION = 33  # 3 items per created lead, 100 items per TransactWriteItems

_ser = TypeSerializer()
_deser = TypeDeserializer()


def _iso_now() -> str:
    """Now, UTC, as the fixed-width ISO-8601 text every store returns (``2026-11-29T18:31:10.123456Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        region_name: default: boto3's (``AWS_REGION``/``AWS_DEFAULT_REGION``), else ``us-east-1``.
        max_attempts: how often a transaction that lost a race is recomputed before :class:`StoreError`.

    Rules: as :meth:`DuckDBStore.upsert_file <easycrm_pipeline.store.duckdb_store.DuckDBStore.upsert_file>`
    (seeds 000/002 "Duplicate Lead Handling"); atomicity per transaction of up to 33 leads (see the module doc).
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
            region = (self.region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                      or "us-east-1")
            self._client = boto3.session.Session().client(
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
    ) -> UpsertStats:
        """Insert or update one file's leads by email (rules of ``DuckDBStore.upsert_file``).

        Each lead is written with its audit row (and, when created with an email, its uniqueness item) in a
        ``TransactWriteItems`` of up to 33 leads; a transaction that loses a race with another process is re-read
        and recomputed.

        Returns:
            :class:`UpsertStats`.

        Raises:
            ValueError: unknown ``merge`` policy or empty ``source_file``.
            StoreError: a transaction kept losing races ``max_attempts`` times.
            botocore.exceptions.ClientError: DynamoDB failed (e.g. tables missing: run ``init()``).
        """
        if merge not in MERGE_POLICIES:
            raise ValueError(f"merge must be one of {', '.join(MERGE_POLICIES)}, got {merge!r}")
        if not source_file or not str(source_file).strip():
            raise ValueError("source_file must be a non-empty file name")
        t0 = time.monotonic()
        batch_ids = batch_ids or {}
        duplicates_resolved = list(duplicates_resolved or [])
        stats = UpsertStats(total=len(leads))
        emails, keep = last_wins(leads)
        stats.batch_duplicates = (len(leads) - len(keep)) + sum(
            len(list(d.merged_row_ids or [])) for d in duplicates_resolved)
        counter = iter(range(1, 10**9))

        pending = [(leads[i], emails[i]) for i in keep]
        det = 0.0
        for attempt in range(self.max_attempts):
            t = time.monotonic()
            existing = self._existing([e for _, e in pending if e is not None])
            det += time.monotonic() - t
            # the time of each attempt, taken AFTER its read: a write that depends on another's (it read that
            # one's committed version) is then always later, so per lead the audit rows' ``at`` follow the commit
            # order
            now = _iso_now()
            ops = []  # (kind, [transact items])
            for lead, email in pending:
                op = self._plan(lead, email, existing.get(email) if email else None, merge=merge,
                                source_file=source_file, run_id=run_id, batch_id=batch_ids.get(lead.row_id),
                                now=now, n=next(counter))
                if op is None:
                    stats.unchanged += 1
                else:
                    ops.append((lead, email, op))
            retry = []
            for chunk in _chunks(ops, _LEADS_PER_TRANSACTION):
                items = [it for _, _, (_, its) in chunk for it in its]
                try:
                    self.client.transact_write_items(TransactItems=items)
                except ClientError as exc:
                    code = exc.response["Error"]["Code"]
                    if code not in ("TransactionCanceledException", "TransactionConflictException"):
                        raise
                    retry.extend((lead, email) for lead, email, _ in chunk)
                    continue
                for _, _, (kind, _) in chunk:
                    if kind == "created":
                        stats.created += 1
                    else:
                        stats.updated += 1
            if not retry:
                break
            pending = retry
            time.sleep(min(0.02 * (attempt + 1), 0.5))
        else:
            raise StoreError(f"{len(pending)} leads of {source_file} kept conflicting with concurrent writers "
                             f"after {self.max_attempts} attempts")
        stats.duplicate_detection_ms = round(det * 1000, 1)

        now = _iso_now()
        if duplicates_resolved:
            owners = self._existing([normalize_email(d.email) for d in duplicates_resolved
                                     if normalize_email(d.email)])
            rows = []
            for d in duplicates_resolved:
                email = normalize_email(d.email)
                owner = owners.get(email) if email else None
                rows.append(self._change_item(
                    source_file=source_file, now=now, n=next(counter), action="batch_duplicate_resolved",
                    email=email, leadId=owner["leadId"] if owner else None, newSourceFile=source_file,
                    batchId=None if batch_ids.get(d.kept_row_id) is None else str(batch_ids[d.kept_row_id]),
                    runId=run_id, rowId=d.kept_row_id,
                    details=json.dumps({"keptRowId": d.kept_row_id, "mergedRowIds": list(d.merged_row_ids or [])},
                                       ensure_ascii=False),
                ))
            self._batch_put(self.meta_table, rows)
        stats.duplicates_detected = stats.updated + stats.unchanged + stats.batch_duplicates
        stats.processing_ms = round((time.monotonic() - t0) * 1000, 1)
        return stats

    def _change_item(self, *, source_file: str, now: str, n: int, **attrs: Any) -> dict:
        values = {"pk": f"CHANGE#{source_file}", "sk": f"{now}#{n:09d}#{uuid.uuid4().hex[:8]}",
                  "changeId": str(uuid.uuid4()), "at": now}
        values.update(attrs)
        return _to_item(values)

    def _plan(self, lead: StandardLead, email: str | None, old: dict | None, *, merge: str, source_file: str,
              run_id: str | None, batch_id: Any, now: str, n: int) -> tuple[str, list[dict]] | None:
        """The transaction items writing one lead (``("created"|"updated", items)``), or None when unchanged."""
        new_values: dict[str, Any] = {}
        changed: dict[str, dict] = {}
        for f in _VALUE_FIELDS:
            before = old.get(f) if old else None
            value = clean_value(lead.fields.get(f))
            provided = f in lead.provided
            if merge == "replace":
                after = value if provided else before
            else:
                after = value if provided and value is not None else before
            new_values[f] = after
            if after != before:
                changed[f] = {"before": before, "after": after}
        if old is not None and not changed:
            return None
        if old is None and email is not None:
            changed["email"] = {"before": None, "after": email}
        changed = {f: changed[f] for f in LEAD_FIELDS if f in changed}
        batch = None if batch_id is None else str(batch_id)
        item = dict(
            new_values,
            leadId=old["leadId"] if old else str(uuid.uuid4()),
            email=email,
            sourceFile=source_file,
            sourceWorksheet=lead.sheet,
            sourceRow=lead.row_number,
            sourceRowId=lead.row_id,
            createdAt=old["createdAt"] if old else now,
            updatedAt=now,
            rawRow=json.dumps(lead.raw or {}, ensure_ascii=False),
            standardizer=lead.standardizer,
            rev=(old.get("rev", 0) + 1) if old else 1,
        )
        audit = self._change_item(
            source_file=source_file, now=now, n=n, action="lead_updated" if old else "lead_created", email=email,
            leadId=item["leadId"], previousSourceFile=old.get("sourceFile") if old else None,
            newSourceFile=source_file, fieldsChanged=json.dumps(changed, ensure_ascii=False), batchId=batch,
            runId=run_id, rowId=lead.row_id, previousUpdatedAt=old.get("updatedAt") if old else None,
        )
        items: list[dict] = []
        if old is None:
            items.append({"Put": {"TableName": self.table, "Item": _to_item(item),
                                  "ConditionExpression": "attribute_not_exists(leadId)"}})
            if email is not None:
                items.append({"Put": {"TableName": self.meta_table,
                                      "Item": _to_item({"pk": f"EMAIL#{email}", "sk": "EMAIL",
                                                        "leadId": item["leadId"]}),
                                      "ConditionExpression": "attribute_not_exists(pk)"}})
        else:
            items.append({"Put": {"TableName": self.table, "Item": _to_item(item),
                                  "ConditionExpression": "#rev = :rev",
                                  "ExpressionAttributeNames": {"#rev": "rev"},
                                  "ExpressionAttributeValues": {":rev": _ser.serialize(old.get("rev", 0))}}})
        items.append({"Put": {"TableName": self.meta_table, "Item": audit}})
        return ("updated" if old else "created"), items

    def _batch_put(self, table: str, items: list[dict]) -> None:
        for chunk in _chunks(items, 25):
            request = {table: [{"PutRequest": {"Item": it}} for it in chunk]}
            delay = 0.05
            while request:
                resp = self.client.batch_write_item(RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)

    def add_quarantine(self, rows: list[QuarantineRow], *, source_file: str, run_id: str | None = None) -> int:
        """Store rows that cannot become leads (items ``pk = "QUARANTINE#<file>"``); returns ``len(rows)``.

        Raises:
            botocore.exceptions.ClientError: DynamoDB failed.
        """
        now = _iso_now()
        items = [
            _to_item({"pk": f"QUARANTINE#{source_file}", "sk": f"{now}#{n:09d}", "sourceFile": source_file,
                      "sheet": r.sheet, "row": r.row_number, "reason": r.reason,
                      "rawRow": json.dumps(r.raw or {}, ensure_ascii=False, default=str), "runId": run_id,
                      "at": now})
            for n, r in enumerate(rows)
        ]
        for it in items:
            if "reason" not in it:
                raise ValueError("a quarantined row needs a reason")
        self._batch_put(self.meta_table, items)
        return len(rows)

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
        rows = [r for r in (self._lead_dict(i) for i in self._scan(self.table)) if _matches(r, q)]
        rows.sort(key=lambda r: (r["sourceRow"] is None, r["sourceRow"] or 0, r["leadId"]))
        present = [r for r in rows if r[q.sort] is not None]
        missing = [r for r in rows if r[q.sort] is None]

        def key(r):
            v = r[q.sort]
            return v.lower() if q.sort in _TEXT_SORT else v

        present.sort(key=key, reverse=q.descending)
        return present + missing

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
        return [{k: r.get(k) for k in _QUARANTINE_KEYS} for r in self._meta_rows("QUARANTINE#", source_file)]

    def file_imports(self, source_file: str | None = None) -> list[dict]:
        """Recorded imports (oldest first): ``sourceFile``, ``runId``, ``at``, ``stats``."""
        return [{k: r.get(k) for k in ("sourceFile", "runId", "at", "stats")}
                for r in self._meta_rows("IMPORT#", source_file)]


def _matches(row: dict, q: LeadQuery) -> bool:
    for col, text in q.column_filters().items():
        value = (row.get(col) or "").lower()
        if text.lower() in value:
            continue
        if col == "phone":
            digits = "".join(ch for ch in text if ch.isdigit())
            if digits and digits in "".join(ch for ch in value if ch.isdigit()):
                continue
        return False
    for term in q.search_terms():
        if not any(term in (row.get(f) or "").lower() for f in SEARCH_FIELDS):
            return False
    return True
