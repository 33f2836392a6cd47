"""The request body (DESIGN.md section 5), built locally and as received by the fake server."""
from __future__ import annotations

import json

from easycrm_pipeline.deepseek import SYSTEM_PROMPT, build_request, default_max_tokens, prompt_hash
from easycrm_pipeline.deepseek.prompt import MAX_TOKENS_CAP, standardizer_version
from easycrm_pipeline.models import RawRow

from .conftest import API_KEY

ROWS = [
    RawRow("0:2", None, 2, (("First Name", "ALEX"), ("Last Name", "mercer"), ("Notes", ""), ("Email", " A@B.com "))),
    RawRow("0:3", "Leads", 3, (("Name", "Zoë Ünal"), ("Name", "second"), ("Phone", "00 49 30 1234"))),
]


def test_request_shape_matches_design_section_5():
    body = build_request(ROWS, "deepseek-v4-flash")
    assert set(body) == {"model", "messages", "response_format", "thinking", "max_tokens", "temperature", "stream"}
    assert body["model"] == "deepseek-v4-flash"
    assert body["response_format"] == {"type": "json_object"}
    assert body["thinking"] == {"type": "disabled"}
    assert body["stream"] is False
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 200 + 160 * 2
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    expected = json.dumps({"leads": [{"id": r.row_id, **r.as_request_dict()} for r in ROWS]},
                          ensure_ascii=False, allow_nan=False)
    assert user["content"] == expected
    assert json.loads(user["content"]) == {"leads": [
        {"id": "0:2", "First Name": "ALEX", "Last Name": "mercer", "Email": " A@B.com "},
        {"id": "0:3", "Name": "Zoë Ünal", "Name (2)": "second", "Phone": "00 49 30 1234"},
    ]}
    assert "Zoë" in user["content"]  # ensure_ascii=False


def test_system_prompt_is_fixed_first_and_mentions_json():
    a = build_request(ROWS[:1], "deepseek-v4-flash")
    b = build_request(ROWS, "deepseek-v4-pro", max_tokens=99, temperature=0.3)
    assert a["messages"][0] == b["messages"][0]  # identical prefix -> prompt cache hits
    assert "json" in SYSTEM_PROMPT.lower()
    assert b["max_tokens"] == 99 and b["temperature"] == 0.3
    assert len(prompt_hash()) == 12 and prompt_hash() == prompt_hash()
    assert standardizer_version("deepseek-v4-flash").startswith("deepseek-v4-flash/prompt-")


def test_max_tokens_sized_and_capped():
    assert default_max_tokens(1) == 360
    assert default_max_tokens(10) == 1800
    assert default_max_tokens(1000) == MAX_TOKENS_CAP


def test_raw_id_column_cannot_overwrite_the_join_key():
    row = RawRow("0:7", None, 7, (("id", "CRM-55"), ("Email", "x@y.com")))
    lead = json.loads(build_request([row], "deepseek-v4-flash")["messages"][1]["content"])["leads"][0]
    assert lead == {"id": "0:7", "Email": "x@y.com", "id (2)": "CRM-55"}


def test_fake_receives_the_contract_over_http(fake, client):
    client.standardize(ROWS)
    (body,) = fake.requests
    assert body == build_request(ROWS, "deepseek-v4-flash")
    headers = {k.lower(): v for k, v in fake.request_headers[0].items()}
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["content-type"] == "application/json"


# --- the rules' proposal (issue 13, DESIGN.md section 5) ------------------------------------------------------------

def test_each_lead_carries_the_rules_proposal_under_an_underscore_key():
    row = RawRow("0:7", None, 7, (("Name", "ANN LEE"), ("Email", "ann@x.com"), ("_proposal", "raw cell")))
    proposal = {"firstName": "Ann", "lastName": "Lee", "title": None, "company": "", "email": "ann@x.com",
                "phone": None, "remarks": None, "confidence": "ignored"}
    body = build_request([row], "deepseek-v4-flash", proposals={"0:7": proposal})
    (lead,) = json.loads(body["messages"][1]["content"])["leads"]
    # raw cells stay the top-level strings (a raw "_proposal" column moves aside); the proposal keeps only the
    # non-empty lead fields (a field left out was found empty)
    assert lead == {"id": "0:7", "Name": "ANN LEE", "Email": "ann@x.com", "_proposal (2)": "raw cell",
                    "_proposal": {"firstName": "Ann", "lastName": "Lee", "email": "ann@x.com"}}
    assert all(isinstance(v, str) for k, v in lead.items() if not k.startswith("_") or k == "_proposal (2)")
    # a row without a proposal goes out as before: its raw cells only
    assert json.loads(build_request([row], "deepseek-v4-flash", proposals={})["messages"][1]["content"])[
        "leads"][0] == {"id": "0:7", "Name": "ANN LEE", "Email": "ann@x.com", "_proposal": "raw cell"}


def test_prompt_asks_for_corrections_only_and_its_example_is_the_contract():
    assert '"_proposal"' in SYSTEM_PROMPT and "ONLY" in SYSTEM_PROMPT
    example_in = SYSTEM_PROMPT.split("EXAMPLE INPUT:\n", 1)[1].split("\n", 1)[0]
    example_out = SYSTEM_PROMPT.split("EXAMPLE JSON OUTPUT:\n", 1)[1].split("\n", 1)[0]
    leads_in, leads_out = json.loads(example_in)["leads"], json.loads(example_out)["leads"]
    assert [lead["id"] for lead in leads_in] == [item["id"] for item in leads_out]
    assert all(isinstance(lead["_proposal"], dict) for lead in leads_in)
    assert leads_out[1] == {"id": "0:3"}  # a right proposal is accepted with the id alone
