"""DeepSeekClient behaviour over real HTTP against the fake: retries, Retry-After, fatal/rejected statuses,
timeouts, splitting, key hygiene and usage accounting."""
from __future__ import annotations

import email.utils
import json
import logging
import time
import traceback

import pytest

from easycrm_pipeline.deepseek import (
    DEFAULT_PRICE_TABLE, DeepSeekBatchFailed, DeepSeekBatchRejected, DeepSeekClient, DeepSeekError, DeepSeekFatal,
    Usage, parse_retry_after,
)
from easycrm_pipeline.models import LEAD_FIELDS, RawRow
from easycrm_pipeline.testing import FakeDeepSeek
from easycrm_pipeline.testing.fake_deepseek import LEAD_FIELDS as FAKE_FIELDS

from .conftest import API_KEY


def make_rows(n: int, prefix: str = "0") -> list[RawRow]:
    return [RawRow(f"{prefix}:{i}", None, i, (("First Name", f"ANN{i}"), ("Last Name", "lee"),
                                               ("Email", f" Ann{i}@Example.com "), ("Phone", "+1 (202) 555-0107")))
            for i in range(2, 2 + n)]


# -- happy path -------------------------------------------------------------------------------------------------
def test_default_answer_standardizes_every_row(fake, client):
    rows = make_rows(10)
    answer = client.standardize(rows)
    assert list(answer.items) == [r.row_id for r in rows]
    assert answer.items["0:2"] == {"firstName": "Ann2", "lastName": "Lee", "title": None, "company": None,
                                   "email": "ann2@example.com", "phone": "+12025550107", "remarks": None}
    # the fake answers the seven fields it knows (its own list, like an outside server), in field order
    assert all(tuple(v) == LEAD_FIELDS[:7] == FAKE_FIELDS for v in answer.items.values())
    assert answer.missing == [] and answer.errors == [] and answer.usage.calls == 1
    assert answer.standardizer == client.standardizer


# -- retries ----------------------------------------------------------------------------------------------------
def test_retry_after_seconds_is_honoured(fake, client, sleeps):
    fake.script([{"status": 429, "headers": {"Retry-After": "7"}}, {"status": 503, "headers": {"Retry-After": "1.5"}}])
    answer = client.standardize(make_rows(2))
    assert sleeps.waits == [7.0, 1.5]
    assert fake.request_count == 3 and len(answer.items) == 2


def test_retry_after_http_date_is_honoured(fake, client, sleeps):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    fake.script([{"status": 503, "headers": {"Retry-After": when}}])
    client.standardize(make_rows(1))
    (wait,) = sleeps.waits
    assert 3.0 <= wait <= 5.0


def test_retry_after_is_capped(fake, sleeps):
    fake.script([{"status": 429, "headers": {"Retry-After": "3600"}}])
    with DeepSeekClient(API_KEY, fake.base_url, sleep=sleeps, max_retry_after=60) as c:
        c.standardize(make_rows(1))
    assert sleeps.waits == [60]


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after(email.utils.formatdate(1000, usegmt=True), now=990) == 10.0


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_exhaust_to_batch_failed(fake, client, sleeps, status):
    fake.script([{"status": status}] * 3)
    with pytest.raises(DeepSeekBatchFailed) as info:
        client.standardize(make_rows(3))
    assert fake.request_count == 3 and info.value.attempts == 3 and info.value.status == status
    assert sleeps.waits == [0.5, 1.0]
    assert f"HTTP {status}" in str(info.value)


def test_backoff_is_capped_full_jitter(fake, sleeps):
    fake.script([{"status": 500}] * 5)
    with DeepSeekClient(API_KEY, fake.base_url, max_attempts=6, backoff_base=1.0, backoff_cap=4.0, sleep=sleeps,
                        rng=lambda: 0.999) as c:
        c.standardize(make_rows(1))
    assert [round(w, 2) for w in sleeps.waits] == [1.0, 2.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize("action", [
    {"content": ""}, {"content": "   \n "}, {"content": None}, {"content": "sorry, I cannot {"},
    {"raw_body": ""}, {"raw_body": "\n\n\n"}, {"raw_body": "<html>bad gateway</html>"}, {"raw_body": '{"id": 1}'},
    {"disconnect": True}, {"finish_reason": "insufficient_system_resource", "content": '{"leads": ['},
])
def test_transient_garbage_is_retried(fake, client, action):
    fake.script([action])
    answer = client.standardize(make_rows(2))
    assert fake.request_count == 2 and len(answer.items) == 2


def test_slow_headers_time_out_and_are_retried(fake, sleeps):
    fake.script([{"latency": 1.0}])
    with DeepSeekClient(API_KEY, fake.base_url, read_timeout=0.3, sleep=sleeps) as c:
        answer = c.standardize(make_rows(1))
    assert fake.request_count == 2 and len(answer.items) == 1 and len(sleeps.waits) == 1


def test_endless_keepalive_lines_hit_the_total_deadline(fake, sleeps):
    fake.script([{"keepalive": {"lines": 20, "interval": 0.05}}])
    with DeepSeekClient(API_KEY, fake.base_url, read_timeout=5, total_timeout=0.3, sleep=sleeps) as c:
        answer = c.standardize(make_rows(1))
    assert fake.request_count == 2 and len(answer.items) == 1


def test_connection_refused_is_retried_then_fails(sleeps):
    with FakeDeepSeek() as gone:
        url = gone.base_url
    with DeepSeekClient(API_KEY, url, connect_timeout=0.5, sleep=sleeps) as c:
        with pytest.raises(DeepSeekBatchFailed, match="connection error"):
            c.standardize(make_rows(1))
    assert len(sleeps.waits) == 2


# -- non-retryable ----------------------------------------------------------------------------------------------
def test_401_is_fatal_after_one_request(sleeps):
    with FakeDeepSeek(api_key="sk-the-right-one") as fake:
        with DeepSeekClient("sk-wrong-key-9876", fake.base_url, sleep=sleeps) as c:
            with pytest.raises(DeepSeekFatal) as info:
                c.standardize(make_rows(3))
        assert str(info.value) == "DeepSeek rejected the API key" and info.value.status == 401
        assert fake.request_count == 1 and sleeps.waits == []


def test_402_is_fatal_after_one_request(fake, client, sleeps):
    fake.script([{"status": 402}])
    with pytest.raises(DeepSeekFatal) as info:
        client.standardize(make_rows(3))
    assert str(info.value) == "DeepSeek account is out of balance" and info.value.status == 402
    assert fake.request_count == 1 and sleeps.waits == []


def test_fatal_in_a_follow_up_request_still_stops_the_file(fake, client):
    fake.script([{"transform": "missing_first"}, {"status": 402}])
    with pytest.raises(DeepSeekFatal):
        client.standardize(make_rows(3))
    assert fake.request_count == 2


@pytest.mark.parametrize("status", [400, 422])
def test_400_422_rejected_without_retry(fake, client, sleeps, status):
    fake.script([{"status": status, "error": "Invalid max_tokens value"}])
    with pytest.raises(DeepSeekBatchRejected) as info:
        client.standardize(make_rows(3))
    assert fake.request_count == 1 and sleeps.waits == [] and info.value.status == status
    assert "Invalid max_tokens value" in str(info.value)


def test_retired_deepseek_chat_model_is_rejected(fake, sleeps):
    with DeepSeekClient(API_KEY, fake.base_url, model="deepseek-chat", sleep=sleeps) as c:
        with pytest.raises(DeepSeekBatchRejected, match="Model Not Exist"):
            c.standardize(make_rows(1))
    assert fake.request_count == 1


def test_bad_input_is_a_value_error(client):
    with pytest.raises(ValueError):
        client.standardize([])
    with pytest.raises(ValueError):
        client.standardize(make_rows(1) + make_rows(1))


# -- finish_reason length -> split --------------------------------------------------------------------------------
def test_length_splits_recursively_into_halves(fake, client):
    fake.cut_above = 3  # any request with more than 3 leads is cut
    rows = make_rows(10)
    answer = client.standardize(rows)
    assert list(answer.items) == [r.row_id for r in rows] and answer.missing == []
    sizes = [len(ids) for ids in fake.request_ids()]
    assert sizes == [10, 5, 3, 2, 5, 3, 2]
    assert answer.usage.calls == 7


def test_single_row_cut_is_an_error(fake, client):
    fake.script([{"transform": "truncate"}])
    with pytest.raises(DeepSeekBatchFailed, match="single row"):
        client.standardize(make_rows(1))
    assert fake.request_count == 1


def test_single_row_cut_inside_a_split_becomes_missing(fake, client):
    fake.script([{"transform": "truncate"}, {"transform": "truncate"}])  # 2 rows cut, then row 1 alone cut
    answer = client.standardize(make_rows(2))
    assert list(answer.items) == ["0:3"] and answer.missing == ["0:2"]
    assert any("single row" in e for e in answer.errors)


def test_failed_half_does_not_lose_the_other_half(fake, client):
    fake.script([{"transform": "truncate"}, {}, {"status": 503}, {"status": 503}, {"status": 503}])
    answer = client.standardize(make_rows(4))
    assert list(answer.items) == ["0:2", "0:3"] and answer.missing == ["0:4", "0:5"]
    assert any("HTTP 503" in e for e in answer.errors)


# -- messy answers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transform,extra_requests", [
    ("reverse", 0), ("fenced", 0), ("fenced_plain", 0), ("prose", 0), ("row_id", 0), ("drop_id", 0),
    ("extra_id", 0), ("merge", 1), ("duplicate", 1), ("missing_first", 1),
])
def test_messy_answers_join_correctly(fake, client, transform, extra_requests):
    rows = make_rows(5)
    fake.script([{"transform": transform}])
    answer = client.standardize(rows)
    assert fake.request_count == 1 + extra_requests
    assert answer.missing == []
    for row in rows:  # each row got its own data back, whatever the order
        assert answer.items[row.row_id]["email"] == row.cells[2][1].strip().lower()


# -- key hygiene ----------------------------------------------------------------------------------------------------
def _all_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc.args)


@pytest.mark.parametrize("action", [
    {"status": 400, "error": f"bad key {API_KEY} in body"},
    {"status": 503, "error": f"overloaded for {API_KEY}"},
    {"status": 401, "error": f"Authentication Fails, Your api key: {API_KEY} is invalid"},
])
def test_api_key_never_in_errors_logs_or_repr(fake, sleeps, caplog, action):
    caplog.set_level(logging.DEBUG)
    fake.script([action] * 3)
    with DeepSeekClient(API_KEY, fake.base_url, sleep=sleeps) as c:
        assert API_KEY not in repr(c) and API_KEY not in str(c)
        with pytest.raises(DeepSeekError) as info:
            c.standardize(make_rows(2))
    assert API_KEY not in _all_text(info.value)
    assert "***" in str(info.value) or isinstance(info.value, DeepSeekFatal)
    assert API_KEY not in caplog.text
    assert fake.request_headers[0]["Authorization"] == f"Bearer {API_KEY}"  # it was sent, just never shown


def test_api_key_not_in_batch_answer(fake, client):
    fake.script([{"transform": ["missing_first", "extra_id"]}])
    answer = client.standardize(make_rows(3))
    assert API_KEY not in repr(answer)


# -- usage ----------------------------------------------------------------------------------------------------------
def test_usage_is_summed_over_calls(fake, client):
    fake.script([
        {"transform": "missing_first",
         "usage": {"prompt_cache_hit_tokens": 100, "prompt_cache_miss_tokens": 20, "completion_tokens": 50}},
        {"usage": {"prompt_cache_hit_tokens": 200, "prompt_cache_miss_tokens": 10, "completion_tokens": 30}},
    ])
    answer = client.standardize(make_rows(4))
    assert answer.usage == Usage(calls=2, prompt_cache_hit_tokens=300, prompt_cache_miss_tokens=30,
                                 completion_tokens=80)
    table = {"cache_hit": 1.0, "cache_miss": 10.0, "output": 100.0}
    assert answer.usage.cost_usd(table) == pytest.approx((300 * 1 + 30 * 10 + 80 * 100) / 1e6)


def test_fake_prompt_cache_hits_from_the_second_call(fake, client):
    first = client.standardize(make_rows(2)).usage
    second = client.standardize(make_rows(2, prefix="1")).usage
    assert first.prompt_cache_hit_tokens == 0 and second.prompt_cache_hit_tokens > 0
    assert second.cost_usd() < first.cost_usd()


def test_usage_arithmetic_and_api_block():
    a = Usage.from_api({"prompt_tokens": 120, "prompt_cache_hit_tokens": 100, "completion_tokens": 7})
    assert a == Usage(calls=1, prompt_cache_hit_tokens=100, prompt_cache_miss_tokens=20, completion_tokens=7)
    assert Usage.from_api(None) == Usage(calls=1)
    total = a + a + Usage()
    assert total.calls == 2 and total.prompt_tokens == 240 and total.total_tokens == 254
    assert Usage(completion_tokens=1_000_000).cost_usd() == DEFAULT_PRICE_TABLE["output"]
    assert total.as_dict()["prompt_cache_miss_tokens"] == 40


def test_an_answer_with_no_usable_item_is_a_failed_batch(fake, client):
    fake.script([{"leads": []}, {"leads": [{"id": "nobody"}]}])
    with pytest.raises(DeepSeekBatchFailed, match="no row"):
        client.standardize(make_rows(2))
    assert fake.request_ids() == [["0:2", "0:3"], ["0:2", "0:3"]]


def test_from_settings_reads_the_environment(fake, monkeypatch):
    from easycrm_pipeline.config import get_settings

    monkeypatch.setenv("DEEPSEEK_API_KEY", API_KEY)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url + "/")
    with DeepSeekClient.from_settings(get_settings()) as c:
        assert c.base_url == fake.base_url and c.model == "deepseek-v4-flash"
        assert len(c.standardize(make_rows(1)).items) == 1
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    with pytest.raises(ValueError):
        DeepSeekClient.from_settings(get_settings())


# -- corrections to the rules' proposal (issue 13, DESIGN.md section 5) ------------------------------------------
def test_proposals_go_out_and_partial_items_come_back(fake, client):
    rows = make_rows(3)
    proposals = {r.row_id: {"firstName": f"Ann{r.row_number}", "lastName": "Lee",
                            "email": f"ann{r.row_number}@example.com", "phone": "+12025550107"} for r in rows}
    proposals["0:3"]["lastName"] = "Leigh"  # wrong: the fake corrects it
    answer = client.standardize(rows, proposals)
    sent = json.loads(fake.requests[0]["messages"][-1]["content"])["leads"]
    assert [lead["_proposal"] for lead in sent] == [proposals[r.row_id] for r in rows]
    # only the correction comes back; an item with just its id is an answer (not a missing row)
    assert answer.items == {"0:2": {}, "0:3": {"lastName": "Lee"}, "0:4": {}}
    assert answer.missing == [] and fake.request_count == 1


# -- the key echoed in a 200 reply (issue 16 item 7) ------------------------------------------------------------
def test_key_echoed_in_a_200_answer_is_scrubbed_before_anything_sees_it(fake, client, caplog):
    rows = make_rows(2)
    fake.script([{"echo": True}])
    answer = client.standardize(rows)
    assert [item["remarks"] for item in answer.items.values()] == ["echo: Bearer ***"] * 2
    fake.script([{"content": "I am not JSON, $AUTHORIZATION"}] * 3)
    with caplog.at_level(logging.WARNING), pytest.raises(DeepSeekBatchFailed) as caught:
        client.standardize(rows)
    assert "Bearer ***" in caught.value.reason and API_KEY not in caught.value.reason
    assert API_KEY not in caplog.text and "Bearer ***" in caplog.text
    fake.script([{"content": '{"refusal": "no, $AUTHORIZATION"}'}])
    doc, usage = client.complete_json("Answer in json.", '{"leads": []}')
    assert doc == {"refusal": "no, Bearer ***"} and usage.calls == 1


def test_an_error_body_becomes_a_one_line_reason(fake, client):
    fake.script([{"status": 400, "error": "Invalid\nrequest:\t\u202efield $AUTHORIZATION\n\nsee docs"}])
    with pytest.raises(DeepSeekBatchRejected) as caught:
        client.standardize(make_rows(1))
    assert caught.value.reason == ("DeepSeek rejected the request (HTTP 400): Invalid request: field Bearer *** "
                                   "see docs")


# -- key spellings (breaker findings 1 and 5) -------------------------------------------------------------------
def test_key_forms_cover_the_stripped_and_escaped_spellings():
    from easycrm_pipeline.deepseek.client import key_forms, scrub_key

    forms = key_forms("sk-abc123\r\n")
    assert {"sk-abc123\r\n", "sk-abc123", "sk-abc123\\r\\n"} <= set(forms)
    assert key_forms(None) == () and key_forms(" \n") == ()
    doc = {"sql": "SELECT 'sk-abc123'", "rows": [["x sk-abc123\\r\\n y", 3]], "sk-abc123": ("sk-abc123",)}
    assert scrub_key(doc, "sk-abc123\r\n") == {"sql": "SELECT '***'", "rows": [["x *** y", 3]], "***": ("***",)}


def test_a_key_with_a_newline_inside_is_refused_without_quoting_it(monkeypatch):
    """httpx would refuse the header and quote it (``b'Bearer sk-...\\n...'``): refused up front, key not quoted."""
    from easycrm_pipeline.config import get_settings

    key = "sk-inner\nnewline-0123456789"
    with pytest.raises(ValueError, match=r"control or non-ASCII character \(at position 9\)") as info:
        DeepSeekClient(key + "\r\n", "http://127.0.0.1:9")
    assert "newline-0123456789" not in _all_text(info.value)
    monkeypatch.setenv("DEEPSEEK_API_KEY", key)
    with pytest.raises(ValueError, match=r"^DEEPSEEK_API_KEY holds a control or non-ASCII character") as info:
        get_settings()
    assert "newline-0123456789" not in _all_text(info.value)


def test_a_key_with_trailing_whitespace_is_sent_stripped(fake, client):
    with DeepSeekClient(API_KEY + " \r\n", fake.base_url) as c:
        answer = c.standardize(make_rows(1))
    assert len(answer.items) == 1 and fake.request_headers[-1]["Authorization"] == f"Bearer {API_KEY}"


def test_a_json_escaped_key_in_the_content_is_scrubbed_once_decoded(fake, client):
    escaped = "".join(f"\\u{ord(c):04x}" for c in API_KEY)
    fake.script([{"content": '{"leads": [{"id": "0:2", "firstName": "Ann", "remarks": "key ' + escaped + '"}]}'}])
    answer = client.standardize(make_rows(1))
    assert answer.items["0:2"]["remarks"] == "key ***"
