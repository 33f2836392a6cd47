"""Breaker cases on ``easycrm ask`` (issue 16 item 7 follow-up): the key scrub works on the raw reply text, so a key
written with JSON escapes comes back whole once the reply is parsed."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_tests.readers.fake_adapter import API_KEY, ask_fake  # noqa: F401
from easycrm_tests.readers.seed import env_store, seed


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


@pytest.mark.parametrize("doc", ['{"refusal": "your key is KEY"}', '{"sql": "SELECT \'KEY\' AS k FROM leads"}',
                                 '{"error": {"message": "bad key KEY"}}'])
def test_breaker_json_escaped_key_never_reaches_the_output(ask_fake, capsys, doc):
    store = env_store()
    seed(store)
    ask_fake.script([{"content": doc.replace("KEY", _escaped(API_KEY))}] * 3)
    main(["ask", "how many leads?", "--json"])
    out = capsys.readouterr()
    assert API_KEY not in out.out + out.err
