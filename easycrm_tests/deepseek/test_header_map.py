"""The header-mapping request (issue 15) through the project's DeepSeek client against the fake server on loopback:
the wire format (JSON mode, thinking off, the system prompt first), the answer parsed, the signature."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.deepseek.client import DeepSeekClient
from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed
from easycrm_pipeline.deepseek.header_map import (
    HEADER_SYSTEM_PROMPT, ask_mapping, header_signature, parse_mapping,
)
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

COLUMNS = {"fld_a1": ["Anna", "Max"], "fld_a2": ["Beispiel", "Muster"], "fld_b2": ["anna@example.org", "mm@x.org"]}


def test_one_request_in_the_contract_wire_format_maps_the_codes():
    with FakeDeepSeek() as fake, DeepSeekClient("sk-test", fake.base_url, sleep=lambda s: None) as client:
        mapping, usage = ask_mapping(client, ["fld_a1", "fld_a2", "fld_b2"], COLUMNS)
        body = fake.requests[0]
    assert mapping == {"fld_a1": "firstName", "fld_a2": "lastName", "fld_b2": "email"}
    assert usage.calls == 1 and usage.completion_tokens > 0
    assert body["messages"][0] == {"role": "system", "content": HEADER_SYSTEM_PROMPT}
    assert body["response_format"] == {"type": "json_object"} and body["thinking"] == {"type": "disabled"}
    user = json.loads(body["messages"][1]["content"])
    assert user["headers"] == ["fld_a1", "fld_a2", "fld_b2"]
    assert user["columns"][0] == {"header": "fld_a1", "examples": ["Anna", "Max"]}


def test_a_failing_request_raises_the_clients_error_after_its_retries():
    with FakeDeepSeek() as fake, DeepSeekClient("sk-test", fake.base_url, sleep=lambda s: None) as client:
        fake.script([{"status": 503}] * 3)
        with pytest.raises(DeepSeekBatchFailed):
            ask_mapping(client, ["fld_a1"], {"fld_a1": ["Anna"]})
        assert fake.request_count == 3


def test_the_answer_keeps_only_asked_headers_and_known_roles():
    doc = {"columns": {"fld_a1": "FirstName", "fld_x": "email", "fld_a2": "shoe size", "fld_b2": 3}}
    assert parse_mapping(doc, ["fld_a1", "fld_a2", "fld_b2"]) == {"fld_a1": "firstName"}
    assert parse_mapping({"leads": []}, ["fld_a1"]) == {} and parse_mapping(None, ["a"]) == {}


def test_the_signature_ignores_case_and_punctuation_but_not_the_model_or_order():
    sig = header_signature(["Email", "fld_a1"], "deepseek-v4-flash")
    assert sig == header_signature(["EMAIL ", "FLD-A1"], "deepseek-v4-flash")
    assert sig != header_signature(["fld_a1", "Email"], "deepseek-v4-flash")
    assert sig != header_signature(["Email", "fld_a1"], "deepseek-v4-pro")
    assert sig.startswith("header-map:")
