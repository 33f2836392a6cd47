"""The handed LLM fixtures 15, 16, 17, 18, 20 end to end: DeepSeekClient -> real HTTP on loopback -> fake DeepSeek."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.deepseek import DeepSeekBatchFailed, DeepSeekClient, default_max_tokens

from .conftest import API_KEY, fields_by_id, load_case, rows_from_batch, to_wire


def _content(leads):
    return json.dumps({"leads": [to_wire(lead) for lead in leads]})


@pytest.mark.parametrize("index", [0, 1, 2])
def test_case_15_fenced_or_prose_content(fake, client, index):
    case = load_case("15_")
    rows = rows_from_batch(case["request_batch"])
    content = case["raw_responses"][index].replace('"row_id"', '"id"')
    fake.script([{"content": content}])
    answer = client.standardize(rows)
    assert answer.items == fields_by_id(case["expected_parsed_leads"])
    assert answer.missing == [] and fake.request_count == 1 and answer.usage.calls == 1


def test_case_16_blank_content_retried_then_success(fake, sleeps):
    case = load_case("16_")
    rows = rows_from_batch(case["request_batch"])
    blanks = [{"content": r["choices"][0]["message"]["content"]} for r in case["raw_api_responses"]]
    assert [b["content"] for b in blanks] == ["", "      \n   ", None]
    fake.script(blanks + [{"content": _content(case["expected_result_after_success_on_retry"])}])
    with DeepSeekClient(API_KEY, fake.base_url, max_attempts=4, sleep=sleeps, rng=lambda: 0.5) as client:
        answer = client.standardize(rows)
    assert answer.items == fields_by_id(case["expected_result_after_success_on_retry"])
    assert fake.request_count == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]  # full jitter with rng 0.5: half of 1, 2, 4 s


def test_case_16_blank_content_exhausts_retries_to_dead_letter(fake, client):
    case = load_case("16_")
    rows = rows_from_batch(case["request_batch"])
    fake.script([{"content": r["choices"][0]["message"]["content"]} for r in case["raw_api_responses"]])
    with pytest.raises(DeepSeekBatchFailed) as info:
        client.standardize(rows)
    assert fake.request_count == 3
    assert info.value.attempts == 3 and "blank content" in str(info.value)
    assert info.value.usage.calls == 3  # the caller can still bill the failed attempts


def test_case_17_cut_reply_is_split_not_repaired(fake, client):
    case = load_case("17_")
    rows = rows_from_batch(case["request_batch"])
    cut = case["raw_api_response"]["choices"][0]["message"]["content"].replace('"row_id"', '"id"')
    first, second = case["expected_parsed_leads"]
    fake.script([
        {"content": cut, "finish_reason": "length", "usage": {"completion_tokens": 64}},
        {"content": _content([first])},
        {"content": _content([second])},
    ])
    answer = client.standardize(rows)
    assert answer.items == fields_by_id(case["expected_parsed_leads"])
    assert fake.request_ids() == [["f1:r2", "f1:r3"], ["f1:r2"], ["f1:r3"]]
    # the halves keep the parent's output budget (the cut shows the per-row estimate was too small)
    assert [b["max_tokens"] for b in fake.requests] == [default_max_tokens(2)] * 3
    assert any("split" in e for e in answer.errors)


def test_case_18_missing_item_rerequested_on_its_own(fake, client):
    case = load_case("18_")
    rows = rows_from_batch(case["request_batch"])
    expected = fields_by_id(case["expected_leads"])
    fake.script([{"leads": [to_wire(item) for item in case["raw_response_leads"]]}])  # then the default answer
    answer = client.standardize(rows)
    ids = fake.request_ids()
    assert ids[0] == [r.row_id for r in rows]
    assert ids[1:] == [case["expected_missing_after_first_call"]]  # one request holding just the missing row
    assert list(answer.items) == case["expected_joined_row_ids"]
    assert answer.items == expected  # f2:r7 from the fake's own standardization; f2:r11 placed by email
    assert answer.missing == []


def test_case_18_still_missing_after_the_follow_up_is_reported(fake, client):
    case = load_case("18_")
    rows = rows_from_batch(case["request_batch"])
    fake.script([{"leads": [to_wire(item) for item in case["raw_response_leads"]]}, {"leads": []}])
    answer = client.standardize(rows)
    assert answer.missing == case["expected_missing_after_first_call"]
    assert fake.request_count == 2
    assert set(answer.items) == set(case["expected_joined_row_ids"]) - {"f2:r7"}


def test_case_20_429_503_then_keepalive_lines_before_body(fake, client, sleeps):
    case = load_case("20_")
    rows = rows_from_batch([{"row_id": "f1:r2", "First Name": "ALEX", "Email": "alex.mercer@example.com"},
                            {"row_id": "f1:r3", "First Name": "Bea"}])
    seq = case["simulated_http_sequence"]
    raw_body = seq[2]["raw_body"].replace('\\"row_id\\"', '\\"id\\"')
    assert raw_body.startswith("\n\n\n\n")
    fake.script([
        {"status": seq[0]["status"], "error": seq[0]["body"]["error"]["message"]},
        {"status": seq[1]["status"], "error": seq[1]["body"]["error"]["message"]},
        {"raw_body": raw_body},
    ])
    answer = client.standardize(rows)
    assert answer.items == fields_by_id(case["expected_result"])
    assert fake.request_count == 3
    assert sleeps.waits == [0.5, 1.0]  # no Retry-After: exponential backoff with (fixed) full jitter


def test_case_20_streamed_keepalive_lines_and_blank_body(fake, client, sleeps):
    case = load_case("20_")
    rows = rows_from_batch([{"row_id": "f1:r2", "First Name": "ALEX"}, {"row_id": "f1:r3", "First Name": "Bea"}])
    assert case["also"]["raw_body"] == ""
    fake.script([
        {"raw_body": case["also"]["raw_body"]},  # blank body -> retried
        {"raw_body": "\n\n \n"},  # only keep-alive whitespace -> retried
        {"keepalive": {"lines": 5, "interval": 0.02}, "content": _content(case["expected_result"])},
    ])
    with DeepSeekClient(API_KEY, fake.base_url, max_attempts=3, sleep=sleeps, rng=lambda: 0.0) as c:
        answer = c.standardize(rows)
    assert answer.items == fields_by_id(case["expected_result"])
    assert fake.request_count == 3 and len(sleeps.waits) == 2
