"""DeepSeekStandardizer against the fake DeepSeek: each lead goes out with the rules' proposal, the answer carries
only corrections (issue 13), and every answered field still passes the validators."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from easycrm_pipeline.config import Settings
from easycrm_pipeline.parsing.csv_reader import read_csv_bytes
from easycrm_pipeline.pipeline.batches import BatchResult, make_batches
from easycrm_pipeline.pipeline.standardizer import DeepSeekStandardizer, RulesStandardizer
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import gen  # noqa: E402  (the bench's made-up people)


def _settings(base_url: str) -> Settings:
    return Settings(deepseek_api_key="sk-test", deepseek_base_url=base_url, llm_mode="always")


def _bench_batch(tmp_path: Path, n: int = 10):
    path = gen.cached(tmp_path / "leads.csv", n, seed=7)
    (batch,) = make_batches(read_csv_bytes(path.read_bytes(), "leads.csv").rows, n)
    return batch


def _standardize(batch, answer: str) -> tuple[BatchResult, list]:
    with FakeDeepSeek(answer=answer) as fake:
        result = DeepSeekStandardizer(_settings(fake.base_url)).standardize(batch)
        return result, list(fake.requests)


def test_issue_13_a_full_10_lead_answer_is_about_600_tokens_corrections_at_least_3x_fewer(tmp_path):
    batch = _bench_batch(tmp_path)
    full, _ = _standardize(batch, "full")
    short, (body,) = _standardize(batch, "corrections")
    assert 450 <= full.completion_tokens <= 800  # the issue: "a 10-lead answer of full JSON objects is ~600 tokens"
    assert full.completion_tokens >= 3 * short.completion_tokens
    assert full.llm_leads == short.llm_leads == 10 and full.llm_calls == short.llm_calls == 1
    assert short.completion_tokens_per_lead == round(short.completion_tokens / 10, 1)
    # the request carries the rules' proposal of every row
    rules = {lead.row_id: lead.fields for lead in RulesStandardizer().standardize(batch).leads}
    sent = json.loads(body["messages"][-1]["content"])["leads"]
    assert {lead["id"]: lead["_proposal"] for lead in sent} == {
        rid: {k: v for k, v in fields.items() if v} for rid, fields in rules.items()}
    # both shapes give the same validated leads (a field left out is the rules' value), up to the order of the
    # remarks' pieces, which the fake's full answer writes in its own order
    def same(fields):
        return {**fields, "remarks": sorted((fields["remarks"] or "").split("; "))}

    assert [same(lead.fields) for lead in short.leads] == [same(lead.fields) for lead in full.leads]


def test_a_correction_replaces_only_its_field_and_is_still_validated():
    csv_text = ("First Name,Last Name,Company,Email,Phone,Notes\n"
                "Alex,Mercer,Mercer LLC,alex@example.com,(202) 555-0107,order 77889900\n"
                "Bea,Ortiz,Ortiz SA,bea@example.com,,hello\n")
    (batch,) = make_batches(read_csv_bytes(csv_text.encode(), "case.csv").rows, 10)
    rules = RulesStandardizer().standardize(batch).leads
    with FakeDeepSeek() as fake:
        fake.script([{"leads": [{"id": "0:2", "remarks": "Order 77889900"},
                                {"id": "0:3", "email": "mallory@evil.example", "remarks": "hello"}]}])
        result = DeepSeekStandardizer(_settings(fake.base_url)).standardize(batch)
    alex, bea = result.leads
    assert alex.fields == {**rules[0].fields, "remarks": "Order 77889900"} and alex.flags == ()
    # an email that is not in the row is refused; what the answer left out is the rules' value
    assert bea.fields == rules[1].fields and bea.flags == ("llm-value-rejected:email",)
    assert result.llm_leads == 2
