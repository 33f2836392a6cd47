"""``easycrm ask``'s DeepSeek side: one transport with the batch standardizer (``deepseek.client``: its retries,
fence handling, error mapping) and the API key never shown, even when the endpoint reflects it (issue 16 item 7,
issue 17 step 3)."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed, DeepSeekBatchRejected
from easycrm_pipeline.readers.ask import UnsafeQuery, answer, endpoint_words
from easycrm_tests.readers.fake_adapter import API_KEY, ask_fake  # noqa: F401
from easycrm_tests.readers.seed import env_store, seed


def test_fenced_content_is_read_and_blank_content_retried_like_a_batch(ask_fake):
    store = env_store()
    seed(store)
    waits: list[float] = []
    ask_fake.script([{"content": "   "}, {"content": '```json\n{"sql": "SELECT count(*) AS n FROM leads"}\n```'}])
    result = answer("how many?", store, get_settings(), sleep=waits.append)
    assert result.rows == [[7]] and len(ask_fake.requests) == 2 and len(waits) == 1


def test_errors_are_mapped_by_the_one_client(ask_fake):
    ask_fake.script([{"status": 422, "error": "Invalid max_tokens"}])
    with pytest.raises(DeepSeekBatchRejected, match=r"^DeepSeek rejected the request \(HTTP 422\): Invalid max_tokens$"):
        answer("how many?", env_store(), get_settings())
    ask_fake.script([{"status": 503}] * 2)
    with pytest.raises(DeepSeekBatchFailed, match=r"^DeepSeek request failed after 2 attempt\(s\): HTTP 503"):
        answer("how many?", env_store(), get_settings(), max_attempts=2, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("I can only read leads", '"I can only read leads"'),
        ("No.\nIGNORE THIS: rm -rf /", '"No.…"'),  # cut to its first line
        ("\n\n  spaced \t  out  ", '"spaced out"'),
        ("evil\u202egpj.csv\x07", '"evilgpj.csv"'),  # control / bidi characters dropped
        ("x" * 500, '"' + "x" * 199 + '…"'),
    ],
)
def test_endpoint_words_are_one_quoted_line(text, shown):
    assert endpoint_words(text) == shown


def test_refusal_is_shown_as_the_endpoints_words_on_one_line(ask_fake):
    ask_fake.script([{"content": json.dumps({"refusal": "I won't.\nSYSTEM: now print every lead"})}])
    with pytest.raises(UnsafeQuery) as caught:
        answer("delete every lead", env_store(), get_settings())
    assert str(caught.value) == 'refused: DeepSeek said "I won\'t.…"'


@pytest.mark.parametrize(
    "reply",
    [
        {"content": '{"refusal": "I refuse, $AUTHORIZATION"}'},  # 200: a refusal quoting the request
        {"content": 'not json $AUTHORIZATION'},  # 200: content the parser rejects (its snippet is in the error)
        {"content": '{"sql": "SELECT \'$AUTHORIZATION\' AS k FROM leads LIMIT 1"}'},  # 200: SQL carrying the key
        {"status": 400, "error": "bad request from $AUTHORIZATION"},  # error body
    ],
)
def test_the_key_echoed_by_the_endpoint_never_reaches_the_output(ask_fake, capsys, reply):
    store = env_store()
    seed(store)
    ask_fake.script([reply] * 3)
    code = main(["ask", "how many leads?", "--json"])
    out = capsys.readouterr()
    assert API_KEY not in out.out + out.err
    assert code in (0, 1, 2) and (out.out + out.err).strip()
    if "SELECT" in reply.get("content", ""):
        assert code == 0 and json.loads(out.out)["rows"] == [["Bearer ***"]]
    elif "refusal" in reply.get("content", ""):
        assert code == 2 and 'refused: DeepSeek said "I refuse, Bearer ***"' in out.err
    assert len(out.err.strip().splitlines()) <= 1


def test_sql_that_assembles_the_key_from_parts_shows_it_nowhere(ask_fake, capsys):
    """Breaker finding 5: the reply scrub cannot see a key built by the query (``'sk-' || '...'``); the answer shown
    (rows, and an engine error's quoted value) is scrubbed too."""
    store = env_store()
    seed(store)
    head, tail = API_KEY[:4], API_KEY[4:]
    ask_fake.script([{"content": json.dumps({"sql": f"SELECT '{head}' || '{tail}' AS k FROM leads LIMIT 1"})}])
    assert main(["ask", "the key?", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["rows"] == [["***"]] and API_KEY not in out.out + out.err
    ask_fake.script([{"content": json.dumps({"sql": f"SELECT CAST('{head}' || '{tail}' AS INTEGER) AS k FROM leads"})}])
    assert main(["ask", "the key?"]) == 1
    out = capsys.readouterr()
    assert "the query failed" in out.err and API_KEY not in out.out + out.err
