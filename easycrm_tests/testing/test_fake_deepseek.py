"""The fake DeepSeek server itself (``easycrm_pipeline.testing.fake_deepseek``): concurrency counters, validation,
answer shapes, the speed model, reflection of the request, standalone process mode."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from easycrm_pipeline.deepseek import DeepSeekClient, build_request
from easycrm_pipeline.testing import FakeDeepSeek, standardize_lead, wait_for_port_file
from easycrm_pipeline.models import LEAD_FIELDS
from easycrm_pipeline.testing.fake_deepseek import answer_item
from easycrm_tests.deepseek.conftest import API_KEY
from easycrm_tests.deepseek.test_client import make_rows

REPO = Path(__file__).resolve().parents[2]


def _parallel_standardize(base_url: str, n: int) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)
    with DeepSeekClient(API_KEY, base_url) as client:
        def work(i: int) -> None:
            barrier.wait()
            results[i] = client.standardize(make_rows(2, prefix=str(i)))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    return results


def test_peak_in_flight_equals_parallel_requests():
    with FakeDeepSeek(latency=0.8) as fake:
        results = _parallel_standardize(fake.base_url, 8)
        assert all(r is not None and len(r.items) == 2 for r in results)
        assert fake.peak_in_flight == 8 and fake.in_flight == 0 and fake.request_count == 8
        fake.reset()
        assert fake.stats() == {"peak_in_flight": 0, "in_flight": 0, "request_count": 0, "script_left": 0}
        _parallel_standardize(fake.base_url, 3)
        assert fake.peak_in_flight == 3


@pytest.fixture
def fake():
    with FakeDeepSeek(latency=0.0) as server:
        yield server


def _post(fake: FakeDeepSeek, body, key: str | None = API_KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{fake.base_url}/chat/completions", json=body, headers=headers, timeout=5)


def test_validation_like_the_real_api(fake):
    good = build_request(make_rows(1), "deepseek-v4-flash")
    assert _post(fake, good).status_code == 200
    assert _post(fake, good, key=None).status_code == 401
    assert _post(fake, {**good, "model": "deepseek-chat"}).json()["error"]["message"] == "Model Not Exist"
    assert _post(fake, {**good, "response_format": {"type": "text"}}).status_code == 400
    assert _post(fake, {**good, "messages": [{"role": "user", "content": "hi json"}]}).status_code == 400
    assert _post(fake, {**good, "max_tokens": 0}).status_code == 422
    assert _post(fake, {**good, "thinking": {"type": "maybe"}}).status_code == 422
    for model in ("deepseek-v4-flash", "deepseek-flash", "deepseek-v4-pro"):
        assert _post(fake, {**good, "model": model}).status_code == 200
    assert fake.request_count == 10 and len(fake.requests) == 10


def test_wire_format_of_an_answer(fake):
    fake.script([{"status": 429, "headers": {"Retry-After": "3"}}])
    body = build_request(make_rows(2), "deepseek-v4-flash")
    limited = _post(fake, body)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    data = _post(fake, body).json()
    assert data["object"] == "chat.completion" and data["model"] == "deepseek-v4-flash"
    assert isinstance(data["created"], int) and data["id"]
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert [lead["id"] for lead in json.loads(choice["message"]["content"])["leads"]] == ["0:2", "0:3"]
    usage = data["usage"]
    assert usage["prompt_tokens"] == usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_default_standardization_heuristics():
    out = standardize_lead({"id": "1", "Full Name": "O'NEIL, SIOBHAN", "Organisation": "EXAMPLE MEDIA LTD",
                            "Job Title": "account director", "E-mail": "mailto:S.ONeil@Example.IE",
                            "Mobile": "0044 (20) 7946-0018", "Comments": "met at expo", "Region": "EMEA"})
    assert out == {"id": "1", "firstName": "Siobhan", "lastName": "O'neil", "title": "Account Director",
                   "company": "Example Media LTD", "email": "s.oneil@example.ie", "phone": "+442079460018",
                   "remarks": "met at expo; Region: EMEA"}
    assert standardize_lead({"id": "2", "First Name": "McDonald", "Tel": "+1 202-555"})["firstName"] == "McDonald"


def test_standalone_process_with_port_file(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "easycrm_pipeline.testing.fake_deepseek", "--port", "0",
                             "--latency", "0.3", "--port-file", str(port_file)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = wait_for_port_file(str(port_file), timeout=15)
        base = f"http://127.0.0.1:{port}"
        assert proc.stdout is not None and proc.stdout.readline().strip() == f"FAKE_DEEPSEEK_URL={base}"
        results = _parallel_standardize(base, 4)
        assert all(len(r.items) == 2 for r in results)
        stats = httpx.get(f"{base}/_stats", timeout=5).json()
        assert stats["peak_in_flight"] == 4 and stats["request_count"] == 4 and stats["in_flight"] == 0
        httpx.post(f"{base}/_script", json=[{"status": 402}], timeout=5)
        assert httpx.get(f"{base}/_stats", timeout=5).json()["script_left"] == 1
        assert httpx.post(f"{base}/_reset", timeout=5).json()["request_count"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize("transform", ["fenced", "prose", "truncate", "reverse", "merge", "missing:0:2"])
def test_transforms_produce_what_they_say(fake, transform):
    fake.script([{"transform": transform}])
    choice = _post(fake, build_request(make_rows(3), "deepseek-v4-flash")).json()["choices"][0]
    content = choice["message"]["content"]
    if transform == "fenced":
        assert content.startswith("```json\n") and content.endswith("\n```")
    elif transform == "prose":
        assert content.startswith("Here are") and json.loads(content.split("\n\n")[1])
    elif transform == "truncate":
        assert choice["finish_reason"] == "length"
        with pytest.raises(ValueError):
            json.loads(content)
    elif transform == "reverse":
        assert [x["id"] for x in json.loads(content)["leads"]] == ["0:4", "0:3", "0:2"]
    elif transform == "merge":
        assert [x["id"] for x in json.loads(content)["leads"]] == ["0:2", "0:4"]
    else:
        assert [x["id"] for x in json.loads(content)["leads"]] == ["0:3", "0:4"]


# --- in flight until the answer starts to leave (issue 13) ------------------------------------------------------------

def test_a_request_stops_counting_when_its_answer_starts_to_leave(fake):
    """Headers out, body still streaming (keep-alive lines): the request no longer counts as in flight, so a client
    holding its answer can never see itself counted (the "6 <= 5" failure of a loaded machine)."""
    fake.script([{"keepalive": {"lines": 8, "interval": 0.25}}])
    body = build_request(make_rows(1), "deepseek-v4-flash")
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{fake.base_url}/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {API_KEY}"}) as response:
            assert response.status_code == 200
            assert fake.in_flight == 0 and fake.peak_in_flight == 1  # answer started, body not yet read
            assert json.loads(response.read())["choices"][0]["finish_reason"] == "stop"
        for _ in range(30):  # back to back: an answer in hand is never still counted
            assert _post(fake, body).status_code == 200
            assert fake.in_flight == 0
    assert fake.peak_in_flight == 1 and fake.request_count == 31


def test_error_answers_and_disconnects_stop_counting_too(fake):
    body = build_request(make_rows(1), "deepseek-v4-flash")
    fake.script([{"status": 503}, {"disconnect": True}])
    assert _post(fake, body).status_code == 503 and fake.in_flight == 0
    with pytest.raises(httpx.TransportError):
        _post(fake, body)
    assert _post(fake, body, key=None).status_code == 401
    assert fake.in_flight == 0 and fake.peak_in_flight == 1


# --- answer shapes ----------------------------------------------------------------------------------------------------

def _proposed(rows):
    """Proposals equal to the fake's own answer except row 0:2's lastName (wrong) and row 0:3's phone (missing)."""
    out = {}
    for row in rows:
        full = standardize_lead({"id": row.row_id, **row.as_request_dict()})
        out[row.row_id] = {k: v for k, v in full.items() if k != "id"}
    out["0:2"]["lastName"] = "Wrong"
    out["0:3"]["phone"] = None
    return out


def test_corrections_by_default_full_on_request(fake):
    rows = make_rows(3)
    proposals = _proposed(rows)
    body = build_request(rows, "deepseek-v4-flash", proposals=proposals)
    items = json.loads(_post(fake, body).json()["choices"][0]["message"]["content"])["leads"]
    full = {r.row_id: standardize_lead({"id": r.row_id, **r.as_request_dict()}) for r in rows}
    assert items == [{"id": "0:2", "lastName": full["0:2"]["lastName"]},
                     {"id": "0:3", "phone": full["0:3"]["phone"]}, {"id": "0:4"}]
    fake.script([{"answer": "full"}])
    items = json.loads(_post(fake, body).json()["choices"][0]["message"]["content"])["leads"]
    assert items == list(full.values())
    # no proposal sent: nothing to correct, every field answered
    plain = json.loads(_post(fake, build_request(rows, "deepseek-v4-flash")).json()["choices"][0]["message"]
                       ["content"])["leads"]
    assert plain == list(full.values())
    with FakeDeepSeek(answer="full") as full_fake:
        items = json.loads(_post(full_fake, body).json()["choices"][0]["message"]["content"])["leads"]
        assert items == list(full.values())
    with pytest.raises(ValueError, match="unknown answer shape"):
        FakeDeepSeek(answer="short")


def test_corrections_ignore_context_and_reordered_remarks():
    lead = {"id": "1", "First Name": "ann", "Notes": "vip", "Region": "EMEA",
            "_proposal": {"firstName": "Ann", "remarks": "Region: EMEA; vip"}}
    assert standardize_lead(lead)["remarks"] == "vip; Region: EMEA"  # _proposal is context, not a raw cell
    assert answer_item(lead) == {"id": "1"}
    assert answer_item({**lead, "_proposal": {"remarks": "vip"}}) == {
        "id": "1", "firstName": "Ann", "remarks": "vip; Region: EMEA"}


# --- speed: latency + completion tokens / tokens per second -------------------------------------------------------------

def _timed(fake: FakeDeepSeek, body) -> tuple[float, int]:
    started = time.monotonic()
    data = _post(fake, body).json()
    return time.monotonic() - started, data["usage"]["completion_tokens"]


def test_latency_is_a_fixed_part_plus_completion_tokens_over_speed():
    rows = make_rows(4)
    with FakeDeepSeek(latency=0.1, tokens_per_second=100) as fake:
        full_s, full_tokens = _timed(fake, build_request(rows, "deepseek-v4-flash"))
        short_s, short_tokens = _timed(fake, build_request(rows, "deepseek-v4-flash", proposals=_proposed(rows)))
    assert full_tokens > 4 * short_tokens
    assert full_s >= 0.1 + full_tokens / 100 - 0.01  # lower bounds only: a loaded machine is slower, never faster
    assert short_s >= 0.1 + short_tokens / 100 - 0.01
    assert short_s < 0.1 + full_tokens / 100  # the shorter answer comes back sooner
    with FakeDeepSeek(latency=0.3) as fake:  # default: no token part (today's behaviour)
        plain_s, _ = _timed(fake, build_request(rows, "deepseek-v4-flash"))
        assert fake.tokens_per_second is None
    assert plain_s >= 0.29
    with pytest.raises(ValueError, match="positive"):
        FakeDeepSeek(tokens_per_second=0)


# --- reflecting the request (issue 16 item 7) ---------------------------------------------------------------------------

def test_echo_reflects_the_authorization_header(fake):
    body = build_request(make_rows(2), "deepseek-v4-flash")
    fake.script([{"echo": True}, {"content": "not json: $AUTHORIZATION"}, {"status": 400, "error": "bad $AUTHORIZATION"}])
    items = json.loads(_post(fake, body).json()["choices"][0]["message"]["content"])["leads"]
    assert [item["remarks"] for item in items] == [f"echo: Bearer {API_KEY}"] * 2
    assert _post(fake, body).json()["choices"][0]["message"]["content"] == f"not json: Bearer {API_KEY}"
    assert _post(fake, body).json()["error"]["message"] == f"bad Bearer {API_KEY}"


def test_the_fake_is_importable_from_the_install_not_from_the_tests():
    import importlib.util

    assert importlib.util.find_spec("easycrm_tests.fakes") is None  # no shim left at the old path
    source = Path(importlib.util.find_spec("easycrm_pipeline.testing.fake_deepseek").origin).read_text()
    assert "easycrm_tests" not in source and "\nfrom easycrm_pipeline" not in source  # stdlib only


def test_standalone_speed_and_answer_flags(tmp_path):
    port_file = tmp_path / "port"
    # cwd outside the checkout: the module comes from the installed package
    proc = subprocess.Popen([sys.executable, "-m", "easycrm_pipeline.testing.fake_deepseek", "--port", "0",
                             "--latency", "0.05", "--tokens-per-second", "400", "--answer", "full",
                             "--port-file", str(port_file)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = wait_for_port_file(str(port_file), timeout=15)
        rows = make_rows(3)
        started = time.monotonic()
        data = httpx.post(f"http://127.0.0.1:{port}/chat/completions",
                          json=build_request(rows, "deepseek-v4-flash", proposals=_proposed(rows)),
                          headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10).json()
        took = time.monotonic() - started
        items = json.loads(data["choices"][0]["message"]["content"])["leads"]
        assert [set(item) for item in items] == [{"id", *LEAD_FIELDS}] * 3  # --answer full despite proposals
        assert took >= 0.05 + data["usage"]["completion_tokens"] / 400 - 0.01
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "easycrm_pipeline.testing.fake_deepseek", "--tokens-per-second", "0"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--tokens-per-second must be positive" in bad.stderr


def test_an_ask_question_is_a_valid_request_with_a_default_sql_answer(fake):
    from easycrm_pipeline.readers.ask import build_ask_request
    from easycrm_pipeline.testing.fake_deepseek import QUESTION_SQL

    body = build_ask_request("how many leads?", "deepseek-v4-flash")
    content = _post(fake, body).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"sql": QUESTION_SQL}
    fake.script([{"echo": True}])
    assert json.loads(_post(fake, body).json()["choices"][0]["message"]["content"]) == {
        "refusal": f"echo: Bearer {API_KEY}"}
    assert _post(fake, {**body, "messages": [body["messages"][0], {"role": "user", "content": '{"q": 1}'}]}
                 ).status_code == 400


def test_the_fake_answers_a_header_mapping_request_from_the_examples():
    """The header-mapping request (deepseek/header_map.py) gets ``{"columns": {header: role}}`` in JSON mode."""
    from easycrm_pipeline.deepseek.header_map import HEADER_SYSTEM_PROMPT, user_content
    from easycrm_pipeline.deepseek.prompt import chat_body

    columns = {"c1": ["Anna", "Max"], "c2": ["Beispiel", "Muster"], "c3": ["Anna Beispiel", "Max Muster"],
               "c4": ["+49 30 1234567", "030 7654321"], "c5": ["Beispiel AG", "Muster GmbH"],
               "c6": ["a@example.org"], "c7": ["met at fair 2024"], "c8": []}
    body = chat_body("deepseek-v4-flash", HEADER_SYSTEM_PROMPT, user_content(list(columns), columns), 300)
    with FakeDeepSeek() as fake:
        reply = httpx.post(f"{fake.base_url}/chat/completions", json=body,
                           headers={"Authorization": "Bearer sk-test"}).json()
    assert reply["choices"][0]["finish_reason"] == "stop" and reply["usage"]["completion_tokens"] > 0
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"columns": {
        "c1": "firstName", "c2": "lastName", "c3": "fullName", "c4": "phone", "c5": "company", "c6": "email",
        "c7": "remarks", "c8": "ignore"}}
