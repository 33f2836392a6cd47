"""Re-standardization changes only stale leads, through upsert_file (audit rows), and leaves the rest alone."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from easycrm_pipeline.models import LEAD_FIELDS, RawRow, StandardLead
from easycrm_pipeline.pipeline.batches import Batch, BatchResult
from easycrm_pipeline.pipeline.restandardize import AUDIT_BATCH_ID, raw_row_of, restandardize
from easycrm_pipeline.pipeline.standardizer import RulesStandardizer
from easycrm_pipeline.rules import RULES_VERSION
from easycrm_tests.readers.seed import env_store

OLD = "rules-0"


def standard(row: int, raw: dict, fields: dict, version: str, sheet: str | None = None) -> StandardLead:
    """A StandardLead as an older standardizer might have stored it: raw row + (possibly worse) fields."""
    return StandardLead(
        row_id=f"0:{row}", sheet=sheet, row_number=row, fields={f: fields.get(f) for f in LEAD_FIELDS},
        provided=frozenset(LEAD_FIELDS), raw=raw, standardizer=version,
    )


@pytest.fixture
def store():
    s = env_store()
    s.upsert_file(
        [
            # stale, and today's rules give other values (ALL CAPS names / company get cased)
            standard(2, {"First Name": "ALEX", "Last Name": "SMITH", "Email": "Alex@Example.com",
                         "Company": "ACME TRADING GMBH"},
                     {"firstName": "ALEX", "lastName": "SMITH", "email": "alex@example.com", "company": "ACME TRADING GMBH"},
                     OLD),
            # stale, but today's rules give the same values
            standard(3, {"First Name": "Bo", "Last Name": "Lee", "Email": "bo@example.com"},
                     {"firstName": "Bo", "lastName": "Lee", "email": "bo@example.com"}, OLD),
            # current version, with values today's rules WOULD change: must stay untouched
            standard(4, {"First Name": "CY", "Last Name": "OLDER", "Email": "cy@example.com"},
                     {"firstName": "CY", "lastName": "OLDER", "email": "cy@example.com"}, RULES_VERSION),
            # stale without email: upsert_file cannot address it, so it is skipped
            standard(5, {"First Name": "NO", "Last Name": "MAIL"}, {"firstName": "NO", "lastName": "MAIL"}, OLD),
        ],
        source_file="a.csv",
        run_id="ingest-a",
    )
    s.upsert_file(
        [standard(7, {"Name": "DANA WHITE", "E-Mail": "dana@example.com", "Title": "CFO"},
                  {"firstName": "DANA WHITE", "email": "dana@example.com", "title": "CFO"}, OLD,
                  sheet="Sheet 2")],
        source_file="b.xlsx",
        run_id="ingest-b",
    )
    return s


def by_email(store):
    return {r["email"]: r for r in store.all_leads()}


def test_raw_row_is_rebuilt_from_the_stored_lead():
    row = raw_row_of({"sourceRowId": "1:7", "sourceWorksheet": "S", "sourceRow": 7,
                      "rawRow": {"Name": "Kim", "Phone": 12, "X": None}})
    assert row == RawRow(row_id="1:7", sheet="S", row_number=7, cells=(("Name", "Kim"), ("Phone", "12"), ("X", "")))


def test_dry_run_counts_and_writes_nothing(store):
    before = (store.all_leads(), len(store.changes()))
    result = restandardize(store, RulesStandardizer(), dry_run=True)
    assert result.dry_run and result.current_version == RULES_VERSION
    assert result.stale == 4
    assert result.stale_by_version == {OLD: 4}
    assert result.stale_by_file == {"a.csv": 3, "b.xlsx": 1}
    assert sorted(s["email"] or "" for s in result.sample) == ["", "alex@example.com", "bo@example.com",
                                                              "dana@example.com"]
    assert result.updated == result.unchanged == result.batches == 0
    assert (store.all_leads(), len(store.changes())) == before


def test_run_changes_only_stale_leads_and_writes_audit_rows(store):
    before = by_email(store)
    result = restandardize(store, RulesStandardizer(), batch_size=2, run_id="restd-1")
    after = by_email(store)

    assert result.stale == 4
    assert result.updated == 2          # alex (cased) and dana (full name split)
    assert result.unchanged == 1        # bo: same values, version bumped only
    assert result.version_bumped == 1
    assert result.skipped_no_email == 1
    assert result.skipped_email_changed == 0 and result.skipped_failed == 0
    assert result.batches == 2          # a.csv: alex+bo in one batch of 2; b.xlsx: dana

    alex = after["alex@example.com"]
    assert (alex["firstName"], alex["lastName"], alex["company"]) == ("Alex", "Smith", "Acme Trading GmbH")
    assert alex["standardizer"] == RULES_VERSION
    assert alex["leadId"] == before["alex@example.com"]["leadId"]
    assert alex["createdAt"] == before["alex@example.com"]["createdAt"]
    assert alex["updatedAt"] > before["alex@example.com"]["updatedAt"]
    assert alex["sourceFile"] == "a.csv" and alex["sourceRowId"] == "0:2"

    dana = after["dana@example.com"]
    assert (dana["firstName"], dana["lastName"], dana["title"]) == ("Dana", "White", "CFO")
    assert dana["sourceFile"] == "b.xlsx" and dana["sourceWorksheet"] == "Sheet 2" and dana["sourceRow"] == 7

    bo = after["bo@example.com"]
    assert bo["standardizer"] == RULES_VERSION
    assert {k: v for k, v in bo.items() if k != "standardizer"} == {
        k: v for k, v in before["bo@example.com"].items() if k != "standardizer"}

    # the current-version lead is untouched even though today's rules would case it
    assert after["cy@example.com"] == before["cy@example.com"]
    # the email-less stale lead is left exactly as it was, and no duplicate was created
    (nomail,) = [r for r in store.all_leads() if r["email"] is None]
    assert (nomail["firstName"], nomail["standardizer"]) == ("NO", OLD)
    assert store.count_leads() == 5

    audit = store.changes(run_id="restd-1")
    assert sorted((c["action"], c["email"]) for c in audit) == [
        ("lead_restandardized", "alex@example.com"), ("lead_restandardized", "dana@example.com")]
    alex_change = next(c for c in audit if c["email"] == "alex@example.com")
    assert alex_change["fieldsChanged"] == {
        "firstName": {"before": "ALEX", "after": "Alex"},
        "lastName": {"before": "SMITH", "after": "Smith"},
        "company": {"before": "ACME TRADING GMBH", "after": "Acme Trading GmbH"},
    }
    assert alex_change["batchId"] == AUDIT_BATCH_ID
    assert alex_change["previousSourceFile"] == alex_change["newSourceFile"] == "a.csv"

    again = restandardize(store, RulesStandardizer(), run_id="restd-2")
    assert (again.stale, again.updated, again.unchanged) == (1, 0, 0)   # only the email-less lead stays stale
    assert store.changes(run_id="restd-2") == []


@dataclass
class Shouting:
    """A stand-in 'new' standardizer: the rules, then the company upper-cased; with ``fail_csv`` every batch of CSV
    rows (no worksheet) fails as if DeepSeek's retries were exhausted; ``email_to`` rewrites bo's email."""

    version: str = "shout-2"
    fail_csv: bool = False
    email_to: str | None = None

    def standardize(self, batch: Batch) -> BatchResult:
        from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed

        if self.fail_csv and any(r.sheet is None for r in batch.rows):
            raise DeepSeekBatchFailed("retries exhausted")
        out = RulesStandardizer().standardize(batch)
        for lead in out.leads:
            if lead.fields.get("company"):
                lead.fields["company"] = lead.fields["company"].upper()
            if self.email_to and lead.fields.get("email") == "bo@example.com":
                lead.fields["email"] = self.email_to
            lead.standardizer = self.version
        return out


def test_a_new_standardizer_version_makes_every_lead_stale(store):
    result = restandardize(store, Shouting(), run_id="shout")
    assert result.stale == 5 and result.current_version == "shout-2"
    leads = by_email(store)
    assert leads["alex@example.com"]["company"] == "ACME TRADING GMBH"
    assert leads["alex@example.com"]["firstName"] == "Alex"
    assert {r["standardizer"] for r in leads.values() if r["email"]} == {"shout-2"}


def test_failed_batches_and_changed_emails_are_left_stale(store):
    result = restandardize(store, Shouting(fail_csv=True, email_to="robert@example.com"), batch_size=10, run_id="x")
    # a.csv is one batch (failed): alex, bo, cy untouched; b.xlsx (dana) written
    assert result.failed_batches == 1 and result.skipped_failed == 3
    leads = by_email(store)
    assert leads["alex@example.com"]["standardizer"] == OLD
    assert leads["dana@example.com"]["standardizer"] == "shout-2"
    result = restandardize(store, Shouting(email_to="robert@example.com"), batch_size=10, run_id="y")
    assert result.skipped_email_changed == 1          # bo would become robert@: not written, no duplicate
    assert "robert@example.com" not in by_email(store)
    assert by_email(store)["bo@example.com"]["standardizer"] == OLD


def test_the_offline_rules_never_overwrite_deepseek_answers():
    """A scheduled re-standardization on a daemon without DEEPSEEK_API_KEY must not downgrade DeepSeek's leads."""
    s = env_store()
    deepseek = "deepseek-v4-flash/abc123/rules-0"
    s.upsert_file(
        [standard(2, {"Name": "DANA WHITE", "E-Mail": "dana@example.com"},
                  {"firstName": "Dana", "lastName": "White", "email": "dana@example.com"}, deepseek),
         standard(3, {"First Name": "ALEX", "Email": "alex@example.com"},
                  {"firstName": "ALEX", "email": "alex@example.com"}, OLD)],
        source_file="c.csv", run_id="ingest-c",
    )
    before = by_email(s)["dana@example.com"]
    result = restandardize(s, RulesStandardizer(), run_id="restd-rules")
    assert (result.stale, result.kept_deepseek, result.updated) == (1, 1, 1)  # alex only
    assert any("DeepSeek" in note for note in result.notes)
    assert by_email(s)["dana@example.com"] == before
    assert by_email(s)["alex@example.com"]["firstName"] == "Alex"
    # a newer DeepSeek version does make DeepSeek's leads stale
    newer = Shouting()
    newer.version = f"deepseek-v4-flash/def456/{RULES_VERSION}"
    assert restandardize(s, newer, dry_run=True).stale == 2


def test_leads_the_rules_1_rules_wrote_are_stale_and_get_issue_15s_field_rules():
    """RULES_VERSION was bumped after issue 15's field rules (companies keep their case, degrees and honorifics leave
    name fields): a lead stored under ``rules-1`` with what those rules made of its row is stale and rewritten, and
    DeepSeek answers cached under ``.../rules-1`` are not reused (the version is part of the cache key)."""
    s = env_store()
    s.upsert_file([standard(2, {"First Name": "Dr. Anna", "Last Name": "Beispiel, MBA", "Company": "IKEA",
                                "Email": "anna@example.com"},
                            {"firstName": "Dr. Anna", "lastName": "Beispiel, Mba", "company": "Ikea",
                             "email": "anna@example.com"}, "rules-1")],
                  source_file="old.csv", run_id="ingest-old")
    result = restandardize(s, RulesStandardizer(), run_id="restd-15")
    assert (result.stale, result.stale_by_version, result.updated) == (1, {"rules-1": 1}, 1)
    anna = by_email(s)["anna@example.com"]
    assert (anna["firstName"], anna["lastName"], anna["company"], anna["remarks"]) == (
        "Anna", "Beispiel", "IKEA", "honorific: Dr.; credentials: MBA")
    assert anna["standardizer"] == RULES_VERSION == "rules-2"
