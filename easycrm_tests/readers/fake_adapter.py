"""The fake DeepSeek server set up for ``easycrm ask``: it accepts the ask request (user message
``{"question": ...}``) natively and checks it like every request (bearer key, model name, ``response_format``, the
word "json", ``thinking``, ``max_tokens``), recording the body exactly as sent."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.testing import FakeDeepSeek

API_KEY = "sk-test-ask-0123456789"


@pytest.fixture
def ask_fake(monkeypatch):
    """A running FakeDeepSeek accepting ask requests; DEEPSEEK_API_KEY / DEEPSEEK_BASE_URL point at it."""
    with FakeDeepSeek(latency=0.0, api_key=API_KEY) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", API_KEY)
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        yield fake


def scripted_sql(fake: FakeDeepSeek, sql: str) -> None:
    """Queue one reply whose content is ``{"sql": sql}``."""
    fake.script([{"content": json.dumps({"sql": sql})}])
