"""The fake DeepSeek server itself: concurrency counters, validation, default answer, standalone process mode."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from easycrm_pipeline.deepseek import DeepSeekClient, build_request
from easycrm_pipeline.testing import FakeDeepSeek, standardize_lead, wait_for_port_file

from .conftest import API_KEY
from .test_client import make_rows

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
