"""``config.get_settings``: the DeepSeek key as read from the environment (breaker finding 1)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.config import get_settings, header_unsafe_position


@pytest.mark.parametrize("raw", ["sk-abc123\n", "sk-abc123\r", " sk-abc123 \r\n"])
def test_a_key_with_surrounding_whitespace_is_read_stripped(monkeypatch, raw):
    monkeypatch.setenv("DEEPSEEK_API_KEY", raw)
    settings = get_settings()
    assert settings.deepseek_api_key == "sk-abc123" and settings.llm_enabled


def test_a_blank_key_is_no_key(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", " \r\n")
    assert get_settings().deepseek_api_key is None


@pytest.mark.parametrize(("value", "position"), [("sk-ok", None), ("sk\tx", 2), ("sk-é", 3), ("sk\x7f", 2)])
def test_header_unsafe_position(value, position):
    assert header_unsafe_position(value) == position
