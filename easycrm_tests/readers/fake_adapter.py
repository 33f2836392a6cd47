"""Lets the fake DeepSeek server accept the ``easycrm ask`` request.

The fake validates every chat request as a standardization batch (last user message must be ``{"leads": [...]}``),
while the ask request's user message is ``{"question": "..."}``. This fixture wraps the fake's validation so a
``{"question": ...}`` message is checked as if it carried an empty ``leads`` list; every other check of the fake
(bearer key, model name, ``response_format``, the word "json", ``thinking``, ``max_tokens``) still applies, and the
fake records the request body exactly as sent.
"""
from __future__ import annotations

import copy
import json

import pytest

from easycrm_pipeline.testing import FakeDeepSeek
from easycrm_pipeline.testing import fake_deepseek as fd

API_KEY = "sk-test-ask-0123456789"


@pytest.fixture
def ask_fake(monkeypatch):
    """A running FakeDeepSeek accepting ask requests; DEEPSEEK_API_KEY / DEEPSEEK_BASE_URL point at it."""
    original = fd._Handler._validate

    def validate(self, body):
        if isinstance(body, dict) and isinstance(body.get("messages"), list):
            checked = copy.deepcopy(body)
            users = [m for m in checked["messages"] if isinstance(m, dict) and m.get("role") == "user"]
            if users and isinstance(users[-1].get("content"), str):
                try:
                    doc = json.loads(users[-1]["content"])
                except ValueError:
                    doc = None
                if isinstance(doc, dict) and "question" in doc and "leads" not in doc:
                    users[-1]["content"] = json.dumps({**doc, "leads": []})
                    return original(self, checked)
        return original(self, body)

    monkeypatch.setattr(fd._Handler, "_validate", validate)
    with FakeDeepSeek(latency=0.0, api_key=API_KEY) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", API_KEY)
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        yield fake


def scripted_sql(fake: FakeDeepSeek, sql: str) -> None:
    """Queue one reply whose content is ``{"sql": sql}``."""
    fake.script([{"content": json.dumps({"sql": sql})}])
